package filter_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
)

const (
	entURN  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	coreURN = "urn:ietf:params:scim:schemas:core:2.0:User"
)

// AST builders.

func at(attr string) filter.Path { return filter.Path{Attr: attr} }

func sub(attr, s string) filter.Path { return filter.Path{Attr: attr, Sub: s} }

func urn(u, attr, s string) filter.Path { return filter.Path{URN: u, Attr: attr, Sub: s} }

func vp(attr string, f filter.Expr, s string) filter.Path {
	return filter.Path{Attr: attr, Filter: f, Sub: s}
}

func str(s string) filter.Value        { return filter.Value{Kind: filter.String, Str: s} }
func bare(s string) filter.Value       { return filter.Value{Kind: filter.String, Str: s, Unquoted: true} }
func num(f float64) filter.Value       { return filter.Value{Kind: filter.Number, Num: f} }
func boolean(b bool) filter.Value      { return filter.Value{Kind: filter.Bool, Bool: b} }
func null() filter.Value               { return filter.Value{Kind: filter.Null} }
func not(x filter.Expr) *filter.Not    { return &filter.Not{X: x} }
func has(p filter.Path) *filter.Has    { return &filter.Has{Path: p} }
func pr(p filter.Path) *filter.Compare { return &filter.Compare{Path: p, Op: filter.Pr} }

func cmp(p filter.Path, op filter.Operator, v filter.Value) *filter.Compare {
	return &filter.Compare{Path: p, Op: op, Value: v}
}

func and(l, r filter.Expr) *filter.Logical { return &filter.Logical{Op: "and", Left: l, Right: r} }
func or(l, r filter.Expr) *filter.Logical  { return &filter.Logical{Op: "or", Left: l, Right: r} }

