package scimhttp_test

// The hostile-input harness (issue 12): every row is one malformed or
// abusive request, written byte for byte over TCP to a real agent (real
// SQLite in t.TempDir(), real HTTP on 127.0.0.1). Each row must be refused
// the SCIM way — the expected status, the expected scimType, an Error body
// of type application/scim+json (RFC 7644 §3.12) — and must change nothing:
// the number of users and groups and every ETag are the same afterwards.
//
// The rows of the strict-input classes are in hostile_rows_test.go; other
// files add their own tables and call runHostile.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/rosterhq/roster/agent/scimhttp"
	"io"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// hostileCase is one row of the hostile corpus.
type hostileCase struct {
	name   string
	method string
	// target is the request-target, sent verbatim on the wire (path and raw
	// query), never re-escaped; the tenant's SCIM base is /scim/default/v2
	// (hostileBase). {user}, {user2} and {group} in target and body are
	// replaced by the ids of seeded resources.
	target string
	// header holds extra headers. Authorization: Bearer <valid token> and a
	// SCIM Content-Type on bodies are added unless the map sets them ("" deletes).
	header   map[string]string
	body     string
	noAuth   bool
	status   int    // expected HTTP status
	scimType string // expected scimType, "" when the error has none
}

// hostileTenant is the tenant the harness seeds, and hostileBase the path
// of its SCIM API.
const (
	hostileTenant = directory.DefaultTenant
	hostileBase   = "/scim/" + hostileTenant + "/v2"
)

// declareHostile, when a file of this package sets it, runs after seeding
// and before the first row (to declare a tenant's extension attributes).
var declareHostile func(t *testing.T, a *testAgent)

// runHostile starts one agent, seeds it with a few users and groups, and runs
// every case as a subtest: the status, a SCIM JSON error body (Content-Type
// application/scim+json, schemas = [Error], "status" the status as a
// string), the scimType, and that nothing changed (resource counts and every
// ETag before and after equal).
func runHostile(t *testing.T, cases []hostileCase) {
	t.Helper()
	ctx := context.Background()
	a := newTestAgent(t)
	// Served with the agent's own server settings (header limit, timeouts),
	// not httptest's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := scimhttp.NewHTTPServer(a.h, nil)
	// Behind the agent's edge listener, which turns net/http's own plain
	// text answers (431, 414, malformed requests) into SCIM errors.
	go srv.Serve(scimhttp.NewListener(ln, nil, nil)) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	if _, err := a.dir.AddTenant(ctx, hostileTenant, "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	tok := a.token(t, hostileTenant, false)
	c := newClient(scimhttp.TenantURL("http://"+addr, hostileTenant), tok)
	u1 := createUser(t, c, userDoc("hostile.one@example.test", map[string]any{
		"displayName": "Hostile One", "externalId": "h-1",
		"emails": []any{map[string]any{"type": "work", "value": "hostile.one@example.test", "primary": true}},
		"name":   map[string]any{"givenName": "Hostile", "familyName": "One"},
	}))
	u2 := createUser(t, c, userDoc("hostile.two@example.test", map[string]any{"displayName": "Hostile Two"}))
	g := createGroup(t, c, "Hostile Group", u1, u2)
	createGroup(t, c, "Hostile Empty")
	if declareHostile != nil {
		declareHostile(t, a)
	}
	subst := strings.NewReplacer("{user}", u1, "{user2}", u2, "{group}", g)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hostileSnapshot(t, c)
			target := subst.Replace(tc.target)
			resp, body := hostileRoundTrip(t, addr, tok, tc, target, subst.Replace(tc.body))
			where := fmt.Sprintf("%s %s", tc.method, target)
			if resp.StatusCode != tc.status {
				t.Errorf("%s: status: got %d, want %d; body %s", where, resp.StatusCode, tc.status, clip(body))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, scim.MediaType) {
				t.Errorf("%s: Content-Type: got %q, want %s", where, ct, scim.MediaType)
			}
			var eb map[string]any
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Errorf("%s: body is not JSON (%v): %s", where, err, clip(body))
			} else {
				if got, want := eb["schemas"], []any{scim.MessageError}; !reflect.DeepEqual(got, want) {
					t.Errorf("%s: schemas: got %v, want %v", where, got, want)
				}
				if got, want := eb["status"], strconv.Itoa(resp.StatusCode); got != want {
					t.Errorf("%s: status member: got %#v, want the string %q", where, got, want)
				}
				got, _ := eb["scimType"].(string)
				if got != tc.scimType {
					t.Errorf("%s: scimType: got %q, want %q; detail %q", where, got, tc.scimType, eb["detail"])
				}
			}
			after := hostileSnapshot(t, c)
			if !reflect.DeepEqual(before, after) {
				t.Errorf("%s changed the directory:\nbefore %v\nafter  %v", where, before, after)
			}
		})
	}
}

// hostileRoundTrip writes one request over a fresh TCP connection, exactly
// as given, and reads the response.
func hostileRoundTrip(t *testing.T, addr, tok string, tc hostileCase, target, body string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
	h := map[string]string{"Host": addr, "Connection": "close"}
	if !tc.noAuth {
		h["Authorization"] = "Bearer " + tok
	}
	if body != "" {
		h["Content-Type"] = scim.MediaType
		h["Content-Length"] = strconv.Itoa(len(body))
	}
	for k, v := range tc.header {
		h[k] = v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", tc.method, target)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if h[k] != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, h[k])
		}
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	// The server may answer (431, 413) and close before it has read an
	// oversized request, so the request is written concurrently and a
	// failed write is not an error: the answer is what counts.
	go io.WriteString(conn, b.String()) //nolint:errcheck
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: reading the response: %v", tc.method, target, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, rb
}

// hostileSnapshot returns the ETag of every user and group, keyed by kind
// and id; its length is the resource count.
func hostileSnapshot(t *testing.T, c *scimClient) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, coll := range []string{"/Users", "/Groups"} {
		r := c.do(t, http.MethodGet, coll+"?count=1000", nil, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("snapshot %s: status %d: %s", coll, r.Status, r.Body)
		}
		var lr struct {
			Resources []struct {
				ID   string `json:"id"`
				Meta struct {
					Version string `json:"version"`
				} `json:"meta"`
			}
		}
		if err := json.Unmarshal(r.Body, &lr); err != nil {
			t.Fatal(err)
		}
		for _, res := range lr.Resources {
			out[coll+"/"+res.ID] = res.Meta.Version
		}
	}
	return out
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
