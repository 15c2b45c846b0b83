package filter_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
)

func seedFilters(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	for _, tt := range invalidFilters {
		if len(tt.in) < 1024 {
			f.Add(tt.in)
		}
	}
	for _, s := range hostileFilters {
		f.Add(s)
	}
}

// hostileFilters are the filter strings of issue 12's hostile corpus, as
// they reach the parser after the query string is decoded.
var hostileFilters = []string{
	`userName eq "x"%zz`,
	`userName eq "a` + "\x00" + `b"`,
	"userName eq \"a\x00b\"",
	"userName eq \"\xff\"",
	"userName eq \"\xc0\xaf\"",
	`userName eq "x";count=1`,
	`userName eq`,
	` `,
	"\t",
	`emails[type eq "work"`,
	`emails[type eq "work"]]`,
	`urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode eq "C-42"`,
	`urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:badge gt 5`,
	`userName eq "\ud800"`,
	`members[value eq "a"] and id eq "g"`,
	`userName eq "x" or userName eq "y" and not (title pr)`,
}

// FuzzParse checks that Parse never panics, that its errors are 400
// invalidFilter, and that Format is a faithful inverse:
// Parse(Format(e)) is Equal to e and Format is a fixed point.
func FuzzParse(f *testing.F) {
	seedFilters(f)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := filter.Parse(s)
		if err != nil {
			var se *scim.Error
			if !errors.As(err, &se) || se.Status != 400 || se.ScimType != scim.InvalidFilter {
				t.Fatalf("Parse(%q): got error %#v, want *scim.Error 400 invalidFilter", s, err)
			}
			if e != nil {
				t.Fatalf("Parse(%q): got %#v with an error, want nil", s, e)
			}
			return
		}
		if e == nil {
			t.Fatalf("Parse(%q): got nil expression and nil error", s)
		}
		out := filter.Format(e)
		if len(out) > filter.MaxLength {
			return // rendering may grow past the input cap (escapes, quotes)
		}
		e2, err := filter.Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(Format) = Parse(%q): got error %v, want nil", s, out, err)
		}
		if !filter.Equal(e, e2) {
			t.Fatalf("Parse(%q) = %s, but Parse of that gives %s, want Equal", s, out, filter.Format(e2))
		}
		if out2 := filter.Format(e2); out2 != out {
			t.Fatalf("Format not a fixed point for %q: got %q, want %q", s, out2, out)
		}
		// Every path in a filter is also a valid PATCH path when it carries
		// no value filter of its own nested deeper than allowed.
		if c, ok := e.(*filter.Compare); ok {
			ps := c.Path.String()
			p, err := filter.ParsePath(ps)
			if err != nil {
				t.Fatalf("ParsePath(%q): got error %v, want nil", ps, err)
			}
			if !p.Equal(c.Path) {
				t.Fatalf("ParsePath(%q): got %s, want %s", ps, p, c.Path)
			}
		}
	})
}

// FuzzPath checks ParsePath never panics, errors are 400 invalidPath,
// and Path.String round-trips.
func FuzzPath(f *testing.F) {
	for _, s := range []string{
		`members`, `name.givenName`, `emails[type eq "work"].value`, `members[value eq "7f4b"]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`,
		`manager[value eq "x"]`, `roles[primary eq "True"].value`, `a.b[c eq 1]`, `a[b[c eq 1]]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := filter.ParsePath(s)
		if err != nil {
			var se *scim.Error
			if !errors.As(err, &se) || se.Status != 400 || se.ScimType != scim.InvalidPath {
				t.Fatalf("ParsePath(%q): got error %#v, want *scim.Error 400 invalidPath", s, err)
			}
			return
		}
		out := p.String()
		if len(out) > filter.MaxLength {
			return
		}
		p2, err := filter.ParsePath(out)
		if err != nil {
			t.Fatalf("ParsePath(%q) ok, but ParsePath(%q): got error %v", s, out, err)
		}
		if !p.Equal(p2) {
			t.Fatalf("ParsePath(%q) = %s, reparsed %s, want Equal", s, out, p2)
		}
	})
}

// FuzzMatch runs random filters against the fixed documents (and against a
// fuzzed JSON document): Match must never panic, `not (e)` must negate it, and
// the canonical rendering must match the same documents.
func FuzzMatch(f *testing.F) {
	for i, tt := range parseTests {
		docs := []string{userJSON, disabledJSON, groupJSON}
		f.Add(tt.in, docs[i%len(docs)])
	}
	f.Add(`emails[type eq "work"].value eq "x"`, `{"emails":[1,null,"x",[{"type":"work"}],{"type":"work","value":["x"]}]}`)
	f.Add(`a.b pr`, `{"a":{"b":{"c":{"d":[[[]]]}}}}`)
	fixed := []map[string]any{decode(f, userJSON), decode(f, disabledJSON), decode(f, groupJSON)}
	opts := []*filter.Options{
		nil,
		{},
		{CoreURN: scim.SchemaUser, CaseExact: caseExact},
		{CoreURN: scim.SchemaGroup, CaseExact: func(string, string, string) bool { return true }},
	}
	f.Fuzz(func(t *testing.T, s, doc string) {
		e, err := filter.Parse(s)
		if err != nil {
			return
		}
		docs := fixed
		var extra map[string]any
		if json.Unmarshal([]byte(doc), &extra) == nil {
			docs = append(docs[:len(docs):len(docs)], extra)
		}
		var e2 filter.Expr
		if out := filter.Format(e); len(out) <= filter.MaxLength {
			e2, _ = filter.Parse(out)
		}
		for _, d := range docs {
			for _, o := range opts {
				got := filter.Match(e, d, o)
				if neg := filter.Match(&filter.Not{X: e}, d, o); neg == got {
					t.Fatalf("Match(%q) = %v and Match(not) = %v, want opposites", s, got, neg)
				}
				if e2 != nil {
					if got2 := filter.Match(e2, d, o); got2 != got {
						t.Fatalf("Match(%q) = %v but Match(Format) = %v", s, got, got2)
					}
				}
			}
		}
	})
}
