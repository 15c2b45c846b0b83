package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

const ent = scim.SchemaEnterpriseUser

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"key case and string booleans (Entra default mapping sends \"True\")",
			`{"USERNAME":"a@x.com","Active":"True","emails":[{"Type":"work","VALUE":"a@x.com","primary":"false"}]}`,
			`{"schemas":["` + scim.SchemaUser + `"],"userName":"a@x.com","active":true,"emails":[{"type":"work","value":"a@x.com","primary":false}]}`},
		{"read-only and unassigned values dropped (Entra echoes meta; roles: [])",
			`{"userName":"a","id":"x","meta":{"resourceType":"User"},"roles":[],"title":null,"nickName":"","groups":[{"value":"g"}]}`,
			`{"schemas":["` + scim.SchemaUser + `"],"userName":"a"}`},
		{"unknown and misspelt schema URNs do not leak (TUT Example 2 typo)",
			`{"schemas":["urn:ietf:params:scim:schemas:extension:enterprise:2.0User","http://schemas.microsoft.com/x"],"userName":"a"}`,
			`{"schemas":["` + scim.SchemaUser + `"],"userName":"a"}`},
		{"manager as a string id",
			`{"userName":"a","` + ent + `":{"manager":"m1","department":"Sales"}}`,
			`{"schemas":["` + scim.SchemaUser + `","` + ent + `"],"userName":"a","` + ent + `":{"manager":{"value":"m1"},"department":"Sales"}}`},
		{"manager as a one-element array with $ref",
			`{"userName":"a","` + ent + `":{"manager":[{"$ref":"https://x/Users/m1","value":"m1"}]}}`,
			`{"schemas":["` + scim.SchemaUser + `","` + ent + `"],"userName":"a","` + ent + `":{"manager":{"$ref":"https://x/Users/m1","value":"m1"}}}`},
		{"manager with an empty id is removed, and so is the empty extension",
			`{"userName":"a","` + ent + `":{"manager":{"value":""}}}`,
			`{"schemas":["` + scim.SchemaUser + `"],"userName":"a"}`},
		{"URN-qualified top-level attribute keys move into the extension",
			`{"userName":"a","` + ent + `:employeeNumber":"42","urn:ietf:params:scim:schemas:core:2.0:User:displayName":"A"}`,
			`{"schemas":["` + scim.SchemaUser + `","` + ent + `"],"userName":"a","displayName":"A","` + ent + `":{"employeeNumber":"42"}}`},
		{"the core URN as an object key merges into the root",
			`{"urn:ietf:params:scim:schemas:core:2.0:User":{"userName":"a","title":"Boss"}}`,
			`{"schemas":["` + scim.SchemaUser + `"],"userName":"a","title":"Boss"}`},
		{"numbers for string attributes become strings (employeeNumber)",
			`{"userName":"a","` + ent + `":{"employeeNumber":55555}}`,
			`{"schemas":["` + scim.SchemaUser + `","` + ent + `"],"userName":"a","` + ent + `":{"employeeNumber":"55555"}}`},
		{"unknown attributes and unknown extensions are kept as sent",
			`{"userName":"a","custom":{"x":1},"urn:x:Contoso:2.0:User:costCode":"C1"}`,
			`{"schemas":["` + scim.SchemaUser + `","urn:x:Contoso:2.0:User"],"userName":"a","custom":{"x":1},"urn:x:Contoso:2.0:User":{"costCode":"C1"}}`},
		{"a lone object for a multi-valued attribute becomes a one-element list",
			`{"userName":"a","emails":{"type":"work","value":"a@x"}}`,
			`{"schemas":["` + scim.SchemaUser + `"],"userName":"a","emails":[{"type":"work","value":"a@x"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UserType.Canonicalize(decode(t, tt.in))
			if err != nil {
				t.Fatalf("Canonicalize: %v", err)
			}
			if want := decode(t, tt.want); !reflect.DeepEqual(roundTrip(t, got), want) {
				g, _ := json.Marshal(got)
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
			again, err := UserType.Canonicalize(got)
			if err != nil || !reflect.DeepEqual(roundTrip(t, again), roundTrip(t, got)) {
				t.Errorf("not idempotent: %v", err)
			}
		})
	}
}

func TestCanonicalizeDeterministic(t *testing.T) {
	in := `{"userName":"a","USERNAME":"b","Name":{"givenName":"X"},"name":{"givenName":"Y"}}`
	first, err := UserType.Canonicalize(decode(t, in))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		got, _ := UserType.Canonicalize(decode(t, in))
		if !reflect.DeepEqual(got, first) {
			t.Fatalf("run %d: got %v, want %v", i, got, first)
		}
	}
	if first["userName"] != "a" {
		t.Errorf("the canonical spelling should win: got userName %v", first["userName"])
	}
}

func TestCanonicalizeErrors(t *testing.T) {
	for name, in := range map[string]string{
		"active not a boolean":    `{"userName":"a","active":"maybe"}`,
		"name not an object":      `{"userName":"a","name":"Alice"}`,
		"extension not an object": `{"userName":"a","` + ent + `":"x"}`,
		"manager with two values": `{"userName":"a","` + ent + `":{"manager":["a","b"]}}`,
		"userName an object":      `{"userName":{"x":1}}`,
		"primary not a boolean":   `{"userName":"a","emails":[{"value":"a","primary":"yes"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := UserType.Canonicalize(decode(t, in))
			var se *scim.Error
			if !errors.As(err, &se) || se.Status != 400 || se.ScimType != scim.InvalidValue {
				t.Errorf("got %v, want 400 invalidValue", err)
			}
		})
	}
}

