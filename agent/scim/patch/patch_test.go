package patch

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
	"github.com/rosterhq/roster/agent/scim/schema"
)

const (
	ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// userInput is the stored user every user case starts from, as the store
// would hand it over (with id and meta).
const userInput = `{
 "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
 "id":"2819c223","externalId":"0a21f0f2","userName":"adele@contoso.com","active":true,
 "displayName":"Adele Vance",
 "name":{"formatted":"Adele Vance","familyName":"Vance","givenName":"Adele"},
 "emails":[{"primary":true,"type":"work","value":"adele@contoso.com"}],
 "phoneNumbers":[{"type":"mobile","value":"+1 425 555 0100"}],
 "meta":{"resourceType":"User","created":"2026-01-02T03:04:05Z","lastModified":"2026-01-02T03:04:05Z"},
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","manager":{"value":"m-1"}}}`

// userBase is userInput in canonical form: what an empty change yields.
const userBase = `{
 "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
 "externalId":"0a21f0f2","userName":"adele@contoso.com","active":true,
 "displayName":"Adele Vance",
 "name":{"formatted":"Adele Vance","familyName":"Vance","givenName":"Adele"},
 "emails":[{"primary":true,"type":"work","value":"adele@contoso.com"}],
 "phoneNumbers":[{"type":"mobile","value":"+1 425 555 0100"}],
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","manager":{"value":"m-1"}}}`

// groupInput is the stored group (members kept in the document).
const groupInput = `{
 "schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
 "id":"g-1","externalId":"obj-1","displayName":"Sales",
 "members":[{"value":"u1"},{"value":"u2","type":"User"}],
 "meta":{"resourceType":"Group"}}`

const groupBase = `{
 "schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
 "externalId":"obj-1","displayName":"Sales",
 "members":[{"value":"u1"},{"value":"u2","type":"User"}]}`

// groupSepInput is a group whose members live in their own table.
const groupSepInput = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g-1","displayName":"Sales","externalId":"obj-1"}`

const groupSepBase = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Sales","externalId":"obj-1"}`

// with returns base with the JSON merge patch delta applied (RFC 7386: an
// object merges, null deletes, anything else replaces), as a JSON text. The
// tests still compare whole documents; the delta only says what changed.
func with(base, delta string) string {
	var b, d any
	if err := json.Unmarshal([]byte(base), &b); err != nil {
		panic(err)
	}
	if err := json.Unmarshal([]byte(delta), &d); err != nil {
		panic("bad delta " + delta + ": " + err.Error())
	}
	out, _ := json.Marshal(mergePatch(b, d))
	return string(out)
}

func mergePatch(target, p any) any {
	pm, ok := p.(map[string]any)
	if !ok {
		return p
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}

func user(delta string) string  { return with(userBase, delta) }
func group(delta string) string { return with(groupBase, delta) }

// ops wraps operations in a PatchOp body with the schemas Entra sends.
func ops(list string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + list + `]}`
}

// wantOp is an expected MemberOp; filter is compared by its canonical text.
type wantOp struct {
	kind    MemberOpKind
	members []Member
	filter  string
}

type applyCase struct {
	name string
	rt   *schema.ResourceType // nil: UserType
	doc  string               // "" : the input for rt (userInput / groupInput / groupSepInput)
	sep  bool                 // Options.MembersSeparate
	body string
	want string   // full expected Doc, JSON
	ops  []wantOp // expected MemberOps
	err  string   // expected scimType when Apply (or Parse) fails
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad JSON %s: %v", s, err)
	}
	return m
}

// roundTrip re-decodes v from its JSON form, so that documents built in Go
// and documents read from text compare alike.
func roundTrip(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

func (c applyCase) resourceType() *schema.ResourceType {
	if c.rt == nil {
		return schema.UserType
	}
	return c.rt
}

func (c applyCase) input() string {
	switch {
	case c.doc != "":
		return c.doc
	case c.rt == schema.GroupType && c.sep:
		return groupSepInput
	case c.rt == schema.GroupType:
		return groupInput
	}
	return userInput
}

func scimType(err error) string {
	var se *scim.Error
	if errors.As(err, &se) {
		return se.ScimType
	}
	return "not a *scim.Error: " + err.Error()
}

func runApply(t *testing.T, c applyCase) {
	t.Helper()
	req, err := Parse([]byte(c.body))
	if err == nil {
		doc := decode(t, c.input())
		before := roundTrip(t, doc)
		var res *Result
		res, err = Apply(c.resourceType(), doc, req.Operations, Options{MembersSeparate: c.sep})
		if after := roundTrip(t, doc); !reflect.DeepEqual(before, after) {
			t.Errorf("Apply modified its input:\n got %v\nwant %v", after, before)
		}
		if err == nil {
			if c.err != "" {
				t.Fatalf("got success %v, want error %s", roundTrip(t, res.Doc), c.err)
			}
			got := roundTrip(t, res.Doc)
			want := roundTrip(t, decode(t, c.want))
			if !reflect.DeepEqual(got, want) {
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				t.Errorf("doc:\n got %s\nwant %s", gb, wb)
			}
			checkOps(t, res.MemberOps, c.ops)
			return
		}
	}
	if res := scimType(err); res != c.err {
		t.Fatalf("got error %v (scimType %q), want scimType %q", err, res, c.err)
	}
	var se *scim.Error
	if errors.As(err, &se) && se.Status != 400 {
		t.Errorf("got status %d, want 400", se.Status)
	}
}

func checkOps(t *testing.T, got []MemberOp, want []wantOp) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d member ops %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Kind != w.kind {
			t.Errorf("op %d: got kind %v, want %v", i, g.Kind, w.kind)
		}
		if len(g.Members) != 0 || len(w.members) != 0 {
			if !reflect.DeepEqual(g.Members, w.members) {
				t.Errorf("op %d: got members %+v, want %+v", i, g.Members, w.members)
			}
		}
		switch {
		case w.filter == "" && g.Filter != nil:
			t.Errorf("op %d: got filter %s, want none", i, filter.Format(g.Filter))
		case w.filter != "":
			wf, err := filter.Parse(w.filter)
			if err != nil {
				t.Fatalf("bad want filter: %v", err)
			}
			if g.Filter == nil || !filter.Equal(g.Filter, wf) {
				t.Errorf("op %d: got filter %v, want %s", i, g.Filter, w.filter)
			}
		}
	}
}

