package scimhttp_test

// A small SCIM client over real HTTP for the table tests in http_test.go and
// concurrency_test.go: it sends JSON bodies, adds the bearer token, and
// decodes replies; helpers check SCIM error bodies and list responses.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/scim"
)

// sharedTransport keeps enough idle connections for the concurrent tests.
var sharedTransport = sync.OnceValue(func() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 64
	tr.MaxIdleConnsPerHost = 64
	return tr
})

// scimClient talks to one Tenant URL with one token ("" sends no Authorization).
type scimClient struct {
	base  string
	token string
	hc    *http.Client
}

func newClient(tenantURL, token string) *scimClient {
	return &scimClient{base: strings.TrimRight(tenantURL, "/"), token: token, hc: &http.Client{
		Transport: sharedTransport(),
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// hdr are request headers; an empty value removes a default header
// (Authorization, Content-Type).
type hdr map[string]string

// reply is a response read in full.
type reply struct {
	method, url string
	Status      int
	Header      http.Header
	Body        []byte
}

func (r *reply) String() string {
	b := string(r.Body)
	if len(b) > 600 {
		b = b[:600] + "…"
	}
	return fmt.Sprintf("%s %s → %d %s", r.method, r.url, r.Status, strings.TrimSpace(b))
}

// send performs a request. body is nil (no body), a string or []byte (sent as
// is) or anything else (sent as JSON). path is relative to the Tenant URL
// unless it is absolute.
func (c *scimClient) send(method, path string, body any, h hdr) (*reply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", scim.MediaType)
	}
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, u, err)
	}
	return &reply{method: method, url: u, Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// do is send that fails the test on transport errors.
func (c *scimClient) do(t testing.TB, method, path string, body any, h hdr) *reply {
	t.Helper()
	r, err := c.send(method, path, body, h)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// obj decodes the reply as a JSON object.
func (r *reply) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil || m == nil {
		t.Fatalf("%s: body is not a JSON object: %v", r, err)
	}
	return m
}

func wantStatus(t testing.TB, r *reply, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: got status %d, want %d", r, r.Status, want)
	}
}

// wantSCIMError checks that r is a SCIM Error message (RFC 7644 §3.12) with
// the status (as a string) and scimType ("" accepts any).
func wantSCIMError(t testing.TB, r *reply, status int, scimType string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: got status %d, want %d", r, r.Status, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, scim.MediaType) {
		t.Errorf("%s: Content-Type: got %q, want %s", r, ct, scim.MediaType)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("%s: error body is not JSON: %v", r, err)
	}
	if got, want := body["schemas"], []any{scim.MessageError}; !reflect.DeepEqual(got, want) {
		t.Errorf("%s: schemas: got %v, want %v", r, got, want)
	}
	if got, want := body["status"], strconv.Itoa(status); got != want {
		t.Errorf("%s: status: got %#v, want the string %q", r, got, want)
	}
	if scimType != "" {
		if got := body["scimType"]; got != scimType {
			t.Errorf("%s: scimType: got %#v, want %q", r, got, scimType)
		}
	}
	if d, _ := body["detail"].(string); d == "" {
		t.Errorf("%s: detail: got empty, want an explanation", r)
	}
}

// listResponse is a decoded ListResponse.
type listResponse struct {
	Schemas      []string         `json:"schemas"`
	TotalResults int              `json:"totalResults"`
	StartIndex   int              `json:"startIndex"`
	ItemsPerPage int              `json:"itemsPerPage"`
	Resources    []map[string]any `json:"Resources"`
}

func (r *reply) list(t testing.TB) *listResponse {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var lr listResponse
	if err := json.Unmarshal(r.Body, &lr); err != nil {
		t.Fatalf("%s: not a ListResponse: %v", r, err)
	}
	if !slices.Equal(lr.Schemas, []string{scim.MessageListResponse}) {
		t.Fatalf("%s: schemas: got %v, want [%s]", r, lr.Schemas, scim.MessageListResponse)
	}
	if lr.Resources == nil {
		t.Fatalf("%s: Resources: got null/absent, want an array", r)
	}
	if lr.ItemsPerPage != len(lr.Resources) {
		t.Errorf("%s: itemsPerPage: got %d, want %d (the number of Resources)", r, lr.ItemsPerPage, len(lr.Resources))
	}
	return &lr
}

// names returns attr (userName, displayName) of each resource, in order.
func (lr *listResponse) names(attr string) []string {
	out := make([]string, 0, len(lr.Resources))
	for _, r := range lr.Resources {
		s, _ := r[attr].(string)
		out = append(out, s)
	}
	return out
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}

func q(filter string) string { return url.QueryEscape(filter) }

// userDoc is a minimal Entra-like user; extra keys are merged in.
func userDoc(userName string, extra map[string]any) map[string]any {
	d := map[string]any{
		"schemas":  []any{scim.SchemaUser, scim.SchemaEnterpriseUser},
		"userName": userName,
		"active":   true,
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func groupDoc(name string, memberIDs ...string) map[string]any {
	d := map[string]any{"schemas": []any{scim.SchemaGroup}, "displayName": name}
	if memberIDs != nil {
		ms := make([]any, len(memberIDs))
		for i, id := range memberIDs {
			ms[i] = map[string]any{"value": id}
		}
		d["members"] = ms
	}
	return d
}

// createUser posts a user and returns its id.
func createUser(t testing.TB, c *scimClient, doc map[string]any) string {
	t.Helper()
	r := c.do(t, http.MethodPost, "/Users", doc, nil)
	wantStatus(t, r, http.StatusCreated)
	id, _ := r.obj(t)["id"].(string)
	if id == "" {
		t.Fatalf("%s: no id", r)
	}
	return id
}

func createGroup(t testing.TB, c *scimClient, name string, memberIDs ...string) string {
	t.Helper()
	r := c.do(t, http.MethodPost, "/Groups", groupDoc(name, memberIDs...), nil)
	wantStatus(t, r, http.StatusCreated)
	id, _ := r.obj(t)["id"].(string)
	if id == "" {
		t.Fatalf("%s: no id", r)
	}
	return id
}

// patchBody builds a PatchOp message.
func patchBody(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []any{scim.MessagePatchOp}, "Operations": list}
}

// op is one PATCH operation; value nil omits "value".
func op(name, path string, value any) map[string]any {
	o := map[string]any{"op": name}
	if path != "" {
		o["path"] = path
	}
	if value != nil {
		o["value"] = value
	}
	return o
}

// addMembers is Entra's legacy member add (docs/entra.md#groups-are-created-empty).
func addMembers(ids ...string) map[string]any {
	vs := make([]any, len(ids))
	for i, id := range ids {
		vs[i] = map[string]any{"value": id}
	}
	return patchBody(op("Add", "members", vs))
}

// memberIDs returns the sorted member ids of a group document.
func memberIDs(doc map[string]any) []string {
	ms, _ := doc["members"].([]any)
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		mm, _ := m.(map[string]any)
		v, _ := mm["value"].(string)
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// groupIDs returns the sorted ids in a user's "groups".
func groupIDs(doc map[string]any) []string {
	gs, _ := doc["groups"].([]any)
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		gm, _ := g.(map[string]any)
		v, _ := gm["value"].(string)
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func metaOf(doc map[string]any) map[string]any {
	m, _ := doc["meta"].(map[string]any)
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