// parseTests are valid filters and the exact AST they parse to. Values are
// compared with reflect.DeepEqual, so Unquoted must match too.
var parseTests = []struct {
	in   string
	want filter.Expr
}{
	// Every shape Entra sends (Microsoft "Tutorial: Develop and plan provisioning for a SCIM endpoint").
	{`userName eq "7d420df3-9995-4831-a406-ecf8166f5f6a"`, cmp(at("userName"), filter.Eq, str("7d420df3-9995-4831-a406-ecf8166f5f6a"))},
	{`externalId eq "x"`, cmp(at("externalId"), filter.Eq, str("x"))},
	{`emails[type eq "work"].value eq "a@b.com"`, cmp(vp("emails", cmp(at("type"), filter.Eq, str("work")), "value"), filter.Eq, str("a@b.com"))},
	{`displayName eq "Group 1"`, cmp(at("displayName"), filter.Eq, str("Group 1"))},
	{`id eq "g1" and members[value eq "u1"]`, and(cmp(at("id"), filter.Eq, str("g1")), has(vp("members", cmp(at("value"), filter.Eq, str("u1")), "")))},
	{`id eq "g1" and members eq "u1"`, and(cmp(at("id"), filter.Eq, str("g1")), cmp(at("members"), filter.Eq, str("u1")))},
	{`id eq "u" and manager eq "m"`, and(cmp(at("id"), filter.Eq, str("u")), cmp(at("manager"), filter.Eq, str("m")))},
	{`userName eq "Test_User_00aa00aa@contoso.com"`, cmp(at("userName"), filter.Eq, str("Test_User_00aa00aa@contoso.com"))},

	// Legacy unquoted values (Microsoft's older examples).
	{`userName sw O`, cmp(at("userName"), filter.Sw, bare("O"))},
	{`externalId eq jyoung`, cmp(at("externalId"), filter.Eq, bare("jyoung"))},
	{`userName eq Test_User_00aa00aa`, cmp(at("userName"), filter.Eq, bare("Test_User_00aa00aa"))},
	{`userName eq jamie.young@contoso.com`, cmp(at("userName"), filter.Eq, bare("jamie.young@contoso.com"))},
	{`externalId eq 7d420df3-9995-4831-a406-ecf8166f5f6a`, cmp(at("externalId"), filter.Eq, bare("7d420df3-9995-4831-a406-ecf8166f5f6a"))},
	{`externalId eq 00123`, cmp(at("externalId"), filter.Eq, bare("00123"))},
	{`phone eq +15550100`, cmp(at("phone"), filter.Eq, bare("+15550100"))},
	{`x eq a:b`, cmp(at("x"), filter.Eq, bare("a:b"))},
	{`displayName eq José`, cmp(at("displayName"), filter.Eq, bare("José"))},
	{`(userName eq O)`, cmp(at("userName"), filter.Eq, bare("O"))},
	{`members[value eq u1]`, has(vp("members", cmp(at("value"), filter.Eq, bare("u1")), ""))},

	// Operators, case-insensitive keywords.
	{`title ne "x"`, cmp(at("title"), filter.Ne, str("x"))},
	{`title co "x"`, cmp(at("title"), filter.Co, str("x"))},
	{`title sw "x"`, cmp(at("title"), filter.Sw, str("x"))},
	{`title ew "x"`, cmp(at("title"), filter.Ew, str("x"))},
	{`meta.lastModified gt "2011-05-13T04:42:34Z"`, cmp(sub("meta", "lastModified"), filter.Gt, str("2011-05-13T04:42:34Z"))},
	{`meta.lastModified ge "2011-05-13T04:42:34Z"`, cmp(sub("meta", "lastModified"), filter.Ge, str("2011-05-13T04:42:34Z"))},
	{`meta.lastModified lt "2011-05-13T04:42:34Z"`, cmp(sub("meta", "lastModified"), filter.Lt, str("2011-05-13T04:42:34Z"))},
	{`meta.lastModified le "2011-05-13T04:42:34Z"`, cmp(sub("meta", "lastModified"), filter.Le, str("2011-05-13T04:42:34Z"))},
	{`title pr`, pr(at("title"))},
	{`userName EQ "a"`, cmp(at("userName"), filter.Eq, str("a"))},
	{`userName Eq "a" And title PR`, and(cmp(at("userName"), filter.Eq, str("a")), pr(at("title")))},
	{`NOT (title pr) OR userName eQ "b"`, or(not(pr(at("title"))), cmp(at("userName"), filter.Eq, str("b")))},
	{`not(title pr)`, not(pr(at("title")))},
	{`active eq TRUE`, cmp(at("active"), filter.Eq, boolean(true))},
	{`active eq False`, cmp(at("active"), filter.Eq, boolean(false))},
	{`active eq true`, cmp(at("active"), filter.Eq, boolean(true))},
	{`manager eq NULL`, cmp(at("manager"), filter.Eq, null())},
	{`manager ne null`, cmp(at("manager"), filter.Ne, null())},
	{`active eq "True"`, cmp(at("active"), filter.Eq, str("True"))},

	// Numbers.
	{`loginCount eq 17`, cmp(at("loginCount"), filter.Eq, num(17))},
	{`loginCount gt -3`, cmp(at("loginCount"), filter.Gt, num(-3))},
	{`x eq 0`, cmp(at("x"), filter.Eq, num(0))},
	{`x eq -0.5`, cmp(at("x"), filter.Eq, num(-0.5))},
	{`x eq 1.25e3`, cmp(at("x"), filter.Eq, num(1250))},
	{`x eq 1E-2`, cmp(at("x"), filter.Eq, num(0.01))},
	{`x le 2e+2`, cmp(at("x"), filter.Le, num(200))},
	{`x eq 1e-400`, cmp(at("x"), filter.Eq, num(0))},
	{`x co 12`, cmp(at("x"), filter.Co, num(12))},
	{`x eq 1.`, cmp(at("x"), filter.Eq, bare("1."))},
	{`x eq .5`, cmp(at("x"), filter.Eq, bare(".5"))},
	{`x eq -`, cmp(at("x"), filter.Eq, bare("-"))},

	// Strings.
	{`x eq ""`, cmp(at("x"), filter.Eq, str(""))},
	{`x eq "a\"b"`, cmp(at("x"), filter.Eq, str(`a"b`))},
	{`x eq "\u00e9"`, cmp(at("x"), filter.Eq, str("é"))},
	{`x eq "\\\/\b\f\n\r\t"`, cmp(at("x"), filter.Eq, str("\\/\b\f\n\r\t"))},
	{`x eq "\ud83d\ude00"`, cmp(at("x"), filter.Eq, str("😀"))},
	{`x eq "\ud83d"`, cmp(at("x"), filter.Eq, str("\uFFFD"))},
	{`x eq "\ude00\u0041"`, cmp(at("x"), filter.Eq, str("\uFFFDA"))},
	{`x eq "and or not ( ) [ ]"`, cmp(at("x"), filter.Eq, str("and or not ( ) [ ]"))},
	{`x eq "tab	inside"`, cmp(at("x"), filter.Eq, str("tab\tinside"))},
	{`x eq "日本"`, cmp(at("x"), filter.Eq, str("日本"))},

	// Whitespace.
	{"  userName \t eq\n\"a\"  ", cmp(at("userName"), filter.Eq, str("a"))},
	{`userName eq"a"`, cmp(at("userName"), filter.Eq, str("a"))},
	{`( title pr )and( x pr )`, and(pr(at("title")), pr(at("x")))},

	// Precedence and grouping: not > and > or, left-associative.
	{`a pr or b pr and c pr`, or(pr(at("a")), and(pr(at("b")), pr(at("c"))))},
	{`a pr and b pr or c pr`, or(and(pr(at("a")), pr(at("b"))), pr(at("c")))},
	{`a pr and b pr and c pr`, and(and(pr(at("a")), pr(at("b"))), pr(at("c")))},
	{`a pr or b pr or c pr`, or(or(pr(at("a")), pr(at("b"))), pr(at("c")))},
	{`a pr and (b pr or c pr)`, and(pr(at("a")), or(pr(at("b")), pr(at("c"))))},
	{`a pr or (b pr or c pr)`, or(pr(at("a")), or(pr(at("b")), pr(at("c"))))},
	{`(a pr or b pr) and c pr`, and(or(pr(at("a")), pr(at("b"))), pr(at("c")))},
	{`not (a pr) and b pr`, and(not(pr(at("a"))), pr(at("b")))},
	{`not (a pr and b pr)`, not(and(pr(at("a")), pr(at("b"))))},
	{`not (not (a pr))`, not(not(pr(at("a"))))},
	{`((((a pr))))`, pr(at("a"))},
	{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
		and(cmp(at("userType"), filter.Eq, str("Employee")),
			or(cmp(at("emails"), filter.Co, str("example.com")), cmp(sub("emails", "value"), filter.Co, str("example.org"))))},

	// Value paths (RFC 7644 §3.4.2.2 examples).
	{`emails[type eq "work" and value co "@example.com"]`,
		has(vp("emails", and(cmp(at("type"), filter.Eq, str("work")), cmp(at("value"), filter.Co, str("@example.com"))), ""))},
	{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
		and(cmp(at("userType"), filter.Eq, str("Employee")),
			has(vp("emails", and(cmp(at("type"), filter.Eq, str("work")), cmp(at("value"), filter.Co, str("@example.com"))), "")))},
	{`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
		or(has(vp("emails", and(cmp(at("type"), filter.Eq, str("work")), cmp(at("value"), filter.Co, str("@example.com"))), "")),
			has(vp("ims", and(cmp(at("type"), filter.Eq, str("xmpp")), cmp(at("value"), filter.Co, str("@foo.com"))), "")))},
	{`emails[not (type eq "work")]`, has(vp("emails", not(cmp(at("type"), filter.Eq, str("work"))), ""))},
	{`emails[(type eq "work" or type eq "home") and primary eq true]`,
		has(vp("emails", and(or(cmp(at("type"), filter.Eq, str("work")), cmp(at("type"), filter.Eq, str("home"))), cmp(at("primary"), filter.Eq, boolean(true))), ""))},
	{`emails[ type eq "work" ]`, has(vp("emails", cmp(at("type"), filter.Eq, str("work")), ""))},
	{`emails[type eq "work"] pr`, pr(vp("emails", cmp(at("type"), filter.Eq, str("work")), ""))},
	{`emails[type eq "work"] eq "a@b"`, cmp(vp("emails", cmp(at("type"), filter.Eq, str("work")), ""), filter.Eq, str("a@b"))},
	{`roles[primary eq "True"].value eq "Admin"`, cmp(vp("roles", cmp(at("primary"), filter.Eq, str("True")), "value"), filter.Eq, str("Admin"))},
	{`members[$ref eq "https://x/Users/1"]`, has(vp("members", cmp(at("$ref"), filter.Eq, str("https://x/Users/1")), ""))},
	{`not (members[value eq "u1"])`, not(has(vp("members", cmp(at("value"), filter.Eq, str("u1")), "")))},

	// Sub-attributes and names.
	{`name.givenName eq "Jamie"`, cmp(sub("name", "givenName"), filter.Eq, str("Jamie"))},
	{`members.$ref pr`, pr(sub("members", "$ref"))},
	{`$ref pr`, pr(at("$ref"))},
	{`x-y_z9 pr`, pr(at("x-y_z9"))},
	{`not eq "x"`, cmp(at("not"), filter.Eq, str("x"))},
	{`not pr`, pr(at("not"))},
	{`and pr and or pr`, and(pr(at("and")), pr(at("or")))},
	{`urn pr`, pr(at("urn"))},

	// URN-qualified names (RFC 7644 §3.10): split at the last ":".
	{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1234"`,
		cmp(urn(entURN, "employeeNumber", ""), filter.Eq, str("1234"))},
	{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-42"`,
		cmp(urn(entURN, "manager", "value"), filter.Eq, str("m-42"))},
	{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"`,
		cmp(urn(coreURN, "userName", ""), filter.Eq, str("a"))},
	{`URN:IETF:params:scim:schemas:core:2.0:User:name.givenName sw "J"`,
		cmp(urn("URN:IETF:params:scim:schemas:core:2.0:User", "name", "givenName"), filter.Sw, str("J"))},
	{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "m"].displayName pr`,
		pr(filter.Path{URN: entURN, Attr: "manager", Filter: cmp(at("value"), filter.Eq, str("m")), Sub: "displayName"})},
	{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "m"]`,
		has(filter.Path{URN: entURN, Attr: "manager", Filter: cmp(at("value"), filter.Eq, str("m"))})},
	{`urn:ietf:params:scim:schemas:core:2.0:User pr`, pr(urn("urn:ietf:params:scim:schemas:core:2.0", "User", ""))},
	{`(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D")`,
		cmp(urn(entURN, "department", ""), filter.Eq, str("R&D"))},
}

