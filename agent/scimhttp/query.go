package scimhttp

import (
	"bytes"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/schema"
)

// query holds the SCIM parameters of a request's query string, by their
// index in scimParams; the zero query has none. It lives in the request, so
// parsing allocates only the decoded values that needed decoding.
type query struct {
	vals [len(scimParams)]string
	seen uint8 // bit i set: scimParams[i] was given
}

// get returns the value of the SCIM parameter name ("" when absent).
func (q *query) get(name string) string {
	if i := paramIndex(name); i >= 0 {
		return q.vals[i]
	}
	return ""
}

// lookup returns the value of the SCIM parameter name and whether it was
// given at all: RFC 9865 §3 asks for cursor pagination with an empty
// "cursor".
func (q *query) lookup(name string) (string, bool) {
	if i := paramIndex(name); i >= 0 {
		return q.vals[i], q.seen&(1<<i) != 0
	}
	return "", false
}

// parseQuery parses a raw query string strictly into q, where url.ParseQuery
// silently drops what it cannot decode (so a filter with a bad escape would
// list everything):
//   - every name and value must be correctly percent-encoded (RFC 3986 §2.1)
//     and decode to UTF-8 without control characters: else 400 invalidSyntax,
//     or invalidFilter for the filter parameter;
//   - a SCIM parameter given twice (in any letter case) is ambiguous: 400;
//   - a filter that is empty or blank is 400 invalidFilter (leave the
//     parameter out to list everything).
//
// Parameters SCIM does not define are checked and then ignored (Entra may
// append aadOptscim062020).
func parseQuery(raw string, q *query) error {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rk, rv, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rk)
		if err != nil || !utf8.ValidString(key) {
			return scim.BadRequest(scim.InvalidSyntax, "the query parameter name %q is not correctly percent-encoded UTF-8 (RFC 3986 §2.1)", rk)
		}
		isFilter := strings.EqualFold(key, "filter")
		bad := scim.InvalidSyntax
		if isFilter {
			bad = scim.InvalidFilter
		}
		val, err := url.QueryUnescape(rv)
		if err != nil || !utf8.ValidString(val) {
			return scim.BadRequest(bad, "the %s parameter %q is not correctly percent-encoded UTF-8 (RFC 3986 §2.1)", key, rv)
		}
		if i, r := schema.ControlChar(val, false); i >= 0 {
			return scim.BadRequest(bad, "the %s parameter holds the control character U+%04X", key, r)
		}
		i := paramIndex(key)
		if i < 0 {
			continue
		}
		if q.seen&(1<<i) != 0 {
			return scim.BadRequest(bad, "the %s parameter is given more than once", key)
		}
		if isFilter && strings.TrimSpace(val) == "" {
			return scim.BadRequest(scim.InvalidFilter, "the filter parameter is empty; leave it out to list every resource")
		}
		q.seen |= 1 << i
		q.vals[i] = val
	}
	return nil
}

// scimParams are the query parameters SCIM defines (RFC 7644 §3.4.2,
// §3.9); each may appear once, in any letter case.
var scimParams = [...]string{"filter", "count", "startIndex", "attributes", "excludedAttributes", "sortBy", "sortOrder", "cursor"}

// paramIndex returns the index of key in scimParams, or -1.
func paramIndex(key string) int {
	for i, p := range scimParams {
		if strings.EqualFold(key, p) {
			return i
		}
	}
	return -1
}

// checkBody refuses a body that is not UTF-8 text (RFC 8259 §8.1), or whose
// JSON strings escape half of a UTF-16 surrogate pair (RFC 8259 §8.2):
// encoding/json would silently turn either into U+FFFD, so two different
// byte strings would become the same userName.
func checkBody(body []byte) error {
	if !utf8.Valid(body) {
		return scim.BadRequest(scim.InvalidSyntax, "the body is not valid UTF-8 (RFC 8259 §8.1)")
	}
	for i := 0; ; {
		j := bytes.IndexByte(body[i:], '\\')
		if j < 0 {
			return nil
		}
		i += j
		if i+1 >= len(body) {
			return nil
		}
		if body[i+1] != 'u' {
			i += 2 // any other escape, including an escaped backslash
			continue
		}
		r, ok := hex4(body, i+2)
		i += 6
		switch {
		case !ok || r < 0xd800 || r > 0xdfff:
			continue
		case r >= 0xdc00:
			return loneSurrogate(r)
		}
		// A high surrogate must be followed by an escaped low one.
		if i+1 < len(body) && body[i] == '\\' && body[i+1] == 'u' {
			if lo, ok := hex4(body, i+2); ok && lo >= 0xdc00 && lo <= 0xdfff {
				i += 6
				continue
			}
		}
		return loneSurrogate(r)
	}
}

func loneSurrogate(r rune) error {
	return scim.BadRequest(scim.InvalidSyntax, "the body escapes a lone UTF-16 surrogate (\\u%04x), which is not a character (RFC 8259 §8.2)", r)
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
