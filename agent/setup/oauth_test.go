package setup

import (
	"context"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/graph/graphapi"
	"github.com/rosterhq/roster/store"
)

// activeSecrets returns the ids of the client's active secrets.
func (e *env) activeSecrets(t *testing.T, clientID string) []string {
	t.Helper()
	c, err := e.dir.OAuthClient(context.Background(), clientID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range c.Secrets {
		if s.Revoked == nil {
			out = append(out, s.ID)
		}
	}
	return out
}

func TestConnectDefaultsToOAuth2AndRotates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, err := e.svc.Connect(ctx, e.g, ConnectRequest{Settings: DefaultSettings(), Reach: lab})
	if err != nil {
		t.Fatal(err)
	}
	if first.Credential != graphapi.CredentialOAuth2 || first.OAuthClientID == "" || first.NewSecretID == "" || first.TokenID != "" {
		t.Fatalf("first connect = %+v", first)
	}
	sent := e.g.conn[first.App.ServicePrincipalID].Credentials
	if sent.Kind != graphapi.CredentialOAuth2 || sent.ClientID != first.OAuthClientID || sent.ClientSecret == "" ||
		sent.TokenURL != strings.TrimSuffix(first.TenantURL, "/scim/default/v2")+"/oauth/default/token" || sent.Token != "" {
		t.Errorf("Entra got %+v", sent)
	}
	if n := len(e.activeTokens(t)); n != 0 {
		t.Errorf("%d Secret Tokens issued for an OAuth connection", n)
	}
	c, err := e.svc.Connection(ctx, "")
	if err != nil || c.Credential != "oauth2" || c.OAuthClientID != first.OAuthClientID {
		t.Errorf("saved connection = %+v, %v", c, err)
	}

	// A re-run rotates: a new secret of the same client; the old one is
	// revoked once the new one tested OK.
	second, err := e.svc.Connect(ctx, e.g, ConnectRequest{Settings: DefaultSettings(), Reach: lab})
	if err != nil {
		t.Fatal(err)
	}
	if second.OAuthClientID != first.OAuthClientID || second.NewSecretID == first.NewSecretID ||
		len(second.RevokedSecretIDs) != 1 || second.RevokedSecretIDs[0] != first.NewSecretID {
		t.Fatalf("second connect = %+v", second)
	}
	if got := e.activeSecrets(t, first.OAuthClientID); len(got) != 1 || got[0] != second.NewSecretID {
		t.Errorf("active secrets = %v, want only %s", got, second.NewSecretID)
	}
	if e.g.conn[first.App.ServicePrincipalID].Credentials.ClientSecret == sent.ClientSecret {
		t.Error("Entra did not get the new secret")
	}

	// Without Test Connection the old secret stays: nothing proved the new one.
	third, err := e.svc.Connect(ctx, e.g, ConnectRequest{Settings: DefaultSettings(), Reach: lab, SkipTest: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(third.RevokedSecretIDs) != 0 || len(e.activeSecrets(t, first.OAuthClientID)) != 2 {
		t.Errorf("skip-test rotation revoked %v; active %v", third.RevokedSecretIDs, e.activeSecrets(t, first.OAuthClientID))
	}
	// The wizard's separate Test Connection ends the rotation.
	if err := e.svc.TestConnection(ctx, e.g, ""); err != nil {
		t.Fatal(err)
	}
	if got := e.activeSecrets(t, first.OAuthClientID); len(got) != 1 || got[0] != third.NewSecretID {
		t.Errorf("after Test Connection active secrets = %v, want only %s", got, third.NewSecretID)
	}

	// A failed rotation takes back only the new secret.
	before := e.activeSecrets(t, first.OAuthClientID)
	e.g.failOn = "Connect"
	if _, err := e.svc.Connect(ctx, e.g, ConnectRequest{Settings: DefaultSettings(), Reach: lab}); err == nil {
		t.Fatal("connect succeeded although Graph failed")
	}
	if got := e.activeSecrets(t, first.OAuthClientID); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Errorf("after a failed rotation active secrets = %v, want %v", got, before)
	}
}

func TestConnectSwitchesKindsAndRevokesTheOld(t *testing.T) {
	e := newEnv(t)
	tok := e.connect(t, ConnectRequest{Credential: graphapi.CredentialToken})
	oa := e.connect(t, ConnectRequest{Credential: graphapi.CredentialOAuth2})
	if oa.RevokedTokenID != tok.TokenID || len(e.activeTokens(t)) != 0 {
		t.Errorf("switching to OAuth: %+v, active tokens %d", oa, len(e.activeTokens(t)))
	}
	// A re-run without --credential keeps the connection's kind.
	res, err := e.svc.Connect(context.Background(), e.g, ConnectRequest{Settings: DefaultSettings(), Reach: lab})
	if err != nil || res.Credential != graphapi.CredentialOAuth2 {
		t.Errorf("re-run without a credential = %+v, %v", res, err)
	}
	back := e.connect(t, ConnectRequest{Credential: graphapi.CredentialToken})
	c, err := e.dir.OAuthClient(context.Background(), oa.OAuthClientID)
	if err != nil || c.Active() || back.RevokedClientID != oa.OAuthClientID || back.TokenID == "" {
		t.Errorf("switching back to a token: %+v; client %+v, %v", back, c, err)
	}
}

func TestConnectFederation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	req := ConnectRequest{Credential: graphapi.CredentialFederation, Settings: DefaultSettings(), Reach: lab}
	if _, err := e.svc.Connect(ctx, e.g, req); err == nil || !strings.Contains(err.Error(), "--subject and --audience") {
		t.Fatalf("federation without a client: %v", err)
	}
	req.Federation = &directory.NewFederation{EntraTenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", Subject: "sub-1", Audience: "api://aud"}
	res, err := e.svc.Connect(ctx, e.g, req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pending || res.Tested || res.Started || len(res.Manual) == 0 || res.OAuthClientID == "" {
		t.Fatalf("before the portal steps: %+v", res)
	}
	if sent := e.g.conn[res.App.ServicePrincipalID].Credentials; sent.Kind != graphapi.CredentialFederation || sent.ClientID != res.OAuthClientID || !sent.Empty() {
		t.Errorf("Entra got %+v", sent)
	}
	clients, _ := e.dir.ListOAuthClients(ctx, directory.DefaultTenant)
	if len(clients) != 1 || clients[0].Kind != store.OAuthFederation || clients[0].Subject != "sub-1" {
		t.Fatalf("clients = %+v", clients)
	}
	// The same federation again (the wizard configures again after the
	// portal steps, with the Subject and Audience it was given) keeps the
	// client: the Client ID pasted in the portal stays right.
	again, err := e.svc.Connect(ctx, e.g, req)
	if err != nil || again.OAuthClientID != res.OAuthClientID || again.RevokedClientID != "" || !again.Pending {
		t.Errorf("the same federation again: %+v, %v", again, err)
	}
	if clients, _ := e.dir.ListOAuthClients(ctx, directory.DefaultTenant); len(clients) != 1 || !clients[0].Active() {
		t.Errorf("after the same federation again, clients = %+v", clients)
	}

	// Run again once the portal is done (the administrator confirms): it
	// reuses the client and confirms with Test Connection.
	req.Federation = nil
	var shown []string
	req.AwaitPortal = func(_ context.Context, steps []string) error {
		shown = steps
		e.g.mu.Lock()
		e.g.secrets[res.App.ServicePrincipalID] = "set in the portal"
		e.g.paused[res.App.ServicePrincipalID] = true // configured, not started
		e.g.mu.Unlock()
		return nil
	}
	done, err := e.svc.Connect(ctx, e.g, req)
	if err != nil {
		t.Fatal(err)
	}
	if done.Pending || !done.Tested || done.OAuthClientID != res.OAuthClientID || len(shown) == 0 || len(done.Manual) != 0 {
		t.Errorf("after the portal steps: %+v (steps shown %v)", done, shown)
	}
	if n := e.g.count("Start"); n != 1 {
		t.Errorf("started %d times, want 1", n)
	}
}

func TestTokenURL(t *testing.T) {
	for _, tc := range [][3]string{
		{"https://scim.contoso.com/scim/default/v2", "default", "https://scim.contoso.com/oauth/default/token"},
		{"https://scim.contoso.com/scim/tokyo/v2/", "tokyo", "https://scim.contoso.com/oauth/tokyo/token"},
		{"https://proxy.contoso.com/roster/v2", "default", "https://proxy.contoso.com/oauth/default/token"},
	} {
		if got := TokenURL(tc[0], tc[1]); got != tc[2] {
			t.Errorf("TokenURL(%s) = %s, want %s", tc[0], got, tc[2])
		}
	}
}