func TestBaseIsCanonical(t *testing.T) {
	for _, c := range []struct {
		rt        *schema.ResourceType
		in, canon string
	}{
		{schema.UserType, userInput, userBase},
		{schema.GroupType, groupInput, groupBase},
		{schema.GroupType, groupSepInput, groupSepBase},
	} {
		got, err := c.rt.Canonicalize(decode(t, c.in))
		if err != nil {
			t.Fatal(err)
		}
		if g, w := roundTrip(t, got), roundTrip(t, decode(t, c.canon)); !reflect.DeepEqual(g, w) {
			t.Errorf("got %v\nwant %v", g, w)
		}
	}
}

// entraCases are the PATCH bodies of docs/entra.md, verbatim where the
// document gives concrete values (placeholders such as <managerId> filled in).
var entraCases = []applyCase{
	{
		name: "§4.3 default-mode update (limosa-io/laravel-scim-server#34)",
		body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
   {"op":"Replace","path":"emails[type eq \"work\"].value","value":"AdeleV2@contoso.onmicrosoft.com"},
   {"op":"Replace","path":"addresses[type eq \"work\"].formatted","value":"18/2111"},
   {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Retail"}]}`,
		want: user(`{"emails":[{"primary":true,"type":"work","value":"AdeleV2@contoso.onmicrosoft.com"}],
			"addresses":[{"type":"work","formatted":"18/2111"}],
			"` + ent + `":{"department":"Retail"}}`),
	},
	{
		name: "§4.3 TUT update: work email and familyName",
		body: ops(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
			{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"updatedEmail@microsoft.com"}],"name":{"familyName":"updatedFamilyName"}}`),
	},
	{
		name: "§4.3 TUT update: userName",
		body: ops(`{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}`),
		want: user(`{"userName":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}`),
	},
	{
		name: "§4.3 validator: add home email, work primary and display",
		body: ops(`{"op":"add","path":"emails[type eq \"home\"].value","value":"adele@home.example"},
			{"op":"replace","path":"emails[type eq \"work\"].primary","value":true},
			{"op":"replace","path":"emails[type eq \"work\"].display","value":"Adele (work)"}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"adele@contoso.com","display":"Adele (work)"},{"type":"home","value":"adele@home.example"}]}`),
	},
	{
		name: "§4.3 REF-VAL null update: replace with \"\" clears",
		body: ops(`{"op":"replace","path":"displayName","value":""},
			{"op":"replace","path":"name.givenName","value":""},
			{"op":"replace","path":"emails[type eq \"work\"].value","value":""},
			{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":""},
			{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":""}`),
		want: user(`{"displayName":null,"name":{"givenName":null},"emails":null,"phoneNumbers":null,"` + ent + `":{"department":null}}`),
	},
	{
		name: "§4.3 REF-VAL null update: replace with null clears",
		body: ops(`{"op":"replace","path":"displayName","value":null},
			{"op":"replace","path":"name.givenName","value":null},
			{"op":"replace","path":"emails[type eq \"work\"].value","value":null},
			{"op":"replace","path":"externalId","value":null},
			{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":null}`),
		want: user(`{"displayName":null,"name":{"givenName":null},"emails":null,"externalId":null,"` + ent + `":{"department":null}}`),
	},
	{
		name: "§4.3 roles: AppRoleAssignmentsComplex add",
		body: ops(`{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"}]}`),
		want: user(`{"roles":[{"value":"{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"}]}`),
	},
	{
		name: "§4.3 roles: SingleAppRoleAssignment creates the primary role",
		body: ops(`{"op":"Replace","path":"roles[primary eq \"True\"].value","value":"Admin"}`),
		want: user(`{"roles":[{"primary":true,"value":"Admin"}]}`),
	},
	{
		name: "§4.3 roles: SingleAppRoleAssignment updates the primary role",
		doc:  with(userInput, `{"roles":[{"primary":true,"value":"Admin"}]}`),
		body: ops(`{"op":"Replace","path":"roles[primary eq \"True\"].value","value":"Reader"}`),
		want: user(`{"roles":[{"primary":true,"value":"Reader"}]}`),
	},
	{
		name: "§4.4/§5 disable, default mode: string \"False\"",
		body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
 "Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
		want: user(`{"active":false}`),
	},
	{
		name: "§4.4/§5 disable, flag mode: boolean false",
		body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
 "Operations":[{"op":"replace","path":"active","value":false}]}`,
		want: user(`{"active":false}`),
	},
	{
		name: "§4.4 disable, TUT: Replace with boolean false",
		body: ops(`{"op":"Replace","path":"active","value":false}`),
		want: user(`{"active":false}`),
	},
	{
		name: "§4.4 disable: lower-case string \"false\" (scimmy#86)",
		body: ops(`{"op":"Replace","path":"active","value":"false"}`),
		want: user(`{"active":false}`),
	},
	{
		name: "§4.4 re-enable: string \"True\"",
		doc:  with(userInput, `{"active":false}`),
		body: ops(`{"op":"Replace","path":"active","value":"True"}`),
		want: user(`{"active":true}`),
	},
	{
		name: "§4.4 re-enable, flag mode path-less (SCIMReferenceCode#97)",
		doc:  with(userInput, `{"active":false}`),
		body: ops(`{"op":"replace","value":{"active":true,"displayName":"Adele V."}}`),
		want: user(`{"active":true,"displayName":"Adele V."}`),
	},
	{
		name: "§4.5 manager set: Add URN path with a string id",
		doc:  with(userInput, `{"`+ent+`":{"manager":null}}`),
		body: ops(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"a6b1ba06-4c8f-4b8a-b1e3-8d2b3e4f5a6b"}`),
		want: user(`{"` + ent + `":{"manager":{"value":"a6b1ba06-4c8f-4b8a-b1e3-8d2b3e4f5a6b"}}}`),
	},
	{
		name: "§4.5 manager change: Replace URN path with a string id",
		body: ops(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m-2"}`),
		want: user(`{"` + ent + `":{"manager":{"value":"m-2"}}}`),
	},
	{
		name: "§4.5 manager, old doc form: path manager, one-element array with $ref",
		body: ops(`{"op":"Add","path":"manager","value":[{"$ref":"http://example.com/scim/Users/m-3","value":"m-3"}]}`),
		want: user(`{"` + ent + `":{"manager":{"$ref":"http://example.com/scim/Users/m-3","value":"m-3"}}}`),
	},
	{
		name: "§4.5 manager remove: REF-VAL replace with \"\"",
		body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":""}`),
		want: user(`{"` + ent + `":{"manager":null}}`),
	},
	{
		name: "§4.5 manager remove: remove manager[value eq id] (scim-patch#453)",
		body: ops(`{"op":"remove","path":"manager[value eq \"m-1\"]"}`),
		want: user(`{"` + ent + `":{"manager":null}}`),
	},
	{
		name: "§4.5 manager remove: RFC form",
		body: ops(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}`),
		want: user(`{"` + ent + `":{"manager":null}}`),
	},
	{
		name: "§4.7 group rename",
		rt:   schema.GroupType,
		body: ops(`{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}`),
		want: group(`{"displayName":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}`),
	},
	{
		name: "§4.7 add member (default), members separate",
		rt:   schema.GroupType, sep: true,
		body: ops(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}`),
		want: groupSepBase,
		ops:  []wantOp{{kind: AddMembers, members: []Member{{Value: "f648f8d5ea4e4cd38e9c"}}}},
	},
	{
		name: "§4.7 add member (default), members in the document",
		rt:   schema.GroupType,
		body: ops(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}`),
		want: group(`{"members":[{"value":"u1"},{"value":"u2","type":"User"},{"value":"f648f8d5ea4e4cd38e9c"}]}`),
	},
	{
		name: "§4.7 remove member (default, $ref null), members separate",
		rt:   schema.GroupType, sep: true,
		body: ops(`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"u1"}]}`),
		want: groupSepBase,
		ops:  []wantOp{{kind: RemoveMembers, members: []Member{{Value: "u1"}}}},
	},
	{
		name: "§5 remove member, without flag, members separate",
		rt:   schema.GroupType, sep: true,
		body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
 "Operations":[{"op":"Remove","path":"members","value":[{"value":"u1091"}]}]}`,
		want: groupSepBase,
		ops:  []wantOp{{kind: RemoveMembers, members: []Member{{Value: "u1091"}}}},
	},
	{
		name: "§5 remove member, without flag, members in the document: only that member",
		rt:   schema.GroupType,
		doc:  with(groupInput, `{"members":[{"value":"u1"},{"value":"u1091"},{"value":"u2","type":"User"}]}`),
		body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
 "Operations":[{"op":"Remove","path":"members","value":[{"value":"u1091"}]}]}`,
		want: groupBase,
	},
	{
		name: "§5 remove member, with flag, members separate",
		rt:   schema.GroupType, sep: true,
		body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
 "Operations":[{"op":"remove","path":"members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}]}`,
		want: groupSepBase,
		ops:  []wantOp{{kind: RemoveMembers, members: []Member{{Value: "7f4bc1a3-285e-48ae-8202-5accb43efb0e"}}}},
	},
	{
		name: "§5 remove member, with flag, members in the document",
		rt:   schema.GroupType,
		body: ops(`{"op":"remove","path":"members[value eq \"u2\"]"}`),
		want: group(`{"members":[{"value":"u1"}]}`),
	},
	{
		name: "§5 add single-value attribute, without flag",
		body: ops(`{"op":"Add","path":"nickName","value":"Babs"}`),
		want: user(`{"nickName":"Babs"}`),
	},
	{
		name: "§5 add single-value attribute, with flag",
		body: ops(`{"op":"add","path":"nickName","value":"Babs"}`),
		want: user(`{"nickName":"Babs"}`),
	},
	{
		name: "§5 replace multiple attributes, without flag",
		body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"Replace","path":"displayName","value":"Pvlo"},
 {"op":"Replace","path":"emails[type eq \"work\"].value","value":"TestBcwqnm@test.microsoft.com"},
 {"op":"Replace","path":"name.givenName","value":"Gtfd"},
 {"op":"Replace","path":"name.familyName","value":"Pkqf"},
 {"op":"Replace","path":"externalId","value":"Eqpj"},
 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}]}`,
		want: user(`{"displayName":"Pvlo","emails":[{"primary":true,"type":"work","value":"TestBcwqnm@test.microsoft.com"}],
			"name":{"givenName":"Gtfd","familyName":"Pkqf"},"externalId":"Eqpj","` + ent + `":{"employeeNumber":"Eqpj"}}`),
	},
	{
		name: "§5 replace multiple attributes, with flag (path-less, dotted and URN keys)",
		body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},
 {"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua",
   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]}`,
		want: user(`{"displayName":"Bjfe","emails":[{"primary":true,"type":"work","value":"TestMhvaes@test.microsoft.com"}],
			"name":{"givenName":"Kkom","familyName":"Unua"},"` + ent + `":{"employeeNumber":"Aklq"}}`),
	},
	{
		name: "§5 path-less add with dotted keys (scimitar#123)",
		doc:  with(userInput, `{"name":null}`),
		body: ops(`{"op":"add","value":{"name.givenName":"Kkom","name.familyName":"Unua"}}`),
		want: user(`{"name":{"givenName":"Kkom","familyName":"Unua","formatted":null}}`),
	},
}

