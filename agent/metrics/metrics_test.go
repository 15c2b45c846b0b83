package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/metrics"
	"github.com/rosterhq/roster/internal/syncbuf"
	"github.com/rosterhq/roster/store"
)

// fakeDomains is a DomainLister with fixed answers.
type fakeDomains struct {
	ds  []*store.Domain
	err error
}

func (f *fakeDomains) Domains(_ context.Context, tenantID string) ([]*store.Domain, error) {
	if tenantID != "" {
		return nil, errors.New("want all tenants")
	}
	return f.ds, f.err
}

// serve serves m on a loopback listener until the test ends and returns the
// /metrics URL.
func serve(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: got %v, want nil after the context ends", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after the context ended")
		}
	})
	return "http://" + ln.Addr().String() + "/metrics"
}

// scrape fetches url and returns each sample by its series as exposed
// (name{label="value",...}, labels in name order).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type: got %q, want the Prometheus text format", ct)
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

func wantSamples(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for series, v := range want {
		g, ok := got[series]
		switch {
		case !ok:
			t.Errorf("%s: missing", series)
		case g != v:
			t.Errorf("%s: got %v, want %v", series, g, v)
		}
	}
}

func TestScrape(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "roster.db")
	if err := os.WriteFile(db, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+"-wal", make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	doms := &fakeDomains{ds: []*store.Domain{
		{TenantID: "a", Domain: "a.test", Status: store.DomainPending},
		{TenantID: "a", Domain: "b.test", Status: store.DomainPending},
		{TenantID: "b", Domain: "c.test", Status: store.DomainVerified},
		{TenantID: "b", Domain: "d.test", Status: store.DomainLapsed},
	}}
	m := metrics.New(metrics.Options{Domains: doms, DBPath: db})
	url := serve(t, m)

	m.ObserveRequest(metrics.RouteUsers, 201, 3*time.Millisecond)
	m.ObserveRequest(metrics.RouteUsers, 201, 30*time.Millisecond)
	m.ObserveRequest(metrics.RouteUser, 404, 200*time.Microsecond)
	m.ObserveRequest(metrics.Route(200), 200, time.Millisecond) // out of range: other
	m.ObserveRequest(metrics.RouteHealthz, 999, time.Millisecond)
	m.ProvisioningEvent(metrics.ResourceUser, "POST", 201)
	m.ProvisioningEvent(metrics.ResourceUser, "POST", 201)
	m.ProvisioningEvent(metrics.ResourceGroup, "PATCH", 204)
	m.ProvisioningEvent(metrics.ResourceGroup, "PATCH", 400)
	m.ProvisioningEvent(metrics.ResourceUser, "GET", 200) // a read: not an event
	m.AuthFailed(metrics.AuthInvalid)
	m.AuthFailed(metrics.AuthInvalid)
	m.AuthFailed(metrics.AuthMissing)
	m.RateLimited(metrics.LimitToken)

	got := scrape(t, url)
	wantSamples(t, got, map[string]float64{
		`roster_http_requests_total{code="201",route="users"}`:                                2,
		`roster_http_requests_total{code="404",route="user"}`:                                 1,
		`roster_http_requests_total{code="200",route="other"}`:                                1,
		`roster_http_requests_total{code="999",route="healthz"}`:                              1,
		`roster_http_request_duration_seconds_count{route="users"}`:                           2,
		`roster_http_request_duration_seconds_bucket{route="users",le="0.0025"}`:              0,
		`roster_http_request_duration_seconds_bucket{route="users",le="0.005"}`:               1,
		`roster_http_request_duration_seconds_bucket{route="users",le="0.05"}`:                2,
		`roster_http_request_duration_seconds_sum{route="users"}`:                             0.033,
		`roster_http_request_duration_seconds_bucket{route="user",le="0.0005"}`:               1,
		`roster_http_request_duration_seconds_count{route="discovery"}`:                       0,
		`roster_provisioning_events_total{method="POST",outcome="success",resource="user"}`:   2,
		`roster_provisioning_events_total{method="POST",outcome="failure",resource="user"}`:   0,
		`roster_provisioning_events_total{method="PATCH",outcome="success",resource="group"}`: 1,
		`roster_provisioning_events_total{method="PATCH",outcome="failure",resource="group"}`: 1,
		`roster_auth_failures_total{reason="invalid"}`:                                        2,
		`roster_auth_failures_total{reason="missing"}`:                                        1,
		`roster_auth_failures_total{reason="malformed"}`:                                      0,
		`roster_rate_limited_requests_total{limit="token"}`:                                   1,
		`roster_rate_limited_requests_total{limit="auth_failures"}`:                           0,
		`roster_domains{state="pending"}`:                                                     2,
		`roster_domains{state="verified"}`:                                                    1,
		`roster_domains{state="lapsed"}`:                                                      1,
		`roster_domains{state="failed"}`:                                                      0,
		`roster_store_size_bytes`:                                                             8192 + 1000,
	})
	for series := range got {
		if strings.Contains(series, `method="GET"`) {
			t.Errorf("%s: reads are not provisioning events", series)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_open_fds", "process_resident_memory_bytes"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: missing (Go and process collectors)", name)
		}
	}

	// Gauges are read at scrape time.
	doms.ds = doms.ds[:1]
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	got = scrape(t, url)
	wantSamples(t, got, map[string]float64{
		`roster_domains{state="pending"}`:  1,
		`roster_domains{state="verified"}`: 0,
		`roster_store_size_bytes`:          8192,
	})

	// Only /metrics is served.
	resp, err := http.Get(strings.TrimSuffix(url, "/metrics") + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: got %d, want 404", resp.StatusCode)
	}
}