func roundTrip(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, string(b))
}

func TestProjection(t *testing.T) {
	doc := decode(t, `{"schemas":["`+scim.SchemaUser+`"],"id":"1","userName":"a","title":"T","name":{"givenName":"G","familyName":"F"},
		"emails":[{"type":"work","value":"a@x"}],"`+ent+`":{"department":"D","manager":{"value":"m"}},"meta":{"version":"W/\"1\""}}`)
	tests := []struct {
		name, attrs, excluded, want string
	}{
		{"attributes keeps id, schemas and userName (returned always)", "title", "",
			`{"schemas":["` + scim.SchemaUser + `"],"id":"1","userName":"a","title":"T"}`},
		{"sub-attribute", "name.givenName", "",
			`{"schemas":["` + scim.SchemaUser + `"],"id":"1","userName":"a","name":{"givenName":"G"}}`},
		{"extension attribute by URN", ent + ":department", "",
			`{"schemas":["` + scim.SchemaUser + `"],"id":"1","userName":"a","` + ent + `":{"department":"D"}}`},
		{"excluded, case-insensitively", "", "EMAILS,meta,name.familyName",
			`{"schemas":["` + scim.SchemaUser + `"],"id":"1","userName":"a","title":"T","name":{"givenName":"G"},"` + ent + `":{"department":"D","manager":{"value":"m"}}}`},
		{"excluding id is ignored", "", "id", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewProjection(UserType, tt.attrs, tt.excluded).Apply(UserType, doc)
			if tt.want == "" {
				if got["id"] != "1" {
					t.Errorf("id removed: %v", got)
				}
				return
			}
			if want := decode(t, tt.want); !reflect.DeepEqual(roundTrip(t, got), want) {
				g, _ := json.Marshal(got)
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
	if NewProjection(GroupType, "", "members").Wants("members") {
		t.Error("excludedAttributes=members: Wants(members) = true")
	}
	if !NewProjection(GroupType, "", "").Wants("members") {
		t.Error("no projection: Wants(members) = false")
	}
	if NewProjection(GroupType, "displayName", "").Wants("members") {
		t.Error("attributes=displayName: Wants(members) = true")
	}
}

// TestDiscoveryHasNoNulls checks Microsoft's /Schemas rules: camelCase values
// and no null values anywhere (docs/entra.md#schema-discovery).
func TestDiscoveryHasNoNulls(t *testing.T) {
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			t.Errorf("%s is null", path)
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(path+"["+string(rune('0'+i%10))+"]", e)
			}
		}
	}
	for _, s := range Schemas {
		walk(s.Name, roundTrip(t, s.Document("https://x/scim/t/v2")))
	}
	for _, rt := range ResourceTypes {
		walk(rt.Name, roundTrip(t, rt.Document("https://x/scim/t/v2")))
	}
	walk("spc", roundTrip(t, ServiceProviderConfig("https://x", Capabilities{MaxResults: 10, MaxPayloadSize: 1})))
}
