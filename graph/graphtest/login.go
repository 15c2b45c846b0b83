package graphtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Login is a fake Microsoft identity platform (the sign-in authority): the
// OpenID metadata, the device code flow and the client credentials flow, as
// azidentity's credentials use them. It issues the access token the fake
// Graph expects, so a test signs in for real and then calls Graph.
type Login struct {
	// URL is the authority host, e.g. https://127.0.0.1:PORT (no tenant).
	URL string
	// UserCode is the code the device code flow asks the person to enter.
	UserCode string

	ts          *httptest.Server
	accessToken string
	pending     int

	mu      sync.Mutex
	polls   int
	scopes  []string
	grants  []string
	granted int // device code sign-ins completed
}

// LoginOptions configures a fake authority.
type LoginOptions struct {
	// AccessToken is the token it issues (the fake Graph's Options.Token).
	AccessToken string
	// PendingPolls is how many token polls of the device code flow answer
	// authorization_pending before the person "has signed in".
	PendingPolls int
}

// NewLogin starts a fake authority over TLS; it stops when t's test ends.
func NewLogin(t testing.TB, opt LoginOptions) *Login {
	t.Helper()
	l := &Login{UserCode: "RSTR-TEST", accessToken: opt.AccessToken, pending: opt.PendingPolls}
	l.ts = httptest.NewTLSServer(http.HandlerFunc(l.serve))
	t.Cleanup(l.ts.Close)
	l.URL = l.ts.URL
	return l
}

// Client returns an HTTP client that trusts the authority's certificate.
func (l *Login) Client() *http.Client { return l.ts.Client() }

// Server returns the underlying test server (its certificate, for a pool).
func (l *Login) Server() *httptest.Server { return l.ts }

// Scopes returns the scopes requested so far, one entry per request.
func (l *Login) Scopes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.scopes...)
}

// Grants returns the grant types of the token requests so far.
func (l *Login) Grants() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.grants...)
}

// refreshToken is the refresh token issued with every person's sign-in.
const refreshToken = "fake-refresh-token-RSTR"

// DeviceCodeGrants counts the device code sign-ins completed so far: a
// person entered the code (polls still pending are not counted).
func (l *Login) DeviceCodeGrants() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.granted
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (l *Login) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.Trim(r.URL.Path, "/"), "/", 2)
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	tenant, rest := parts[0], parts[1]
	authority := l.URL + "/" + tenant
	oauthErr := func(code, desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": code, "error_description": desc})
	}
	switch {
	case r.Method == http.MethodGet && rest == "v2.0/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                authority + "/oauth2/v2.0/token",
			"authorization_endpoint":        authority + "/oauth2/v2.0/authorize",
			"device_authorization_endpoint": authority + "/oauth2/v2.0/devicecode",
			"issuer":                        authority + "/v2.0",
			"jwks_uri":                      authority + "/discovery/v2.0/keys",
			"response_types_supported":      []string{"code", "id_token", "code id_token", "id_token token"},
			"scopes_supported":              []string{"openid", "profile", "email", "offline_access"},
		})
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/devicecode":
		if err := r.ParseForm(); err != nil {
			oauthErr("invalid_request", err.Error())
			return
		}
		l.mu.Lock()
		l.scopes = append(l.scopes, r.PostForm.Get("scope"))
		l.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"user_code": l.UserCode, "device_code": "device-code-1", "verification_uri": "https://microsoft.com/devicelogin",
			"expires_in": 900, "interval": 1,
			"message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code " + l.UserCode + " to authenticate.",
		})
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/token":
		if err := r.ParseForm(); err != nil {
			oauthErr("invalid_request", err.Error())
			return
		}
		grant := r.PostForm.Get("grant_type")
		l.mu.Lock()
		l.grants = append(l.grants, grant)
		l.scopes = append(l.scopes, r.PostForm.Get("scope"))
		l.polls++
		polls := l.polls
		l.mu.Unlock()
		switch grant {
		case "device_code", "urn:ietf:params:oauth:grant-type:device_code": // MSAL sends the short form
			if r.PostForm.Get("device_code") != "device-code-1" {
				oauthErr("invalid_grant", "AADSTS70000: unknown device code")
				return
			}
			if polls <= l.pending {
				oauthErr("authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
				return
			}
			l.mu.Lock()
			l.granted++
			l.mu.Unlock()
		case "refresh_token": // MSAL redeems the refresh token of a cached sign-in
			if r.PostForm.Get("refresh_token") != refreshToken {
				oauthErr("invalid_grant", "AADSTS70000: unknown refresh token")
				return
			}
		case "client_credentials":
			if r.PostForm.Get("client_secret") == "" && r.PostForm.Get("client_assertion") == "" {
				oauthErr("invalid_client", "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
				return
			}
		default:
			oauthErr("unsupported_grant_type", "AADSTS70003: the fake supports device_code, refresh_token and client_credentials")
			return
		}
		tid := "7e1c0000-0000-4000-8000-000000000001"
		idToken := b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64(map[string]any{
			"aud": r.PostForm.Get("client_id"), "iss": authority + "/v2.0", "tid": tid, "oid": "0a0d0000-0000-4000-8000-000000000002",
			"preferred_username": "admin@contoso.com", "name": "Contoso Admin", "ver": "2.0",
		}) + "."
		answer := map[string]any{
			"token_type": "Bearer", "scope": r.PostForm.Get("scope"), "expires_in": 3600, "ext_expires_in": 3600,
			"access_token": l.accessToken, "id_token": idToken,
			"client_info": b64(map[string]string{"uid": "0a0d0000-0000-4000-8000-000000000002", "utid": tid}),
		}
		if grant != "client_credentials" { // a person's sign-in also gets a refresh token
			answer["refresh_token"] = refreshToken
		}
		writeJSON(w, http.StatusOK, answer)
	default:
		http.NotFound(w, r)
	}
}
