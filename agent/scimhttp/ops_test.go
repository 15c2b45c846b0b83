package scimhttp_test

// Operations over real HTTP: the metrics a scrape shows after SCIM traffic,
// /readyz, and the request log lines.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/metrics"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/internal/syncbuf"
	"github.com/rosterhq/roster/store"
)

// scrapeMetrics fetches url and returns each sample by its series as
// exposed (name{label="value",...}, labels in name order).
func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsScrape(t *testing.T) {
	ctx := context.Background()
	// The agent wires metrics like this: one Metrics over the directory and
	// the store file, given to scimhttp and served on its own listener.
	db, err := store.Open(ctx, t.TempDir()+"/roster.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(db, nil, nil)
	m := metrics.New(metrics.Options{Domains: dir, DBPath: db.Path()})
	h := scimhttp.New(dir, scimhttp.Options{Metrics: m, Limits: scimhttp.Limits{TokenRequestsPerSecond: 1e-6, TokenBurst: 13}})
	srv := httptest.NewServer(h)
	msrv := httptest.NewServer(m.Handler())
	t.Cleanup(func() { srv.Close(); msrv.Close(); db.Close() })
	a := &testAgent{srv: srv, h: h, dir: dir, db: db}
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)

	// 13 requests with the token (its burst), then one over the limit.
	uid := createUser(t, c, userDoc("ann@acme.test", nil))                                                       // users 201, POST user success
	createUser(t, c, userDoc("bob@acme.test", nil))                                                              // users 201, POST user success
	wantStatus(t, c.do(t, http.MethodPost, "/Users", userDoc("ann@acme.test", nil), nil), http.StatusConflict)   // users 409, POST user failure
	wantStatus(t, c.do(t, http.MethodGet, "/Users/"+uid, nil, nil), http.StatusOK)                               // user 200
	wantStatus(t, c.do(t, http.MethodGet, "/Users/no-such-id", nil, nil), http.StatusNotFound)                   // user 404
	wantStatus(t, c.do(t, http.MethodPatch, "/Users/"+uid, patchBody(op("replace", "active", false)), nil), 200) // user 200, PATCH user success
	gid := createGroup(t, c, "Staff")                                                                            // groups 201, POST group success
	wantStatus(t, c.do(t, http.MethodPatch, "/Groups/"+gid, addMembers(uid), nil), http.StatusNoContent)         // group 204, PATCH group success
	wantStatus(t, c.do(t, http.MethodDelete, "/Groups/"+gid, nil, nil), http.StatusNoContent)                    // group 204, DELETE group success
	c.do(t, http.MethodGet, "/Users?filter="+q(`userName eq "ann@acme.test"`), nil, nil).list(t)                 // users 200
	c.do(t, http.MethodPost, "/Groups/.search", map[string]any{"filter": `displayName eq "x"`}, nil).list(t)     // search 200
	wantStatus(t, c.do(t, http.MethodGet, "/ServiceProviderConfig", nil, nil), http.StatusOK)                    // discovery 200
	wantStatus(t, c.do(t, http.MethodGet, "//Schemas/", nil, nil), http.StatusOK)                                // discovery 200
	wantStatus(t, c.do(t, http.MethodGet, "/Users", nil, nil), http.StatusTooManyRequests)                       // users 429
	// Authentication failures.
	wantStatus(t, c.do(t, http.MethodGet, "/Users", nil, hdr{"Authorization": ""}), http.StatusUnauthorized)            // missing
	wantStatus(t, c.do(t, http.MethodGet, "/Groups", nil, hdr{"Authorization": "Basic eDp5"}), http.StatusUnauthorized) // malformed
	wantStatus(t, newClient(base, "sca_st_wrong").do(t, http.MethodDelete, "/Users/"+uid, nil, nil), http.StatusUnauthorized)
	// Outside SCIM.
	for _, p := range []string{"/healthz", "/readyz", "/nope", "/scim/acme/v2/Users/" + uid + "/extra"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
	}

	// Domains (added last: a tenant with domains accepts only their users).
	if _, err := dir.AddDomain(ctx, "acme", "acme.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDomain(ctx, "acme", "acme.example"); err != nil {
		t.Fatal(err)
	}

	got := scrapeMetrics(t, msrv.URL)
	want := map[string]float64{
		`roster_http_requests_total{code="201",route="users"}`:                                 2,
		`roster_http_requests_total{code="409",route="users"}`:                                 1,
		`roster_http_requests_total{code="200",route="users"}`:                                 1,
		`roster_http_requests_total{code="429",route="users"}`:                                 1,
		`roster_http_requests_total{code="401",route="users"}`:                                 1,
		`roster_http_requests_total{code="401",route="groups"}`:                                1,
		`roster_http_requests_total{code="401",route="user"}`:                                  1, // the DELETE with a wrong token
		`roster_http_requests_total{code="401",route="other"}`:                                 1, // /Users/{id}/extra: not a route
		`roster_http_requests_total{code="200",route="user"}`:                                  2,
		`roster_http_requests_total{code="404",route="user"}`:                                  1,
		`roster_http_requests_total{code="201",route="groups"}`:                                1,
		`roster_http_requests_total{code="204",route="group"}`:                                 2,
		`roster_http_requests_total{code="200",route="search"}`:                                1,
		`roster_http_requests_total{code="200",route="discovery"}`:                             2,
		`roster_http_requests_total{code="200",route="healthz"}`:                               2,
		`roster_http_requests_total{code="404",route="other"}`:                                 1,
		`roster_http_request_duration_seconds_count{route="users"}`:                            6,
		`roster_http_request_duration_seconds_count{route="user"}`:                             4,
		`roster_http_request_duration_seconds_count{route="group"}`:                            2,
		`roster_provisioning_events_total{method="POST",outcome="success",resource="user"}`:    2,
		`roster_provisioning_events_total{method="POST",outcome="failure",resource="user"}`:    1,
		`roster_provisioning_events_total{method="PATCH",outcome="success",resource="user"}`:   1,
		`roster_provisioning_events_total{method="POST",outcome="success",resource="group"}`:   1,
		`roster_provisioning_events_total{method="PATCH",outcome="success",resource="group"}`:  1,
		`roster_provisioning_events_total{method="DELETE",outcome="success",resource="group"}`: 1,
		`roster_provisioning_events_total{method="DELETE",outcome="failure",resource="user"}`:  0, // unauthenticated: not an event
		`roster_auth_failures_total{reason="missing"}`:                                         2, // one header-less GET, and /extra
		`roster_auth_failures_total{reason="malformed"}`:                                       1,
		`roster_auth_failures_total{reason="invalid"}`:                                         1,
		`roster_rate_limited_requests_total{limit="token"}`:                                    1,
		`roster_rate_limited_requests_total{limit="auth_failures"}`:                            0,
		`roster_domains{state="pending"}`:                                                      2,
		`roster_domains{state="verified"}`:                                                     0,
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s: got %v (present %v), want %v", series, g, ok, v)
		}
	}
	var size float64
	if fi, err := os.Stat(db.Path()); err == nil {
		size += float64(fi.Size())
	}
	if fi, err := os.Stat(db.Path() + "-wal"); err == nil {
		size += float64(fi.Size())
	}
	if got := got["roster_store_size_bytes"]; got <= 0 || got > 2*size {
		t.Errorf("roster_store_size_bytes: got %v, want about %v", got, size)
	}
	// Labels never carry ids, tenants or raw paths.
	for series := range got {
		for _, leak := range []string{uid, gid, "acme", "/scim/", "nope", "extra"} {
			if strings.Contains(series, leak) {
				t.Errorf("%s: a label carries %q", series, leak)
			}
		}
	}
}