var userCases = []applyCase{
	// add/replace with a path
	{name: "replace simple attribute", body: ops(`{"op":"replace","path":"title","value":"CEO"}`), want: user(`{"title":"CEO"}`)},
	{name: "add replaces a single-valued attribute", body: ops(`{"op":"add","path":"displayName","value":"A. V."}`), want: user(`{"displayName":"A. V."}`)},
	{name: "names are case-insensitive", body: ops(`{"op":"replace","path":"DISPLAYNAME","value":"x"},{"op":"replace","path":"Name.GivenName","value":"y"}`),
		want: user(`{"displayName":"x","name":{"givenName":"y"}}`)},
	{name: "sub-attribute creates the complex attribute", doc: with(userInput, `{"name":null}`),
		body: ops(`{"op":"add","path":"name.middleName","value":"Q"}`), want: user(`{"name":{"middleName":"Q","givenName":null,"familyName":null,"formatted":null}}`)},
	{name: "enterprise URN-qualified attribute", body: ops(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter","value":"4130"}`),
		want: user(`{"` + ent + `":{"costCenter":"4130"}}`)},
	{name: "enterprise URN in other case", body: ops(`{"op":"replace","path":"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department","value":"Retail"}`),
		want: user(`{"` + ent + `":{"department":"Retail"}}`)},
	{name: "enterprise attribute creates the extension object", doc: with(userInput, `{"`+ent+`":null}`),
		body: ops(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division","value":"EMEA"}`),
		want: user(`{"` + ent + `":{"division":"EMEA","department":null,"manager":null}}`)},
	{name: "unqualified enterprise attribute", body: ops(`{"op":"replace","path":"department","value":"Retail"}`),
		want: user(`{"` + ent + `":{"department":"Retail"}}`)},
	{name: "core URN-qualified attribute", body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:displayName","value":"Core"}`),
		want: user(`{"displayName":"Core"}`)},
	{name: "core URN-qualified sub-attribute", body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName","value":"G"}`),
		want: user(`{"name":{"givenName":"G"}}`)},
	{name: "add to multi-valued appends", body: ops(`{"op":"add","path":"emails","value":[{"type":"home","value":"a@home"}]}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"adele@contoso.com"},{"type":"home","value":"a@home"}]}`)},
	{name: "add to multi-valued skips an equal element", body: ops(`{"op":"add","path":"emails","value":[{"Value":"adele@contoso.com","type":"work","primary":"True"},{"type":"home","value":"a@home"},{"type":"home","value":"a@home"}]}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"adele@contoso.com"},{"type":"home","value":"a@home"}]}`)},
	{name: "invalidValue: add a single object to multi-valued (issue 12)", body: ops(`{"op":"add","path":"phoneNumbers","value":{"type":"fax","value":"+1 425 555 0199"}}`),
		err: scim.InvalidValue},
	{name: "add a primary element demotes the old primary (RFC 7644 §3.5.2)", body: ops(`{"op":"add","path":"emails","value":[{"type":"home","value":"a@home","primary":true}]}`),
		want: user(`{"emails":[{"primary":false,"type":"work","value":"adele@contoso.com"},{"primary":true,"type":"home","value":"a@home"}]}`)},
	{name: "replace multi-valued replaces the array", body: ops(`{"op":"replace","path":"emails","value":[{"type":"home","value":"a@home"}]}`),
		want: user(`{"emails":[{"type":"home","value":"a@home"}]}`)},
	{name: "invalidValue: replace multi-valued with a single object (issue 12)", body: ops(`{"op":"replace","path":"emails","value":{"type":"home","value":"a@home"}}`),
		err: scim.InvalidValue},
	{name: "replace multi-valued with an empty array removes it", body: ops(`{"op":"replace","path":"emails","value":[]}`),
		want: user(`{"emails":null}`)},
	{name: "value filter sets on matching element", body: ops(`{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 1"}`),
		want: user(`{"phoneNumbers":[{"type":"mobile","value":"+1 1"}]}`)},
	{name: "value filter compares type case-insensitively", body: ops(`{"op":"replace","path":"emails[type eq \"WORK\"].value","value":"n@c"}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"n@c"}]}`)},
	{name: "value filter creates a missing element (scim-for-keycloak#73)", body: ops(`{"op":"Replace","path":"phoneNumbers[type eq \"work\"].value","value":"+1 2"}`),
		want: user(`{"phoneNumbers":[{"type":"mobile","value":"+1 425 555 0100"},{"type":"work","value":"+1 2"}]}`)},
	{name: "value filter creates with a conjunction, coercing \"True\"", body: ops(`{"op":"add","path":"addresses[type eq \"work\" and primary eq \"True\"].locality","value":"Redmond"}`),
		want: user(`{"addresses":[{"type":"work","primary":true,"locality":"Redmond"}]}`)},
	{name: "value filter create with primary demotes the old primary", body: ops(`{"op":"add","path":"emails[type eq \"home\" and primary eq true].value","value":"a@home"}`),
		want: user(`{"emails":[{"primary":false,"type":"work","value":"adele@contoso.com"},{"type":"home","primary":true,"value":"a@home"}]}`)},
	{name: "value filter without sub merges an object", body: ops(`{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"n@c","display":"N"}}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"n@c","display":"N"}]}`)},
	{name: "value filter without sub creates an element", body: ops(`{"op":"add","path":"emails[type eq \"home\"]","value":{"value":"a@home"}}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"adele@contoso.com"},{"type":"home","value":"a@home"}]}`)},
	{name: "value filter on several elements sets all", doc: with(userInput, `{"emails":[{"type":"work","value":"a"},{"type":"work","value":"b"},{"type":"home","value":"c"}]}`),
		body: ops(`{"op":"replace","path":"emails[type eq \"work\"].display","value":"W"}`),
		want: user(`{"emails":[{"type":"work","value":"a","display":"W"},{"type":"work","value":"b","display":"W"},{"type":"home","value":"c"}]}`)},
	{name: "noTarget: replace with a non-eq filter that matches nothing", body: ops(`{"op":"replace","path":"emails[value co \"nobody\"].display","value":"x"}`), err: scim.NoTarget},
	{name: "noTarget: add with an or filter that matches nothing", body: ops(`{"op":"add","path":"emails[type eq \"home\" or type eq \"other\"].value","value":"x"}`), err: scim.NoTarget},
	{name: "noTarget: contradictory conjunction", body: ops(`{"op":"add","path":"emails[type eq \"home\" and type eq \"other\"].value","value":"x"}`), err: scim.NoTarget},
	{name: "noTarget: filter with not", body: ops(`{"op":"replace","path":"emails[not (type eq \"work\")].value","value":"x"}`), err: scim.NoTarget},
	{name: "multi-valued sub-attribute without filter sets every element", body: ops(`{"op":"replace","path":"phoneNumbers.display","value":"D"}`),
		want: user(`{"phoneNumbers":[{"type":"mobile","value":"+1 425 555 0100","display":"D"}]}`)},

	// path-less add/replace
	{name: "path-less with bare enterprise URN object", body: ops(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"x","costCenter":"y"}}}`),
		want: user(`{"` + ent + `":{"department":"x","costCenter":"y"}}`)},
	{name: "path-less URN-qualified manager", body: ops(`{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"m-9"}}`),
		want: user(`{"` + ent + `":{"manager":{"value":"m-9"}}}`)},
	{name: "path-less add merges complex and appends multi-valued",
		body: ops(`{"op":"add","value":{"name":{"middleName":"Q"},"emails":[{"type":"home","value":"a@home"}]}}`),
		want: user(`{"name":{"middleName":"Q"},"emails":[{"primary":true,"type":"work","value":"adele@contoso.com"},{"type":"home","value":"a@home"}]}`)},
	{name: "path-less replace sets only given sub-attributes, overwrites multi-valued",
		body: ops(`{"op":"replace","value":{"name":{"givenName":"G"},"emails":[{"type":"home","value":"a@home"}]}}`),
		want: user(`{"name":{"givenName":"G"},"emails":[{"type":"home","value":"a@home"}]}`)},
	{name: "path-less keys apply in document order", body: ops(`{"op":"replace","value":{"name":{"givenName":"A"},"name.givenName":"B"}}`),
		want: user(`{"name":{"givenName":"B"}}`)},
	{name: "path-less value-filter key", body: ops(`{"op":"replace","value":{"emails[type eq \"work\"].value":"k@c"}}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"k@c"}]}`)},
	{name: "path-less ignores schemas", body: ops(`{"op":"replace","value":{"schemas":["x"],"title":"T"}}`),
		want: user(`{"title":"T"}`)},
	{name: "mutability: path-less id (RFC 7644 §3.5.2)", body: ops(`{"op":"replace","value":{"id":"other","title":"T"}}`), err: scim.Mutability},
	{name: "mutability: path-less meta (RFC 7644 §3.5.2)", body: ops(`{"op":"replace","value":{"meta":{"resourceType":"User"},"title":"T"}}`), err: scim.Mutability},
	{name: "path-less core URN object", body: ops(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User":{"displayName":"C"}}}`),
		want: user(`{"displayName":"C"}`)},
	{name: "path-less unknown sub-attribute of a known attribute", body: ops(`{"op":"replace","value":{"name.nick":"x"}}`), err: scim.InvalidPath},
	{name: "path-less value must be an object", body: ops(`{"op":"replace","value":"x"}`), err: scim.InvalidSyntax},

	// unknown attributes
	{name: "invalidPath: unknown core attribute (issue 12)", body: ops(`{"op":"add","path":"favoriteColor","value":{"Hue":"blue","n":[1,2]}}`),
		err: scim.InvalidPath},
	{name: "invalidPath: unknown attribute already stored", doc: with(userInput, `{"tags":["a"]}`),
		body: ops(`{"op":"add","path":"tags","value":["a","b"]}`), err: scim.InvalidPath},
	{name: "invalidPath: undeclared extension attribute (Entra custom extension)",
		body: ops(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode","value":"C-1"}`),
		err:  scim.InvalidPath},
	{name: "invalidPath: undeclared extension object, path-less",
		body: ops(`{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User":{"costCode":"C-1"}}}`),
		err:  scim.InvalidPath},
	{name: "invalidPath: unknown enterprise attribute", body: ops(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:badge","value":"B7"}`),
		err: scim.InvalidPath},
	{name: "invalidPath: unknown sub-attribute of name", body: ops(`{"op":"replace","path":"name.nick","value":"x"}`), err: scim.InvalidPath},
	{name: "invalidPath: unknown sub-attribute of emails", body: ops(`{"op":"replace","path":"emails[type eq \"work\"].label","value":"x"}`), err: scim.InvalidPath},
	{name: "invalidPath: sub-attribute of a simple attribute", body: ops(`{"op":"replace","path":"userName.x","value":"x"}`), err: scim.InvalidPath},
	{name: "invalidPath: filter on a simple attribute", body: ops(`{"op":"replace","path":"userName[value eq \"x\"]","value":"x"}`), err: scim.InvalidPath},
	{name: "invalidPath: unparseable", body: ops(`{"op":"replace","path":"emails[type eq","value":"x"}`), err: scim.InvalidPath},

	// string booleans (docs/entra.md#string-booleans)
	{name: "active \"True\"", doc: with(userInput, `{"active":false}`), body: ops(`{"op":"Replace","path":"active","value":"True"}`), want: user(`{"active":true}`)},
	{name: "active \"true\"", doc: with(userInput, `{"active":false}`), body: ops(`{"op":"Replace","path":"active","value":"true"}`), want: user(`{"active":true}`)},
	{name: "active path-less \"False\"", body: ops(`{"op":"Replace","value":{"active":"False"}}`), want: user(`{"active":false}`)},
	{name: "active \"maybe\" is invalidValue", body: ops(`{"op":"Replace","path":"active","value":"maybe"}`), err: scim.InvalidValue},
	{name: "primary \"True\" via filter path", body: ops(`{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].primary","value":"True"}`),
		want: user(`{"phoneNumbers":[{"type":"mobile","value":"+1 425 555 0100","primary":true}]}`)},

	// manager
	{name: "manager: object value", body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m-4"}}`),
		want: user(`{"` + ent + `":{"manager":{"value":"m-4"}}}`)},
	{name: "manager: one-element array of a string", body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":["m-5"]}`),
		want: user(`{"` + ent + `":{"manager":{"value":"m-5"}}}`)},
	{name: "manager: replace null removes", body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":null}`),
		want: user(`{"` + ent + `":{"manager":null}}`)},
	{name: "manager: remove plain path", body: ops(`{"op":"remove","path":"manager"}`), want: user(`{"` + ent + `":{"manager":null}}`)},
	{name: "manager: remove filter that does not match is a no-op", body: ops(`{"op":"remove","path":"manager[value eq \"other\"]"}`), want: userBase},
	{name: "manager: remove URN-qualified filter", body: ops(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"m-1\"]"}`),
		want: user(`{"` + ent + `":{"manager":null}}`)},
	{name: "manager: remove manager.value", body: ops(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"}`),
		want: user(`{"` + ent + `":{"manager":null}}`)},
	{name: "manager: add manager.value sets the id", doc: with(userInput, `{"`+ent+`":{"manager":null}}`),
		body: ops(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"m-6"}`),
		want: user(`{"` + ent + `":{"manager":{"value":"m-6"}}}`)},
	{name: "manager: replace manager.value drops the old $ref", doc: with(userInput, `{"`+ent+`":{"manager":{"value":"m-1","$ref":"http://x/Users/m-1"}}}`),
		body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"m-7"}`),
		want: user(`{"` + ent + `":{"manager":{"value":"m-7"}}}`)},
	{name: "manager: two-element array is invalidValue", body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":["a","b"]}`), err: scim.InvalidValue},
	{name: "manager: displayName is read-only", body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"Boss"}`), err: scim.Mutability},

	// remove
	{name: "remove simple attribute", body: ops(`{"op":"remove","path":"displayName"}`), want: user(`{"displayName":null}`)},
	{name: "remove complex attribute", body: ops(`{"op":"remove","path":"name"}`), want: user(`{"name":null}`)},
	{name: "remove sub-attribute", body: ops(`{"op":"remove","path":"name.givenName"}`), want: user(`{"name":{"givenName":null}}`)},
	{name: "remove filtered elements", doc: with(userInput, `{"emails":[{"type":"work","value":"a"},{"type":"home","value":"b"}]}`),
		body: ops(`{"op":"remove","path":"emails[type eq \"work\"]"}`), want: user(`{"emails":[{"type":"home","value":"b"}]}`)},
	{name: "remove filtered sub-attribute drops a bare element", doc: with(userInput, `{"emails":[{"type":"work","value":"a","primary":true},{"type":"home","value":"b","display":"B"}]}`),
		body: ops(`{"op":"remove","path":"emails[type eq \"work\"].value"},{"op":"remove","path":"emails[type eq \"home\"].value"}`),
		want: user(`{"emails":[{"type":"home","display":"B"}]}`)},
	{name: "remove absent attribute is a no-op", body: ops(`{"op":"remove","path":"nickName"},{"op":"remove","path":"addresses[type eq \"work\"]"},{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"}`),
		want: userBase},
	{name: "remove with value removes only matching elements", doc: with(userInput, `{"emails":[{"type":"work","value":"a@b"},{"type":"home","value":"c@d"}]}`),
		body: ops(`{"op":"Remove","path":"emails","value":[{"value":"A@B"}]}`), want: user(`{"emails":[{"type":"home","value":"c@d"}]}`)},
	{name: "remove with value matches on value only", doc: with(userInput, `{"emails":[{"type":"work","value":"a@b"},{"type":"home","value":"c@d"}]}`),
		body: ops(`{"op":"Remove","path":"emails","value":{"value":"a@b","type":"home"}}`), want: user(`{"emails":[{"type":"home","value":"c@d"}]}`)},
	{name: "remove with a value-less item matches its sub-attributes", doc: with(userInput, `{"emails":[{"type":"work","value":"a@b"},{"type":"home","value":"c@d"}]}`),
		body: ops(`{"op":"Remove","path":"emails","value":[{"type":"HOME"}]}`), want: user(`{"emails":[{"type":"work","value":"a@b"}]}`)},
	{name: "remove with value that matches nothing keeps all", body: ops(`{"op":"Remove","path":"emails","value":[{"value":"x@y"}]}`), want: userBase},
	{name: "remove with an empty object value is invalidValue", body: ops(`{"op":"Remove","path":"emails","value":[{"$ref":null}]}`), err: scim.InvalidValue},
	{name: "remove the enterprise extension", body: ops(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}`),
		want: with(user(`{"`+ent+`":null}`), `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`)},
	{name: "remove multi-valued sub-attribute without filter", body: ops(`{"op":"remove","path":"phoneNumbers.value"}`), want: user(`{"phoneNumbers":null}`)},

	// mutability and errors
	{name: "mutability: replace id", body: ops(`{"op":"replace","path":"id","value":"x"}`), err: scim.Mutability},
	{name: "mutability: remove id", body: ops(`{"op":"remove","path":"id"}`), err: scim.Mutability},
	{name: "mutability: meta sub-attribute", body: ops(`{"op":"add","path":"meta.created","value":"2020-01-01T00:00:00Z"}`), err: scim.Mutability},
	{name: "mutability: groups", body: ops(`{"op":"add","path":"groups","value":[{"value":"g"}]}`), err: scim.Mutability},
	{name: "invalidValue: string for a complex attribute", body: ops(`{"op":"replace","path":"name","value":"Adele"}`), err: scim.InvalidValue},
	{name: "invalidValue: object for a string attribute", body: ops(`{"op":"replace","path":"displayName","value":{"a":1}}`), err: scim.InvalidValue},
	{name: "invalidValue: array element for emails", body: ops(`{"op":"add","path":"emails","value":[[1]]}`), err: scim.InvalidValue},
	{name: "invalidValue: string for the enterprise object", body: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":"x"}`), err: scim.InvalidValue},

	// order and atomicity
	{name: "later operations see earlier ones", body: ops(`{"op":"add","path":"emails","value":[{"type":"home","value":"h"}]},
		{"op":"replace","path":"emails[type eq \"home\"].value","value":"h2"},
		{"op":"remove","path":"name"},{"op":"add","path":"name.givenName","value":"N"}`),
		want: user(`{"emails":[{"primary":true,"type":"work","value":"adele@contoso.com"},{"type":"home","value":"h2"}],"name":{"givenName":"N","familyName":null,"formatted":null}}`)},
	{name: "atomic: a failing operation cancels the earlier ones", body: ops(`{"op":"replace","path":"displayName","value":"changed"},{"op":"replace","path":"id","value":"x"}`), err: scim.Mutability},
}

