package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/graph/graphtest"
	"github.com/rosterhq/roster/internal/fakeissuer"
)

// connectJSON is the part of `entra connect --json` these tests read.
type connectJSON struct {
	TenantURL        string   `json:"tenant_url"`
	Credential       string   `json:"credential"`
	OAuthClientID    string   `json:"oauth_client_id"`
	TokenURL         string   `json:"token_url"`
	NewSecretID      string   `json:"new_secret_id"`
	RevokedSecretIDs []string `json:"revoked_secret_ids"`
	TokenID          string   `json:"token_id"`
	Pending          bool     `json:"pending"`
	Result           struct {
		App struct {
			ServicePrincipalID string `json:"service_principal_id"`
		} `json:"app"`
		Job     struct{ ID string }
		Tested  bool
		Started bool
		Manual  []string
	}
}

func connectCLI(t *testing.T, dir string, args ...string) connectJSON {
	t.Helper()
	out, errOut, err := runCLI(t, dir, append([]string{"entra", "connect", "--allow-private-url", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("entra connect %v: %v\n%s", args, err, errOut)
	}
	var res connectJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("entra connect --json: %v\n%s", err, out)
	}
	return res
}

// grant asks the agent's token endpoint for a token (client_secret_basic)
// and returns the HTTP status.
func grant(t *testing.T, tokenURL, id, secret string) int {
	t.Helper()
	status, _ := tokenRequest(t, tokenURL, id, secret)
	return status
}

// TestEntraConnectOAuth2EndToEnd: `entra connect` (oauth2 by default)
// issues an OAuth client and saves it in Entra in one PUT with the
// settings; Entra's Test Connection and on-demand provisioning obtain
// access tokens from the real agent's /oauth/{tenant}/token and call SCIM
// with them. A re-run rotates the secret: the old one stops working only
// after the new one tested OK. Disconnect revokes the client.
func TestEntraConnectOAuth2EndToEnd(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	agent := startAgentProc(t, dir, true)

	first := connectCLI(t, dir, "--assign", "alice@contoso.com")
	if first.Credential != "oauth2" || first.OAuthClientID == "" || first.TokenURL != agent.BaseURL+"/oauth/default/token" ||
		!first.Result.Tested || !first.Result.Started || first.TokenID != "" {
		t.Fatalf("connect = %+v", first)
	}
	sp := first.Result.App.ServicePrincipalID
	sec := fake.Secrets(sp)
	oldSecret := sec["Oauth2ClientSecret"]
	if sec["AuthenticationType"] != "OAuth2ClientCredentialsGrant" || sec["BaseAddress"] != agent.TenantURL || sec["Oauth2ClientId"] != first.OAuthClientID ||
		sec["Oauth2TokenExchangeUri"] != first.TokenURL || !strings.HasPrefix(oldSecret, "roster_") || sec["SecretToken"] != "" {
		t.Errorf("secrets saved in Entra = %v", sec)
	}
	// One PUT carried the OAuth keys with SyncNotificationSettings and
	// SyncAll (else Graph drops it), and no bearer key (else Graph answers 500).
	for _, r := range fake.Requests() {
		if r.Method != "PUT" || !strings.HasSuffix(r.Path, "/synchronization/secrets") {
			continue
		}
		for _, want := range []string{`"Oauth2ClientSecret"`, `"SyncNotificationSettings"`, `"SyncAll"`, `"AuthenticationType"`} {
			if !strings.Contains(string(r.Body), want) {
				t.Errorf("the secrets PUT lacks %s: %s", want, r.Body)
			}
		}
		if strings.Contains(string(r.Body), `"SecretToken"`) {
			t.Errorf("the secrets PUT mixes bearer and OAuth keys: %s", r.Body)
		}
	}
	grants := fake.TokenRequests()
	if len(grants) < 2 {
		t.Fatalf("Entra obtained %d access tokens, want one per Test Connection (2)", len(grants))
	}
	for _, g := range grants {
		if g.URL != first.TokenURL || g.Status != http.StatusOK || !g.Basic || g.BasicUser != first.OAuthClientID {
			t.Errorf("token request = %+v", g)
		}
	}
	if n := activeTokens(t, dir, "entra"); n != 0 {
		t.Errorf("%d Secret Tokens for Entra: the OAuth path needs none", n)
	}
	if out, _, err := runCLI(t, dir, "entra", "status"); err != nil || !strings.Contains(out, "Credential OAuth client "+first.OAuthClientID) {
		t.Errorf("entra status: %v\n%s", err, out)
	}

	// On-demand provisioning reaches the agent with the access token (no
	// Secret Token exists that the agent could accept).
	out, errOut, err := runCLI(t, dir, "provision", "alice@contoso.com")
	if err != nil || !strings.Contains(out, "Result: Success (create)") {
		t.Fatalf("provision: %v\n%s%s", err, out, errOut)
	}
	if out, _, err := runCLI(t, dir, "users", "show", "alice@contoso.com", "--json"); err != nil || !strings.Contains(out, `"title": "Engineer"`) {
		t.Fatalf("users show: %v\n%s", err, out)
	}

	// Re-running rotates: Entra gets a new secret, Test Connection proves
	// it, then the old one is revoked.
	second := connectCLI(t, dir)
	newSecret := fake.Secrets(sp)["Oauth2ClientSecret"]
	if second.OAuthClientID != first.OAuthClientID || second.NewSecretID == first.NewSecretID ||
		len(second.RevokedSecretIDs) != 1 || second.RevokedSecretIDs[0] != first.NewSecretID || newSecret == oldSecret {
		t.Fatalf("second connect = %+v", second)
	}
	if got := grant(t, first.TokenURL, first.OAuthClientID, oldSecret); got != http.StatusUnauthorized {
		t.Errorf("the old secret after rotation: HTTP %d, want 401", got)
	}
	if got := grant(t, first.TokenURL, first.OAuthClientID, newSecret); got != http.StatusOK {
		t.Errorf("the new secret: HTTP %d, want 200", got)
	}
	if out, errOut, err := runCLI(t, dir, "provision", "alice@contoso.com"); err != nil || !strings.Contains(out, "Result: Skipped") {
		t.Errorf("provision after rotation: %v\n%s%s", err, out, errOut)
	}

	// Disconnect revokes the client; switching the app to a Secret Token
	// replaces the OAuth keys in one save.
	out, _, err = runCLI(t, dir, "entra", "disconnect", "--yes")
	if err != nil || !strings.Contains(out, "Revoked Entra's OAuth client "+first.OAuthClientID) {
		t.Fatalf("disconnect: %v\n%s", err, out)
	}
	if got := grant(t, first.TokenURL, first.OAuthClientID, newSecret); got != http.StatusUnauthorized {
		t.Errorf("the secret after disconnect: HTTP %d, want 401", got)
	}
	if _, errOut, err := runCLI(t, dir, "entra", "connect", "--allow-private-url", "--app", sp, "--credential", "token"); err != nil {
		t.Fatalf("connect --credential token: %v\n%s", err, errOut)
	}
	if got := fake.Secrets(sp); got["SecretToken"] == "" || got["Oauth2ClientId"] != "" || got["AuthenticationType"] != "" {
		t.Errorf("after switching to a token: %v", got)
	}
}

// entraAssertion returns what graphtest's federation exchange calls for an
// assertion: one Entra-shaped assertion (no jti) signed by is when first
// asked for and then presented again while it is valid, as Entra's
// provisioning service caches the token it presents.
func entraAssertion(is *fakeissuer.Issuer, subject, audience string) func(context.Context) (string, error) {
	var once sync.Once
	var token string
	return func(context.Context) (string, error) {
		once.Do(func() { token = is.Sign(is.Claims(subject, audience, time.Now())) })
		return token, nil
	}
}

// TestEntraConnectFederationEndToEnd: Graph cannot configure Workload
// Identity Federation, so connect creates the app, prints the portal steps
// with the values to paste and waits; once the "portal" is set (graphtest's
// ConfigureFederation, with an issuer signing assertions), a re-run
// confirms with Test Connection: Entra presents the assertion at the
// agent's token endpoint and calls SCIM with the access token.
func TestEntraConnectFederationEndToEnd(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	agent := startAgentProc(t, dir, true)
	is := fakeissuer.New(t)
	const subject, audience = "syncfabric-wi-object-id", "api://b5ba7a93-4452-4522-aeb4-a2b5da870c16"

	first := connectCLI(t, dir, "--credential", "federation", "--subject", subject, "--audience", audience, "--assign", "alice@contoso.com",
		"--issuer", is.Issuer(), "--jwks-url", is.JWKSURL())
	if first.Credential != "federation" || !first.Pending || first.Result.Tested || first.Result.Started || first.OAuthClientID == "" {
		t.Fatalf("connect = %+v", first)
	}
	steps := strings.Join(first.Result.Manual, "\n")
	for _, want := range []string{"Workload Identity Federation", "Client ID " + first.OAuthClientID, "Token URL " + agent.BaseURL + "/oauth/default/token", "Tenant URL " + agent.TenantURL} {
		if !strings.Contains(steps, want) {
			t.Errorf("portal steps lack %q:\n%s", want, steps)
		}
	}
	sp := first.Result.App.ServicePrincipalID
	if sec := fake.Secrets(sp); sec["BaseAddress"] != "" || sec["SecretToken"] != "" || sec["Oauth2ClientSecret"] != "" {
		t.Errorf("secrets saved for federation = %v", sec)
	}

	// The administrator follows the steps in the portal.
	fake.ConfigureFederation(sp, graphtest.Federation{TenantURL: agent.TenantURL, TokenURL: first.TokenURL, ClientID: first.OAuthClientID,
		Scope: "scim", Assertion: entraAssertion(is, subject, audience)})

	out, errOut, err := runCLI(t, dir, "entra", "connect", "--allow-private-url", "--json")
	if err != nil {
		t.Fatalf("confirm: %v\n%s", err, errOut)
	}
	var done connectJSON
	if err := json.Unmarshal([]byte(out), &done); err != nil {
		t.Fatal(err)
	}
	if done.Credential != "federation" || done.Pending || !done.Result.Tested || !done.Result.Started || done.OAuthClientID != first.OAuthClientID {
		// The agent's verifier must accept the issuer's http JWKS URL on
		// 127.0.0.1 (a lab); its log says why it refused an assertion.
		t.Fatalf("confirm = %s\n%s\ntoken requests: %+v\nagent log:\n%s", out, errOut, fake.TokenRequests(), agent.stderr.String())
	}
	reqs := fake.TokenRequests()
	last := reqs[len(reqs)-1]
	if last.Basic || last.Form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
		last.Form.Get("client_id") != first.OAuthClientID || last.Status != http.StatusOK {
		t.Errorf("federated token request = %+v", last)
	}
	if out, errOut, err := runCLI(t, dir, "provision", "alice@contoso.com"); err != nil || !strings.Contains(out, "Result: Success (create)") {
		t.Fatalf("provision through federation: %v\n%s%s", err, out, errOut)
	}
	// Entra presents its cached assertion again for later grants: an
	// assertion without a jti is not single-use (docs/federation.md#replay).
	presented := last.Form.Get("client_assertion")
	for i := range 2 {
		resp, err := http.PostForm(first.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {first.OAuthClientID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {presented}, "scope": {"scim"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("presentation %d more of Entra's assertion: HTTP %d, want 200", i+1, resp.StatusCode)
		}
	}
}
