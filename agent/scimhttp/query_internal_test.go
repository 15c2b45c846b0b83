package scimhttp

import (
	"github.com/rosterhq/roster/agent/scim"
	"net/url"
	"testing"
)

// BenchmarkQueryParse compares the strict parser with url.ParseQuery (what
// the handlers used before) on Entra's match query.
func BenchmarkQueryParse(b *testing.B) {
	raw := "filter=" + url.QueryEscape(`userName eq "user000123@contoso.com"`)
	b.Run("strict", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var q query
			if err := parseQuery(raw, &q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("url.ParseQuery", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := url.ParseQuery(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		raw      string
		want     map[string]string // SCIM parameters
		scimType string
	}{
		{"", map[string]string{}, ""},
		{"aadOptscim062020", map[string]string{}, ""},
		{"filter=a+b&count=1&&", map[string]string{"filter": "a b", "count": "1"}, ""},
		{"Filter=x%20pr&SORTBY=userName", map[string]string{"filter": "x pr", "sortBy": "userName"}, ""},
		{"x=1&x=2&x=%41", map[string]string{}, ""},
		{"filter=%zz", nil, "invalidFilter"},
		{"filter=", nil, "invalidFilter"},
		{"filter=%20", nil, "invalidFilter"},
		{"filter=a&filter=b", nil, "invalidFilter"},
		{"count=%", nil, "invalidSyntax"},
		{"count=1&COUNT=2", nil, "invalidSyntax"},
		{"x=%FF", nil, "invalidSyntax"},
		{"x=%00", nil, "invalidSyntax"},
		{"%zz=1", nil, "invalidSyntax"},
	}
	for _, tt := range tests {
		var q query
		err := parseQuery(tt.raw, &q)
		if tt.scimType != "" {
			if detailType(err) != tt.scimType {
				t.Errorf("parseQuery(%q): got %v, want a %s error", tt.raw, err, tt.scimType)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseQuery(%q): %v", tt.raw, err)
			continue
		}
		for _, p := range scimParams {
			if got, want := q.get(p), tt.want[p]; got != want {
				t.Errorf("parseQuery(%q): %s: got %q, want %q", tt.raw, p, got, want)
			}
		}
	}
}

func TestCheckBody(t *testing.T) {
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"a":"\ud83d\ude00"}`, true},
		{`{"a":"\\ud800"}`, true}, // an escaped backslash, then text
		{`{"a":"\u00e9"}`, true},
		{`{"a":"\ud800"}`, false},
		{`{"a":"\udc00"}`, false},
		{`{"a":"\ud800\u0041"}`, false},
		{`{"a":"\ud800`, false},
		{"{\"a\":\"\xff\"}", false},
	} {
		if err := checkBody([]byte(tt.body)); (err == nil) != tt.ok {
			t.Errorf("checkBody(%s): got %v, want ok=%v", tt.body, err, tt.ok)
		}
	}
}

func detailType(err error) string {
	if e, ok := err.(*scim.Error); ok {
		return e.ScimType
	}
	return ""
}