// invalidFilters must fail with 400 invalidFilter; want is a substring of the detail.
var invalidFilters = []struct {
	in   string
	want string
}{
	{``, "position 1: the filter is empty"},
	{`   `, "position 4: the filter is empty"},
	{`userName`, `expected a comparison operator`},
	{`userName foo "x"`, `position 10: expected a comparison operator, got "foo"`},
	{`userName eq`, `position 12: expected a value after "eq", got end of filter`},
	{`userName eq )`, `expected a value after "eq", got ")"`},
	{`userName eq "x`, `the string that starts at position 13 has no closing quote`},
	{`userName eq "x\q"`, `invalid escape "\\q"`},
	{`userName eq "\u12"`, `invalid \u escape`},
	{`userName eq "x" foo`, `position 17: expected "and", "or" or end of filter, got "foo"`},
	{`userName eq "x" and`, `got end of filter`},
	{`userName eq "x" or or`, `expected a comparison operator`},
	{`and`, `expected a comparison operator`},
	{`(userName pr`, `position 13: expected ")" to close the "(" at position 1, got end of filter`},
	{`userName pr)`, `position 12: unbalanced parentheses`},
	{`((a pr)`, `expected ")"`},
	{`()`, `expected an attribute name`},
	{`emails[type eq "work"`, `expected "]" to close the "[" at position 7`},
	{`emails type eq "work"]`, `expected a comparison operator`},
	{`a pr]`, `unbalanced brackets`},
	{`emails[]`, `the value filter in brackets is empty`},
	{`a[b[c eq 1]]`, `position 4: value filters cannot be nested`},
	{`a.b[c eq 1]`, `position 4: a value filter cannot follow the sub-attribute "b"`},
	{`a[b eq 1].c[d eq 1] pr`, `cannot follow the sub-attribute "c"`},
	{`a.b.c eq 1`, `only one level of sub-attribute`},
	{`urn:a:b:c.d.e eq 1`, `only one level of sub-attribute`},
	{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value[value eq "x"]`, `cannot follow the sub-attribute`},
	{`a. eq 1`, `expected a sub-attribute name`},
	{`a[b eq 1]. eq 1`, `expected a sub-attribute name`},
	{`1abc eq 1`, `expected an attribute name`},
	{`"userName" eq 1`, `expected an attribute name`},
	{`foo:bar eq 1`, `must start with "urn:"`},
	{`urn:foo:bar eq 1`, `expected a schema URN`},
	{`urn:a::b:c eq 1`, `empty segment`},
	{`urn:ietf:params:scim:schemas:core:2.0:User: eq 1`, `expected an attribute name after the schema URN`},
	{`urn:ietf:params:scim:schemas:core:2.0 eq 1`, `position 35: expected an attribute name after the schema URN, got "2.0"`},
	{`title pr "x"`, `the "pr" operator takes no value`},
	{`title pr x`, `the "pr" operator takes no value`},
	{`active gt true`, `the "gt" operator cannot compare with a boolean`},
	{`active ge false`, `cannot compare with a boolean`},
	{`active lt TRUE`, `cannot compare with a boolean`},
	{`active le false`, `cannot compare with a boolean`},
	{`active co true`, `cannot compare with a boolean`},
	{`active sw false`, `cannot compare with a boolean`},
	{`active ew true`, `cannot compare with a boolean`},
	{`manager gt null`, `the "gt" operator cannot compare with null`},
	{`manager co null`, `cannot compare with null`},
	{`x eq 1e400`, `out of range`},
	{`userName eq O'Brien`, `unexpected character '\''`},
	{`userName eq a,b`, `unexpected character ','`},
	{`x eq y(`, `unexpected character '('`},
	{`not title pr`, `expected "(" after "not", got "title"`},
	{`not`, `expected "(" after "not", got end of filter`},
	{`not (a pr`, `expected ")"`},
	{`a pr andb pr`, `position 6: the "pr" operator takes no value, got "andb"`},
	{`a eq 1 andb pr`, `position 8: expected "and", "or" or end of filter, got "andb"`},
	{`a eq "x"y`, `got "y"`},
	{`a[b eq 1][c eq 1]`, `got "["`},
	{`a[b eq 1)]`, `expected "]"`},
	{`(a[b eq 1)]`, `expected "]"`},
	{`a eq "é" foo`, `position 10:`}, // positions count characters, not bytes
	{strings.Repeat("(", filter.MaxDepth+1) + "a pr" + strings.Repeat(")", filter.MaxDepth+1), `nesting is deeper than 100 levels`},
	{strings.Repeat("not (", filter.MaxDepth+1) + "a pr" + strings.Repeat(")", filter.MaxDepth+1), `nesting is deeper than 100 levels`},
	{`a eq "` + strings.Repeat("x", filter.MaxLength) + `"`, `the limit is 10240`},
}

func checkErr(t *testing.T, err error, scimType, want string) {
	t.Helper()
	var se *scim.Error
	if !errors.As(err, &se) {
		t.Fatalf("got error %T %v, want *scim.Error", err, err)
	}
	if se.Status != 400 || se.ScimType != scimType {
		t.Errorf("got status %d scimType %q, want 400 %q", se.Status, se.ScimType, scimType)
	}
	if !strings.Contains(se.Detail, want) {
		t.Errorf("got detail %q, want it to contain %q", se.Detail, want)
	}
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := filter.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): got error %v, want %s", tt.in, err, filter.Format(tt.want))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q):\ngot  %#v (%s)\nwant %#v (%s)", tt.in, got, filter.Format(got), tt.want, filter.Format(tt.want))
			}
			if !filter.Equal(got, tt.want) {
				t.Errorf("Equal(got, want) = false for %q", tt.in)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tt := range invalidFilters {
		name := tt.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			got, err := filter.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q): got %s, want error containing %q", tt.in, filter.Format(got), tt.want)
			}
			checkErr(t, err, scim.InvalidFilter, tt.want)
		})
	}
}

func TestParseDepthLimit(t *testing.T) {
	for _, depth := range []int{filter.MaxDepth - 1, filter.MaxDepth} {
		in := strings.Repeat("(", depth-1) + "a[b eq 1]" + strings.Repeat(")", depth-1)
		if _, err := filter.Parse(in); err != nil {
			t.Errorf("depth %d: got error %v, want nil", depth, err)
		}
	}
	in := strings.Repeat("(", filter.MaxDepth) + "a[b eq 1]" + strings.Repeat(")", filter.MaxDepth)
	_, err := filter.Parse(in)
	checkErr(t, err, scim.InvalidFilter, "nesting is deeper than 100 levels")

	// A long flat chain is not nesting: it parses, and everything that walks it works.
	long := strings.Repeat("a pr and ", 1000) + "a pr"
	e, err := filter.Parse(long)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if got := filter.Format(e); got != long {
		t.Errorf("got Format length %d, want %d", len(got), len(long))
	}
	if !filter.Match(e, map[string]any{"a": "x"}, nil) {
		t.Errorf("got Match false, want true")
	}
}

func TestParseLength(t *testing.T) {
	ok := `a eq "` + strings.Repeat("x", filter.MaxLength-7) + `"`
	if len(ok) != filter.MaxLength {
		t.Fatalf("test bug: len %d", len(ok))
	}
	if _, err := filter.Parse(ok); err != nil {
		t.Errorf("got error %v for a filter of exactly MaxLength bytes, want nil", err)
	}
	_, err := filter.Parse(ok + " ")
	checkErr(t, err, scim.InvalidFilter, "10241 bytes long; the limit is 10240")
	_, err = filter.ParsePath(strings.Repeat("a", filter.MaxLength+1))
	checkErr(t, err, scim.InvalidPath, "the limit is 10240")
}

func TestUnquotedFlag(t *testing.T) {
	e, err := filter.Parse(`userName sw O`)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.(*filter.Compare).Value; !got.Unquoted || got.Str != "O" {
		t.Errorf("got %+v, want Unquoted String O", got)
	}
	e2, _ := filter.Parse(`userName sw "O"`)
	if got := e2.(*filter.Compare).Value; got.Unquoted {
		t.Errorf("got Unquoted for a quoted string")
	}
	if !filter.Equal(e, e2) {
		t.Errorf("got Equal false, want true: Unquoted is ignored")
	}
	if got, want := filter.Format(e), `userName sw "O"`; got != want {
		t.Errorf("got Format %q, want %q", got, want)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ in, want string }{
		{`userName Eq "a"`, `userName eq "a"`},
		{`userName sw O`, `userName sw "O"`},
		{`NOT(a pr)AND b PR`, `not (a pr) and b pr`},
		{`((a pr or b pr)) and c pr`, `(a pr or b pr) and c pr`},
		{`a pr or (b pr and c pr)`, `a pr or b pr and c pr`},
		{`a pr and (b pr and c pr)`, `a pr and (b pr and c pr)`},
		{`(a pr and b pr) and c pr`, `a pr and b pr and c pr`},
		{`a pr or (b pr or c pr)`, `a pr or (b pr or c pr)`},
		{`x eq 1.25e3`, `x eq 1250`},
		{`x eq 1e21`, `x eq 1e+21`},
		{`x eq -0`, `x eq -0`},
		{`x eq "a\u0001\"\\\/\n"`, `x eq "a\u0001\"\\/\n"`},
		{`x eq "\u00e9"`, `x eq "é"`},
		{`x eq NULL`, `x eq null`},
		{`x eq True`, `x eq true`},
		{`emails[type eq "work"].value eq "a@b.com"`, `emails[type eq "work"].value eq "a@b.com"`},
		{"emails[ type  eq\t\"work\" ]", `emails[type eq "work"]`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := filter.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := filter.Format(e); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got := e.(interface{ String() string }).String(); got != tt.want {
				t.Errorf("got String method %q, want %q", got, tt.want)
			}
		})
	}
	if got := filter.Format(nil); got != "" {
		t.Errorf("got Format(nil) %q, want empty", got)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := filter.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			s := filter.Format(e)
			e2, err := filter.Parse(s)
			if err != nil {
				t.Fatalf("Parse(Format(e)) = Parse(%q): got error %v, want nil", s, err)
			}
			if !filter.Equal(e, e2) {
				t.Errorf("Parse(%q): got %s, want Equal to %s", s, filter.Format(e2), s)
			}
			if s2 := filter.Format(e2); s2 != s {
				t.Errorf("Format is not a fixed point: got %q, want %q", s2, s)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	a := cmp(at("a"), filter.Eq, str("x"))
	tests := []struct {
		name string
		x, y filter.Expr
		want bool
	}{
		{"nil nil", nil, nil, true},
		{"nil typed nil", nil, (*filter.Compare)(nil), true},
		{"nil expr", nil, a, false},
		{"same", a, cmp(at("a"), filter.Eq, str("x")), true},
		{"unquoted ignored", a, cmp(at("a"), filter.Eq, bare("x")), true},
		{"attr case matters", a, cmp(at("A"), filter.Eq, str("x")), false},
		{"op", a, cmp(at("a"), filter.Ne, str("x")), false},
		{"value", a, cmp(at("a"), filter.Eq, str("y")), false},
		{"kind", cmp(at("a"), filter.Eq, num(1)), cmp(at("a"), filter.Eq, str("1")), false},
		{"number", cmp(at("a"), filter.Eq, num(1)), cmp(at("a"), filter.Eq, num(1)), true},
		{"pr ignores value", pr(at("a")), &filter.Compare{Path: at("a"), Op: filter.Pr, Value: str("junk")}, true},
		{"unused fields ignored", cmp(at("a"), filter.Eq, null()), cmp(at("a"), filter.Eq, filter.Value{Kind: filter.Null, Str: "z"}), true},
		{"urn", cmp(urn(entURN, "a", ""), filter.Eq, str("x")), a, false},
		{"sub", cmp(sub("a", "b"), filter.Eq, str("x")), a, false},
		{"filter", has(vp("m", a, "")), has(vp("m", a, "")), true},
		{"filter differs", has(vp("m", a, "")), has(vp("m", pr(at("a")), "")), false},
		{"logical", and(a, a), and(a, a), true},
		{"logical op", and(a, a), or(a, a), false},
		{"not", not(a), not(a), true},
		{"not vs has", not(a), has(at("a")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filter.Equal(tt.x, tt.y); got != tt.want {
				t.Errorf("got Equal %v, want %v", got, tt.want)
			}
			if got := filter.Equal(tt.y, tt.x); got != tt.want {
				t.Errorf("got Equal (swapped) %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in   string
		want filter.Path
		str  string
	}{
		{`members`, at("members"), `members`},
		{`name.givenName`, sub("name", "givenName"), `name.givenName`},
		{`emails[type eq "work"].value`, vp("emails", cmp(at("type"), filter.Eq, str("work")), "value"), `emails[type eq "work"].value`},
		{`members[value eq "7f4b0c2e-8f1a-4b3c-9d2e-1a2b3c4d5e6f"]`, vp("members", cmp(at("value"), filter.Eq, str("7f4b0c2e-8f1a-4b3c-9d2e-1a2b3c4d5e6f")), ""), `members[value eq "7f4b0c2e-8f1a-4b3c-9d2e-1a2b3c4d5e6f"]`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, urn(entURN, "manager", ""), entURN + `:manager`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`, urn(entURN, "manager", "value"), entURN + `:manager.value`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:name.familyName`, urn(coreURN, "name", "familyName"), coreURN + `:name.familyName`},
		{`manager[value eq "x"]`, vp("manager", cmp(at("value"), filter.Eq, str("x")), ""), `manager[value eq "x"]`},
		{`roles[primary eq "True"].value`, vp("roles", cmp(at("primary"), filter.Eq, str("True")), "value"), `roles[primary eq "True"].value`},
		{`emails[type eq "work" and primary eq true]`, vp("emails", and(cmp(at("type"), filter.Eq, str("work")), cmp(at("primary"), filter.Eq, boolean(true))), ""), `emails[type eq "work" and primary eq true]`},
		{`addresses[type eq work].streetAddress`, vp("addresses", cmp(at("type"), filter.Eq, bare("work")), "streetAddress"), `addresses[type eq "work"].streetAddress`},
		{`members.$ref`, sub("members", "$ref"), `members.$ref`},
		{`  displayName  `, at("displayName"), `displayName`},
		{`EMAILS[TYPE EQ "Work"].VALUE`, vp("EMAILS", cmp(at("TYPE"), filter.Eq, str("Work")), "VALUE"), `EMAILS[TYPE eq "Work"].VALUE`},
		// Not special-cased: callers recognise a bare schema URN first.
		{entURN, urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User", ""), entURN},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := filter.ParsePath(tt.in)
			if err != nil {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("got String %q, want %q", s, tt.str)
			}
			back, err := filter.ParsePath(got.String())
			if err != nil || !back.Equal(got) {
				t.Errorf("ParsePath(String()): got %v, %v, want %v", back, err, got)
			}
		})
	}
}

func TestParsePathInvalid(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `position 1: the path is empty`},
		{`emails[type eq "work"`, `expected "]" to close the "[" at position 7`},
		{`emails[type foo "work"]`, `position 13: expected a comparison operator`},
		{`emails[]`, `empty`},
		{`a.b[c eq 1]`, `cannot follow the sub-attribute`},
		{`a[b[c eq 1]]`, `cannot be nested`},
		{`a.b.c`, `only one level of sub-attribute`},
		{`emails type`, `position 8: expected end of path, got "type"`},
		{`userName eq "x"`, `expected end of path, got "eq"`},
		{`1abc`, `expected an attribute name`},
		{`name.`, `expected a sub-attribute name, got end of path`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:`, `expected an attribute name after the schema URN`},
		{`urn:x:`, `expected a schema URN`},
		{`a[b eq 1] x`, `expected end of path`},
		{`emails[type eq true gt]`, `expected "]"`},
		{`(a)`, `expected an attribute name`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := filter.ParsePath(tt.in)
			if err == nil {
				t.Fatalf("got %v, want error containing %q", got, tt.want)
			}
			checkErr(t, err, scim.InvalidPath, tt.want)
		})
	}
}

