package mappings

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readSchema(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/default-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func userMapping(t *testing.T, schema []byte, target string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(schema, &doc); err != nil {
		t.Fatal(err)
	}
	users, _, err := objectMappings(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range users["attributeMappings"].([]any) {
		if am := a.(map[string]any); am["targetAttributeName"] == target {
			return am
		}
	}
	return nil
}

func TestApplyDefaultIsNoChangeOnDefaultSchema(t *testing.T) {
	// The default job schema already has every mapping Roster wants, so a
	// second `entra connect` must not rewrite it.
	out, changes, err := Apply(readSchema(t), Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Fatalf("changes = %q, want none", changes)
	}
	again, changes2, err := Apply(out, Default())
	if err != nil || len(changes2) != 0 || string(again) != string(out) {
		t.Fatalf("second Apply: changes %q err %v, identical %v", changes2, err, string(again) == string(out))
	}
}

func TestApplyOptions(t *testing.T) {
	tests := []struct {
		name        string
		opt         Options
		wantChanges []string
		check       func(t *testing.T, schema []byte)
	}{
		{
			name:        "match on employeeId (JCV)",
			opt:         Options{MatchOnEmployeeID: true, ProvisionGroups: true},
			wantChanges: []string{"userName now comes from employeeId (was userPrincipalName)"},
			check: func(t *testing.T, s []byte) {
				m := userMapping(t, s, "userName")
				if got := m["source"].(map[string]any)["name"]; got != "employeeId" {
					t.Errorf("userName source = %v, want employeeId", got)
				}
				if got := m["matchingPriority"]; got != float64(1) {
					t.Errorf("matchingPriority = %v, want 1", got)
				}
			},
		},
		{
			name:        "groups off (Vizmo)",
			opt:         Options{ProvisionGroups: false},
			wantChanges: []string{"group provisioning disabled"},
			check: func(t *testing.T, s []byte) {
				_, groups, err := Current(s)
				if err != nil || groups {
					t.Errorf("groups enabled = %v err %v, want false", groups, err)
				}
			},
		},
		{
			name:        "omit manager and surname",
			opt:         Options{ProvisionGroups: true, Omit: []string{Manager, Surname}},
			wantChanges: []string{"removed manager → " + EnterpriseUser + ":manager", "removed surname → name.familyName"},
			check: func(t *testing.T, s []byte) {
				if m := userMapping(t, s, EnterpriseUser+":manager"); m != nil {
					t.Errorf("manager mapping still there: %v", m)
				}
				if m := userMapping(t, s, "displayName"); m == nil {
					t.Error("displayName mapping lost")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changes, err := Apply(readSchema(t), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, string(c))
			}
			if !reflect.DeepEqual(got, tt.wantChanges) {
				t.Errorf("changes = %q, want %q", got, tt.wantChanges)
			}
			tt.check(t, out)
			// Idempotent: applying the same options again changes nothing.
			if _, again, err := Apply(out, tt.opt); err != nil || len(again) != 0 {
				t.Errorf("second Apply: %q, %v", again, err)
			}
		})
	}
}

func TestApplyRestoresMissingAndKeepsUnknownFields(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(readSchema(t), &doc); err != nil {
		t.Fatal(err)
	}
	doc["someFutureField"] = map[string]any{"x": 1.0}
	users, _, _ := objectMappings(doc)
	var kept []any
	for _, a := range users["attributeMappings"].([]any) {
		if a.(map[string]any)["targetAttributeName"] != "title" {
			kept = append(kept, a)
		}
	}
	users["attributeMappings"] = kept
	in, _ := json.Marshal(doc)
	out, changes, err := Apply(in, Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0] != "added jobTitle → title" {
		t.Fatalf("changes = %q", changes)
	}
	if !strings.Contains(string(out), `"someFutureField":{"x":1}`) {
		t.Error("unknown field lost")
	}
	if m := userMapping(t, out, "title"); m == nil || m["source"].(map[string]any)["name"] != "jobTitle" {
		t.Errorf("title mapping = %v", m)
	}
	// Mappings Roster does not manage (active's Switch expression) survive.
	if m := userMapping(t, out, "active"); m == nil || m["source"].(map[string]any)["type"] != "Function" {
		t.Errorf("active mapping = %v", m)
	}
}

func TestApplyErrors(t *testing.T) {
	if _, _, err := Apply([]byte(`{`), Default()); err == nil {
		t.Error("bad JSON accepted")
	}
	if _, _, err := Apply([]byte(`{"synchronizationRules":[]}`), Default()); err == nil || !strings.Contains(err.Error(), "no user mapping") {
		t.Errorf("no user mapping: err = %v", err)
	}
	if _, _, err := Apply(readSchema(t), Options{Omit: []string{"shoeSize"}}); err == nil || !strings.Contains(err.Error(), `"shoeSize"`) {
		t.Errorf("unknown omit: err = %v", err)
	}
	if _, _, err := Apply(readSchema(t), Options{MatchOnEmployeeID: true, Omit: []string{EmployeeID}}); err == nil {
		t.Error("matching on an omitted attribute accepted")
	}
}

func TestRuleIDAndCurrent(t *testing.T) {
	id, err := RuleID(readSchema(t))
	if err != nil || id != "03f7d90d-bf71-41b1-bda6-aaf0ddbee5d8" {
		t.Fatalf("RuleID = %q, %v", id, err)
	}
	table, groups, err := Current(readSchema(t))
	if err != nil || !groups {
		t.Fatalf("Current: groups %v err %v", groups, err)
	}
	if table[0] != (Mapping{Source: "userPrincipalName", Target: "userName", Required: true, Matching: true}) {
		t.Errorf("first mapping = %+v", table[0])
	}
}

func TestTable(t *testing.T) {
	got := Table(Options{MatchOnEmployeeID: true, Omit: []string{Manager}})
	if len(got) != 8 || got[0].Source != "employeeId" || !got[0].Matching {
		t.Fatalf("Table = %+v", got)
	}
	for _, m := range got[:5] {
		if !m.Required {
			t.Errorf("%s should be required", m.Target)
		}
	}
}
