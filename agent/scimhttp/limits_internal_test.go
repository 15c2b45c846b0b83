package scimhttp

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/rosterhq/roster/agent/metrics"
)

func TestRouteOf(t *testing.T) {
	tests := []struct {
		path string
		want metrics.Route
	}{
		{"/scim/acme/v2/Users", metrics.RouteUsers},
		{"/scim/acme/v2/Users/", metrics.RouteUsers},
		{"/scim/acme/v2/Groups", metrics.RouteGroups},
		{"/scim/acme/v2/Users/2819c223-7f76-453a-919d-413861904646", metrics.RouteUser},
		{"/scim/acme/v2/Groups/e9e30dba", metrics.RouteGroup},
		{"/scim/acme/v2/Users/.search", metrics.RouteSearch},
		{"/scim/acme/v2/Groups/.search", metrics.RouteSearch},
		{"/scim/acme/v2/Schemas", metrics.RouteDiscovery},
		{"/scim/acme/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", metrics.RouteDiscovery},
		{"/scim/acme/v2/ResourceTypes", metrics.RouteDiscovery},
		{"/scim/acme/v2/ServiceProviderConfig", metrics.RouteDiscovery},
		{"/healthz", metrics.RouteHealthz},
		{"/readyz", metrics.RouteHealthz},
		{"/scim/acme/v2/Users/x/y", metrics.RouteOther},
		{"/scim/acme/v2/Bulk", metrics.RouteOther},
		{"/scim/acme/v2/users", metrics.RouteUsers}, // resource segments match case-insensitively
		{"/scim/acme/v2", metrics.RouteOther},
		{"/metrics", metrics.RouteOther},
		{"/", metrics.RouteOther},
	}
	for _, tt := range tests {
		if got := routeOf(tt.path); got != tt.want {
			t.Errorf("routeOf(%q): got %v, want %v", tt.path, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { routeOf("/scim/acme/v2/Users/2819c223/") }); n != 0 {
		t.Errorf("routeOf allocates %v times per call, want 0", n)
	}
}

func TestLimitKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := limitKey(tt.addr); got != tt.want {
			t.Errorf("limitKey(%q): got %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestRemoteHost(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for addr, want := range map[string]string{"192.0.2.1:5000": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "@": "@"} {
		r.RemoteAddr = addr
		if got := remoteHost(r); got != want {
			t.Errorf("remoteHost(%q): got %q, want %q", addr, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", 6 * time.Second: "6", time.Hour: "3600"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%v): got %q, want %q", d, got, want)
		}
	}
}

// TestLimiterEviction: idle buckets go once a full refill has passed, so
// memory follows the active addresses, and eviction never resets a bucket
// that is still short of tokens.
func TestLimiterEviction(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	k := newKeyedLimiter(rate.Limit(10.0/60), 20) // 10 a minute, burst 20: a full refill takes 2 minutes
	for i := range 1000 {
		k.allow(fmt.Sprintf("198.51.100.%d/%d", i%250, i), now)
	}
	for range 25 {
		k.allow("203.0.113.9", now) // exhausted
	}
	if got := k.len(); got != 1001 {
		t.Fatalf("buckets: got %d, want 1001", got)
	}
	now = now.Add(90 * time.Second) // a sweep is due, but no bucket has refilled
	k.allow("203.0.113.10", now)
	if got := k.len(); got != 1002 {
		t.Errorf("after 90 s: got %d buckets, want all 1002 kept", got)
	}
	if ok, _, _ := k.allow("203.0.113.9", now); ok {
		// 90 s refill 15 tokens: allowed. Take them all, then check.
		for range 14 {
			k.allow("203.0.113.9", now)
		}
	}
	if ok, wait, _ := k.allow("203.0.113.9", now); ok || wait <= 0 {
		t.Errorf("exhausted bucket: got ok=%v wait=%v, want refused with a wait", ok, wait)
	}
	now = now.Add(time.Minute)
	k.allow("203.0.113.11", now)
	// Everything idle since the start (150 s, more than the 121 s a full
	// refill takes) is gone; the two used 60 s ago stay.
	if got := k.len(); got != 3 {
		t.Errorf("after a full refill: got %d buckets, want 3", got)
	}

	t.Run("cap", func(t *testing.T) {
		k := newKeyedLimiter(rate.Limit(1), 5)
		k.maxKeys = 100
		for i := range 250 {
			k.allow(fmt.Sprint(i), now) // all busy: nothing is idle enough to evict
			if k.len() > k.maxKeys {
				t.Fatalf("after %d keys: %d buckets, want at most %d", i+1, k.len(), k.maxKeys)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		k := newKeyedLimiter(rate.Inf, 1)
		for i := range 100 {
			if ok, _, _ := k.allow(fmt.Sprint(i), now); !ok {
				t.Fatal("an unlimited limiter refused")
			}
		}
		if k.len() != 0 {
			t.Errorf("an unlimited limiter keeps %d buckets, want 0", k.len())
		}
	})
}

func BenchmarkLimiterAllow(b *testing.B) {
	k := newKeyedLimiter(rate.Limit(1e9), 1<<30)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		k.allow("tok12345", now)
	}
}
