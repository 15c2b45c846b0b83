package graphtest

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
	"time"
)

// tokenStub is a tiny RFC 6749 token endpoint: it accepts client id "c1"
// with secret "s e/cret" (basic or post) or any client_assertion, and
// issues at-1, at-2, … valid for an hour.
type tokenStub struct {
	mu     sync.Mutex
	issued int
	fail   string // an RFC 6749 §5.2 error code to answer with
	srv    *httptest.Server
}

func newTokenStub(t *testing.T) *tokenStub {
	ts := &tokenStub{}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
			return
		}
		id, sec, basic := r.BasicAuth()
		if basic {
			id, _ = url.QueryUnescape(id)
			sec, _ = url.QueryUnescape(sec)
		} else {
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		okClient := id == "c1" && sec == "s e/cret" ||
			r.PostForm.Get("client_assertion_type") == jwtBearer && r.PostForm.Get("client_assertion") != ""
		if ts.fail != "" || !okClient {
			code := ts.fail
			if code == "" {
				code = "invalid_client"
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="roster"`)
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":%q,"error_description":"the client is unknown or its secret is wrong"}`, code)
			return
		}
		ts.issued++
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","expires_in":3600,"scope":"scim"}`, ts.issued)
	}))
	t.Cleanup(ts.srv.Close)
	return ts
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func oauthSecrets(base, tokenURL string, settings bool) []map[string]string {
	kv := []map[string]string{
		{"key": "AuthenticationType", "value": OAuth2ClientCredentialsGrant},
		{"key": "BaseAddress", "value": base},
		{"key": "Oauth2ClientId", "value": "c1"},
		{"key": "Oauth2ClientSecret", "value": "s e/cret"},
		{"key": "Oauth2TokenExchangeUri", "value": tokenURL},
	}
	if settings {
		kv = append(kv, map[string]string{"key": "SyncNotificationSettings", "value": `{"Enabled":false}`},
			map[string]string{"key": "SyncAll", "value": "true"})
	}
	return kv
}

func testSaved(t *testing.T, s *Server, spID string) (int, string) {
	t.Helper()
	code, b := call(t, s, "POST", "/servicePrincipals/"+spID+"/synchronization/jobs/validateCredentials",
		map[string]any{"useSavedCredentials": true, "templateId": "scim"})
	if code == http.StatusNoContent {
		return code, ""
	}
	return code, decode[graphErr](t, b).Error.Message
}

