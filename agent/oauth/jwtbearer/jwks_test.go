package jwtbearer_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rosterhq/roster/agent/oauth/jwtbearer"
)

// ownIssuer is the issuer of the tokens verified against a jwksServer.
const ownIssuer = "https://login.microsoftonline.com/ce5f061f-abe6-4e40-9615-301f87bcb7f0/v2.0"

// TestUnknownKidRefetch shows that an unknown kid refetches the JWKS at
// most once a minute per URL, counted by the fake issuer and timed by an
// injected clock.
func TestUnknownKidRefetch(t *testing.T) {
	f := newFixture(t, jwtbearer.Options{})
	iss, clk, verify := f.iss, f.clk, f.verify

	if err := verify(iss.Sign(claims(iss, clk))); err != nil {
		t.Fatal(err)
	}
	if got := iss.JWKSFetches(); got != 1 {
		t.Fatalf("after the first request: %d JWKS fetches, want 1", got)
	}

	unknown := signRaw(t, jose.RS256, rsaKey1(), "unknown-kid", claims(iss, clk), nil, false)
	steps := []struct {
		advance time.Duration
		fetches int
	}{
		{0, 1},                // fetched just now
		{30 * time.Second, 1}, // 30 s after the fetch
		{29 * time.Second, 1}, // 59 s
		{time.Second, 2},      // 60 s: one refetch
		{0, 2},                // and not again
		{59 * time.Second, 2}, // 59 s after the refetch
		{time.Second, 3},      // 60 s after it
	}
	for i, s := range steps {
		clk.Add(s.advance)
		if err := verify(unknown); !errors.Is(err, jwtbearer.ErrUnknownKey) {
			t.Fatalf("step %d: VerifyAssertion = %v, want ErrUnknownKey", i, err)
		}
		if got := iss.JWKSFetches(); got != s.fetches {
			t.Fatalf("step %d (+%s): %d JWKS fetches, want %d", i, s.advance, got, s.fetches)
		}
	}

}

// TestConcurrentFetch shows that concurrent requests share one JWKS fetch
// and all see its keys: the fetch is held until every request is about to
// wait for it.
func TestConcurrentFetch(t *testing.T) {
	const n = 16
	srv := newJWKSServer(t, jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1"})
	var waiting atomic.Int32
	t.Cleanup(jwtbearer.SetTestHookWait(func() { waiting.Add(1) }))
	clk := newClock()
	v := newVerifier(clk, jwtbearer.Options{})

	run := func(kid string) []error {
		waiting.Store(0)
		gate := make(chan struct{})
		release := sync.OnceFunc(func() { close(gate) })
		defer release() // also when the test fails, so that the server can close
		srv.set(func(s *jwksServer) { s.gate = gate })
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range errs {
			token := signRaw(t, jose.RS256, rsaKey1(), kid, ownClaims(ownIssuer, clk.Now()), nil, false)
			wg.Go(func() {
				errs[i] = v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, srv.url("/keys"))
			})
		}
		deadline := time.Now().Add(10 * time.Second)
		for waiting.Load() < n && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if waiting.Load() < n {
			t.Fatalf("%d of %d requests reached the fetch", waiting.Load(), n)
		}
		release()
		wg.Wait()
		return errs
	}

	for i, err := range run("k1") {
		if err != nil {
			t.Errorf("concurrent first request %d: %v", i, err)
		}
	}
	if got := srv.count("/keys"); got != 1 {
		t.Errorf("after %d concurrent first requests: %d JWKS fetches, want 1", n, got)
	}

	// A minute later, concurrent requests with an unknown kid: one refetch.
	clk.Add(time.Minute)
	for i, err := range run("k2") {
		if !errors.Is(err, jwtbearer.ErrUnknownKey) {
			t.Errorf("concurrent unknown kid %d: %v, want ErrUnknownKey", i, err)
		}
	}
	if got := srv.count("/keys"); got != 2 {
		t.Errorf("after %d concurrent unknown kids: %d JWKS fetches, want 2", n, got)
	}
}