func TestPathEqual(t *testing.T) {
	a := vp("emails", cmp(at("type"), filter.Eq, str("work")), "value")
	b := vp("emails", cmp(at("type"), filter.Eq, bare("work")), "value")
	if !a.Equal(b) {
		t.Errorf("got Equal false, want true")
	}
	c := vp("emails", cmp(at("type"), filter.Eq, str("home")), "value")
	if a.Equal(c) {
		t.Errorf("got Equal true, want false")
	}
	if !at("x").Equal(at("x")) || at("x").Equal(sub("x", "y")) {
		t.Errorf("got wrong Equal for plain paths")
	}
}

// Documents for Match, shaped like what Entra provisions.
const userJSON = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "id": "7d420df3-9995-4831-a406-ecf8166f5f6a",
  "externalId": "jyoung",
  "userName": "Test_User_00aa00aa@contoso.com",
  "active": true,
  "displayName": "Jamie Young",
  "title": "Engineer",
  "nickName": "",
  "name": {"givenName": "Jamie", "familyName": "Young", "formatted": "Jamie Young"},
  "emails": [
    {"type": "work", "value": "Jamie.Young@contoso.com", "primary": true},
    {"type": "home", "value": "jamie@example.org", "primary": false}
  ],
  "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
  "roles": [{"primary": "True", "value": "Admin", "type": "WindowsAzureActiveDirectoryRole"}],
  "addresses": [],
  "x509Certificates": [null, ""],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "1234",
    "department": "R&D",
    "costCenter": "",
    "manager": {"value": "m-42", "displayName": null}
  },
  "meta": {"resourceType": "User", "created": "2024-01-15T10:00:00Z", "lastModified": "2024-03-01T08:30:00.5+01:00"},
  "loginCount": 17,
  "weird": {"nested": [1, {"deep": [2]}]},
  "emptyObj": {},
  "nullObj": {"value": null}
}`

// disabledJSON is a user as Entra sends it when booleans arrive as strings.
const disabledJSON = `{
  "id": "u2",
  "userName": "Disabled.User@contoso.com",
  "active": "False",
  "emails": {"type": "work", "value": "single@contoso.com"},
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"manager": "m-7"}
}`

const groupJSON = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
  "id": "g1",
  "externalId": "grp-ext",
  "displayName": "Group 1",
  "members": [
    {"value": "u1", "display": "User One", "$ref": "https://roster.example/scim/v2/Users/u1"},
    {"value": "U2", "display": "User Two"}
  ],
  "tags": ["alpha", "Beta"]
}`

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// caseExact mimics the schema: id, externalId and members.value are case-exact
// (RFC 7643 §3.1, §4.2), as is meta.location.
func caseExact(urn, attr, sub string) bool {
	switch strings.ToLower(attr) {
	case "id", "externalid":
		return sub == ""
	case "members":
		return strings.EqualFold(sub, "value")
	case "meta":
		return strings.EqualFold(sub, "location")
	}
	return false
}