var groupCases = []applyCase{
	{name: "add several members, dedupe by value", rt: schema.GroupType,
		body: ops(`{"op":"add","path":"members","value":[{"value":"u2","type":"Group"},{"value":"u3","$ref":null},{"value":"u3"},"u4"]}`),
		want: group(`{"members":[{"value":"u1"},{"value":"u2","type":"User"},{"value":"u3"},{"value":"u4"}]}`)},
	{name: "add a single member object", rt: schema.GroupType,
		body: ops(`{"op":"add","path":"members","value":{"value":"u3","display":"Three"}}`),
		want: group(`{"members":[{"value":"u1"},{"value":"u2","type":"User"},{"value":"u3","display":"Three"}]}`)},
	{name: "remove members without value removes all (RFC 7644 §3.5.2.2)", rt: schema.GroupType,
		body: ops(`{"op":"remove","path":"members"}`), want: group(`{"members":null}`)},
	{name: "remove members with an empty list removes none", rt: schema.GroupType,
		body: ops(`{"op":"remove","path":"members","value":[]}`), want: groupBase},
	{name: "remove members by or filter", rt: schema.GroupType,
		body: ops(`{"op":"remove","path":"members[value eq \"u1\" or value eq \"u2\"]"}`), want: group(`{"members":null}`)},
	{name: "remove members[value eq].value removes the member", rt: schema.GroupType,
		body: ops(`{"op":"remove","path":"members[value eq \"u1\"].value"}`), want: group(`{"members":[{"value":"u2","type":"User"}]}`)},
	{name: "replace members", rt: schema.GroupType,
		body: ops(`{"op":"replace","path":"members","value":[{"value":"u9"},{"value":"u9"}]}`), want: group(`{"members":[{"value":"u9"}]}`)},
	{name: "path-less replace with members", rt: schema.GroupType,
		body: ops(`{"op":"replace","value":{"displayName":"Sales EU","members":[{"value":"u5"}]}}`),
		want: group(`{"displayName":"Sales EU","members":[{"value":"u5"}]}`)},
	{name: "member without value is invalidValue", rt: schema.GroupType,
		body: ops(`{"op":"add","path":"members","value":[{"display":"x"}]}`), err: scim.InvalidValue},
	{name: "member value not a string is invalidValue", rt: schema.GroupType,
		body: ops(`{"op":"add","path":"members","value":[{"value":5}]}`), err: scim.InvalidValue},
	{name: "removing a non-member is a no-op", rt: schema.GroupType,
		body: ops(`{"op":"Remove","path":"members","value":[{"value":"nobody"}]}`), want: groupBase},

	// members kept apart
	{name: "sep: add several members", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"u3"},{"value":"u4","type":"User","$ref":"https://x/Users/u4","display":"Four"},{"value":"u3"}]}`),
		want: groupSepBase,
		ops:  []wantOp{{kind: AddMembers, members: []Member{{Value: "u3"}, {Value: "u4", Type: "User", Ref: "https://x/Users/u4", Display: "Four"}}}}},
	{name: "sep: remove with a value list, never all (azure-docs#30826)", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"u1"},{"value":"u2"}]}`),
		want: groupSepBase,
		ops:  []wantOp{{kind: RemoveMembers, members: []Member{{Value: "u1"}, {Value: "u2"}}}}},
	{name: "sep: remove with an empty list does nothing", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"Remove","path":"members","value":[]}`), want: groupSepBase},
	{name: "sep: remove with a value entry lacking value is invalidValue", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"Remove","path":"members","value":[{"$ref":null}]}`), err: scim.InvalidValue},
	{name: "sep: remove without value removes all", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"remove","path":"members"}`), want: groupSepBase, ops: []wantOp{{kind: RemoveAllMembers}}},
	{name: "sep: remove with or of value eq", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"remove","path":"members[value eq \"a\" or value eq \"b\" or value eq \"a\"]"}`), want: groupSepBase,
		ops: []wantOp{{kind: RemoveMembers, members: []Member{{Value: "a"}, {Value: "b"}}}}},
	{name: "sep: remove with another filter", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"remove","path":"members[type eq \"Group\"]"}`), want: groupSepBase,
		ops: []wantOp{{kind: RemoveMembersWhere, filter: `type eq "Group"`}}},
	{name: "sep: replace members", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"replace","path":"members","value":[{"value":"u7"}]}`), want: groupSepBase,
		ops: []wantOp{{kind: ReplaceMembers, members: []Member{{Value: "u7"}}}}},
	{name: "sep: path-less add with members and displayName", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"add","value":{"members":[{"value":"u8"}],"displayName":"Sales EU"}}`),
		want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Sales EU","externalId":"obj-1"}`,
		ops:  []wantOp{{kind: AddMembers, members: []Member{{Value: "u8"}}}}},
	{name: "sep: path-less replace with members", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"replace","value":{"members":[{"value":"u8"}]}}`), want: groupSepBase,
		ops: []wantOp{{kind: ReplaceMembers, members: []Member{{Value: "u8"}}}}},
	{name: "sep: member ops keep their order", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"Add","path":"members","value":[{"value":"a"}]},{"op":"Remove","path":"members","value":[{"value":"b"}]},
			{"op":"Replace","path":"displayName","value":"D"},{"op":"add","path":"members","value":[{"value":"c"}]}`),
		want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"D","externalId":"obj-1"}`,
		ops: []wantOp{{kind: AddMembers, members: []Member{{Value: "a"}}}, {kind: RemoveMembers, members: []Member{{Value: "b"}}},
			{kind: AddMembers, members: []Member{{Value: "c"}}}}},
	{name: "sep: filtered replace of members is unsupported", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"replace","path":"members[value eq \"a\"].type","value":"Group"}`), err: scim.InvalidPath},
	{name: "sep: members.display is read-only", rt: schema.GroupType, sep: true,
		body: ops(`{"op":"replace","path":"members.display","value":"x"}`), err: scim.Mutability},
	{name: "group: invalidPath for an unknown attribute", rt: schema.GroupType,
		body: ops(`{"op":"add","path":"description","value":"EU sales"}`), err: scim.InvalidPath},
}

