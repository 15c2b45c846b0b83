package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rosterhq/roster/graph"
	"github.com/rosterhq/roster/graph/graphtest"
)

// clientCredentialsEndpoint is a token endpoint for the OAuth client id with
// any of secrets (client_secret_basic): it issues accessToken, so that the
// agent (which knows only its Secret Tokens here) accepts what Entra gets.
type clientCredentialsEndpoint struct {
	mu      sync.Mutex
	secrets map[string]bool
	grants  int
	srv     *httptest.Server
}

func newTokenEndpoint(t *testing.T, id, accessToken string, secrets ...string) *clientCredentialsEndpoint {
	ep := &clientCredentialsEndpoint{secrets: map[string]bool{}}
	for _, s := range secrets {
		ep.secrets[s] = true
	}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		u, p, ok := r.BasicAuth()
		u, _ = url.QueryUnescape(u)
		p, _ = url.QueryUnescape(p)
		w.Header().Set("Content-Type", "application/json")
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" || !ok || u != id || !ep.secrets[p] {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"unknown client or wrong secret"}`)
			return
		}
		ep.grants++
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *clientCredentialsEndpoint) revoke(secret string) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	delete(ep.secrets, secret)
}

// TestConnectOAuth2: Connect saves the OAuth client in one PUT with the
// settings, tests it inline and saved, and Entra's on-demand provisioning
// reaches the agent with the access token it obtained. A re-run with a new
// secret replaces the old one.
func TestConnectOAuth2(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	ep := newTokenEndpoint(t, "client-1", e.token, "secret-1", "secret-2")
	o := e.connectOptions()
	o.Credentials = graph.Credentials{Kind: graph.CredentialOAuth2, ClientID: "client-1", ClientSecret: "secret-1", TokenURL: ep.srv.URL + "/oauth/default/token"}
	res, err := e.client.Connect(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Tested || !res.Started {
		t.Fatalf("result = %+v", res)
	}
	sec := e.fake.Secrets(res.App.ServicePrincipalID)
	if sec["AuthenticationType"] != "OAuth2ClientCredentialsGrant" || sec["BaseAddress"] != e.tenantURL || sec["Oauth2ClientId"] != "client-1" ||
		sec["Oauth2ClientSecret"] != "secret-1" || sec["Oauth2TokenExchangeUri"] != o.Credentials.TokenURL || sec["SecretToken"] != "" {
		t.Errorf("secrets = %v", sec)
	}
	var puts, validations int
	for _, r := range e.fake.Requests() {
		switch {
		case r.Method == "PUT" && strings.HasSuffix(r.Path, "/synchronization/secrets"):
			puts++
			var body struct{ Value []struct{ Key string } }
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, kv := range body.Value {
				keys = append(keys, kv.Key)
			}
			if got, want := strings.Join(keys, ","), "AuthenticationType,BaseAddress,Oauth2ClientId,Oauth2ClientSecret,Oauth2TokenExchangeUri,SyncNotificationSettings,SyncAll"; got != want {
				t.Errorf("PUT keys = %s, want %s", got, want)
			}
		case strings.HasSuffix(r.Path, "/validateCredentials"):
			validations++
		}
	}
	if puts != 1 || validations != 2 {
		t.Errorf("%d PUTs of the secrets (want 1), %d Test Connections (want 2: inline, then saved)", puts, validations)
	}

	user, err := e.client.User(ctx, "alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	grants := len(e.fake.TokenRequests())
	pod, err := e.client.ProvisionOnDemand(ctx, res.App, res.Job.ID, user)
	if err != nil || pod.Result != "Success" || pod.Action != "Create" {
		t.Fatalf("on demand = %+v, %v", pod, err)
	}
	if grants == 0 || ep.grants != grants {
		t.Errorf("token endpoint granted %d tokens, graphtest asked %d", ep.grants, grants)
	}

	// Rotation: the new secret is tested and saved; the old one can go.
	o.Credentials.ClientSecret = "secret-2"
	if _, err := e.client.Connect(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	ep.revoke("secret-1")
	if err := e.client.TestConnection(ctx, res.App, res.Job.ID, e.tenantURL, graph.Credentials{}); err != nil {
		t.Errorf("saved credentials after rotation: %v", err)
	}
	if got := e.fake.Secrets(res.App.ServicePrincipalID)["Oauth2ClientSecret"]; got != "secret-2" {
		t.Errorf("saved secret = %q", got)
	}

	// A refused client fails Test Connection with the token endpoint's words.
	o.Credentials.ClientSecret = "secret-1"
	_, err = e.client.Connect(ctx, o, nil)
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), "roster oauth client list") {
		t.Errorf("revoked secret: %v", err)
	}
}

// TestConnectSwitchesCredentials: from a Secret Token to OAuth and back,
// each save carries one kind only (Graph answers 500 to a mix).
func TestConnectSwitchesCredentials(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	ep := newTokenEndpoint(t, "client-1", e.token, "secret-1")
	o := e.connectOptions()
	if _, err := e.client.Connect(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	tokenCred := o.Credentials
	o.Credentials = graph.Credentials{Kind: graph.CredentialOAuth2, ClientID: "client-1", ClientSecret: "secret-1", TokenURL: ep.srv.URL}
	res, err := e.client.Connect(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sec := e.fake.Secrets(res.App.ServicePrincipalID); sec["SecretToken"] != "" || sec["Oauth2ClientId"] != "client-1" {
		t.Errorf("after switching to OAuth: %v", sec)
	}
	o.Credentials = tokenCred
	if _, err := e.client.Connect(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	if sec := e.fake.Secrets(res.App.ServicePrincipalID); sec["SecretToken"] != e.token || sec["Oauth2ClientId"] != "" || sec["AuthenticationType"] != "" {
		t.Errorf("after switching back to the token: %v", sec)
	}
	if err := (graph.Credentials{Kind: graph.CredentialOAuth2, Token: "x", ClientSecret: "y", ClientID: "c", TokenURL: "https://a/t"}).Validate(); err == nil {
		t.Error("mixed credentials validate")
	}
}

// TestConnectFederation: Graph cannot configure Workload Identity
// Federation, so Connect creates the app and job, saves no credentials,
// does not start, and lists the portal steps with the values to paste.
func TestConnectFederation(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	o := e.connectOptions()
	o.Credentials = graph.Credentials{Kind: graph.CredentialFederation, ClientID: "fed-1", TokenURL: "https://roster.contoso.com/oauth/default/token"}
	res, err := e.client.Connect(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.AppCreated || res.Tested || res.Started {
		t.Errorf("result = %+v", res)
	}
	steps := strings.Join(res.Manual, "\n")
	for _, want := range []string{"Workload Identity Federation", "Client ID fed-1", "Token URL " + o.Credentials.TokenURL, "Tenant URL " + e.tenantURL, "Test Connection"} {
		if !strings.Contains(steps, want) {
			t.Errorf("steps lack %q:\n%s", want, steps)
		}
	}
	if sec := e.fake.Secrets(res.App.ServicePrincipalID); sec["BaseAddress"] != "" || sec["SyncNotificationSettings"] == "" {
		t.Errorf("secrets = %v", sec)
	}
}