func TestMatch(t *testing.T) {
	user := decode(t, userJSON)
	disabled := decode(t, disabledJSON)
	group := decode(t, groupJSON)
	userOpt := &filter.Options{CoreURN: scim.SchemaUser, CaseExact: caseExact}
	groupOpt := &filter.Options{CoreURN: scim.SchemaGroup, CaseExact: caseExact}

	tests := []struct {
		doc    string
		filter string
		opt    *filter.Options
		want   bool
	}{
		// Entra's lookups.
		{"user", `userName eq "Test_User_00aa00aa@contoso.com"`, userOpt, true},
		{"user", `userName eq "test_user_00AA00AA@CONTOSO.COM"`, userOpt, true},
		{"user", `userName eq Test_User_00aa00aa@contoso.com`, userOpt, true},
		{"user", `USERNAME eq "Test_User_00aa00aa@contoso.com"`, userOpt, true},
		{"user", `userName eq "someone else"`, userOpt, false},
		{"user", `externalId eq "jyoung"`, userOpt, true},
		{"user", `externalId eq "JYOUNG"`, userOpt, false},
		{"user", `externalId eq "JYOUNG"`, nil, true},
		{"user", `externalId eq jyoung`, userOpt, true},
		{"user", `id eq "7d420df3-9995-4831-a406-ecf8166f5f6a"`, userOpt, true},
		{"user", `id eq "7D420DF3-9995-4831-A406-ECF8166F5F6A"`, userOpt, false},
		{"user", `emails[type eq "work"].value eq "jamie.young@contoso.com"`, userOpt, true},
		{"user", `emails[type eq "home"].value eq "jamie.young@contoso.com"`, userOpt, false},
		{"user", `emails[type eq "WORK"].value eq "Jamie.Young@contoso.com"`, userOpt, true},
		{"user", `emails[type eq "other"].value pr`, userOpt, false},
		{"user", `emails[type eq "home"].value pr`, userOpt, true},
		{"user", `emails.value eq "jamie@example.org"`, userOpt, true},
		{"user", `emails eq "jamie@example.org"`, userOpt, true},
		{"user", `emails co "@contoso"`, userOpt, true},
		{"user", `emails co "@nowhere"`, userOpt, false},
		{"user", `emails ne "jamie@example.org"`, userOpt, false},
		{"user", `emails ne "x@y"`, userOpt, true},
		{"user", `emails[type eq "work" and value co "@contoso.com"]`, userOpt, true},
		{"user", `emails[type eq "home" and value co "@contoso.com"]`, userOpt, false},
		{"user", `emails[type eq "work" and primary eq true]`, userOpt, true},
		{"user", `emails[type eq "home" and primary eq true]`, userOpt, false},
		{"user", `emails[not (type eq "work")]`, userOpt, true},
		{"user", `emails[primary eq "true"]`, userOpt, true},
		{"user", `emails[type eq "work"] eq "jamie.young@contoso.com"`, userOpt, true},
		{"user", `emails[type eq "work"] pr`, userOpt, true},
		{"user", `roles[primary eq true].value eq "Admin"`, userOpt, true},
		{"user", `roles[primary eq "True"].value eq "admin"`, userOpt, true},
		{"user", `roles[primary eq false]`, userOpt, false},

		// Sub-attributes.
		{"user", `name.givenName eq "jamie"`, userOpt, true},
		{"user", `name.givenName sw "Ja"`, userOpt, true},
		{"user", `name.familyName ew "ung"`, userOpt, true},
		{"user", `name.middleName pr`, userOpt, false},
		{"user", `name pr`, userOpt, true},
		{"user", `name.givenName eq "Young"`, userOpt, false},

		// Enterprise extension (RFC 7643 §4.3) and URN-qualified names.
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1234"`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 1234`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber gt 1000`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber lt 1000`, userOpt, false},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-42"`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "M-42"`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:MANAGER.Value eq "m-42"`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "m-42"]`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName pr`, userOpt, false},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter pr`, userOpt, false},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName pr`, userOpt, false},
		{"user", `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "test_"`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:core:2.0:user:name.givenName eq "Jamie"`, userOpt, true},
		{"user", `urn:ietf:params:scim:schemas:core:2.0:User:userName pr`, nil, false}, // no CoreURN: the URN names an (absent) extension
		{"user", `manager eq "m-42"`, userOpt, false},                                  // manager lives in the extension
		{"user", `id eq "7d420df3-9995-4831-a406-ecf8166f5f6a" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "m-42"`, userOpt, true},
		{"disabled", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "m-7"`, userOpt, true},

		// Booleans, including Entra's string booleans.
		{"user", `active eq true`, userOpt, true},
		{"user", `active eq false`, userOpt, false},
		{"user", `active ne false`, userOpt, true},
		{"user", `active eq "true"`, userOpt, true},
		{"user", `active eq "yes"`, userOpt, false},
		{"disabled", `active eq false`, userOpt, true},
		{"disabled", `active eq FALSE`, userOpt, true},
		{"disabled", `active eq true`, userOpt, false},
		{"disabled", `active ne true`, userOpt, true},
		{"disabled", `active eq "false"`, userOpt, true},

		// null and pr (RFC 7643 §2.5: unassigned, null and empty are one state).
		{"user", `title pr`, userOpt, true},
		{"user", `nickName pr`, userOpt, false},
		{"user", `nickName eq null`, userOpt, true},
		{"user", `nickName ne null`, userOpt, false},
		{"user", `profileUrl pr`, userOpt, false},
		{"user", `profileUrl eq null`, userOpt, true},
		{"user", `profileUrl ne null`, userOpt, false},
		{"user", `title eq null`, userOpt, false},
		{"user", `title ne null`, userOpt, true},
		{"user", `addresses pr`, userOpt, false},
		{"user", `x509Certificates pr`, userOpt, false},
		{"user", `emails pr`, userOpt, true},
		{"user", `emptyObj pr`, userOpt, false},
		{"user", `nullObj pr`, userOpt, false},
		{"user", `weird pr`, userOpt, true},
		{"user", `meta.created pr`, userOpt, true},

		// ne is the negation of eq, so it is true when absent.
		{"user", `profileUrl ne "x"`, userOpt, true},
		{"user", `title ne "engineer"`, userOpt, false},
		{"user", `title ne "Manager"`, userOpt, true},

		// Strings.
		{"user", `displayName co "MIE YO"`, userOpt, true},
		{"user", `displayName sw "jamie"`, userOpt, true},
		{"user", `displayName ew "YOUNG"`, userOpt, true},
		{"user", `displayName co ""`, userOpt, true},
		{"user", `displayName gt "Jamie"`, userOpt, true},
		{"user", `displayName gt "jamie z"`, userOpt, false},
		{"user", `displayName lt "K"`, userOpt, true},
		{"user", `displayName ge "jamie young"`, userOpt, true},
		{"user", `displayName le "JAMIE YOUNG"`, userOpt, true},
		{"user", `userName sw O`, userOpt, false},
		{"user", `userName sw T`, userOpt, true},
		{"user", `title eq 17`, userOpt, false},

		// Numbers.
		{"user", `loginCount eq 17`, userOpt, true},
		{"user", `loginCount eq 17.0`, userOpt, true},
		{"user", `loginCount eq 1.7e1`, userOpt, true},
		{"user", `loginCount gt 16`, userOpt, true},
		{"user", `loginCount ge 17`, userOpt, true},
		{"user", `loginCount lt 17`, userOpt, false},
		{"user", `loginCount le 17`, userOpt, true},
		{"user", `loginCount eq "17"`, userOpt, true},
		{"user", `loginCount gt "9"`, userOpt, true},
		{"user", `loginCount co 7`, userOpt, true},
		{"user", `loginCount sw "1"`, userOpt, true},
		{"user", `loginCount eq true`, userOpt, false},
		{"user", `loginCount ne 18`, userOpt, true},

		// Date-times compare chronologically (RFC 7644 §3.4.2.2).
		{"user", `meta.created gt "2024-01-01T00:00:00Z"`, userOpt, true},
		{"user", `meta.created lt "2024-01-01T00:00:00Z"`, userOpt, false},
		{"user", `meta.created eq "2024-01-15T11:00:00+01:00"`, userOpt, true},
		{"user", `meta.created ge "2024-01-15T11:00:00+01:00"`, userOpt, true},
		{"user", `meta.created le "2024-01-15T10:00:00.000Z"`, userOpt, true},
		{"user", `meta.lastModified gt "2024-03-01T07:30:00Z"`, userOpt, true},
		{"user", `meta.lastModified lt "2024-03-01T07:30:01Z"`, userOpt, true},
		{"user", `meta.lastModified gt "2024-03-01T08:00:00+01:00"`, userOpt, true},
		{"user", `meta.created sw "2024-01"`, userOpt, true},
		{"user", `meta.created gt "2024"`, userOpt, true}, // not a date-time: string order

		// Logical operators.
		{"user", `title pr and userName pr`, userOpt, true},
		{"user", `title pr and profileUrl pr`, userOpt, false},
		{"user", `profileUrl pr or title pr`, userOpt, true},
		{"user", `not (profileUrl pr)`, userOpt, true},
		{"user", `not (title pr) or profileUrl pr and title pr`, userOpt, false},
		{"user", `(not (title pr) or profileUrl pr) or title eq "engineer"`, userOpt, true},
		{"user", `userType eq "Employee" and (emails co "contoso.com" or emails.value co "example.org")`, userOpt, false},
		{"user", `title eq "Engineer" and (emails co "nowhere.com" or emails.value co "example.org")`, userOpt, true},

		// Single complex value treated as one element.
		{"disabled", `emails[type eq "work"].value eq "single@contoso.com"`, userOpt, true},
		{"disabled", `emails[type eq "work"]`, userOpt, true},
		{"disabled", `emails eq "single@contoso.com"`, userOpt, true},

		// Group lookups Entra makes.
		{"group", `displayName eq "Group 1"`, groupOpt, true},
		{"group", `displayName eq "group 1"`, groupOpt, true},
		{"group", `id eq "g1" and members[value eq "u1"]`, groupOpt, true},
		{"group", `id eq "g1" and members[value eq "u3"]`, groupOpt, false},
		{"group", `id eq "g1" and members eq "u1"`, groupOpt, true},
		{"group", `id eq "g1" and members eq "u2"`, groupOpt, false}, // members.value is case-exact
		{"group", `id eq "g1" and members eq "u2"`, nil, true},
		{"group", `id eq "G1" and members eq "u1"`, groupOpt, false},
		{"group", `members[value eq "U2"]`, groupOpt, true},
		{"group", `members[value eq "u2"]`, groupOpt, false},
		{"group", `members[display co "two"]`, groupOpt, true},
		{"group", `members[$ref ew "/Users/u1"]`, groupOpt, true},
		{"group", `members.display eq "user one"`, groupOpt, true},
		{"group", `members pr`, groupOpt, true},
		{"group", `externalId eq "grp-ext"`, groupOpt, true},
		{"group", `tags eq "beta"`, groupOpt, true},
		{"group", `tags[value eq "alpha"]`, groupOpt, true},
		{"group", `tags.value sw "Al"`, groupOpt, true},
		{"group", `tags[value eq "gamma"]`, groupOpt, false},
		{"group", `urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Group 1"`, groupOpt, true},
	}
	docs := map[string]map[string]any{"user": user, "disabled": disabled, "group": group}
	for _, tt := range tests {
		name := tt.doc + ": " + tt.filter
		if tt.opt == nil {
			name += " (nil options)"
		}
		t.Run(name, func(t *testing.T) {
			e, err := filter.Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := filter.Match(e, docs[tt.doc], tt.opt); got != tt.want {
				t.Errorf("got Match %v, want %v", got, tt.want)
			}
			// not (e) is always the negation.
			if got := filter.Match(not(e), docs[tt.doc], tt.opt); got == tt.want {
				t.Errorf("got Match(not) %v, want %v", got, !tt.want)
			}
		})
	}
}