// TestScrapeSurvivesDomainError: a store that cannot list domains costs the
// domain gauge, not the scrape.
func TestScrapeSurvivesDomainError(t *testing.T) {
	logs := &syncbuf.Buffer{}
	m := metrics.New(metrics.Options{
		Domains: &fakeDomains{err: errors.New("database is locked")},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	m.ObserveRequest(metrics.RouteUsers, 200, time.Millisecond)
	url := serve(t, m)
	scrape(t, url)
	got := scrape(t, url) // the error counter shows the first scrape's error
	wantSamples(t, got, map[string]float64{
		`roster_http_requests_total{code="200",route="users"}`:    1,
		`promhttp_metric_handler_errors_total{cause="gathering"}`: 1,
	})
	for series := range got {
		if strings.HasPrefix(series, "roster_domains") || strings.HasPrefix(series, "roster_store_size_bytes") {
			t.Errorf("%s: want no sample (lister failed; no DBPath)", series)
		}
	}
	if !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("log: got %q, want the lister's error", logs.String())
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveRequest(metrics.RouteUsers, 200, time.Millisecond)
	m.ProvisioningEvent(metrics.ResourceUser, "POST", 201)
	m.AuthFailed(metrics.AuthInvalid)
	m.RateLimited(metrics.LimitToken)
}

func TestRegistriesAreSeparate(t *testing.T) {
	a, b := metrics.New(metrics.Options{}), metrics.New(metrics.Options{})
	a.ObserveRequest(metrics.RouteUsers, 200, time.Millisecond)
	got := scrape(t, serve(t, b))
	if _, ok := got[`roster_http_requests_total{code="200",route="users"}`]; ok {
		t.Error("a request recorded on one Metrics shows on another")
	}
}

func TestRouteNames(t *testing.T) {
	tests := []struct {
		r    metrics.Route
		want string
	}{
		{metrics.RouteOther, "other"}, {metrics.RouteUsers, "users"}, {metrics.RouteGroups, "groups"},
		{metrics.RouteUser, "user"}, {metrics.RouteGroup, "group"}, {metrics.RouteSearch, "search"},
		{metrics.RouteDiscovery, "discovery"}, {metrics.RouteHealthz, "healthz"}, {metrics.Route(99), "other"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Route(%d): got %q, want %q", tt.r, got, tt.want)
		}
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New(metrics.Options{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.ObserveRequest(metrics.RouteUser, 200, time.Duration(i%1000)*time.Microsecond)
	}
}