// TestKeyRotation shows rotated keys picked up: a new kid after the
// once-a-minute limit, and a removed key once the JWKS is refreshed.
func TestKeyRotation(t *testing.T) {
	t.Run("new kid picked up", func(t *testing.T) {
		f := newFixture(t, jwtbearer.Options{})
		iss, clk, verify := f.iss, f.clk, f.verify
		if err := verify(iss.Sign(claims(iss, clk))); err != nil {
			t.Fatal(err)
		}
		oldKey := iss.Sign(claims(iss, clk))
		iss.Rotate()
		newKey := iss.Sign(claims(iss, clk))
		if err := verify(newKey); !errors.Is(err, jwtbearer.ErrUnknownKey) {
			t.Fatalf("the new key within a minute of the fetch: %v, want ErrUnknownKey", err)
		}
		clk.Add(time.Minute)
		if err := verify(newKey); err != nil {
			t.Fatalf("the new key a minute later: %v", err)
		}
		if got := iss.JWKSFetches(); got != 2 {
			t.Errorf("%d JWKS fetches, want 2", got)
		}
		if err := verify(oldKey); !errors.Is(err, jwtbearer.ErrUnknownKey) {
			t.Fatalf("the old key, no longer served: %v, want ErrUnknownKey", err)
		}
	})
	t.Run("removed key dropped at the refresh time", func(t *testing.T) {
		f := newFixture(t, jwtbearer.Options{})
		iss, clk, verify := f.iss, f.clk, f.verify
		if err := verify(iss.Sign(claims(iss, clk))); err != nil {
			t.Fatal(err)
		}
		clk.Add(24 * time.Hour) // the fake issuer's max-age, like Entra's
		oldKey := iss.Sign(claims(iss, clk))
		iss.Rotate()
		if err := verify(oldKey); !errors.Is(err, jwtbearer.ErrUnknownKey) {
			t.Fatalf("a cached kid after the refresh time, rotated away: %v, want ErrUnknownKey", err)
		}
		if got := iss.JWKSFetches(); got != 2 {
			t.Errorf("%d JWKS fetches, want 2", got)
		}
	})
}