func TestMatchCaseExactArgs(t *testing.T) {
	type call struct{ urn, attr, sub string }
	tests := []struct {
		filter string
		want   []call
	}{
		{`userName eq "x"`, []call{{"", "userName", ""}}},
		{`name.givenName eq "x"`, []call{{"", "name", "givenName"}}},
		{`emails[type eq "work"].value eq "x"`, []call{{"", "emails", "type"}, {"", "emails", "type"}, {"", "emails", "value"}}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "x"`, []call{{entURN, "manager", "value"}}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "x"]`, []call{{entURN, "manager", "value"}}},
	}
	user := decode(t, userJSON)
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			var got []call
			opt := &filter.Options{CoreURN: coreURN, CaseExact: func(u, a, s string) bool {
				got = append(got, call{u, a, s})
				return false
			}}
			e, err := filter.Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			filter.Match(e, user, opt)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got calls %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchOddShapes(t *testing.T) {
	docs := []map[string]any{
		nil,
		{},
		{"userName": nil, "emails": nil, "name": "not an object", "members": "u1"},
		{"emails": []any{nil, 1.0, "x", []any{"y"}, map[string]any{"value": []any{"a", nil}}}},
		{"emails": map[string]any{"value": map[string]any{"deep": true}}},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "not an object"},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": []any{map[string]any{"manager": "m"}}},
		{"USERNAME": "a", "userName": "b", "username": "c"},
		{"n": json.Number("12"), "i": 7, "u": uint8(3), "f": float32(1.5), "ms": []map[string]any{{"value": "v"}}, "ss": []string{"s"}},
	}
	filters := []string{
		`userName eq "a"`, `userName pr`, `emails[value eq "x"].value co "x"`, `emails pr`, `emails eq "x"`,
		`emails.value gt 0`, `name.givenName eq "x"`, `members eq "u1"`, `members[value eq "u1"]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "m"`,
		`n eq 12`, `i ge 7`, `u lt 4`, `f eq 1.5`, `ms eq "v"`, `ss[value sw "s"]`, `n co "2"`,
		`emails[value eq null]`, `emails ne null`, `emails.value.x eq 1`,
	}
	for i, doc := range docs {
		for _, f := range filters {
			e, err := filter.Parse(f)
			if err != nil {
				if strings.Contains(f, ".x") {
					continue
				}
				t.Fatal(err)
			}
			filter.Match(e, doc, nil)
			filter.Match(e, doc, &filter.Options{CoreURN: coreURN, CaseExact: caseExact})
			_ = i
		}
	}
	// Specific answers on odd shapes.
	checks := []struct {
		doc    map[string]any
		filter string
		want   bool
	}{
		{docs[2], `members eq "u1"`, true},
		{docs[2], `name.givenName pr`, false},
		{docs[2], `userName pr`, false},
		{docs[2], `userName eq null`, true},
		{docs[3], `emails eq "x"`, true},
		{docs[3], `emails eq "y"`, false}, // nested arrays are not flattened twice
		{docs[3], `emails eq "a"`, true},
		{docs[3], `emails eq 1`, true},
		{docs[6], `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr`, false},
		{docs[7], `userName eq "b"`, true}, // exact key wins
		{docs[7], `UserName eq "a"`, true}, // else the smallest matching key: "USERNAME"
		{docs[8], `n eq 12`, true},
		{docs[8], `i ge 7`, true},
		{docs[8], `u lt 4`, true},
		{docs[8], `f eq 1.5`, true},
		{docs[8], `ms eq "v"`, true},
		{docs[8], `ss[value sw "s"]`, true},
		{nil, `userName eq null`, true},
		{nil, `userName pr`, false},
	}
	for _, c := range checks {
		t.Run(c.filter, func(t *testing.T) {
			e, err := filter.Parse(c.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := filter.Match(e, c.doc, nil); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	// Hand-built and nil expressions.
	for _, e := range []filter.Expr{nil, (*filter.Compare)(nil), (*filter.Logical)(nil), (*filter.Not)(nil), (*filter.Has)(nil),
		&filter.Logical{Op: "xor"}, &filter.Logical{Op: "and"}, &filter.Not{}, &filter.Has{}, &filter.Compare{}} {
		filter.Match(e, docs[3], nil)
		_ = filter.Format(e)
		_ = filter.Equal(e, e)
	}
	if filter.Match(nil, docs[1], nil) {
		t.Errorf("got Match(nil) true, want false")
	}
}
