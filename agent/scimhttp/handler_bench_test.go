package scimhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

// BenchmarkLookupHandler is the server side of Entra's match query,
// GET /Users?filter=userName eq "…", without the network: the handler's own
// cost per request (CPU profile it with -cpuprofile).
func BenchmarkLookupHandler(b *testing.B) {
	a := newTestAgent(b)
	base, tok := a.tenant(b, directory.DefaultTenant, store.TenantSettings{})
	c := directory.Call{TenantID: directory.DefaultTenant, BaseURL: base}
	const n = 2000
	for i := 0; i < n; i++ {
		if _, err := a.dir.Create(context.Background(), c, store.KindUser, map[string]any{
			"userName": fmt.Sprintf("user%06d@contoso.com", i), "active": true,
			"emails": []any{map[string]any{"type": "work", "value": fmt.Sprintf("user%06d@contoso.com", i), "primary": true}},
			"name":   map[string]any{"givenName": "Test", "familyName": "User"},
		}); err != nil {
			b.Fatal(err)
		}
	}
	h := a.srv.Config.Handler
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", base+"/Users?filter="+url.QueryEscape(fmt.Sprintf(`userName eq "user%06d@contoso.com"`, i%n)), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
