package scimhttp_test

// Hostile-corpus rows for the edge of the agent (issue 12, classes 7–10):
// errors that net/http or the router would answer on their own, oversized
// request lines and headers, unknown routes and methods, and credentials
// that must be refused. Each row asserts the status, the scimType, a SCIM
// JSON error body and that nothing changed (runHostile).

import (
	"net/http"
	"strings"
	"testing"
)

const hb = "/scim/default/v2" // the harness's tenant

var edgeHostile = []hostileCase{
	// 7. Every error is a SCIM JSON body, including those net/http writes
	// itself before any handler runs.
	{name: "headers over 64 KiB", method: "GET", target: hb + "/Users", header: map[string]string{"X-Big": strings.Repeat("a", 70<<10)}, status: 431},
	{name: "many headers over 64 KiB", method: "GET", target: hb + "/Users", header: manyHeaders(1200, 60), status: 431},
	{name: "cookie over 64 KiB on a write", method: "POST", target: hb + "/Users", header: map[string]string{"Cookie": strings.Repeat("c=1; ", 15000)}, body: `{"userName":"big@example.com"}`, status: 431},
	{name: "request-target over 8 KiB", method: "GET", target: hb + "/Users?filter=" + strings.Repeat("a", 9<<10), status: 414},
	{name: "request-target over 64 KiB", method: "GET", target: hb + "/Users?filter=" + strings.Repeat("a", 100<<10), status: 414},
	{name: "long path", method: "GET", target: hb + "/Users/" + strings.Repeat("x", 10<<10), status: 414},
	{name: "long target on a delete", method: "DELETE", target: hb + "/Users/" + strings.Repeat("%41", 4<<10), status: 414},
	{name: "missing Host", method: "GET", target: hb + "/Users", header: map[string]string{"Host": ""}, status: 400, scimType: "invalidSyntax"},
	{name: "two Host headers", method: "GET", target: hb + "/Users", header: map[string]string{"Host": "a\r\nHost: b"}, status: 400, scimType: "invalidSyntax"},
	{name: "malformed Host", method: "GET", target: hb + "/Users", header: map[string]string{"Host": "a b"}, status: 400, scimType: "invalidSyntax"},
	{name: "header name with a space", method: "GET", target: hb + "/Users", header: map[string]string{"Bad Header": "x"}, status: 400, scimType: "invalidSyntax"},
	{name: "header line without a colon", method: "GET", target: hb + "/Users", header: map[string]string{"X-A": "1\r\nnocolon"}, status: 400, scimType: "invalidSyntax"},
	{name: "space in the request-target", method: "GET", target: hb + "/Users?filter=a b", status: 400, scimType: "invalidSyntax"},
	{name: "method with a bad character", method: "GE(T", target: hb + "/Users", status: 400, scimType: "invalidSyntax"},
	{name: "two Content-Lengths that differ", method: "POST", target: hb + "/Users", header: map[string]string{"Content-Length": "5\r\nContent-Length: 6"}, body: "{}{}{", status: 400, scimType: "invalidSyntax"},
	{name: "negative Content-Length", method: "POST", target: hb + "/Users", header: map[string]string{"Content-Length": "-1"}, body: "{}", status: 400, scimType: "invalidSyntax"},
	{name: "unknown Transfer-Encoding", method: "POST", target: hb + "/Users", header: map[string]string{"Transfer-Encoding": "gzip", "Content-Length": ""}, body: "{}", status: 501},
	{name: "Expect other than 100-continue", method: "POST", target: hb + "/Users", header: map[string]string{"Expect": "the-unexpected"}, body: `{"userName":"x@example.com"}`, status: 417},
	{name: "unknown route at the root", method: "GET", target: "/nope", status: 404},
	{name: "unknown route under the tenant", method: "GET", target: hb + "/Nope", status: 404},
	{name: "tenant base without a resource", method: "GET", target: hb, status: 404},
	{name: "too many segments", method: "GET", target: hb + "/Users/a/b/c", status: 404},
	{name: "dot-dot segment", method: "GET", target: hb + "/../v2/Users", status: 404},
	{name: "dot segment", method: "GET", target: hb + "/./Users", status: 404},
	{name: "asterisk target", method: "GET", target: "*", status: 404},
	{name: "absolute-form target to an unknown path", method: "GET", target: "http://example.com/nope", status: 404},
	{name: "DELETE on the collection", method: "DELETE", target: hb + "/Users", status: 405},
	{name: "PUT on the collection", method: "PUT", target: hb + "/Groups", body: `{}`, status: 405},
	{name: "GET on .search", method: "GET", target: hb + "/Users/.search", status: 405},
	{name: "POST to a resource", method: "POST", target: hb + "/Users/00000000-0000-0000-0000-000000000000", body: `{"userName":"x@example.com"}`, status: 405},
	{name: "POST to discovery", method: "POST", target: hb + "/Schemas", body: `{}`, status: 405},
	{name: "unknown method on a resource", method: "BREW", target: hb + "/Users/00000000-0000-0000-0000-000000000000", status: 405},
	{name: "TRACE on the collection", method: "TRACE", target: hb + "/Users", status: 405},

	// 8. Abuse bounds: wrong credentials are refused the SCIM way (and
	// counted per address and minute, see TestFailedAuthAggregated).
	{name: "no Authorization", method: "GET", target: hb + "/Users", noAuth: true, status: 401},
	{name: "Basic credentials", method: "GET", target: hb + "/Users", header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, status: 401},
	{name: "Bearer without a token", method: "GET", target: hb + "/Users", header: map[string]string{"Authorization": "Bearer"}, status: 401},
	{name: "8 KiB bearer token", method: "POST", target: hb + "/Users", header: map[string]string{"Authorization": "Bearer " + strings.Repeat("A", 8<<10)}, body: `{"userName":"x@example.com"}`, status: 401},
	{name: "token for an unknown tenant", method: "GET", target: "/scim/other/v2/Users", status: 401},

	// 10. A token with a well-formed but unknown id (as a revoked one
	// looks once the cache has caught up) is refused.
	{name: "unknown token id", method: "DELETE", target: hb + "/Users/00000000-0000-0000-0000-000000000000", header: map[string]string{"Authorization": "Bearer roster_0123456789abcdef_" + strings.Repeat("x", 43)}, status: 401},
}

// manyHeaders returns n headers of size bytes each.
func manyHeaders(n, size int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h["X-H"+strings.Repeat("h", i%7)+string(rune('a'+i%26))+http.CanonicalHeaderKey(string(rune('a'+i/26%26)))+string(rune('a'+i/676))] = strings.Repeat("v", size)
	}
	return h
}

func TestHostileEdge(t *testing.T) { runHostile(t, edgeHostile) }
