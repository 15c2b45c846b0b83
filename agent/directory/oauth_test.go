package directory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

func newOAuthTestService(t *testing.T) (*Service, *fakeClock) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.Location(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(db, nil, clock.Now)
	for _, id := range []string{"acme", "other"} {
		if _, err := s.AddTenant(ctx, id, "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	return s, clock
}

func grant(t *testing.T, s *Service, tenant string, cred ClientCredentials) (*AccessToken, error) {
	t.Helper()
	c, err := s.AuthenticateOAuthClient(context.Background(), tenant, cred)
	if err != nil {
		return nil, err
	}
	return s.IssueAccessToken(context.Background(), c, false, 0, Call{TenantID: tenant, Method: "POST", Path: "/oauth/" + tenant + "/token"})
}

// TestOAuthClientLifecycle: a client's secret obtains access tokens that
// authenticate like Secret Tokens of its tenant; rotation keeps both
// secrets valid until the old one is revoked; revoking the client revokes
// its secrets and tokens; expired secrets and tokens are refused.
func TestOAuthClientLifecycle(t *testing.T) {
	ctx := context.Background()
	s, clock := newOAuthTestService(t)
	added, err := s.AddOAuthClient(ctx, NewOAuthClient{Tenant: "acme", Name: "entra"})
	if err != nil {
		t.Fatal(err)
	}
	id := added.Client.ID
	if !strings.HasPrefix(id, "oc_") || len(added.Client.Secrets) != 1 {
		t.Fatalf("client %+v", added.Client)
	}
	if got := added.Record.Expires.Sub(added.Record.Created); got != DefaultClientSecretLifetime {
		t.Errorf("secret lifetime %s, want %s", got, DefaultClientSecretLifetime)
	}
	old := added.Secret.Reveal()
	at, err := grant(t, s, "acme", ClientCredentials{ClientID: id, Secret: old})
	if err != nil {
		t.Fatal(err)
	}
	if at.Record.ClientID != id || at.Record.Expires.Sub(at.Record.Created) != DefaultAccessTokenLifetime {
		t.Errorf("access token %+v", at.Record)
	}
	p, err := s.Authenticate(ctx, "acme", at.Token.Reveal())
	if err != nil || p.ReadOnly || p.TokenName != "entra" {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if _, err := s.Authenticate(ctx, "other", at.Token.Reveal()); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("on another tenant: %v", err)
	}
	// Access tokens are not Secret Tokens: `roster token list` omits them.
	if toks, err := s.Tokens(ctx, "acme"); err != nil || len(toks) != 0 {
		t.Errorf("Tokens = %d, %v; want none", len(toks), err)
	}

	// Rotation: both secrets work until the old one is revoked.
	rot, err := s.RotateOAuthClient(ctx, id, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{old, rot.Secret.Reveal()} {
		if _, err := grant(t, s, "acme", ClientCredentials{ClientID: id, Secret: sec}); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
	if _, err := s.RevokeOAuthClientSecret(ctx, id, added.Record.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := grant(t, s, "acme", ClientCredentials{ClientID: id, Secret: old}); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("revoked secret: %v", err)
	}
	if _, err := grant(t, s, "acme", ClientCredentials{ClientID: id, Secret: rot.Secret.Reveal()}); err != nil {
		t.Errorf("new secret after revoking the old: %v", err)
	}
	// The client's secret is refused at another tenant's endpoint.
	if _, err := grant(t, s, "other", ClientCredentials{ClientID: id, Secret: rot.Secret.Reveal()}); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("other tenant: %v", err)
	}

	// Access tokens expire.
	clock.Add(DefaultAccessTokenLifetime)
	if _, err := s.Authenticate(ctx, "acme", at.Token.Reveal()); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired access token: %v", err)
	}
	if n, err := s.PurgeAccessTokens(ctx); err != nil || n != 0 {
		t.Errorf("purge an hour after expiry: %d, %v; want 0 (kept a day)", n, err)
	}
	clock.Add(25 * time.Hour)
	if n, err := s.PurgeAccessTokens(ctx); err != nil || n != 4 {
		t.Errorf("purge a day after expiry: %d, %v; want 4", n, err)
	}
	// Secrets expire too.
	clock.Add(30 * 24 * time.Hour)
	if _, err := grant(t, s, "acme", ClientCredentials{ClientID: id, Secret: rot.Secret.Reveal()}); !errors.Is(err, ErrInvalidClient) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired secret: %v", err)
	}
}

func TestRevokeOAuthClient(t *testing.T) {
	ctx := context.Background()
	s, clock := newOAuthTestService(t)
	added, err := s.AddOAuthClient(ctx, NewOAuthClient{Tenant: "acme", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	at, err := grant(t, s, "acme", ClientCredentials{ClientID: added.Client.ID, Secret: added.Secret.Reveal()})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Authenticate(ctx, "acme", at.Token.Reveal()); err != nil || !p.ReadOnly {
		t.Fatalf("read-only client's token: %+v, %v", p, err)
	}
	c, err := s.RevokeOAuthClient(ctx, added.Client.ID)
	if err != nil || c.Revoked == nil || c.Secrets[0].Revoked == nil {
		t.Fatalf("RevokeOAuthClient = %+v, %v", c, err)
	}
	clock.Add(time.Millisecond)
	if _, err := s.Authenticate(ctx, "acme", at.Token.Reveal()); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("token of a revoked client: %v", err)
	}
	if _, err := grant(t, s, "acme", ClientCredentials{ClientID: added.Client.ID, Secret: added.Secret.Reveal()}); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("revoked client: %v", err)
	}
	if _, err := s.RevokeOAuthClient(ctx, "oc_nope"); !errors.Is(err, ErrOAuthClientNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	if _, err := s.RotateOAuthClient(ctx, added.Client.ID, 0); err == nil {
		t.Error("rotating a revoked client succeeded")
	}
}

func TestClientSecretLifetimeBounds(t *testing.T) {
	ctx := context.Background()
	s, _ := newOAuthTestService(t)
	for _, d := range []time.Duration{time.Hour, MaxClientSecretLifetime + 24*time.Hour} {
		if _, err := s.AddOAuthClient(ctx, NewOAuthClient{Tenant: "acme", SecretLifetime: d}); err == nil {
			t.Errorf("lifetime %s accepted", d)
		}
	}
	for _, d := range []time.Duration{MinClientSecretLifetime, MaxClientSecretLifetime} {
		if _, err := s.AddOAuthClient(ctx, NewOAuthClient{Tenant: "acme", SecretLifetime: d}); err != nil {
			t.Errorf("lifetime %s: %v", d, err)
		}
	}
	if _, err := s.AddOAuthClient(ctx, NewOAuthClient{Tenant: "nope"}); !errors.Is(err, ErrNoTenant) {
		t.Errorf("unknown tenant: %v", err)
	}
}

func TestFederationDefaults(t *testing.T) {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	for _, c := range []struct{ cloud, host string }{
		{"", "login.microsoftonline.com"}, {"usgov", "login.microsoftonline.us"}, {"china", "login.partner.microsoftonline.cn"},
	} {
		f, err := NewFederation{EntraTenant: strings.ToUpper(tid), Cloud: c.cloud, Subject: "s", Audience: "api://a"}.Federation()
		if err != nil {
			t.Fatal(err)
		}
		if f.Issuer != "https://"+c.host+"/"+tid+"/v2.0" || f.JWKSURL != "https://"+c.host+"/"+tid+"/discovery/v2.0/keys" {
			t.Errorf("cloud %q: issuer %s, jwks %s", c.cloud, f.Issuer, f.JWKSURL)
		}
	}
	for name, n := range map[string]NewFederation{
		"bad tenant":         {EntraTenant: "not a tenant", Subject: "s", Audience: "a"},
		"domain, no issuer":  {EntraTenant: "contoso.onmicrosoft.com", Subject: "s", Audience: "a"},
		"bad cloud":          {EntraTenant: tid, Cloud: "mars", Subject: "s", Audience: "a"},
		"no subject":         {EntraTenant: tid, Audience: "a"},
		"no audience":        {EntraTenant: tid, Subject: "s"},
		"http jwks":          {EntraTenant: tid, Subject: "s", Audience: "a", JWKSURL: "http://127.0.0.1:1/keys"},
		"relative issuer":    {EntraTenant: tid, Subject: "s", Audience: "a", Issuer: "/v2.0"},
		"no tenant, no urls": {Subject: "s", Audience: "a"},
	} {
		if _, err := n.Federation(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := (NewFederation{EntraTenant: "contoso.onmicrosoft.com", Issuer: "https://login.microsoftonline.com/" + tid + "/v2.0", Subject: "s", Audience: "a"}).Federation(); err != nil {
		t.Errorf("domain with issuer: %v", err)
	}
	if _, err := (NewFederation{Subject: "s", Audience: "a", Issuer: "http://127.0.0.1:1", JWKSURL: "http://127.0.0.1:1/keys", AllowHTTP: true}).Federation(); err != nil {
		t.Errorf("lab URLs with AllowHTTP: %v", err)
	}
	// The portal shows the audience as a scope; the assertion's aud lacks /.default.
	f, err := (NewFederation{EntraTenant: tid, Subject: "s", Audience: " api://b5ba7a93-4452-4522-aeb4-a2b5da870c16/.default "}).Federation()
	if err != nil || f.Audience != "api://b5ba7a93-4452-4522-aeb4-a2b5da870c16" {
		t.Errorf("audience copied with /.default: %+v, %v; want api://b5ba7a93-4452-4522-aeb4-a2b5da870c16", f, err)
	}
}

func TestFederationClientAuthentication(t *testing.T) {
	ctx := context.Background()
	s, _ := newOAuthTestService(t)
	c, err := s.AddFederation(ctx, NewFederation{Tenant: "acme", EntraTenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", Subject: "sub", Audience: "api://aud"})
	if err != nil {
		t.Fatal(err)
	}
	var seen *store.OAuthClient
	verify := func(_ context.Context, assertion string, c *store.OAuthClient) error {
		seen = c
		if assertion != "good" {
			return errors.New("bad signature")
		}
		return nil
	}
	if _, err := grant(t, s, "acme", ClientCredentials{ClientID: c.ID, Assertion: "good", Verify: verify}); err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.Subject != "sub" || seen.Audience != "api://aud" {
		t.Errorf("verifier saw %+v", seen)
	}
	for name, cred := range map[string]ClientCredentials{
		"bad assertion": {ClientID: c.ID, Assertion: "bad", Verify: verify},
		"no verifier":   {ClientID: c.ID, Assertion: "good"},
		"secret":        {ClientID: c.ID, Secret: "roster_x"},
	} {
		if _, err := grant(t, s, "acme", cred); !errors.Is(err, ErrInvalidClient) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := grant(t, s, "other", ClientCredentials{ClientID: c.ID, Assertion: "good", Verify: verify}); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("other tenant: %v", err)
	}
	if _, err := s.RotateOAuthClient(ctx, c.ID, 0); err == nil {
		t.Error("rotating a federation client succeeded")
	}
	list, err := s.ListOAuthClients(ctx, "acme")
	if err != nil || len(list) != 1 || list[0].Kind != store.OAuthFederation {
		t.Errorf("ListOAuthClients = %v, %v", list, err)
	}
}
