// Package mappings edits the attribute mappings of an Entra provisioning job
// as raw JSON (the synchronizationSchema of docs/graph.md#attribute-mappings), so
// that nothing Roster does not understand is lost on the way back: typed SDK
// models drop unknown fields and, through the backing store, nested edits.
//
// It is pure (standard library only), so the wizard's manual path can show
// the mapping table without compiling the Graph SDK.
package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// EnterpriseUser is the SCIM enterprise extension schema URN, the target
// object name of Entra's user mapping for a custom SCIM app.
const EnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// Mapping is one attribute mapping: an Entra source attribute flowing to a
// SCIM target attribute. Matching marks the attribute Entra matches users on.
type Mapping struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	Required bool   `json:"required"`
	Matching bool   `json:"matching"`
}

// Optional attributes that Options may switch off.
const (
	GivenName  = "givenName"
	Surname    = "surname"
	EmployeeID = "employeeId"
	Manager    = "manager"
)

// Options says which mappings the job should have.
type Options struct {
	// MatchOnEmployeeID makes employeeId the source of userName and the
	// matching attribute, instead of userPrincipalName (JCV Cloud's setup).
	MatchOnEmployeeID bool `json:"match_on_employee_id"`
	// ProvisionGroups keeps the group object mapping enabled (default true
	// through Default; Vizmo requires it off).
	ProvisionGroups bool `json:"provision_groups"`
	// Omit lists optional source attributes not to map (givenName, surname,
	// employeeId, manager).
	Omit []string `json:"omit,omitempty"`
}

// Default returns the options Roster uses unless told otherwise: match on
// userPrincipalName, groups provisioned, every optional attribute mapped.
func Default() Options { return Options{ProvisionGroups: true} }

