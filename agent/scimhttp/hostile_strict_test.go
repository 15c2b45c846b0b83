package scimhttp_test

// Hostile rows for the strict-input classes of issue 12: query strings,
// bytes and sizes in bodies, types, unknown and read-only attributes,
// discovery, and routing. The harness is in hostile_test.go.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
)

const (
	userURN  = scim.SchemaUser
	groupURN = scim.SchemaGroup
	entURN   = scim.SchemaEnterpriseUser
	// contosoURN is a custom extension no tenant has declared.
	contosoURN = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"
	// hostileURN is the custom extension the hostile tenant declares:
	// badge (integer), nick (string) and remote (boolean).
	hostileURN = "urn:ietf:params:scim:schemas:extension:Hostile:2.0:User"
)

func init() {
	declareHostile = func(t *testing.T, a *testAgent) {
		for _, d := range [][2]string{{"badge", "integer"}, {"nick", "string"}, {"remote", "boolean"}} {
			if _, err := a.dir.DeclareExtension(context.Background(), hostileTenant, hostileURN+":"+d[0], d[1], false); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// userJSON builds a POST /Users body from key and raw-JSON value pairs. It
// adds schemas and a fresh userName unless the pairs give them; a value of
// "-" leaves the key out.
func userJSON(kv ...string) string {
	return objJSON(map[string]string{"schemas": `["` + userURN + `"]`, "userName": `"new.user@example.test"`}, kv...)
}

// groupJSON is userJSON for POST /Groups.
func groupJSON(kv ...string) string {
	return objJSON(map[string]string{"schemas": `["` + groupURN + `"]`, "displayName": `"New Group"`}, kv...)
}

func objJSON(defaults map[string]string, kv ...string) string {
	var parts []string
	given := map[string]bool{}
	for i := 0; i+1 < len(kv); i += 2 {
		given[kv[i]] = true
		if kv[i+1] != "-" {
			parts = append(parts, fmt.Sprintf("%q:%s", kv[i], kv[i+1]))
		}
	}
	for _, k := range []string{"schemas", "userName", "displayName"} {
		if d, ok := defaults[k]; ok && !given[k] {
			parts = append([]string{fmt.Sprintf("%q:%s", k, d)}, parts...)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// patchJSON builds a PatchOp body from operations made by opJSON.
func patchJSON(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// opJSON is one operation; path "" leaves the path out, value "" the value.
func opJSON(op, path, value string) string {
	s := `{"op":"` + op + `"`
	if path != "" {
		s += `,"path":` + jsonString(path)
	}
	if value != "" {
		s += `,"value":` + value
	}
	return s + "}"
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func long(n int) string { return `"` + strings.Repeat("a", n) + `"` }

const (
	get   = http.MethodGet
	post  = http.MethodPost
	put   = http.MethodPut
	patch = http.MethodPatch
)

// strictHostile are the rows of classes 1–6.
func strictHostile() []hostileCase {
	var cs []hostileCase
	// add takes a target relative to the tenant's SCIM base.
	add := func(name, method, target, body string, status int, scimType string) {
		cs = append(cs, hostileCase{name: name, method: method, target: hostileBase + target, body: body, status: status, scimType: scimType})
	}
	const (
		bad   = http.StatusBadRequest
		synt  = scim.InvalidSyntax
		filt  = scim.InvalidFilter
		val   = scim.InvalidValue
		ipath = scim.InvalidPath
		mut   = scim.Mutability
	)

	// 1. Query strings: malformed escapes, blank filters, duplicates.
	for _, q := range []struct{ name, query, scimType string }{
		{"filter with a bad escape after a valid expression", `filter=userName%20eq%20%22x%22%zz`, filt},
		{"filter that is a lone percent", `filter=%`, filt},
		{"filter ending in a truncated escape", `filter=userName%20eq%20%22x%22%2`, filt},
		{"filter with a non-hex escape", `filter=%G0serName%20pr`, filt},
		{"filter with invalid UTF-8", `filter=userName%20eq%20%22%FF%22`, filt},
		{"filter with an overlong UTF-8 slash", `filter=userName%20eq%20%22%C0%AF%22`, filt},
		{"filter with NUL", `filter=userName%20eq%20%22a%00b%22`, filt},
		{"filter with an escape character", `filter=userName%20eq%20%22a%1Bb%22`, filt},
		{"empty filter", `filter=`, filt},
		{"filter without =", `filter`, filt},
		{"blank filter of spaces", `filter=%20%20`, filt},
		{"blank filter of a plus", `filter=+`, filt},
		{"blank filter of a tab", `filter=%09`, filt},
		{"filter given twice", `filter=userName%20pr&filter=userName%20eq%20%22x%22`, filt},
		{"filter given twice in different case", `filter=userName%20pr&FILTER=title%20pr`, filt},
		{"filter split by a semicolon", `filter=userName%20eq%20%22x%22;count=1`, filt},
		{"bad escape in count", `count=%zz`, synt},
		{"bad escape in startIndex", `startIndex=%2`, synt},
		{"bad escape in attributes", `attributes=userName%zz`, synt},
		{"bad escape in excludedAttributes", `excludedAttributes=%G1`, synt},
		{"bad escape in sortBy", `sortBy=userName%`, synt},
		{"bad escape in a parameter name", `%zz=1`, synt},
		{"invalid UTF-8 in attributes", `attributes=%FFuserName`, synt},
		{"count given twice", `count=1&count=2`, synt},
		{"bad escape after a valid filter", `filter=userName%20pr&count=1%`, synt},
		{"count that is not a number", `count=ten`, val},
		{"startIndex in exponent form", `startIndex=1e3`, val},
		{"count beyond int64", `count=99999999999999999999999`, val},
		{"sortOrder that is neither", `sortOrder=sideways`, val},
	} {
		add("query/users: "+q.name, get, "/Users?"+q.query, "", bad, q.scimType)
	}
	for _, q := range []struct{ name, target, scimType string }{
		{"groups: bad escape in filter", `/Groups?excludedAttributes=members&filter=displayName%20eq%20%22x%22%zz`, filt},
		{"groups: empty filter", `/Groups?filter=&excludedAttributes=members`, filt},
		{"groups: bad escape in excludedAttributes", `/Groups?excludedAttributes=members%zz`, synt},
		{"user by id: bad escape in attributes", `/Users/{user}?attributes=%zz`, synt},
		{"group by id: bad escape in excludedAttributes", `/Groups/{group}?excludedAttributes=members%`, synt},
		{"discovery: bad escape in a parameter", `/Schemas?attributes=%zz`, synt},
	} {
		add("query/"+q.name, get, q.target, "", bad, q.scimType)
	}
	add("query/patch with a bad escape in attributes", patch, "/Users/{user}?attributes=%zz", patchJSON(opJSON("replace", "displayName", `"Changed"`)), bad, synt)
	add("query/post with a bad escape", post, "/Users?attributes=%G0", userJSON(), bad, synt)

	// 2. Bytes and sizes in bodies.
	for _, b := range []struct{ name, method, target, body string }{
		{"userName with byte FF", post, "/Users", userJSON("userName", "\"\xff@example.test\"")},
		{"userName with an overlong encoding", post, "/Users", userJSON("userName", "\"a\xc0\xafb@example.test\"")},
		{"userName with an encoded surrogate", post, "/Users", userJSON("userName", "\"\xed\xa0\x80@example.test\"")},
		{"userName with a truncated sequence", post, "/Users", userJSON("userName", "\"\xe2\x82@example.test\"")},
		{"displayName with byte FE", post, "/Users", userJSON("displayName", "\"\xfe\"")},
		{"attribute name with invalid UTF-8", post, "/Users", userJSON("\xfftitle", `"x"`)},
		{"group displayName with invalid UTF-8", post, "/Groups", groupJSON("displayName", "\"\xff\"")},
		{"replace with invalid UTF-8", put, "/Users/{user}", userJSON("userName", `"hostile.one@example.test"`, "displayName", "\"\xc3\x28\"")},
		{"patch value with invalid UTF-8", patch, "/Users/{user}", patchJSON(opJSON("replace", "displayName", "\"\x80\""))},
		{"search filter with invalid UTF-8", post, "/Users/.search", "{\"filter\":\"userName eq \\\"\xff\\\"\"}"},
		{"userName with a lone high surrogate escape", post, "/Users", userJSON("userName", `"\ud800@example.test"`)},
		{"userName with a lone low surrogate escape", post, "/Users", userJSON("userName", `"\udc00@example.test"`)},
		{"displayName with a high surrogate before a letter", post, "/Users", userJSON("displayName", `"\ud83dA"`)},
		{"patch value with a lone surrogate escape", patch, "/Users/{user}", patchJSON(opJSON("replace", "displayName", `"\udfff"`))},
	} {
		add("utf8/"+b.name, b.method, b.target, b.body, bad, synt)
	}
	ctl := []struct{ name, esc string }{{"NUL", `\u0000`}, {"unit separator", `\u001f`}}
	for _, attr := range []string{"userName", "displayName", "externalId", "nickName", "title", "userType", "preferredLanguage", "locale", "timezone"} {
		for _, c := range ctl {
			v := `"x` + c.esc + `y"`
			if attr == "userName" {
				v = `"x` + c.esc + `y@example.test"`
			}
			add("control/"+c.name+" in "+attr, post, "/Users", userJSON(attr, v), bad, val)
		}
	}
	for _, b := range []struct{ name, method, target, body string }{
		{"newline in userName", post, "/Users", userJSON("userName", `"a\nb@example.test"`)},
		{"tab in userName", post, "/Users", userJSON("userName", `"\ta@example.test"`)},
		{"carriage return in displayName", post, "/Users", userJSON("displayName", `"Eve\r\nSet-Cookie: x"`)},
		{"DEL in displayName", post, "/Users", userJSON("displayName", `"a\u007fb"`)},
		{"C1 NEL in displayName", post, "/Users", userJSON("displayName", `"a\u0085b"`)},
		{"escape sequence in displayName", post, "/Users", userJSON("displayName", `"\u001b[31mred"`)},
		{"NUL in name.givenName", post, "/Users", userJSON("name", `{"givenName":"a\u0000b"}`)},
		{"newline in name.familyName", post, "/Users", userJSON("name", `{"familyName":"a\nb"}`)},
		{"NUL in emails value", post, "/Users", userJSON("emails", `[{"type":"work","value":"a\u0000@example.test"}]`)},
		{"NUL in emails type", post, "/Users", userJSON("emails", `[{"type":"wo\u0000rk","value":"a@example.test"}]`)},
		{"carriage return in phone number", post, "/Users", userJSON("phoneNumbers", `[{"type":"work","value":"555\r1"}]`)},
		{"bell in enterprise department", post, "/Users", userJSON(entURN, `{"department":"a\u0007"}`)},
		{"DEL in enterprise employeeNumber", post, "/Users", userJSON(entURN, `{"employeeNumber":"1\u007f"}`)},
		{"NUL in group displayName", post, "/Groups", groupJSON("displayName", `"G\u0000"`)},
		{"NUL in replaced displayName", put, "/Users/{user}", userJSON("userName", `"hostile.one@example.test"`, "displayName", `"a\u0000"`)},
		{"patch displayName with NUL", patch, "/Users/{user}", patchJSON(opJSON("replace", "displayName", `"a\u0000"`))},
		{"patch userName with a newline", patch, "/Users/{user}", patchJSON(opJSON("Replace", "userName", `"a\nb@example.test"`))},
		{"path-less patch with NUL in name.givenName", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"name.givenName":"a\u0000"}`))},
		{"patch work email with NUL", patch, "/Users/{user}", patchJSON(opJSON("Replace", `emails[type eq "work"].value`, `"a\u0000@example.test"`))},
		{"patch group displayName with NUL", patch, "/Groups/{group}", patchJSON(opJSON("Replace", "displayName", `"G\u0000"`))},
	} {
		add("control/"+b.name, b.method, b.target, b.body, bad, val)
	}
	for _, b := range []struct{ name, method, target, body string }{
		{"userName of 300 000 characters", post, "/Users", userJSON("userName", long(300000))},
		{"userName one character over the limit", post, "/Users", userJSON("userName", long(257))},
		{"displayName of 5 000 characters", post, "/Users", userJSON("displayName", long(5000))},
		{"externalId of 1 000 characters", post, "/Users", userJSON("externalId", long(1000))},
		{"email of 1 000 characters", post, "/Users", userJSON("emails", `[{"value":`+long(1000)+`}]`)},
		{"name.givenName of 1 000 characters", post, "/Users", userJSON("name", `{"givenName":`+long(1000)+`}`)},
		{"enterprise department of 1 000 characters", post, "/Users", userJSON(entURN, `{"department":`+long(1000)+`}`)},
		{"profileUrl of 3 000 characters", post, "/Users", userJSON("profileUrl", `"https://example.test/`+strings.Repeat("p", 3000)+`"`)},
		{"group displayName of 1 000 characters", post, "/Groups", groupJSON("displayName", long(1000))},
		{"replaced userName of 1 000 characters", put, "/Users/{user}", userJSON("userName", long(1000))},
		{"patched displayName of 1 000 characters", patch, "/Users/{user}", patchJSON(opJSON("replace", "displayName", long(1000)))},
		{"path-less patch of a long title", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"title":`+long(1000)+`}`))},
	} {
		add("size/"+b.name, b.method, b.target, b.body, bad, val)
	}

	// 3. Types (RFC 7643 §2.3) and schemas.
	for _, b := range []struct{ name, method, target, body string }{
		{"userName as a number", post, "/Users", userJSON("userName", `12345`)},
		{"userName as a boolean", post, "/Users", userJSON("userName", `true`)},
		{"userName as an object", post, "/Users", userJSON("userName", `{"value":"a@example.test"}`)},
		{"userName as an array", post, "/Users", userJSON("userName", `["a@example.test"]`)},
		{"displayName as a number", post, "/Users", userJSON("displayName", `1`)},
		{"displayName as a boolean", post, "/Users", userJSON("displayName", `false`)},
		{"externalId as a number", post, "/Users", userJSON("externalId", `5`)},
		{"title as a decimal", post, "/Users", userJSON("title", `3.5`)},
		{"active as yes", post, "/Users", userJSON("active", `"yes"`)},
		{"active as a number", post, "/Users", userJSON("active", `1`)},
		{"active as an array", post, "/Users", userJSON("active", `[true]`)},
		{"emails as a string", post, "/Users", userJSON("emails", `"x@y"`)},
		{"emails as one object", post, "/Users", userJSON("emails", `{"value":"x@y"}`)},
		{"emails of bare strings", post, "/Users", userJSON("emails", `["x@y"]`)},
		{"emails of numbers", post, "/Users", userJSON("emails", `[1]`)},
		{"email value as a number", post, "/Users", userJSON("emails", `[{"value":1}]`)},
		{"email primary as maybe", post, "/Users", userJSON("emails", `[{"value":"a@example.test","primary":"maybe"}]`)},
		{"emails nested in an array", post, "/Users", userJSON("emails", `[["x@y"]]`)},
		{"name as a string", post, "/Users", userJSON("name", `"Bob"`)},
		{"name as an array", post, "/Users", userJSON("name", `[{"givenName":"Bob"}]`)},
		{"name.givenName as a number", post, "/Users", userJSON("name", `{"givenName":7}`)},
		{"phoneNumbers as a string", post, "/Users", userJSON("phoneNumbers", `"555"`)},
		{"addresses as a string", post, "/Users", userJSON("addresses", `"1 Main St"`)},
		{"address primary as a string", post, "/Users", userJSON("addresses", `[{"locality":"Oslo","primary":"yes"}]`)},
		{"roles as a string", post, "/Users", userJSON("roles", `"admin"`)},
		{"enterprise extension as a string", post, "/Users", userJSON(entURN, `"Sales"`)},
		{"enterprise department as a number", post, "/Users", userJSON(entURN, `{"department":5}`)},
		{"manager as a number", post, "/Users", userJSON(entURN, `{"manager":5}`)},
		{"manager as a boolean", post, "/Users", userJSON(entURN, `{"manager":true}`)},
		{"manager as two values", post, "/Users", userJSON(entURN, `{"manager":["a","b"]}`)},
		{"manager value as a number", post, "/Users", userJSON(entURN, `{"manager":{"value":5}}`)},
		{"schemas missing", post, "/Users", userJSON("schemas", "-")},
		{"schemas as a string", post, "/Users", userJSON("schemas", `"`+userURN+`"`)},
		{"schemas empty", post, "/Users", userJSON("schemas", `[]`)},
		{"schemas null", post, "/Users", userJSON("schemas", `null`)},
		{"schemas of numbers", post, "/Users", userJSON("schemas", `[1]`)},
		{"schemas of the Group schema", post, "/Users", userJSON("schemas", `["`+groupURN+`"]`)},
		{"schemas of the enterprise extension only", post, "/Users", userJSON("schemas", `["`+entURN+`"]`)},
		{"group schemas missing", post, "/Groups", groupJSON("schemas", "-")},
		{"group schemas of the User schema", post, "/Groups", groupJSON("schemas", `["`+userURN+`"]`)},
		{"group displayName as a number", post, "/Groups", groupJSON("displayName", `5`)},
		{"group members as a string", post, "/Groups", groupJSON("members", `"{user}"`)},
		{"group member value as a number", post, "/Groups", groupJSON("members", `[{"value":5}]`)},
		{"group member type as a number", post, "/Groups", groupJSON("members", `[{"value":"{user}","type":5}]`)},
		{"replace with userName as a number", put, "/Users/{user}", userJSON("userName", `12345`)},
		{"replace without schemas", put, "/Users/{user}", userJSON("schemas", "-", "userName", `"hostile.one@example.test"`)},
		{"replace group without schemas", put, "/Groups/{group}", groupJSON("schemas", "-", "displayName", `"Hostile Group"`)},
		{"patch active as yes", patch, "/Users/{user}", patchJSON(opJSON("replace", "active", `"yes"`))},
		{"patch userName as a number", patch, "/Users/{user}", patchJSON(opJSON("Replace", "userName", `5`))},
		{"patch displayName as an object", patch, "/Users/{user}", patchJSON(opJSON("replace", "displayName", `{"value":"x"}`))},
		{"patch name as a string", patch, "/Users/{user}", patchJSON(opJSON("replace", "name", `"Bob"`))},
		{"patch emails as a string", patch, "/Users/{user}", patchJSON(opJSON("add", "emails", `"x@y"`))},
		{"path-less patch with displayName as a number", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"displayName":5}`))},
		{"path-less patch with active as maybe", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"active":"maybe"}`))},
		{"patch manager as a number", patch, "/Users/{user}", patchJSON(opJSON("Add", entURN+":manager", `5`))},
		{"patch group displayName as a number", patch, "/Groups/{group}", patchJSON(opJSON("Replace", "displayName", `5`))},
	} {
		add("type/"+b.name, b.method, b.target, b.body, bad, val)
	}

	// 4. Unknown and read-only attributes.
	for _, b := range []struct{ name, method, target, body, scimType string }{
		{"patch add of an unknown core attribute", patch, "/Users/{user}", patchJSON(opJSON("add", "favoriteColor", `"blue"`)), ipath},
		{"patch replace of an unknown core attribute", patch, "/Users/{user}", patchJSON(opJSON("Replace", "favoriteColor", `"blue"`)), ipath},
		{"patch remove of an unknown core attribute", patch, "/Users/{user}", patchJSON(opJSON("remove", "favoriteColor", "")), ipath},
		{"patch of a core-qualified unknown attribute", patch, "/Users/{user}", patchJSON(opJSON("add", userURN+":favoriteColor", `"blue"`)), ipath},
		{"path-less patch of an unknown core attribute", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"favoriteColor":"blue"}`)), ipath},
		{"path-less patch of an unknown sub-attribute", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"name.nickname":"b"}`)), ipath},
		{"patch of an unknown sub-attribute", patch, "/Users/{user}", patchJSON(opJSON("replace", "name.middle", `"b"`)), ipath},
		{"patch of an unknown sub-attribute of a filtered email", patch, "/Users/{user}", patchJSON(opJSON("replace", `emails[type eq "work"].bogus`, `"b"`)), ipath},
		{"patch of an unknown enterprise attribute", patch, "/Users/{user}", patchJSON(opJSON("add", entURN+":favoriteColor", `"blue"`)), ipath},
		{"patch of an undeclared custom extension attribute", patch, "/Users/{user}", patchJSON(opJSON("Add", contosoURN+":costCode", `"42"`)), ipath},
		{"patch of an undeclared custom extension object", patch, "/Users/{user}", patchJSON(opJSON("add", contosoURN, `{"costCode":"42"}`)), ipath},
		{"path-less patch of an undeclared extension attribute", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"`+contosoURN+`:costCode":"42"}`)), ipath},
		{"path-less patch of an undeclared extension object", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"`+contosoURN+`":{"costCode":"42"}}`)), ipath},
		{"patch of an unknown group attribute", patch, "/Groups/{group}", patchJSON(opJSON("add", "favoriteColor", `"blue"`)), ipath},
		{"patch replace of id", patch, "/Users/{user}", patchJSON(opJSON("replace", "id", `"evil"`)), mut},
		{"patch remove of id", patch, "/Users/{user}", patchJSON(opJSON("remove", "id", "")), mut},
		{"path-less patch of id", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"id":"evil"}`)), mut},
		{"path-less patch of id beside a valid change", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"displayName":"Changed","id":"evil"}`)), mut},
		{"patch of meta.created", patch, "/Users/{user}", patchJSON(opJSON("replace", "meta.created", `"2000-01-01T00:00:00Z"`)), mut},
		{"patch of meta", patch, "/Users/{user}", patchJSON(opJSON("replace", "meta", `{"version":"W/\"9\""}`)), mut},
		{"path-less patch of meta", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"meta":{"version":"W/\"9\""}}`)), mut},
		{"patch add of groups", patch, "/Users/{user}", patchJSON(opJSON("add", "groups", `[{"value":"{group}"}]`)), mut},
		{"path-less patch of groups", patch, "/Users/{user}", patchJSON(opJSON("add", "", `{"groups":[{"value":"{group}"}]}`)), mut},
		{"patch of the manager's displayName", patch, "/Users/{user}", patchJSON(opJSON("replace", entURN+":manager.displayName", `"Boss"`)), mut},
		{"group patch of id", patch, "/Groups/{group}", patchJSON(opJSON("replace", "id", `"evil"`)), mut},
		{"group path-less patch of id", patch, "/Groups/{group}", patchJSON(opJSON("replace", "", `{"id":"evil"}`)), mut},
		{"create with an unknown core attribute", post, "/Users", userJSON("favoriteColor", `"blue"`), val},
		{"create with an unknown complex attribute", post, "/Users", userJSON("pets", `[{"value":"cat"}]`), val},
		{"create with an unknown sub-attribute", post, "/Users", userJSON("name", `{"givenName":"A","nickname":"b"}`), val},
		{"create with an unknown email sub-attribute", post, "/Users", userJSON("emails", `[{"value":"a@example.test","verified":true}]`), val},
		{"create with an unknown enterprise attribute", post, "/Users", userJSON(entURN, `{"favoriteColor":"blue"}`), val},
		{"create with an undeclared extension object", post, "/Users", userJSON(contosoURN, `{"costCode":"42"}`), ipath},
		{"create with an undeclared extension attribute", post, "/Users", userJSON(contosoURN+":costCode", `"42"`), ipath},
		{"create group with an unknown attribute", post, "/Groups", groupJSON("favoriteColor", `"blue"`), val},
		{"replace with an unknown core attribute", put, "/Users/{user}", userJSON("userName", `"hostile.one@example.test"`, "favoriteColor", `"blue"`), val},
		{"replace with an undeclared extension object", put, "/Users/{user}", userJSON("userName", `"hostile.one@example.test"`, contosoURN, `{"costCode":"42"}`), ipath},
	} {
		add("unknown/"+b.name, b.method, b.target, b.body, bad, b.scimType)
	}

	// Declared custom extension attributes (declareHostile): type-checked like the core ones.
	for _, b := range []struct{ name, method, target, body, scimType string }{
		{"declared integer sent as a string", post, "/Users", userJSON(hostileURN, `{"badge":"7"}`), val},
		{"declared integer sent as a decimal", post, "/Users", userJSON(hostileURN, `{"badge":7.5}`), val},
		{"declared integer sent as an array", post, "/Users", userJSON(hostileURN+":badge", `[7]`), val},
		{"declared string with NUL", post, "/Users", userJSON(hostileURN, `{"nick":"a\u0000"}`), val},
		{"declared string too long", post, "/Users", userJSON(hostileURN, `{"nick":`+long(300)+`}`), val},
		{"declared boolean sent as yes", post, "/Users", userJSON(hostileURN+":remote", `"yes"`), val},
		{"undeclared attribute of a declared schema", post, "/Users", userJSON(hostileURN, `{"other":"x"}`), ipath},
		{"undeclared attribute of a declared schema, flat", post, "/Users", userJSON(hostileURN+":other", `"x"`), ipath},
		{"patch of a declared integer with a string", patch, "/Users/{user}", patchJSON(opJSON("Replace", hostileURN+":badge", `"x"`)), val},
		{"path-less patch of a declared boolean with a number", patch, "/Users/{user}", patchJSON(opJSON("replace", "", `{"`+hostileURN+`:remote":1}`)), val},
		{"patch of an undeclared attribute of a declared schema", patch, "/Users/{user}", patchJSON(opJSON("add", hostileURN+":other", `"x"`)), ipath},
		{"user extension on a group", post, "/Groups", groupJSON(hostileURN, `{"badge":7}`), ipath},
	} {
		add("extension/"+b.name, b.method, b.target, b.body, bad, b.scimType)
	}

	// 5. Discovery.
	add("discovery/unknown schema", get, "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Nope", "", http.StatusNotFound, "")
	add("discovery/unknown resource type", get, "/ResourceTypes/Nope", "", http.StatusNotFound, "")
	add("discovery/below ServiceProviderConfig", get, "/ServiceProviderConfig/x", "", http.StatusNotFound, "")
	add("discovery/POST to Schemas", post, "/Schemas", `{}`, http.StatusMethodNotAllowed, "")
	add("discovery/PUT to ServiceProviderConfig", put, "/ServiceProviderConfig", `{}`, http.StatusMethodNotAllowed, "")

	// 6. Routing.
	search := func(body string) string { return body }
	for _, b := range []struct{ name, method, target, body string }{
		{"root search with a malformed filter", post, "/.search", search(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq"}`)},
		{"root search with a blank filter", post, "/.search", search(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"  "}`)},
		{"users search with a blank filter", post, "/Users/.search", search(`{"filter":""}`)},
		{"lower-case users with a malformed filter", get, `/users?filter=userName%20eq`, ""},
		{"lower-case users with a bad escape", get, `/users?filter=userName%20eq%20%22x%22%zz`, ""},
		{"upper-case groups with an empty filter", get, `/GROUPS?filter=`, ""},
		{"lower-case search with a malformed filter", post, "/users/.search", search(`{"filter":"userName eq"}`)},
	} {
		add("routing/"+b.name, b.method, b.target, b.body, bad, filt)
	}
	add("routing/root search with a body that is not JSON", post, "/.search", `{"filter":`, bad, synt)
	add("routing/root search with a bad sortOrder", post, "/.search", `{"filter":"userName pr","sortOrder":"up"}`, bad, val)
	add("routing/GET of the root search", get, "/.search", "", http.StatusMethodNotAllowed, "")
	add("routing/PUT of the root search", put, "/.search", `{}`, http.StatusMethodNotAllowed, "")
	add("routing/lower-case users patch of an unknown attribute", patch, "/users/{user}", patchJSON(opJSON("add", "favoriteColor", `"blue"`)), bad, ipath)
	add("routing/lower-case groups patch of id", patch, "/groups/{group}", patchJSON(opJSON("replace", "id", `"evil"`)), bad, mut)
	add("routing/lower-case users create of a number userName", post, "/users", userJSON("userName", `12345`), bad, val)
	add("routing/attributes with an unclosed value filter", get, `/Users?attributes=emails%5Btype%20eq%20%22work%22`, "", bad, synt)
	add("routing/attributes with a malformed value filter", get, `/Users?attributes=emails%5Btype%20eq%5D`, "", bad, synt)
	add("routing/path below a user", get, "/Users/{user}/emails", "", http.StatusNotFound, "")
	return cs
}

func TestHostileStrict(t *testing.T) {
	cases := strictHostile()
	if len(cases) < 120 {
		t.Fatalf("the strict hostile corpus has %d rows, want at least 120", len(cases))
	}
	runHostile(t, cases)
}