// TestRefreshTime shows the JWKS refreshed after the response's max-age,
// clamped to 5 minutes .. 24 hours, or after 24 hours without one.
func TestRefreshTime(t *testing.T) {
	tests := []struct {
		cacheControl string
		refresh      time.Duration
	}{
		{"max-age=600", 10 * time.Minute},
		{"public, max-age=3600", time.Hour},
		{"max-age=1", 5 * time.Minute},
		{"no-store", 5 * time.Minute},
		{"max-age=99999999999999999", 24 * time.Hour},
		{"", 24 * time.Hour},
		{"max-age=soon", 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run("Cache-Control "+tc.cacheControl, func(t *testing.T) {
			srv := newJWKSServer(t, jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1", Use: "sig"})
			srv.set(func(s *jwksServer) { s.cacheControl = tc.cacheControl })
			clk := newClock()
			v := newVerifier(clk, jwtbearer.Options{})
			verify := func() error {
				token := signRaw(t, jose.RS256, rsaKey1(), "k1", ownClaims(ownIssuer, clk.Now()), nil, false)
				return v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, srv.url("/keys"))
			}
			for _, step := range []struct {
				advance time.Duration
				fetches int
			}{{0, 1}, {tc.refresh - time.Second, 1}, {time.Second, 2}} {
				clk.Add(step.advance)
				if err := verify(); err != nil {
					t.Fatal(err)
				}
				if got := srv.count("/keys"); got != step.fetches {
					t.Fatalf("after +%s: %d fetches, want %d", step.advance, got, step.fetches)
				}
			}
		})
	}
}

// TestFailedRefreshKeepsKeys shows that cached keys stay in use while the
// JWKS cannot be fetched, and that failed fetches are limited too.
func TestFailedRefreshKeepsKeys(t *testing.T) {
	srv := newJWKSServer(t, jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1", Use: "sig"})
	clk := newClock()
	v := newVerifier(clk, jwtbearer.Options{})
	verify := func(kid string) error {
		token := signRaw(t, jose.RS256, rsaKey1(), kid, ownClaims(ownIssuer, clk.Now()), nil, false)
		return v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, srv.url("/keys"))
	}
	if err := verify("k1"); err != nil {
		t.Fatal(err)
	}
	srv.set(func(s *jwksServer) { s.status = http.StatusInternalServerError })
	clk.Add(25 * time.Hour)
	for i := range 2 {
		if err := verify("k1"); err != nil {
			t.Fatalf("cached key while the JWKS fails (%d): %v", i, err)
		}
	}
	if got := srv.count("/keys"); got != 2 {
		t.Errorf("%d fetches, want 2 (one failed refresh)", got)
	}
	if err := verify("k2"); !errors.Is(err, jwtbearer.ErrJWKS) || !contains(err, "500") {
		t.Errorf("an unknown kid after a failed fetch: %v, want ErrJWKS saying 500", err)
	}
	clk.Add(time.Minute)
	if err := verify("k2"); !errors.Is(err, jwtbearer.ErrJWKS) {
		t.Errorf("an unknown kid a minute later: %v, want ErrJWKS", err)
	}
	if got := srv.count("/keys"); got != 3 {
		t.Errorf("%d fetches, want 3", got)
	}
}

// TestFetchRefused shows the limits on fetching a JWKS.
func TestFetchRefused(t *testing.T) {
	key := jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1", Use: "sig"}
	tests := []struct {
		name    string
		setup   func(s *jwksServer)
		opt     jwtbearer.Options
		url     func(s *jwksServer) string
		want    error
		message string
	}{
		{"server error", func(s *jwksServer) { s.status = http.StatusNotFound }, jwtbearer.Options{}, nil, jwtbearer.ErrJWKS, "404"},
		{"redirect not followed", func(s *jwksServer) { s.redirect = "/elsewhere" }, jwtbearer.Options{}, nil, jwtbearer.ErrJWKS, "redirects are not followed"},
		{"response too large", nil, jwtbearer.Options{MaxJWKSBytes: 100}, nil, jwtbearer.ErrJWKS, "longer than 100 bytes"},
		{"not a JWK Set", func(s *jwksServer) { s.body = []byte(`{"keys": 1}`) }, jwtbearer.Options{}, nil, jwtbearer.ErrJWKS, "not a JWK Set"},
		{"no keys member", func(s *jwksServer) { s.body = []byte(`{}`) }, jwtbearer.Options{}, nil, jwtbearer.ErrJWKS, "no \"keys\""},
		{"timeout", func(s *jwksServer) { s.block = true }, jwtbearer.Options{FetchTimeout: 100 * time.Millisecond}, nil, jwtbearer.ErrJWKS, "deadline exceeded"},
		{"http to a host that is not loopback", nil, jwtbearer.Options{}, func(*jwksServer) string { return "http://login.microsoftonline.com/x/keys" }, jwtbearer.ErrConfig, "https"},
		{"http to localhost by name", nil, jwtbearer.Options{}, func(s *jwksServer) string { return "http://localhost:1/keys" }, jwtbearer.ErrConfig, "https"},
		{"user information in the URL", nil, jwtbearer.Options{}, func(s *jwksServer) string { return "https://user:pw@127.0.0.1/keys" }, jwtbearer.ErrConfig, "user information"},
		{"relative URL", nil, jwtbearer.Options{}, func(s *jwksServer) string { return "/keys" }, jwtbearer.ErrConfig, "absolute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, key)
			if tc.setup != nil {
				srv.set(tc.setup)
			}
			url := srv.url("/keys")
			if tc.url != nil {
				url = tc.url(srv)
			}
			clk := newClock()
			v := newVerifier(clk, tc.opt)
			token := signRaw(t, jose.RS256, rsaKey1(), "k1", ownClaims(ownIssuer, clk.Now()), nil, false)
			err := v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, url)
			if !errors.Is(err, tc.want) || !contains(err, tc.message) {
				t.Fatalf("VerifyAssertion = %v, want %v saying %q", err, tc.want, tc.message)
			}
			if got := srv.count("/elsewhere"); got != 0 {
				t.Errorf("the redirect was followed %d times", got)
			}
		})
	}

	t.Run("http to loopback without AllowHTTPLoopback", func(t *testing.T) {
		srv := newJWKSServer(t, key)
		clk := newClock()
		v := jwtbearer.New(jwtbearer.Options{Now: clk.Now})
		token := signRaw(t, jose.RS256, rsaKey1(), "k1", ownClaims(ownIssuer, clk.Now()), nil, false)
		err := v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, srv.url("/keys"))
		if !errors.Is(err, jwtbearer.ErrConfig) {
			t.Fatalf("VerifyAssertion = %v, want ErrConfig", err)
		}
		if got := srv.count("/keys"); got != 0 {
			t.Errorf("%d fetches, want 0", got)
		}
	})

	t.Run("https with the caller's client", func(t *testing.T) {
		body, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
		t.Cleanup(ts.Close)
		client := ts.Client()
		clk := newClock()
		v := jwtbearer.New(jwtbearer.Options{Now: clk.Now, HTTPClient: client})
		if client.CheckRedirect != nil {
			t.Error("New changed the caller's client")
		}
		token := signRaw(t, jose.RS256, rsaKey1(), "k1", ownClaims(ownIssuer, clk.Now()), nil, false)
		if err := v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, ts.URL+"/keys"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("caller gives up while the fetch runs", func(t *testing.T) {
		srv := newJWKSServer(t, key)
		srv.set(func(s *jwksServer) { s.block = true })
		clk := newClock()
		v := newVerifier(clk, jwtbearer.Options{FetchTimeout: 100 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		token := signRaw(t, jose.RS256, rsaKey1(), "k1", ownClaims(ownIssuer, clk.Now()), nil, false)
		err := v.VerifyAssertion(ctx, token, ownIssuer, subject, audience, srv.url("/keys"))
		if !errors.Is(err, jwtbearer.ErrJWKS) || !errors.Is(err, context.Canceled) {
			t.Fatalf("VerifyAssertion = %v, want ErrJWKS and context.Canceled", err)
		}
	})
}

// TestJWKSKeys shows which keys of a JWKS are used.
func TestJWKSKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	private, err := jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		keys []any // jose.JSONWebKey (its public half is served) or raw JSON
		alg  jose.SignatureAlgorithm
		key  any
		want error
	}{
		{"use sig", []any{jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1", Use: "sig"}}, jose.RS256, rsaKey1(), nil},
		{"use enc not used", []any{jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1", Use: "enc"}}, jose.RS256, rsaKey1(), jwtbearer.ErrUnknownKey},
		{"JWK alg equal to the header's", []any{jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1", Algorithm: "PS256"}}, jose.PS256, rsaKey1(), nil},
		{"JWK alg other than the header's", []any{jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1", Algorithm: "PS256"}}, jose.RS256, rsaKey1(), jwtbearer.ErrAlgorithm},
		{"RSA key under 2048 bits", []any{jose.JSONWebKey{Key: small, KeyID: "k1"}}, jose.RS256, small, jwtbearer.ErrAlgorithm},
		{"key of an unknown kty skipped, the others used", []any{json.RawMessage(`{"kty":"XYZ","kid":"k0"}`), jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1"}}, jose.RS256, rsaKey1(), nil},
		{"symmetric key not used", []any{json.RawMessage(`{"kty":"oct","kid":"k1","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}`)}, jose.RS256, rsaKey1(), jwtbearer.ErrUnknownKey},
		{"private key served: its public half used", []any{json.RawMessage(private)}, jose.RS256, rsaKey1(), nil},
		{"key without kid not used", []any{jose.JSONWebKey{Key: rsaKey1()}}, jose.RS256, rsaKey1(), jwtbearer.ErrUnknownKey},
		{"EC key for ES256", []any{jose.JSONWebKey{Key: ecKey1(), KeyID: "k1", Use: "sig"}}, jose.ES256, ecKey1(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t)
			raw := make([]json.RawMessage, len(tc.keys))
			for i, k := range tc.keys {
				switch k := k.(type) {
				case jose.JSONWebKey:
					b, err := k.Public().MarshalJSON()
					if err != nil {
						t.Fatal(err)
					}
					raw[i] = b
				case json.RawMessage:
					raw[i] = k
				}
			}
			srv.setBody(t, map[string]any{"keys": raw})
			clk := newClock()
			v := newVerifier(clk, jwtbearer.Options{})
			token := signRaw(t, tc.alg, tc.key, "k1", ownClaims(ownIssuer, clk.Now()), nil, false)
			err := v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, srv.url("/keys"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyAssertion = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestHeaderKeyURLsIgnored shows an assertion signed by a key of the
// configured JWKS accepted although its jku and x5u name another server,
// which is never asked (RFC 8725 §3.10).
func TestHeaderKeyURLsIgnored(t *testing.T) {
	srv := newJWKSServer(t, jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1"})
	elsewhere := newJWKSServer(t, jose.JSONWebKey{Key: rsaKey2(), KeyID: "k1"})
	clk := newClock()
	v := newVerifier(clk, jwtbearer.Options{})
	token := signRaw(t, jose.RS256, rsaKey1(), "k1", ownClaims(ownIssuer, clk.Now()),
		map[jose.HeaderKey]any{"jku": elsewhere.url("/keys"), "x5u": elsewhere.url("/cert")}, false)
	if err := v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, srv.url("/keys")); err != nil {
		t.Fatal(err)
	}
	if got := elsewhere.count("/keys") + elsewhere.count("/cert"); got != 0 {
		t.Errorf("the jku/x5u server was asked %d times, want 0", got)
	}
}

// TestJWKSBounded shows the key cache's bounds: the least recently used
// JWKS URL is evicted first, and only MaxKeysPerJWKS keys of a set are kept.
func TestJWKSBounded(t *testing.T) {
	t.Run("URLs evicted least recently used first", func(t *testing.T) {
		srv := newJWKSServer(t, jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1"})
		clk := newClock()
		v := newVerifier(clk, jwtbearer.Options{MaxJWKSURLs: 2})
		verify := func(path string) {
			t.Helper()
			token := signRaw(t, jose.RS256, rsaKey1(), "k1", ownClaims(ownIssuer, clk.Now()), nil, false)
			if err := v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, srv.url(path)); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		want := map[string]int{}
		check := func(step string) {
			t.Helper()
			for _, p := range []string{"/a", "/b", "/c"} {
				if got := srv.count(p); got != want[p] {
					t.Errorf("%s: %s fetched %d times, want %d", step, p, got, want[p])
				}
			}
		}
		verify("/a")
		verify("/b")
		want["/a"], want["/b"] = 1, 1
		check("a, b")
		verify("/a") // cached; a is now used more recently than b
		check("a again")
		verify("/c") // evicts b
		want["/c"] = 1
		check("c")
		verify("/a") // still cached
		check("a after c")
		verify("/b") // evicted: fetched again, and evicts c
		want["/b"] = 2
		check("b after eviction")
		verify("/c")
		want["/c"] = 2
		check("c after eviction")
	})

	t.Run("keys per JWKS", func(t *testing.T) {
		srv := newJWKSServer(t,
			jose.JSONWebKey{Key: rsaKey1(), KeyID: "k1"},
			jose.JSONWebKey{Key: ecKey1(), KeyID: "k2"},
			jose.JSONWebKey{Key: rsaKey2(), KeyID: "k3"})
		clk := newClock()
		v := newVerifier(clk, jwtbearer.Options{MaxKeysPerJWKS: 2})
		for _, tc := range []struct {
			kid  string
			alg  jose.SignatureAlgorithm
			key  any
			want error
		}{
			{"k1", jose.RS256, rsaKey1(), nil},
			{"k2", jose.ES256, ecKey1(), nil},
			{"k3", jose.RS256, rsaKey2(), jwtbearer.ErrUnknownKey},
		} {
			token := signRaw(t, tc.alg, tc.key, tc.kid, ownClaims(ownIssuer, clk.Now()), nil, false)
			if err := v.VerifyAssertion(context.Background(), token, ownIssuer, subject, audience, srv.url("/keys")); !errors.Is(err, tc.want) {
				t.Errorf("%s: VerifyAssertion = %v, want %v", tc.kid, err, tc.want)
			}
		}
	})
}
