package scimhttp_test

// The discovery validator (issue 12): walks /Schemas, /ResourceTypes and
// /ServiceProviderConfig of a tenant with declared extension attributes and
// checks every rule of RFC 7643 §5–§7 (and the representations of §8.7).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

var (
	attrNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`) // RFC 7643 §2.1 ATTRNAME
	types7643  = []string{"string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"}
	mutability = []string{"readOnly", "readWrite", "immutable", "writeOnly"}
	returned   = []string{"always", "never", "default", "request"}
	uniqueness = []string{"none", "server", "global"}
)

// schemaProblems checks one Schema resource (RFC 7643 §7); resourceTypes
// are the names a referenceType may use besides "external" and "uri".
func schemaProblems(doc map[string]any, resourceTypes []string) []string {
	var out []string
	id, _ := doc["id"].(string)
	bad := func(format string, args ...any) { out = append(out, id+": "+fmt.Sprintf(format, args...)) }
	if !slices.Equal(anyStrings(doc["schemas"]), []string{scim.SchemaSchema}) {
		bad("schemas: got %v, want [%s]", doc["schemas"], scim.SchemaSchema)
	}
	if !strings.HasPrefix(id, "urn:") {
		bad("id must be the schema URN")
	}
	if s, ok := doc["name"].(string); !ok || s == "" {
		bad("name must be a non-empty string")
	}
	if _, ok := doc["description"].(string); !ok {
		bad("description must be a string")
	}
	meta, _ := doc["meta"].(map[string]any)
	if meta["resourceType"] != "Schema" {
		bad("meta.resourceType: got %v, want Schema", meta["resourceType"])
	}
	if loc, _ := meta["location"].(string); !strings.HasSuffix(loc, "/Schemas/"+id) {
		bad("meta.location %q does not end in /Schemas/<id>", loc)
	}
	attrs, ok := doc["attributes"].([]any)
	if !ok || len(attrs) == 0 {
		bad("attributes must be a non-empty array")
	}
	walkAttributes(attrs, id, "", false, resourceTypes, bad)
	nulls(doc, id, bad)
	return out
}

func walkAttributes(attrs []any, schemaID, parent string, sub bool, resourceTypes []string, bad func(string, ...any)) {
	seen := map[string]bool{}
	for _, e := range attrs {
		a, ok := e.(map[string]any)
		if !ok {
			bad("%sattribute %v is not an object", parent, e)
			continue
		}
		name, _ := a["name"].(string)
		where := parent + name
		if !(attrNameRe.MatchString(name) || sub && name == "$ref") {
			bad("%s: name is not an ATTRNAME (RFC 7643 §2.1)", where)
		}
		if seen[strings.ToLower(name)] {
			bad("%s: defined twice", where)
		}
		seen[strings.ToLower(name)] = true
		typ, _ := a["type"].(string)
		if !slices.Contains(types7643, typ) {
			bad("%s: type %q is not one of RFC 7643 §2.3", where, typ)
		}
		for _, k := range []string{"multiValued", "required", "caseExact"} {
			if _, ok := a[k].(bool); !ok {
				bad("%s: %s must be a boolean, got %v", where, k, a[k])
			}
		}
		if _, ok := a["description"].(string); !ok {
			bad("%s: description must be a string", where)
		}
		mut, _ := a["mutability"].(string)
		if !slices.Contains(mutability, mut) {
			bad("%s: mutability %q", where, mut)
		}
		ret, _ := a["returned"].(string)
		if !slices.Contains(returned, ret) {
			bad("%s: returned %q", where, ret)
		}
		if u, _ := a["uniqueness"].(string); !slices.Contains(uniqueness, u) {
			bad("%s: uniqueness %q", where, u)
		}
		if mut == "writeOnly" && ret != "never" {
			bad("%s: a writeOnly attribute must be returned never (RFC 7643 §7)", where)
		}
		if ret == "never" && mut != "writeOnly" {
			bad("%s: returned never, but mutability %s", where, mut)
		}
		if cv, ok := a["canonicalValues"]; ok {
			if vs := anyStrings(cv); len(vs) == 0 {
				bad("%s: canonicalValues must be a non-empty array of strings", where)
			}
		}
		refs, hasRefs := a["referenceTypes"]
		switch {
		case typ == "reference" && !hasRefs:
			bad("%s: a reference must name its referenceTypes (RFC 7643 §7)", where)
		case typ != "reference" && hasRefs:
			bad("%s: referenceTypes on a %s attribute", where, typ)
		case hasRefs:
			rs := anyStrings(refs)
			if len(rs) == 0 {
				bad("%s: referenceTypes must be a non-empty array of strings", where)
			}
			for _, r := range rs {
				if r != "external" && r != "uri" && !slices.Contains(resourceTypes, r) {
					bad("%s: referenceType %q is neither external, uri nor a resource type", where, r)
				}
			}
		}
		subs, hasSubs := a["subAttributes"].([]any)
		switch {
		case typ == "complex" && (!hasSubs || len(subs) == 0):
			bad("%s: a complex attribute needs subAttributes (RFC 7643 §2.3.8)", where)
		case typ != "complex" && a["subAttributes"] != nil:
			bad("%s: subAttributes on a %s attribute", where, typ)
		case typ == "complex" && sub:
			bad("%s: a complex attribute cannot have complex sub-attributes (RFC 7643 §2.3.8)", where)
		case hasSubs:
			for _, se := range subs {
				if sm, ok := se.(map[string]any); ok && mut == "readOnly" && sm["mutability"] != "readOnly" {
					bad("%s.%v: sub-attribute of a readOnly attribute must be readOnly", where, sm["name"])
				}
			}
			walkAttributes(subs, schemaID, where+".", true, resourceTypes, bad)
		}
	}
}

// nulls reports null values anywhere in a discovery document: Entra's
// schema reader refuses them.
func nulls(v any, where string, bad func(string, ...any)) {
	switch x := v.(type) {
	case nil:
		bad("%s: null value", where)
	case map[string]any:
		for k, e := range x {
			nulls(e, where+"."+k, bad)
		}
	case []any:
		for i, e := range x {
			nulls(e, fmt.Sprintf("%s[%d]", where, i), bad)
		}
	}
}

func anyStrings(v any) []string {
	arr, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

func TestDiscoveryValid(t *testing.T) {
	a := newTestAgent(t)
	tenantURL, tok := a.tenant(t, "acme", store.TenantSettings{})
	for _, d := range [][3]string{
		{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode", "string", ""},
		{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:badge", "integer", ""},
		{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:site", "reference", "multi"},
		{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:Group:mailEnabled", "boolean", ""},
	} {
		if _, err := a.dir.DeclareExtension(context.Background(), "acme", d[0], d[1], d[2] != ""); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(tenantURL, tok)

	rts := c.do(t, http.MethodGet, "/ResourceTypes", nil, nil).list(t)
	schemasResp := c.do(t, http.MethodGet, "/Schemas", nil, nil).list(t)
	var rtNames, schemaIDs []string
	for _, r := range rts.Resources {
		rtNames = append(rtNames, r["name"].(string))
	}
	for _, s := range schemasResp.Resources {
		schemaIDs = append(schemaIDs, s["id"].(string))
	}
	if want := []string{"User", "Group"}; !slices.Equal(rtNames, want) {
		t.Errorf("resource types: got %v, want %v", rtNames, want)
	}
	for _, want := range []string{scim.SchemaUser, scim.SchemaEnterpriseUser, scim.SchemaGroup,
		"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User", "urn:ietf:params:scim:schemas:extension:Contoso:2.0:Group"} {
		if !slices.Contains(schemaIDs, want) {
			t.Errorf("/Schemas lacks %s (got %v)", want, schemaIDs)
		}
	}

	t.Run("Schemas", func(t *testing.T) {
		if schemasResp.TotalResults != len(schemasResp.Resources) {
			t.Errorf("totalResults %d, but %d resources", schemasResp.TotalResults, len(schemasResp.Resources))
		}
		for _, doc := range schemasResp.Resources {
			for _, p := range schemaProblems(doc, rtNames) {
				t.Error(p)
			}
			one := c.do(t, http.MethodGet, "/Schemas/"+doc["id"].(string), nil, nil)
			wantStatus(t, one, http.StatusOK)
			if got, want := jsonOf(t, one.obj(t)), jsonOf(t, doc); got != want {
				t.Errorf("/Schemas/%s differs from its entry in the list:\n%s\n%s", doc["id"], got, want)
			}
		}
	})

	t.Run("ResourceTypes", func(t *testing.T) {
		for _, doc := range rts.Resources {
			id, _ := doc["id"].(string)
			if !slices.Equal(anyStrings(doc["schemas"]), []string{scim.SchemaResourceType}) {
				t.Errorf("%s: schemas %v", id, doc["schemas"])
			}
			if ep, _ := doc["endpoint"].(string); !strings.HasPrefix(ep, "/") {
				t.Errorf("%s: endpoint %q must be a relative URI starting with / (RFC 7643 §6)", id, ep)
			}
			if s, _ := doc["schema"].(string); !slices.Contains(schemaIDs, s) {
				t.Errorf("%s: schema %q is not served at /Schemas", id, s)
			}
			exts, _ := doc["schemaExtensions"].([]any)
			for _, e := range exts {
				em, _ := e.(map[string]any)
				if s, _ := em["schema"].(string); !slices.Contains(schemaIDs, s) {
					t.Errorf("%s: extension %q is not served at /Schemas", id, s)
				}
				if _, ok := em["required"].(bool); !ok {
					t.Errorf("%s: extension %v: required must be a boolean", id, em["schema"])
				}
			}
			meta, _ := doc["meta"].(map[string]any)
			if meta["resourceType"] != "ResourceType" {
				t.Errorf("%s: meta.resourceType %v", id, meta["resourceType"])
			}
			nulls(doc, id, t.Errorf)
			one := c.do(t, http.MethodGet, "/ResourceTypes/"+id, nil, nil)
			wantStatus(t, one, http.StatusOK)
		}
		user := rts.Resources[0]
		var exts []string
		for _, e := range user["schemaExtensions"].([]any) {
			exts = append(exts, e.(map[string]any)["schema"].(string))
		}
		if want := []string{scim.SchemaEnterpriseUser, "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"}; !slices.Equal(exts, want) {
			t.Errorf("User schemaExtensions: got %v, want %v", exts, want)
		}
	})

	t.Run("ServiceProviderConfig", func(t *testing.T) {
		r := c.do(t, http.MethodGet, "/ServiceProviderConfig", nil, nil)
		wantStatus(t, r, http.StatusOK)
		doc := r.obj(t)
		if !slices.Equal(anyStrings(doc["schemas"]), []string{scim.SchemaServiceProviderConfig}) {
			t.Errorf("schemas %v", doc["schemas"])
		}
		for k, members := range map[string][]string{
			"patch": {"supported"}, "bulk": {"supported", "maxOperations", "maxPayloadSize"}, "filter": {"supported", "maxResults"},
			"changePassword": {"supported"}, "sort": {"supported"}, "etag": {"supported"},
		} {
			m, ok := doc[k].(map[string]any)
			if !ok {
				t.Errorf("%s must be an object (RFC 7643 §5)", k)
				continue
			}
			for _, mm := range members {
				switch v := m[mm].(type) {
				case bool:
					if mm != "supported" {
						t.Errorf("%s.%s must be an integer", k, mm)
					}
				case float64:
					if mm == "supported" || v != float64(int64(v)) {
						t.Errorf("%s.%s: got %v", k, mm, v)
					}
				default:
					t.Errorf("%s.%s missing or of the wrong type: %v", k, mm, v)
				}
			}
		}
		schemes, _ := doc["authenticationSchemes"].([]any)
		if len(schemes) == 0 {
			t.Error("authenticationSchemes must list at least one scheme")
		}
		for _, s := range schemes {
			sm, _ := s.(map[string]any)
			for _, k := range []string{"type", "name", "description"} {
				if v, _ := sm[k].(string); v == "" {
					t.Errorf("authenticationSchemes: %s is required (RFC 7643 §5)", k)
				}
			}
		}
		nulls(doc, "ServiceProviderConfig", t.Errorf)
	})
}

// TestDiscoveryValidatorCatches shows the validator is not vacuous: each
// broken document is reported.
func TestDiscoveryValidatorCatches(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"schemas": []any{scim.SchemaSchema}, "id": "urn:x:Schema", "name": "X", "description": "",
			"meta": map[string]any{"resourceType": "Schema", "location": "https://h/Schemas/urn:x:Schema"},
			"attributes": []any{map[string]any{
				"name": "photos", "type": "complex", "multiValued": true, "description": "", "required": false, "caseExact": false,
				"mutability": "readWrite", "returned": "default", "uniqueness": "none",
				"subAttributes": []any{map[string]any{
					"name": "value", "type": "reference", "referenceTypes": []any{"external"}, "multiValued": false, "description": "",
					"required": false, "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
				}},
			}},
		}
	}
	if p := schemaProblems(base(), nil); len(p) != 0 {
		t.Fatalf("a valid schema is reported: %v", p)
	}
	sub := func(d map[string]any) map[string]any {
		return d["attributes"].([]any)[0].(map[string]any)["subAttributes"].([]any)[0].(map[string]any)
	}
	for name, mutate := range map[string]func(map[string]any){
		"reference without referenceTypes": func(d map[string]any) { delete(sub(d), "referenceTypes") },
		"unknown type":                     func(d map[string]any) { sub(d)["type"] = "uuid" },
		"bad mutability":                   func(d map[string]any) { sub(d)["mutability"] = "readwrite" },
		"bad returned":                     func(d map[string]any) { sub(d)["returned"] = "sometimes" },
		"bad uniqueness":                   func(d map[string]any) { sub(d)["uniqueness"] = "tenant" },
		"complex without subAttributes":    func(d map[string]any) { delete(d["attributes"].([]any)[0].(map[string]any), "subAttributes") },
		"complex sub-attribute": func(d map[string]any) {
			sub(d)["type"] = "complex"
			delete(sub(d), "referenceTypes")
			sub(d)["subAttributes"] = []any{}
		},
		"writeOnly returned by default": func(d map[string]any) { sub(d)["mutability"] = "writeOnly" },
		"null description":              func(d map[string]any) { sub(d)["description"] = nil },
		"caseExact missing":             func(d map[string]any) { delete(sub(d), "caseExact") },
		"referenceType of no resource":  func(d map[string]any) { sub(d)["referenceTypes"] = []any{"Device"} },
		"wrong schemas":                 func(d map[string]any) { d["schemas"] = []any{scim.SchemaUser} },
	} {
		d := base()
		mutate(d)
		if p := schemaProblems(d, []string{"User", "Group"}); len(p) == 0 {
			t.Errorf("%s: not reported", name)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