// Validate reports unknown names in Omit.
func (o Options) Validate() error {
	var bad []string
	for _, a := range o.Omit {
		switch a {
		case GivenName, Surname, EmployeeID, Manager:
		default:
			bad = append(bad, fmt.Sprintf("%q", a))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("unknown optional attribute %s: use givenName, surname, employeeId or manager", strings.Join(bad, ", "))
	}
	if o.MatchOnEmployeeID && o.omits(EmployeeID) {
		return errors.New("employeeId cannot be omitted when users are matched on it")
	}
	return nil
}

func (o Options) omits(attr string) bool {
	for _, a := range o.Omit {
		if a == attr {
			return true
		}
	}
	return false
}

// Table returns the user mappings Options asks for, in the order the portal
// shows them: the five the seeds require, then the optional ones.
func Table(o Options) []Mapping {
	userName := Mapping{Source: "userPrincipalName", Target: "userName", Required: true, Matching: true}
	if o.MatchOnEmployeeID {
		userName.Source = EmployeeID
	}
	t := []Mapping{
		userName,
		{Source: "displayName", Target: "displayName", Required: true},
		{Source: "jobTitle", Target: "title", Required: true},
		{Source: "mail", Target: `emails[type eq "work"].value`, Required: true},
		{Source: "department", Target: EnterpriseUser + ":department", Required: true},
	}
	opt := []Mapping{
		{Source: GivenName, Target: "name.givenName"},
		{Source: Surname, Target: "name.familyName"},
		{Source: EmployeeID, Target: EnterpriseUser + ":employeeNumber"},
		{Source: Manager, Target: EnterpriseUser + ":manager"},
	}
	for _, m := range opt {
		if !o.omits(m.Source) {
			t = append(t, m)
		}
	}
	return t
}

// Change is one edit Apply made, in words.
type Change string

// Apply edits a raw synchronizationSchema so that its user mappings hold
// Table(o) and its group mapping is enabled as o says. Mappings not in the
// table (active, externalId, addresses…) are left alone, as is every field
// Apply does not know. It returns the new schema and the changes made; no
// changes means the schema already matched and need not be written.
func Apply(schema []byte, o Options) ([]byte, []Change, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(schema, &doc); err != nil {
		return nil, nil, fmt.Errorf("read synchronization schema: %w", err)
	}
	delete(doc, "@odata.context")
	users, groups, err := objectMappings(doc)
	if err != nil {
		return nil, nil, err
	}
	var changes []Change
	attrs, _ := users["attributeMappings"].([]any)
	want := Table(o)
	for _, m := range want {
		attrs, changes = ensure(attrs, m, changes)
	}
	// Only one attribute may be the matching one: drop matching from any
	// other mapping (the table's matching target is userName).
	for _, a := range attrs {
		am, _ := a.(map[string]any)
		if am == nil || am["targetAttributeName"] == "userName" {
			continue
		}
		if p, _ := am["matchingPriority"].(float64); p != 0 {
			am["matchingPriority"] = float64(0)
			changes = append(changes, Change(fmt.Sprintf("%v is no longer a matching attribute", am["targetAttributeName"])))
		}
	}
	// Omitted optional attributes are removed.
	for _, src := range o.Omit {
		target := ""
		for _, m := range Table(Options{}) {
			if m.Source == src {
				target = m.Target
			}
		}
		kept := attrs[:0]
		for _, a := range attrs {
			am, _ := a.(map[string]any)
			if am != nil && am["targetAttributeName"] == target && sourceName(am) == src {
				changes = append(changes, Change(fmt.Sprintf("removed %s → %s", src, target)))
				continue
			}
			kept = append(kept, a)
		}
		attrs = kept
	}
	users["attributeMappings"] = attrs
	if groups != nil {
		if en, _ := groups["enabled"].(bool); en != o.ProvisionGroups {
			groups["enabled"] = o.ProvisionGroups
			if o.ProvisionGroups {
				changes = append(changes, "group provisioning enabled")
			} else {
				changes = append(changes, "group provisioning disabled")
			}
		}
	} else if o.ProvisionGroups {
		return nil, nil, errors.New("the job's schema has no group mapping to enable")
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	return out, changes, nil
}

// Current reads the user mappings of a raw schema that Roster knows about,
// with the state of group provisioning.
func Current(schema []byte) (table []Mapping, groupsEnabled bool, err error) {
	var doc map[string]any
	if err := json.Unmarshal(schema, &doc); err != nil {
		return nil, false, fmt.Errorf("read synchronization schema: %w", err)
	}
	users, groups, err := objectMappings(doc)
	if err != nil {
		return nil, false, err
	}
	required := map[string]bool{}
	for _, m := range Table(Options{}) {
		required[m.Target] = m.Required
	}
	attrs, _ := users["attributeMappings"].([]any)
	for _, a := range attrs {
		am, _ := a.(map[string]any)
		if am == nil {
			continue
		}
		target, _ := am["targetAttributeName"].(string)
		p, _ := am["matchingPriority"].(float64)
		table = append(table, Mapping{Source: sourceName(am), Target: target, Required: required[target], Matching: p > 0})
	}
	if groups != nil {
		groupsEnabled, _ = groups["enabled"].(bool)
	}
	return table, groupsEnabled, nil
}

// objectMappings finds the user and group object mappings by their source
// object names, never by display name (docs/graph.md#attribute-mappings).
func objectMappings(doc map[string]any) (users, groups map[string]any, err error) {
	rules, _ := doc["synchronizationRules"].([]any)
	for _, r := range rules {
		rm, _ := r.(map[string]any)
		oms, _ := rm["objectMappings"].([]any)
		for _, om := range oms {
			m, _ := om.(map[string]any)
			switch src, _ := m["sourceObjectName"].(string); {
			case strings.EqualFold(src, "User") && users == nil:
				users = m
			case strings.EqualFold(src, "Group") && groups == nil:
				groups = m
			}
		}
	}
	if users == nil {
		return nil, nil, errors.New("the job's schema has no user mapping (no objectMapping with sourceObjectName User)")
	}
	return users, groups, nil
}

// RuleID returns the id of the synchronization rule holding the user
// mapping: the ruleId that provisionOnDemand needs.
func RuleID(schema []byte) (string, error) {
	var doc struct {
		Rules []struct {
			ID             string `json:"id"`
			ObjectMappings []struct {
				SourceObjectName string `json:"sourceObjectName"`
			} `json:"objectMappings"`
		} `json:"synchronizationRules"`
	}
	if err := json.Unmarshal(schema, &doc); err != nil {
		return "", fmt.Errorf("read synchronization schema: %w", err)
	}
	for _, r := range doc.Rules {
		for _, om := range r.ObjectMappings {
			if strings.EqualFold(om.SourceObjectName, "User") {
				return r.ID, nil
			}
		}
	}
	if len(doc.Rules) > 0 {
		return doc.Rules[0].ID, nil
	}
	return "", errors.New("the job's schema has no synchronization rule")
}

func sourceName(am map[string]any) string {
	src, _ := am["source"].(map[string]any)
	if src == nil {
		return ""
	}
	if t, _ := src["type"].(string); t != "Attribute" {
		e, _ := src["expression"].(string)
		return e
	}
	n, _ := src["name"].(string)
	return n
}

// ensure makes attrs hold m: the mapping whose target is m.Target gets m's
// source (an Attribute source) and matching priority; a missing one is added.
func ensure(attrs []any, m Mapping, changes []Change) ([]any, []Change) {
	prio := float64(0)
	if m.Matching {
		prio = 1
	}
	for _, a := range attrs {
		am, _ := a.(map[string]any)
		if am == nil || am["targetAttributeName"] != m.Target {
			continue
		}
		if sourceName(am) != m.Source {
			changes = append(changes, Change(fmt.Sprintf("%s now comes from %s (was %s)", m.Target, m.Source, orNone(sourceName(am)))))
			am["source"] = attributeSource(m.Source)
		}
		if p, _ := am["matchingPriority"].(float64); p != prio {
			am["matchingPriority"] = prio
			if m.Matching {
				changes = append(changes, Change(fmt.Sprintf("users are matched on %s", m.Target)))
			}
		}
		return attrs, changes
	}
	changes = append(changes, Change(fmt.Sprintf("added %s → %s", m.Source, m.Target)))
	return append(attrs, map[string]any{
		"defaultValue": "", "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged",
		"flowType": "Always", "matchingPriority": prio, "source": attributeSource(m.Source),
		"targetAttributeName": m.Target,
	}), changes
}

func attributeSource(name string) map[string]any {
	return map[string]any{"expression": "[" + name + "]", "name": name, "type": "Attribute", "parameters": []any{}}
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}