func TestOAuthTokenExchange(t *testing.T) {
	for _, method := range []string{"", ClientSecretBasic, ClientSecretPost} {
		t.Run("auth="+method, func(t *testing.T) {
			agent := newSCIMStub(t, func(scimCall) (int, string) { return 200, emptyList })
			tok := newTokenStub(t)
			clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			s := New(t, Options{Token: token, Users: []User{alice}, TokenAuth: method, TokenScope: "scim", Now: clk.now})
			spID, jobID := setup(t, s)
			code, b := call(t, s, "PUT", "/servicePrincipals/"+spID+"/synchronization/secrets",
				map[string]any{"value": oauthSecrets(agent.srv.URL+"/scim", tok.srv.URL+"/token", true)})
			wantStatus(t, code, http.StatusNoContent, b)
			if got := s.Secrets(spID); got["Oauth2ClientSecret"] != "s e/cret" || got["AuthenticationType"] != OAuth2ClientCredentialsGrant {
				t.Fatalf("secrets = %v", got)
			}
			if code, msg := testSaved(t, s, spID); code != http.StatusNoContent {
				t.Fatalf("Test Connection = %d %s", code, msg)
			}
			reqs := s.TokenRequests()
			if len(reqs) != 1 || reqs[0].Status != 200 || reqs[0].Form.Get("grant_type") != "client_credentials" || reqs[0].Form.Get("scope") != "scim" {
				t.Fatalf("token requests = %+v", reqs)
			}
			if method == ClientSecretPost {
				if reqs[0].Basic || reqs[0].Form.Get("client_id") != "c1" || reqs[0].Form.Get("client_secret") != "s e/cret" {
					t.Errorf("client_secret_post request = %+v", reqs[0])
				}
			} else if !reqs[0].Basic || reqs[0].BasicUser != "c1" || reqs[0].Form.Has("client_secret") {
				t.Errorf("client_secret_basic request = %+v", reqs[0])
			}
			if c := agent.Calls(); len(c) != 1 || c[0].Auth != "Bearer at-1" {
				t.Fatalf("agent calls = %+v", c)
			}

			// The token is reused while it is fresh, during on-demand
			// provisioning too, and replaced before it expires.
			code, b = call(t, s, "POST", "/servicePrincipals/"+spID+"/appRoleAssignedTo",
				map[string]string{"principalId": alice.ID, "resourceId": spID, "appRoleId": UserRoleID})
			wantStatus(t, code, http.StatusCreated, b)
			clk.add(30 * time.Minute)
			provision(t, s, spID, jobID, alice.ID)
			if n := len(s.TokenRequests()); n != 1 {
				t.Errorf("%d token requests, want 1 (the token is fresh)", n)
			}
			clk.add(26 * time.Minute) // 4 minutes left: within the refresh margin
			provision(t, s, spID, jobID, alice.ID)
			if n := len(s.TokenRequests()); n != 2 {
				t.Errorf("%d token requests, want 2 (one refresh)", n)
			}
			calls := agent.Calls()
			if calls[1].Auth != "Bearer at-1" || calls[len(calls)-1].Auth != "Bearer at-2" {
				t.Errorf("bearers = %q … %q", calls[1].Auth, calls[len(calls)-1].Auth)
			}

			// A cycle uses (and refreshes) the token as well.
			code, b = call(t, s, "POST", "/servicePrincipals/"+spID+"/synchronization/jobs/"+jobID+"/start", nil)
			wantStatus(t, code, http.StatusNoContent, b)
			clk.add(time.Hour)
			if !s.RunCycle(jobID) || s.JobStatus(jobID) != StatusActive {
				t.Fatalf("cycle: status %s", s.JobStatus(jobID))
			}
			if n := len(s.TokenRequests()); n != 3 {
				t.Errorf("%d token requests after a cycle an hour later, want 3", n)
			}
			if c := agent.Calls(); c[len(c)-1].Auth != "Bearer at-3" {
				t.Errorf("cycle bearer = %q", c[len(c)-1].Auth)
			}
			// Test Connection tests the credentials: it always exchanges them.
			if code, msg := testSaved(t, s, spID); code != http.StatusNoContent || len(s.TokenRequests()) != 4 {
				t.Errorf("Test Connection = %d %s, %d token requests (want 4)", code, msg, len(s.TokenRequests()))
			}
		})
	}
}

