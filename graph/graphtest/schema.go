package graphtest

import "encoding/json"

// Names used by the default schema and by provisionOnDemand results.
const (
	sourceDirectory = "Azure Active Directory"
	targetDirectory = "customappsso"
	enterpriseUser  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	coreUser        = "urn:ietf:params:scim:schemas:core:2.0:User"
	coreGroup       = "urn:ietf:params:scim:schemas:core:2.0:Group"
)

func attrSource(name string) map[string]any {
	return map[string]any{"expression": "[" + name + "]", "name": name, "type": "Attribute", "parameters": []any{}}
}

func constSource(v string) map[string]any {
	return map[string]any{"expression": `"` + v + `"`, "name": v, "type": "Constant", "parameters": []any{}}
}

func mapping(src map[string]any, target string, matching int) map[string]any {
	return map[string]any{
		"defaultValue": "", "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged",
		"flowType": "Always", "matchingPriority": matching, "source": src, "targetAttributeName": target,
	}
}

// activeSource is Switch([IsSoftDeleted], , "False", "True", "True", "False")
// (docs/entra.md#default-attribute-mappings).
func activeSource() map[string]any {
	return map[string]any{
		"expression": `Switch([IsSoftDeleted], , "False", "True", "True", "False")`,
		"name":       "Switch", "type": "Function",
		"parameters": []map[string]any{
			{"key": "source", "value": attrSource("IsSoftDeleted")},
			{"key": "defaultValue", "value": constSource("")},
			{"key": "key", "value": constSource("False")},
			{"key": "value", "value": constSource("True")},
			{"key": "key", "value": constSource("True")},
			{"key": "value", "value": constSource("False")},
		},
	}
}

// defaultSchema is the schema of a new "scim" job: one synchronization rule
// (DefaultRuleID) with a User and a Group object mapping carrying the
// default attribute mappings of docs/entra.md#default-attribute-mappings.
func defaultSchema(jobID string) []byte {
	user := []map[string]any{
		mapping(attrSource("userPrincipalName"), "userName", 1),
		mapping(activeSource(), "active", 0),
		mapping(attrSource("displayName"), "displayName", 0),
		mapping(attrSource("jobTitle"), "title", 0),
		mapping(attrSource("mail"), `emails[type eq "work"].value`, 0),
		mapping(attrSource("preferredLanguage"), "preferredLanguage", 0),
		mapping(attrSource("givenName"), "name.givenName", 0),
		mapping(attrSource("surname"), "name.familyName", 0),
		mapping(attrSource("mailNickname"), "externalId", 0),
		mapping(attrSource("physicalDeliveryOfficeName"), `addresses[type eq "work"].formatted`, 0),
		mapping(attrSource("streetAddress"), `addresses[type eq "work"].streetAddress`, 0),
		mapping(attrSource("city"), `addresses[type eq "work"].locality`, 0),
		mapping(attrSource("state"), `addresses[type eq "work"].region`, 0),
		mapping(attrSource("postalCode"), `addresses[type eq "work"].postalCode`, 0),
		mapping(attrSource("country"), `addresses[type eq "work"].country`, 0),
		mapping(attrSource("telephoneNumber"), `phoneNumbers[type eq "work"].value`, 0),
		mapping(attrSource("mobile"), `phoneNumbers[type eq "mobile"].value`, 0),
		mapping(attrSource("facsimileTelephoneNumber"), `phoneNumbers[type eq "fax"].value`, 0),
		mapping(attrSource("employeeId"), enterpriseUser+":employeeNumber", 0),
		mapping(attrSource("department"), enterpriseUser+":department", 0),
		mapping(attrSource("manager"), enterpriseUser+":manager", 0),
	}
	group := []map[string]any{
		mapping(attrSource("displayName"), "displayName", 1),
		mapping(attrSource("objectId"), "externalId", 0),
		mapping(attrSource("members"), "members", 0),
	}
	objectMapping := func(name, src, target string, attrs []map[string]any) map[string]any {
		return map[string]any{
			"attributeMappings": attrs, "enabled": true, "flowTypes": "Add, Update, Delete",
			"metadata": []any{}, "name": name, "scope": nil,
			"sourceObjectName": src, "targetObjectName": target,
		}
	}
	schema := map[string]any{
		"id":      jobID,
		"version": "Date:2026-01-01T00:00:00Z~TemplateId:scim~Version:1",
		"directories": []map[string]any{
			{"id": "66e4a8cc-1b7b-435e-95f8-f06cea133828", "name": sourceDirectory, "discoverabilities": "None", "objects": []any{}},
			{"id": "8ffa6169-f354-4751-9b77-9c00765be92d", "name": targetDirectory, "discoverabilities": "None", "objects": []any{}},
		},
		"synchronizationRules": []map[string]any{{
			"id": DefaultRuleID, "name": "USER_INBOUND_USER", "editable": true, "priority": 1,
			"sourceDirectoryName": sourceDirectory, "targetDirectoryName": targetDirectory,
			"containerFilter": map[string]any{"includedContainers": []any{}},
			"groupFilter":     map[string]any{"includedGroups": []any{}},
			"metadata": []map[string]any{
				{"key": "defaultSourceObjectMappings", "value": "true"},
				{"key": "supportsProvisionOnDemand", "value": "true"},
			},
			"objectMappings": []map[string]any{
				objectMapping("Provision Microsoft Entra ID Users", "User", enterpriseUser, user),
				objectMapping("Provision Microsoft Entra ID Groups", "Group", coreGroup, group),
			},
		}},
	}
	b, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}
