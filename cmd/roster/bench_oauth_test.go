package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/oauth"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// BenchmarkOAuth measures the token endpoint (docs/oauth.md), over real
// HTTP on loopback against a real SQLite file, in one run and interleaved
// round by round:
//
//   - the rate of client_credentials grants (client_secret_basic), each one
//     a write of the access token and its provisioning event;
//   - the SCIM lookup rate with an access token, beside the same lookups
//     with a Secret Token (the target is a ratio of at least 0.95: both are
//     rows of the same table behind the same cache).
//
// `make bench` runs it with the rest; ROSTER_BENCH_ONLY=oauth runs it alone.
func BenchmarkOAuth(b *testing.B) {
	if os.Getenv("ROSTER_BENCH") != "1" {
		b.Skip("set ROSTER_BENCH=1 (make bench)")
	}
	if only := os.Getenv("ROSTER_BENCH_ONLY"); only != "" && only != "oauth" {
		b.Skip("ROSTER_BENCH_ONLY=" + only)
	}
	const (
		rounds  = 5
		prefill = 10_000
		d       = 2 * time.Second
	)
	ctx := context.Background()
	dataDir := b.TempDir()
	secretTok, _, _ := prefillStore(b, dataDir, prefill)
	db, err := store.Open(ctx, filepath.Join(dataDir, "roster.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dir := directory.New(db, nil, nil)
	cl, err := dir.AddOAuthClient(ctx, directory.NewOAuthClient{Tenant: directory.DefaultTenant, Name: "entra-oauth"})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(scimhttp.New(dir, scimhttp.Options{}))
	defer srv.Close()
	tokenURL := oauth.TokenURL(srv.URL, directory.DefaultTenant)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	grant := func(int) error {
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials&scope=scim"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(cl.Client.ID), url.QueryEscape(cl.Secret.Reveal()))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var tr oauth.TokenResponse
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
			return fmt.Errorf("token: %d %v", resp.StatusCode, err)
		}
		return nil
	}
	var accessTok string
	{
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(cl.Client.ID, cl.Secret.Reveal())
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var tr oauth.TokenResponse
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		accessTok = tr.AccessToken
	}
	base := scimhttp.TenantURL(srv.URL, directory.DefaultTenant)
	basePath := strings.TrimPrefix(base, srv.URL)
	lookup := func(lc *leanClient) func(int) error {
		return func(int) error {
			name := fmt.Sprintf("user%06d@contoso.com", rand.IntN(prefill))
			code, body, err := lc.get(basePath + "/Users?filter=" + url.QueryEscape(`userName eq "`+name+`"`))
			if err == nil && (code != 200 || !bytes.Contains(body, []byte(`"totalResults":1,`))) {
				err = fmt.Errorf("lookup %s: %d %.200s", name, code, body)
			}
			return err
		}
	}
	withSecret, withAccess := lookup(newLeanClient(base, secretTok)), lookup(newLeanClient(base, accessTok))
	runFor(8, d/2, withSecret) // warm both paths' caches and connections
	runFor(8, d/2, withAccess)

	rep := &report{}
	// Each round alternates short slices of the two lookups (ABBA…): the
	// load of the machine drifts within seconds, and slices this short
	// share it evenly.
	const slices, slice = 8, 250 * time.Millisecond
	for r := 0; r < rounds; r++ {
		var s, a result
		for i := 0; i < slices; i++ {
			first, second := withSecret, withAccess
			if i%2 == 1 {
				first, second = second, first
			}
			x, y := runFor(8, slice, first), runFor(8, slice, second)
			if i%2 == 1 {
				x, y = y, x
			}
			s.n, s.errs, s.elapsed = s.n+x.n, s.errs+x.errs, s.elapsed+x.elapsed
			a.n, a.errs, a.elapsed = a.n+y.n, a.errs+y.errs, a.elapsed+y.elapsed
		}
		if s.errs+a.errs > 0 {
			b.Fatalf("lookups failed: %d with the Secret Token, %d with the access token", s.errs, a.errs)
		}
		rep.add("lookup, access token, 8 clients", "same, Secret Token", a.rate(), s.rate())
	}
	// The grants write; measured after the lookups, so that their writes
	// (and the checkpoints they cause) never fall into a lookup slice.
	var grantP99 []time.Duration
	for r := 0; r < rounds; r++ {
		s := runFor(8, d/2, withSecret)
		g := runFor(8, d, grant)
		if g.errs > 0 {
			b.Fatalf("%d of %d token requests failed", g.errs, g.n)
		}
		grantP99 = append(grantP99, g.pct(0.99))
		rep.add("token endpoint: client_credentials, 8 clients", "lookup, Secret Token, 8 clients", g.rate(), s.rate())
	}
	rep.note(fmt.Sprintf("token endpoint p99 at 8 clients (closed loop), per round: %v", grantP99))
	rep.note("target (issue 14): lookup with an access token >= 0.95 x with a Secret Token")
	rep.print(b)
}