func TestReadyz(t *testing.T) {
	a := newTestAgent(t)
	get := func(path string) (int, string, http.Header) {
		resp, err := http.Get(a.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, h := get("/readyz")
	if code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz: got %d %q, want 200 \"ready\\n\"", code, body)
	}
	if h.Get("X-Request-Id") == "" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("/readyz headers: got %v, want X-Request-Id and Cache-Control: no-store", h)
	}
	if code, _, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: got %d, want 200", code)
	}

	// The store stops answering.
	if err := a.db.Close(); err != nil {
		t.Fatal(err)
	}
	code, body, _ = get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready") {
		t.Errorf("/readyz with the store closed: got %d %q, want 503 not ready", code, body)
	}
	if code, _, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz with the store closed: got %d, want 503", code)
	}
}

// TestRequestLogLines checks that every request gets one JSON log line
// carrying the request_id sent back in X-Request-Id, with its status.
func TestRequestLogLines(t *testing.T) {
	logs := &syncbuf.Buffer{}
	a := newTestAgent(t, scimhttp.Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Limits: scimhttp.Limits{AuthFailuresPerMinute: 1, AuthFailureBurst: 1},
	})
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c, bad := newClient(base, tok), newClient(base, "not-a-secret-token")
	replies := []*reply{
		c.do(t, http.MethodGet, "/Users", nil, nil),
		c.do(t, http.MethodPost, "/Users", userDoc("ann@acme.test", nil), nil),
		c.do(t, http.MethodGet, "/Users/missing", nil, nil),
		bad.do(t, http.MethodGet, "/Users", nil, nil),
		bad.do(t, http.MethodGet, "/Users", nil, nil), // 429
		newClient(a.srv.URL, "").do(t, http.MethodGet, "/healthz", nil, nil),
		newClient(a.srv.URL, "").do(t, http.MethodGet, "/nope", nil, nil),
	}
	wantStatus(t, replies[4], http.StatusTooManyRequests)

	type line struct {
		Msg       string `json:"msg"`
		Level     string `json:"level"`
		RequestID string `json:"request_id"`
		Status    int    `json:"status"`
		Method    string `json:"method"`
		Client    string `json:"client"`
		Token     string `json:"token"`
	}
	byID := map[string][]line{}
	for _, raw := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", raw, err)
		}
		if l.RequestID == "" {
			t.Errorf("log line without request_id: %s", raw)
			continue
		}
		byID[l.RequestID] = append(byID[l.RequestID], l)
	}
	for _, r := range replies {
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			t.Errorf("%s: no X-Request-Id", r)
			continue
		}
		var access []line
		for _, l := range byID[id] {
			if l.Msg == "http request" {
				access = append(access, l)
			}
		}
		if len(access) != 1 {
			t.Errorf("%s: got %d request log lines for %s, want 1", r, len(access), id)
			continue
		}
		if l := access[0]; l.Status != r.Status || l.Method != r.method || l.Client != "127.0.0.1" {
			t.Errorf("%s: log line %+v, want status %d, method %s, client 127.0.0.1", r, l, r.Status, r.method)
		}
	}
	if l := byID[replies[1].Header.Get("X-Request-Id")]; len(l) == 0 || l[0].Token != "test" || l[0].Level != "DEBUG" {
		t.Errorf("a create's log line: got %+v, want the token name and level DEBUG", l)
	}
	if l := byID[replies[2].Header.Get("X-Request-Id")]; len(l) == 0 || l[0].Level != "INFO" {
		t.Errorf("a 404's log line: got %+v, want level INFO", l)
	}
	warned := false
	for _, l := range byID[replies[4].Header.Get("X-Request-Id")] {
		warned = warned || (l.Level == "WARN" && strings.Contains(l.Msg, "too many failed authentications"))
	}
	if !warned {
		t.Errorf("the first 429 for an address: want a WARN line with its request_id; got %+v", byID[replies[4].Header.Get("X-Request-Id")])
	}
}