func TestEntraBodies(t *testing.T) {
	for _, c := range entraCases {
		t.Run(c.name, func(t *testing.T) { runApply(t, c) })
	}
}

func TestApplyUser(t *testing.T) {
	for _, c := range userCases {
		t.Run(c.name, func(t *testing.T) { runApply(t, c) })
	}
}

func TestApplyGroup(t *testing.T) {
	for _, c := range groupCases {
		t.Run(c.name, func(t *testing.T) { runApply(t, c) })
	}
}

func TestApplyDirect(t *testing.T) {
	cases := []struct {
		name string
		ops  []Operation
		err  string
	}{
		{"no operations", nil, scim.InvalidSyntax},
		{"unknown op", []Operation{{Op: "copy", Path: "title", Value: json.RawMessage(`"x"`)}}, scim.InvalidSyntax},
		{"capitalised op", []Operation{{Op: "Replace", Path: "title", Value: json.RawMessage(`"x"`)}}, ""},
		{"value not JSON", []Operation{{Op: "add", Path: "title", Value: json.RawMessage(`{x`)}}, scim.InvalidSyntax},
		{"add without value", []Operation{{Op: "add", Path: "title"}}, scim.InvalidSyntax},
		{"remove without path", []Operation{{Op: "remove"}}, scim.NoTarget},
		{"too many", make([]Operation, MaxOperations+1), scim.InvalidSyntax},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Apply(schema.UserType, decode(t, userInput), c.ops, Options{})
			if c.err == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				if got := res.Doc["title"]; got != "x" {
					t.Errorf("got title %v, want x", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("got success, want %s", c.err)
			}
			if got := scimType(err); got != c.err {
				t.Errorf("got %v, want scimType %s", err, c.err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	many := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = `{"op":"add","path":"title","value":"x"}`
		}
		return `{"Operations":[` + strings.Join(parts, ",") + `]}`
	}
	cases := []struct {
		name string
		body string
		want []Operation
		err  string
	}{
		{name: "with schemas", body: ops(`{"op":"add","path":"title","value":"x"}`),
			want: []Operation{{Op: "add", Path: "title", Value: json.RawMessage(`"x"`)}}},
		{name: "without schemas", body: `{"Operations":[{"op":"add","path":"title","value":"x"}]}`,
			want: []Operation{{Op: "add", Path: "title", Value: json.RawMessage(`"x"`)}}},
		{name: "operations key in lower case", body: `{"operations":[{"op":"Remove","path":"title"}]}`,
			want: []Operation{{Op: "remove", Path: "title"}}},
		{name: "OPERATIONS and member names in other case", body: `{"OPERATIONS":[{"OP":"ADD","Path":"title","Value":1}]}`,
			want: []Operation{{Op: "add", Path: "title", Value: json.RawMessage(`1`)}}},
		{name: "capitalised op names are lower-cased", body: ops(`{"op":"Add","path":"a","value":1},{"op":"Replace","path":"b","value":2},{"op":"Remove","path":"c"},{"op":"ADD","path":"d","value":3}`),
			want: []Operation{{Op: "add", Path: "a", Value: json.RawMessage(`1`)}, {Op: "replace", Path: "b", Value: json.RawMessage(`2`)},
				{Op: "remove", Path: "c"}, {Op: "add", Path: "d", Value: json.RawMessage(`3`)}}},
		{name: "explicit null value is kept", body: ops(`{"op":"replace","path":"title","value":null}`),
			want: []Operation{{Op: "replace", Path: "title", Value: json.RawMessage(`null`)}}},
		{name: "path-less", body: ops(`{"op":"replace","value":{"title":"x"}}`),
			want: []Operation{{Op: "replace", Value: json.RawMessage(`{"title":"x"}`)}}},
		{name: "null path is path-less", body: ops(`{"op":"replace","path":null,"value":{"title":"x"}}`),
			want: []Operation{{Op: "replace", Value: json.RawMessage(`{"title":"x"}`)}}},
		{name: "1000 operations", body: many(1000), want: nil},
		{name: "1001 operations", body: many(1001), err: scim.InvalidSyntax},
		{name: "schemas without PatchOp", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"op":"add","path":"a","value":1}]}`, err: scim.InvalidSyntax},
		{name: "schemas not an array", body: `{"schemas":"x","Operations":[{"op":"add","path":"a","value":1}]}`, err: scim.InvalidSyntax},
		{name: "Operations missing", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, err: scim.InvalidSyntax},
		{name: "Operations empty", body: ops(``), err: scim.InvalidSyntax},
		{name: "Operations not an array", body: `{"Operations":{"op":"add"}}`, err: scim.InvalidSyntax},
		{name: "Operations twice", body: `{"Operations":[{"op":"remove","path":"a"}],"operations":[]}`, err: scim.InvalidSyntax},
		{name: "not JSON", body: `{"Operations":[`, err: scim.InvalidSyntax},
		{name: "not an object", body: `[1]`, err: scim.InvalidSyntax},
		{name: "null body", body: `null`, err: scim.InvalidSyntax},
		{name: "operation not an object", body: `{"Operations":["add"]}`, err: scim.InvalidSyntax},
		{name: "op missing", body: `{"Operations":[{"path":"a","value":1}]}`, err: scim.InvalidSyntax},
		{name: "op not a string", body: `{"Operations":[{"op":1,"path":"a","value":1}]}`, err: scim.InvalidSyntax},
		{name: "unknown op", body: `{"Operations":[{"op":"move","path":"a","value":1}]}`, err: scim.InvalidSyntax},
		{name: "add without value", body: `{"Operations":[{"op":"add","path":"a"}]}`, err: scim.InvalidSyntax},
		{name: "replace without value", body: `{"Operations":[{"op":"Replace","path":"a"}]}`, err: scim.InvalidSyntax},
		{name: "remove without path", body: `{"Operations":[{"op":"Remove","value":[{"value":"u1"}]}]}`, err: scim.NoTarget},
		{name: "path not a string", body: `{"Operations":[{"op":"remove","path":3}]}`, err: scim.InvalidSyntax},
		{name: "unparseable path", body: `{"Operations":[{"op":"remove","path":"emails[type eq \"work\""}]}`, err: scim.InvalidPath},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := Parse([]byte(c.body))
			if c.err != "" {
				if err == nil {
					t.Fatalf("got %+v, want error %s", req, c.err)
				}
				if got := scimType(err); got != c.err {
					t.Fatalf("got %v, want scimType %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if c.want == nil {
				return
			}
			if !reflect.DeepEqual(req.Operations, c.want) {
				t.Errorf("got %+v\nwant %+v", req.Operations, c.want)
			}
		})
	}
}

func TestMemberOpKindString(t *testing.T) {
	for k, want := range map[MemberOpKind]string{
		AddMembers: "AddMembers", RemoveMembers: "RemoveMembers", RemoveMembersWhere: "RemoveMembersWhere",
		ReplaceMembers: "ReplaceMembers", RemoveAllMembers: "RemoveAllMembers", 0: "MemberOpKind(0)",
	} {
		if got := k.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