func TestOAuthTokenEndpointErrors(t *testing.T) {
	agent := newSCIMStub(t, func(scimCall) (int, string) { return 200, emptyList })
	tok := newTokenStub(t)
	s := newServer(t, 0)
	spID, jobID := setup(t, s)
	for _, code := range []string{"invalid_client", "invalid_scope", "unauthorized_client"} {
		t.Run(code, func(t *testing.T) {
			tok.mu.Lock()
			tok.fail = code
			tok.mu.Unlock()
			st, b := call(t, s, "POST", "/servicePrincipals/"+spID+"/synchronization/jobs/"+jobID+"/validateCredentials",
				map[string]any{"useSavedCredentials": false, "credentials": oauthSecrets(agent.srv.URL+"/scim", tok.srv.URL+"/token", false)})
			wantStatus(t, st, http.StatusBadRequest, b)
			msg := decode[graphErr](t, b).Error.Message
			for _, want := range []string{"CredentialValidationUnavailable", code, "the client is unknown", "401", tok.srv.URL} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
	if len(agent.Calls()) != 0 {
		t.Errorf("the agent was called without an access token: %+v", agent.Calls())
	}

	// A cycle with a refused client fails, with the same message.
	tok.mu.Lock()
	tok.fail = "invalid_client"
	tok.mu.Unlock()
	code, b := call(t, s, "PUT", "/servicePrincipals/"+spID+"/synchronization/secrets",
		map[string]any{"value": oauthSecrets(agent.srv.URL+"/scim", tok.srv.URL+"/token", true)})
	wantStatus(t, code, http.StatusNoContent, b)
	code, b = call(t, s, "POST", "/servicePrincipals/"+spID+"/synchronization/jobs/"+jobID+"/start", nil)
	wantStatus(t, code, http.StatusNoContent, b)
	s.RunCycle(jobID)
	code, b = call(t, s, "GET", "/servicePrincipals/"+spID+"/synchronization/jobs/"+jobID, nil)
	wantStatus(t, code, http.StatusOK, b)
	var j struct {
		Status struct {
			LastExecution struct {
				State string
				Error struct{ Message string }
			}
		}
	}
	if err := json.Unmarshal(b, &j); err != nil || j.Status.LastExecution.State != "Failed" ||
		!strings.Contains(j.Status.LastExecution.Error.Message, "invalid_client") {
		t.Errorf("job after a refused cycle: %s", b)
	}

	// On-demand provisioning fails with the same words, before any SCIM call.
	putSecretsAll(t, s, spID)
	key, v := provision(t, s, spID, jobID, alice.ID)
	if key["result"] != "Failure" || !strings.Contains(fmt.Sprint(key["details"]), "invalid_client") {
		t.Errorf("on demand: key %v, steps %s", key, stepNames(v))
	}
	if len(agent.Calls()) != 0 {
		t.Errorf("the agent was called without an access token: %+v", agent.Calls())
	}
}

// TestSecretsTraps: Graph answers 500 to bearer and OAuth keys in one PUT,
// and drops an OAuth PUT without SyncNotificationSettings and SyncAll.
func TestSecretsTraps(t *testing.T) {
	s := newServer(t, 0)
	spID, _ := setup(t, s)
	putSecrets(t, s, spID, "https://roster.contoso.com/scim/v2/default", "bearer-1")

	mixed := append(oauthSecrets("https://x/scim", "https://x/token", true), map[string]string{"key": "SecretToken", "value": "bearer-2"})
	code, b := call(t, s, "PUT", "/servicePrincipals/"+spID+"/synchronization/secrets", map[string]any{"value": mixed})
	wantStatus(t, code, http.StatusInternalServerError, b)
	if got := s.Secrets(spID); got["SecretToken"] != "bearer-1" || got["Oauth2ClientId"] != "" {
		t.Errorf("after the mixed PUT: %v", got)
	}

	code, b = call(t, s, "PUT", "/servicePrincipals/"+spID+"/synchronization/secrets",
		map[string]any{"value": oauthSecrets("https://x/scim", "https://x/token", false)})
	wantStatus(t, code, http.StatusNoContent, b)
	if got := s.Secrets(spID); got["SecretToken"] != "bearer-1" || got["Oauth2ClientId"] != "" || got["BaseAddress"] == "https://x/scim" {
		t.Errorf("an OAuth PUT without SyncNotificationSettings and SyncAll was kept: %v", got)
	}

	code, b = call(t, s, "PUT", "/servicePrincipals/"+spID+"/synchronization/secrets",
		map[string]any{"value": oauthSecrets("https://x/scim", "https://x/token", true)})
	wantStatus(t, code, http.StatusNoContent, b)
	got := s.Secrets(spID)
	if got["Oauth2ClientId"] != "c1" || got["BaseAddress"] != "https://x/scim" || got["SecretToken"] != "" {
		t.Errorf("the OAuth credentials did not replace the bearer ones: %v", got)
	}
	code, b = call(t, s, "GET", "/servicePrincipals/"+spID+"/synchronization/secrets", nil)
	wantStatus(t, code, http.StatusOK, b)
	if strings.Contains(string(b), "s e/cret") {
		t.Errorf("GET secrets does not mask the client secret: %s", b)
	}
}

func TestFederationExchange(t *testing.T) {
	agent := newSCIMStub(t, func(scimCall) (int, string) { return 200, emptyList })
	tok := newTokenStub(t)
	s := newServer(t, 0)
	spID, _ := setup(t, s)
	putSecrets(t, s, spID, agent.srv.URL+"/scim", "bearer-1")
	var signed int
	var mu sync.Mutex
	if !s.ConfigureFederation(spID, Federation{TenantURL: agent.srv.URL + "/scim", TokenURL: tok.srv.URL + "/token", ClientID: "fed-1", Scope: "scim",
		Assertion: func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			signed++
			return fmt.Sprintf("assertion-%d", signed), nil
		}}) {
		t.Fatal("ConfigureFederation = false")
	}
	if got := s.Secrets(spID); got["SecretToken"] != "" {
		t.Errorf("federation kept the Secret Token: %v", got)
	}
	if code, msg := testSaved(t, s, spID); code != http.StatusNoContent {
		t.Fatalf("Test Connection = %d %s", code, msg)
	}
	reqs := s.TokenRequests()
	if len(reqs) != 1 {
		t.Fatalf("token requests = %+v", reqs)
	}
	f := reqs[0].Form
	if reqs[0].Basic || f.Get("grant_type") != "client_credentials" || f.Get("client_id") != "fed-1" ||
		f.Get("client_assertion_type") != jwtBearer || f.Get("client_assertion") != "assertion-1" || f.Get("scope") != "scim" || f.Has("client_secret") {
		t.Errorf("federated token request = %+v", reqs[0])
	}
	if c := agent.Calls(); len(c) != 1 || c[0].Auth != "Bearer at-1" {
		t.Errorf("agent calls = %+v", c)
	}
}
