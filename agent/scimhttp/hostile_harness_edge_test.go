package scimhttp_test

// A minimal private copy of the hostile-corpus harness (same names and
// behaviour as hostile_test.go on the branch that owns it), so that the
// edge rows in hostile_edge_test.go run on this branch. Delete this file
// when both branches are merged; the harness that stays must serve the
// agent on scimhttp.NewListener (startEdgeAgent in fuzz_edge_test.go), or
// the rows for net/http's own answers (431, 400, 417, 501) cannot pass.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

type hostileCase struct {
	name     string
	method   string
	target   string            // request-target sent verbatim on the wire (path + raw query), never re-escaped
	header   map[string]string // extra headers; Authorization: Bearer <valid token> and a SCIM Content-Type on bodies are added unless the map sets them ("" deletes)
	body     string
	noAuth   bool
	status   int    // expected HTTP status
	scimType string // expected scimType, "" when the error has none
}

// hostileAgent is an agent served as `roster agent` serves it (see
// startEdgeAgent).
type hostileAgent struct {
	addr  string
	token string
	dir   *directory.Service
}

func startHostileAgent(t testing.TB) *hostileAgent {
	t.Helper()
	addr, tok, dir := startEdgeAgent(t, directory.DefaultTenant)
	return &hostileAgent{addr: addr, token: tok, dir: dir}
}

// raw sends one request over a new TCP connection and reads the answer.
func (a *hostileAgent) raw(t testing.TB, c hostileCase) (*http.Response, []byte) {
	t.Helper()
	h := map[string]string{"Host": a.addr}
	if !c.noAuth {
		h["Authorization"] = "Bearer " + a.token
	}
	if c.body != "" {
		h["Content-Type"] = scim.MediaType
		h["Content-Length"] = strconv.Itoa(len(c.body))
	}
	for k, v := range c.header {
		h[k] = v
	}
	keys := make([]string, 0, len(h))
	for k, v := range h {
		if v != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\n", c.method, c.target)
	for _, k := range keys {
		fmt.Fprintf(&req, "%s: %s\r\n", k, h[k])
	}
	req.WriteString("Connection: close\r\n\r\n")
	req.WriteString(c.body)

	conn, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
	// The server may answer and close before reading everything (431):
	// write in the background and read the answer meanwhile.
	go io.WriteString(conn, req.String()) //nolint:errcheck
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %.80s: reading the answer: %v", c.method, c.target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %.80s: reading the body: %v", c.method, c.target, err)
	}
	return resp, body
}

// hostileState is what must not change: every resource's version.
func (a *hostileAgent) state(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kind := range []store.Kind{store.KindUser, store.KindGroup} {
		resp, err := a.dir.List(context.Background(), directory.Call{TenantID: directory.DefaultTenant, BaseURL: "http://x"}, kind, directory.ListParams{Count: -1})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Resources {
			var doc map[string]any
			switch v := r.(type) {
			case json.RawMessage:
				if err := json.Unmarshal(v, &doc); err != nil {
					t.Fatal(err)
				}
			case map[string]any:
				doc = v
			}
			meta, _ := doc["meta"].(map[string]any)
			out[string(kind)+"/"+fmt.Sprint(doc["id"])] = fmt.Sprint(meta["version"])
		}
	}
	return out
}

func (a *hostileAgent) seed(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	call := directory.Call{TenantID: directory.DefaultTenant, BaseURL: "http://x", Method: "POST", Path: "/seed", Start: time.Now()}
	var ids []string
	for _, u := range []string{"alice@example.com", "bob@example.com", "carol@example.com"} {
		got, err := a.dir.Create(ctx, call, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": u, "active": true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.Doc["id"].(string))
	}
	for _, g := range []string{"Staff", "Admins"} {
		if _, err := a.dir.Create(ctx, call, store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": g,
			"members": []any{map[string]any{"value": ids[0]}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// runHostile starts one agent, seeds it with a few users and groups, and
// for each case writes the request raw over TCP, then asserts the status,
// a SCIM JSON error body, the scimType, and that nothing changed.
func runHostile(t *testing.T, cases []hostileCase) {
	a := startHostileAgent(t)
	a.seed(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := a.state(t)
			resp, body := a.raw(t, c)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %.100s: got %d %s, want %d", c.method, c.target, resp.StatusCode, body, c.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, scim.MediaType) {
				t.Errorf("Content-Type: got %q, want %s (body %q)", ct, scim.MediaType, body)
			}
			var e struct {
				Schemas  []string `json:"schemas"`
				Status   string   `json:"status"`
				ScimType string   `json:"scimType"`
				Detail   string   `json:"detail"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body is not JSON: %v: %q", err, body)
			}
			if want := []string{scim.MessageError}; !reflect.DeepEqual(e.Schemas, want) {
				t.Errorf("schemas: got %v, want %v", e.Schemas, want)
			}
			if e.Status != strconv.Itoa(c.status) {
				t.Errorf("status in the body: got %q, want %q", e.Status, strconv.Itoa(c.status))
			}
			if e.ScimType != c.scimType {
				t.Errorf("scimType: got %q, want %q (detail %q)", e.ScimType, c.scimType, e.Detail)
			}
			if after := a.state(t); !reflect.DeepEqual(before, after) {
				t.Errorf("resources changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}
