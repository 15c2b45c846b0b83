package scimhttp_test

// Rate limits over real HTTP: failed authentication per client address and
// requests per token answer 429 with Retry-After and a SCIM error body;
// Entra's documented rate is never limited. A fake clock replays minutes of
// traffic in milliseconds, so the figures are exact.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// limitedAgent is a test agent with the given limits on a fake clock.
func limitedAgent(t *testing.T, opt scimhttp.Options) (*testAgent, *fakeClock) {
	t.Helper()
	a := newTestAgent(t, opt)
	clock := newFakeClock()
	scimhttp.SetClock(a.h, clock.Now)
	return a, clock
}

// want429 checks a 429 answer: SCIM error body, Retry-After in seconds, and
// a detail that says what happened.
func want429(t *testing.T, r *reply, retryAfter, detail string) {
	t.Helper()
	wantSCIMError(t, r, http.StatusTooManyRequests, "")
	if got := r.Header.Get("Retry-After"); got != retryAfter {
		t.Errorf("%s: Retry-After: got %q, want %q", r, got, retryAfter)
	}
	if d := errDetail(t, r); !strings.Contains(d, detail) {
		t.Errorf("%s: detail: got %q, want it to contain %q", r, d, detail)
	}
}

// events counts a tenant's provisioning events by status.
func events(t *testing.T, a *testAgent, tenant string) map[int]int {
	t.Helper()
	evs, err := a.dir.Events(context.Background(), store.EventQuery{TenantID: tenant, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	n := map[int]int{}
	for _, e := range evs {
		n[e.Status] += e.Count
	}
	return n
}

func TestAuthFailureLimit(t *testing.T) {
	t.Run("per address, only failures count", func(t *testing.T) {
		a, clock := limitedAgent(t, scimhttp.Options{Limits: scimhttp.DefaultLimits()})
		base, tok := a.tenant(t, "acme", store.TenantSettings{})
		bad, good := newClient(base, "not-a-secret-token"), newClient(base, tok)

		// The default burst: 20 failures answer 401 at once.
		for i := range 20 {
			r := bad.do(t, http.MethodGet, "/Users", nil, nil)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %s: got %d, want 401", i+1, r, r.Status)
			}
		}
		// The 21st gets 429; at 10 per minute the next is allowed in 6 s.
		want429(t, bad.do(t, http.MethodGet, "/Users", nil, nil), "6", "too many failed authentications from 127.0.0.1")
		// No header at all is a failed authentication too.
		want429(t, newClient(base, "").do(t, http.MethodPost, "/Users", userDoc("x@acme.test", nil), hdr{"Authorization": ""}), "6", "Secret Token")
		// The right token from the same address is served.
		for range 5 {
			good.do(t, http.MethodGet, "/Users", nil, nil).list(t)
		}
		// 401s are provisioning events; 429s are not (a flood must not write).
		if got := events(t, a, "acme"); got[http.StatusUnauthorized] != 20 || got[http.StatusTooManyRequests] != 0 {
			t.Errorf("events by status: got %v, want 20 × 401 and no 429", got)
		}

		clock.Advance(5 * time.Second)
		want429(t, bad.do(t, http.MethodGet, "/Users", nil, nil), "1", "too many failed authentications")
		clock.Advance(time.Second) // 6 s: one more failure may be answered
		wantSCIMError(t, bad.do(t, http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
		want429(t, bad.do(t, http.MethodGet, "/Users", nil, nil), "6", "too many failed authentications")

		clock.Advance(time.Hour) // refilled to the burst, not beyond
		for i := range 20 {
			if r := bad.do(t, http.MethodGet, "/Users", nil, nil); r.Status != http.StatusUnauthorized {
				t.Fatalf("after an hour, failure %d: %s: got %d, want 401", i+1, r, r.Status)
			}
		}
		want429(t, bad.do(t, http.MethodGet, "/Users", nil, nil), "6", "too many failed authentications")
	})

	t.Run("addresses are separate; IPv6 by /64", func(t *testing.T) {
		// ClientAddr stands in for the trusted-proxy logic: here a header.
		a, _ := limitedAgent(t, scimhttp.Options{
			Limits:     scimhttp.Limits{AuthFailuresPerMinute: 10, AuthFailureBurst: 3},
			ClientAddr: func(r *http.Request) string { return r.Header.Get("X-Test-Client") },
		})
		base, _ := a.tenant(t, "acme", store.TenantSettings{})
		bad := newClient(base, "not-a-secret-token")
		from := func(addr string) *reply { return bad.do(t, http.MethodGet, "/Users", nil, hdr{"X-Test-Client": addr}) }
		exhaust := func(addr string) {
			t.Helper()
			for range 3 {
				wantSCIMError(t, from(addr), http.StatusUnauthorized, "")
			}
			want429(t, from(addr), "6", "from "+addr)
		}

		exhaust("198.51.100.7")
		wantSCIMError(t, from("198.51.100.8"), http.StatusUnauthorized, "")
		want429(t, from("::ffff:198.51.100.7"), "6", "") // the same IPv4 address, IPv4-mapped

		exhaust("2001:db8:1:2::1")
		want429(t, from("2001:db8:1:2:ffff:ffff:ffff:ffff"), "6", "") // same /64
		wantSCIMError(t, from("2001:db8:1:3::1"), http.StatusUnauthorized, "")
	})
}

func TestTokenRequestLimit(t *testing.T) {
	a, clock := limitedAgent(t, scimhttp.Options{Limits: scimhttp.DefaultLimits()})
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)

	// The clock stands still: exactly the burst of 200 is served.
	for i := range 200 {
		if r := c.do(t, http.MethodGet, "/Users?count=1", nil, nil); r.Status != http.StatusOK {
			t.Fatalf("request %d: %s: got %d, want 200", i+1, r, r.Status)
		}
	}
	want429(t, c.do(t, http.MethodGet, "/Users", nil, nil), "1", "too many requests with this Secret Token (the agent allows 100 per second, bursts of 200)")
	// Writes count too, and a refused write does not happen.
	want429(t, c.do(t, http.MethodPost, "/Users", userDoc("late@acme.test", nil), nil), "1", "Secret Token")
	// Another token has its own allowance.
	other := newClient(base, a.token(t, "acme", false))
	other.do(t, http.MethodGet, "/Users?filter="+q(`userName eq "late@acme.test"`), nil, nil).list(t)
	if lr := other.do(t, http.MethodGet, "/Users?filter="+q(`userName eq "late@acme.test"`), nil, nil).list(t); lr.TotalResults != 0 {
		t.Errorf("the refused create happened: totalResults %d", lr.TotalResults)
	}

	clock.Advance(10 * time.Millisecond) // one request's worth at 100/s
	c.do(t, http.MethodGet, "/Users?count=1", nil, nil).list(t)
	want429(t, c.do(t, http.MethodGet, "/Users", nil, nil), "1", "Secret Token")

	if got := events(t, a, "acme"); got[http.StatusTooManyRequests] != 0 {
		t.Errorf("events by status: got %v, want no 429", got)
	}
}

// TestEntraRateIsNeverLimited replays Entra at its documented 25 requests
// per second per tenant, five times the burst, under the default limits:
// nothing is refused. The same replay at 200 per second is refused in part,
// which shows the clock and the limit are really in play.
func TestEntraRateIsNeverLimited(t *testing.T) {
	const n = 600
	replay := func(t *testing.T, perSecond int) (ok, limited int) {
		a, clock := limitedAgent(t, scimhttp.Options{Limits: scimhttp.DefaultLimits()})
		base, tok := a.tenant(t, directory.DefaultTenant, store.TenantSettings{})
		c := newClient(base, tok)
		for i := range n {
			clock.Advance(time.Second / time.Duration(perSecond))
			var r *reply
			userName := fmt.Sprintf("user%04d@contoso.com", i/2)
			if i%2 == 0 { // Entra's match query, then the create
				r = c.do(t, http.MethodGet, "/Users?filter="+q(`userName eq "`+userName+`"`), nil, nil)
			} else {
				r = c.do(t, http.MethodPost, "/Users", userDoc(userName, nil), nil)
			}
			switch r.Status {
			case http.StatusOK, http.StatusCreated:
				ok++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Fatalf("request %d: %s: got %d", i, r, r.Status)
			}
		}
		return ok, limited
	}
	t.Run("25 per second", func(t *testing.T) {
		if ok, limited := replay(t, 25); ok != n || limited != 0 {
			t.Errorf("got %d served and %d limited, want all %d served", ok, limited, n)
		}
	})
	t.Run("200 per second", func(t *testing.T) {
		// 3 s of traffic: a burst of 200 plus 100/s × 3 s ≈ 500 served.
		if ok, limited := replay(t, 200); ok < 495 || ok > 505 || ok+limited != n {
			t.Errorf("got %d served and %d limited, want about 500 served and 100 limited", ok, limited)
		}
	})
}

func TestSetLimits(t *testing.T) {
	a, clock := limitedAgent(t, scimhttp.Options{}) // the zero Limits: unlimited
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c, bad := newClient(base, tok), newClient(base, "not-a-secret-token")

	for i := range 300 { // beyond the default burst
		if r := c.do(t, http.MethodGet, "/Users?count=1", nil, nil); r.Status != http.StatusOK {
			t.Fatalf("unlimited, request %d: %s: got %d", i+1, r, r.Status)
		}
	}
	for range 30 {
		wantSCIMError(t, bad.do(t, http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
	}

	// A reload applies new limits at once.
	a.h.SetLimits(scimhttp.Limits{TokenRequestsPerSecond: 1, TokenBurst: 2, AuthFailuresPerMinute: 60, AuthFailureBurst: 1})
	c.do(t, http.MethodGet, "/Users?count=1", nil, nil).list(t)
	c.do(t, http.MethodGet, "/Users?count=1", nil, nil).list(t)
	want429(t, c.do(t, http.MethodGet, "/Users", nil, nil), "1", "allows 1 per second, bursts of 2")
	wantSCIMError(t, bad.do(t, http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
	want429(t, bad.do(t, http.MethodGet, "/Users", nil, nil), "1", "too many failed authentications")

	// Raising them keeps what was used but refills at the new rate.
	a.h.SetLimits(scimhttp.DefaultLimits())
	want429(t, c.do(t, http.MethodGet, "/Users", nil, nil), "1", "allows 100 per second, bursts of 200")
	clock.Advance(20 * time.Millisecond)
	c.do(t, http.MethodGet, "/Users?count=1", nil, nil).list(t)
	c.do(t, http.MethodGet, "/Users?count=1", nil, nil).list(t)
	want429(t, c.do(t, http.MethodGet, "/Users", nil, nil), "1", "Secret Token")

	// Turning them off serves everything again.
	a.h.SetLimits(scimhttp.Limits{})
	for range 50 {
		c.do(t, http.MethodGet, "/Users?count=1", nil, nil).list(t)
		wantSCIMError(t, bad.do(t, http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
	}
}

// TestLimitsRealClock checks the limits on the real clock, as the agent
// runs them, with concurrent clients: one token's burst is served, then
// 429s, while a valid token keeps working during a flood of bad ones.
func TestLimitsRealClock(t *testing.T) {
	a := newTestAgent(t, scimhttp.Options{Limits: scimhttp.Limits{
		TokenRequestsPerSecond: 0.01, TokenBurst: 50, AuthFailuresPerMinute: 0.01, AuthFailureBurst: 20}})
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	var served, limited, unauthorized, other atomic.Int64
	parallel(t, 8, 20, func(client, i int) error {
		c := newClient(base, tok)
		if client%2 == 1 {
			c = newClient(base, "not-a-secret-token")
		}
		r, err := c.send(http.MethodGet, "/Users?count=1", nil, nil)
		if err != nil {
			return err
		}
		switch r.Status {
		case http.StatusOK:
			served.Add(1)
		case http.StatusTooManyRequests:
			limited.Add(1)
			if r.Header.Get("Retry-After") == "" {
				return fmt.Errorf("%s: 429 without Retry-After", r)
			}
		case http.StatusUnauthorized:
			unauthorized.Add(1)
		default:
			other.Add(1)
		}
		return nil
	})
	// 80 good requests against a burst of 50; 80 bad ones against 20.
	if served.Load() != 50 || unauthorized.Load() != 20 || limited.Load() != 30+60 || other.Load() != 0 {
		t.Errorf("got %d served, %d unauthorized, %d limited, %d other; want 50, 20, 90, 0",
			served.Load(), unauthorized.Load(), limited.Load(), other.Load())
	}
}

// TestHTTPServerLimits checks the listener's header limit and timeouts over
// a real connection (the body limit is in TestErrorResponses).
func TestHTTPServerLimits(t *testing.T) {
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	srv := scimhttp.NewHTTPServer(a.h, nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("timeouts: got %v %v %v %v, want all set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String() + strings.TrimPrefix(base, a.srv.URL)
	c := newClient(url, tok)

	c.do(t, http.MethodGet, "/Users", nil, hdr{"X-Padding": strings.Repeat("a", scimhttp.MaxHeaderBytes/2)}).list(t)
	r := c.do(t, http.MethodGet, "/Users", nil, hdr{"X-Padding": strings.Repeat("a", 2*scimhttp.MaxHeaderBytes)})
	if r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("%s: got %d, want 431 for headers over %d bytes", r, r.Status, scimhttp.MaxHeaderBytes)
	}

	t.Run("slow headers are cut off", func(t *testing.T) {
		if testing.Short() {
			t.Skip("waits for ReadHeaderTimeout")
		}
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil { // never ends the headers
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(scimhttp.ReadHeaderTimeout + 10*time.Second)) //nolint:errcheck
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("the connection is still open after %v", time.Since(start))
				}
				break // closed by the server
			}
		}
		if d := time.Since(start); d < scimhttp.ReadHeaderTimeout-time.Second {
			t.Errorf("closed after %v, before ReadHeaderTimeout %v", d, scimhttp.ReadHeaderTimeout)
		}
	})
}

// TestFeedAPISharesTheLimits: the change feed's API (/api/v1/{tenant}/…,
// package feedhttp) admits requests as the SCIM API does: its failed
// authentications spend the same per-address and global budgets, are
// recorded as the same events and answered with WWW-Authenticate, and a
// token's request rate is one allowance across both APIs.
func TestFeedAPISharesTheLimits(t *testing.T) {
	a, clock := limitedAgent(t, scimhttp.Options{
		Limits: scimhttp.Limits{AuthFailuresPerMinute: 10, AuthFailureBurst: 3, GlobalAuthFailuresPerMinute: 60, GlobalAuthFailureBurst: 5,
			TokenRequestsPerSecond: 1, TokenBurst: 4},
		ClientAddr: func(r *http.Request) string { return r.Header.Get("X-Test-Client") },
	})
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	const changes = "/api/v1/acme/changes"
	bad, badSCIM := newClient(a.srv.URL, "not-a-secret-token"), newClient(base, "not-a-secret-token")
	from := func(addr string) hdr { return hdr{"X-Test-Client": addr} }
	for i := range 3 {
		r := bad.do(t, http.MethodGet, changes, nil, from("198.51.100.1"))
		wantSCIMError(t, r, http.StatusUnauthorized, "")
		if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("failure %d: WWW-Authenticate = %q, want Bearer with invalid_token", i+1, got)
		}
	}
	// The address's budget is spent on the feed: the SCIM API refuses it
	// too, and so does the snapshot, with or without a token.
	want429(t, badSCIM.do(t, http.MethodGet, "/Users", nil, from("198.51.100.1")), "6", "too many failed authentications from 198.51.100.1")
	want429(t, bad.do(t, http.MethodGet, "/api/v1/acme/snapshot", nil, from("198.51.100.1")), "6", "from 198.51.100.1")
	want429(t, newClient(a.srv.URL, "").do(t, http.MethodGet, changes, nil, hdr{"Authorization": "", "X-Test-Client": "198.51.100.1"}), "6", "from 198.51.100.1")
	// The global budget of 5: two more failures from another address on the
	// feed spend it, and a third address is refused on the SCIM API.
	wantSCIMError(t, bad.do(t, http.MethodGet, changes, nil, from("198.51.100.2")), http.StatusUnauthorized, "")
	wantSCIMError(t, bad.do(t, http.MethodGet, changes, nil, from("198.51.100.2")), http.StatusUnauthorized, "")
	want429(t, badSCIM.do(t, http.MethodGet, "/Users", nil, from("198.51.100.3")), "1", "too many failed authentications: ")
	// The feed's 401s are recorded as the SCIM API's are; its 429s are not.
	if got := events(t, a, "acme"); got[http.StatusUnauthorized] != 5 || got[http.StatusTooManyRequests] != 0 {
		t.Errorf("events by status: got %v, want 5 × 401 and no 429", got)
	}

	// The right token from the same address is served, and its requests
	// on both APIs draw on one allowance of 4.
	good, feed := newClient(base, tok), newClient(a.srv.URL, tok)
	if r := feed.do(t, http.MethodGet, changes, nil, from("198.51.100.1")); r.Status != http.StatusOK {
		t.Fatalf("%s: got %d, want 200", r, r.Status)
	}
	good.do(t, http.MethodGet, "/Users", nil, nil).list(t)
	good.do(t, http.MethodGet, "/Users", nil, nil).list(t)
	if r := feed.do(t, http.MethodGet, changes, nil, nil); r.Status != http.StatusOK {
		t.Fatalf("%s: got %d, want 200", r, r.Status)
	}
	want429(t, feed.do(t, http.MethodGet, changes, nil, nil), "1", "too many requests with this Secret Token")
	want429(t, good.do(t, http.MethodGet, "/Users", nil, nil), "1", "too many requests with this Secret Token")
	clock.Advance(time.Second)
	if r := feed.do(t, http.MethodGet, changes, nil, nil); r.Status != http.StatusOK {
		t.Fatalf("after a second: %s: got %d, want 200", r, r.Status)
	}
}
