package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/oauth"
	"github.com/rosterhq/roster/graph"
	"github.com/rosterhq/roster/graph/graphtest"
)

// oauthClient issues an OAuth client of the default tenant in the agent's
// directory; its token endpoint is the real one, which scimhttp mounts.
func (e *env) oauthClient(t *testing.T) (graph.Credentials, *directory.IssuedClientSecret) {
	t.Helper()
	is, err := e.dir.AddOAuthClient(context.Background(), directory.NewOAuthClient{Tenant: "default", Name: "entra"})
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(e.tenantURL, "/scim/default/v2")
	return graph.Credentials{Kind: graph.CredentialOAuth2, ClientID: is.Client.ID, ClientSecret: is.Secret.Reveal(),
		TokenURL: oauth.TokenURL(base, "default")}, is
}

// TestConnectOAuth2: Connect saves the OAuth client in one PUT with the
// settings, tests it inline and saved, and Entra's on-demand provisioning
// reaches the agent with an access token from the agent's own token
// endpoint (client_secret_basic, Entra's default, and client_secret_post).
// A re-run with a rotated secret replaces the old one; a revoked secret
// fails Test Connection with the token endpoint's error.
func TestConnectOAuth2(t *testing.T) {
	for _, method := range []string{graphtest.ClientSecretBasic, graphtest.ClientSecretPost} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, graphtest.Options{TokenAuth: method})
			ctx := context.Background()
			o := e.connectOptions()
			cred, first := e.oauthClient(t)
			o.Credentials = cred
			res, err := e.client.Connect(ctx, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Tested || !res.Started || !res.Saved {
				t.Fatalf("result = %+v", res)
			}
			sec := e.fake.Secrets(res.App.ServicePrincipalID)
			if sec["AuthenticationType"] != "OAuth2ClientCredentialsGrant" || sec["BaseAddress"] != e.tenantURL || sec["Oauth2ClientId"] != cred.ClientID ||
				sec["Oauth2ClientSecret"] != cred.ClientSecret || sec["Oauth2TokenExchangeUri"] != cred.TokenURL || sec["SecretToken"] != "" {
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
			for _, g := range e.fake.TokenRequests() {
				if g.Status != http.StatusOK || g.Basic != (method == graphtest.ClientSecretBasic) {
					t.Errorf("token request = %+v", g)
				}
			}

			user, err := e.client.User(ctx, "alice@contoso.com")
			if err != nil {
				t.Fatal(err)
			}
			pod, err := e.client.ProvisionOnDemand(ctx, res.App, res.Job.ID, user)
			if err != nil || pod.Result != "Success" || pod.Action != "Create" {
				t.Fatalf("on demand = %+v, %v", pod, err)
			}

			// Rotation: a second secret is tested and saved; the first can go.
			second, err := e.dir.RotateOAuthClient(ctx, cred.ClientID, 0)
			if err != nil {
				t.Fatal(err)
			}
			o.Credentials.ClientSecret = second.Secret.Reveal()
			if _, err := e.client.Connect(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := e.dir.RevokeOAuthClientSecret(ctx, cred.ClientID, first.Record.ID); err != nil {
				t.Fatal(err)
			}
			if err := e.client.TestConnection(ctx, res.App, res.Job.ID, e.tenantURL, graph.Credentials{}); err != nil {
				t.Errorf("saved credentials after rotation: %v", err)
			}

			// A revoked secret fails Test Connection with the token endpoint's words.
			o.Credentials.ClientSecret = cred.ClientSecret
			_, err = e.client.Connect(ctx, o, nil)
			if err == nil || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), "roster oauth client list") {
				t.Errorf("revoked secret: %v", err)
			}
		})
	}
}

// TestConnectSwitchesCredentials: from a Secret Token to OAuth and back,
// each save carries one kind only (Graph answers 500 to a mix).
func TestConnectSwitchesCredentials(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	o := e.connectOptions()
	if _, err := e.client.Connect(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	tokenCred := o.Credentials
	o.Credentials, _ = e.oauthClient(t)
	res, err := e.client.Connect(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sec := e.fake.Secrets(res.App.ServicePrincipalID); sec["SecretToken"] != "" || sec["Oauth2ClientId"] != o.Credentials.ClientID {
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
