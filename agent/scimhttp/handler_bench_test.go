package scimhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/metrics"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// BenchmarkLookupHandler is the server side of Entra's match query,
// GET /Users?filter=userName eq "…", without the network: the handler's own
// cost per request (CPU profile it with -cpuprofile). "bare" has neither
// metrics nor rate limits; "metrics+limits" has both, as the agent runs.
func BenchmarkLookupHandler(b *testing.B) {
	for _, v := range benchVariants() {
		b.Run(v.name, func(b *testing.B) {
			a := newTestAgent(b, v.opt())
			base, tok := a.tenant(b, directory.DefaultTenant, store.TenantSettings{})
			c := directory.Call{TenantID: directory.DefaultTenant, BaseURL: base}
			const n = 2000
			for i := 0; i < n; i++ {
				if _, err := a.dir.Create(context.Background(), c, store.KindUser, map[string]any{
					"schemas": []any{scim.SchemaUser}, "userName": fmt.Sprintf("user%06d@contoso.com", i), "active": true,
					"emails": []any{map[string]any{"type": "work", "value": fmt.Sprintf("user%06d@contoso.com", i), "primary": true}},
					"name":   map[string]any{"givenName": "Test", "familyName": "User"},
				}); err != nil {
					b.Fatal(err)
				}
			}
			h := a.srv.Config.Handler
			b.ReportAllocs()
			b.ResetTimer()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest("GET", base+"/Users?filter="+url.QueryEscape(fmt.Sprintf(`userName eq "user%06d@contoso.com"`, i%n)), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkRequestOverhead isolates the per-request cost of metrics and
// rate limits on the cheapest authenticated request (no SQL: the token is
// cached and /ServiceProviderConfig is rendered from memory).
func BenchmarkRequestOverhead(b *testing.B) {
	for _, v := range benchVariants() {
		b.Run(v.name, func(b *testing.B) {
			a := newTestAgent(b, v.opt())
			base, tok := a.tenant(b, directory.DefaultTenant, store.TenantSettings{})
			h := a.srv.Config.Handler
			b.ReportAllocs()
			b.ResetTimer()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest("GET", base+"/ServiceProviderConfig", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// reportCPU starts counting the process's CPU time (user and system, every
// goroutine: the writer, the GC) and returns the function that reports it
// per operation as cpu-ns/op: on a shared machine it varies less than the
// wall time of ns/op.
func reportCPU(b *testing.B) func() {
	start, ok := cpuTime(b)
	return func() {
		if !ok {
			return
		}
		end, _ := cpuTime(b)
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

type benchVariant struct {
	name string
	opt  func() scimhttp.Options
}

func benchVariants() []benchVariant {
	return []benchVariant{
		{"bare", func() scimhttp.Options { return scimhttp.Options{} }},
		{"metrics+limits", func() scimhttp.Options {
			l := scimhttp.DefaultLimits()
			l.TokenRequestsPerSecond, l.TokenBurst = 1e9, 1<<30 // never refuses, but is consulted
			return scimhttp.Options{Metrics: metrics.New(metrics.Options{}), Limits: l}
		}},
	}
}
