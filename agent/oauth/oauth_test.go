package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/oauth"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

// clock is the directory's clock in tests that move time on; nil fields
// use the real time.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// env is an agent's HTTP edge on 127.0.0.1 over a real SQLite file, with
// the tenants acme and other.
type env struct {
	srv   *httptest.Server
	db    *store.DB
	dir   *directory.Service
	clock *clock
}

func newEnv(t *testing.T, opt scimhttp.Options) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.Location(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, clock: &clock{}}
	e.dir = directory.New(db, nil, e.clock.Now)
	for _, id := range []string{"acme", "other"} {
		if _, err := e.dir.AddTenant(ctx, id, "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	e.srv = httptest.NewServer(scimhttp.New(e.dir, opt))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) addClient(t *testing.T, tenant string, readOnly bool) (id, secret string) {
	t.Helper()
	c, err := e.dir.AddOAuthClient(context.Background(), directory.NewOAuthClient{Tenant: tenant, Name: tenant + "-entra", ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	return c.Client.ID, c.Secret.Reveal()
}

// reply is an answer of the token endpoint.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) String() string { return http.StatusText(r.status) + " " + r.raw }

// do sends a raw request to the token endpoint of tenant.
func (e *env) do(t *testing.T, method, tenant, contentType, body string, header http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+"/oauth/"+tenant+"/token", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("%s: not JSON: %s", r, err)
	}
	return r
}

const formType = "application/x-www-form-urlencoded"

// post sends form as a token request; with basicID set, the client
// authenticates with client_secret_basic (RFC 6749 §2.3.1).
func (e *env) post(t *testing.T, tenant string, form url.Values, basicID, basicSecret string) reply {
	t.Helper()
	h := http.Header{}
	if basicID != "" {
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
		h.Set("Authorization", r.Header.Get("Authorization"))
	}
	return e.do(t, http.MethodPost, tenant, formType, form.Encode(), h)
}

// token obtains an access token with client_secret_post.
func (e *env) token(t *testing.T, tenant, id, secret string, extra ...string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	r := e.post(t, tenant, form, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("token: %s", r)
	}
	return r.body["access_token"].(string)
}

// call sends a request with a bearer token to the agent and returns the
// status.
func (e *env) call(t *testing.T, method, path, bearer, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	return resp.StatusCode
}

const newUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"USER@contoso.com","active":true}`

func userBody(name string) string { return strings.Replace(newUser, "USER", name, 1) }

// checkNoStore checks the caching headers of RFC 6749 §5.1, and that an
// error body has the form of RFC 6749 §5.2.
func checkAnswer(t *testing.T, r reply) {
	t.Helper()
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("%s: Cache-Control %q, Pragma %q", r, r.header.Get("Cache-Control"), r.header.Get("Pragma"))
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: Content-Type %q", r, r.header.Get("Content-Type"))
	}
	if r.status == http.StatusOK {
		return
	}
	desc, _ := r.body["error_description"].(string)
	if desc == "" {
		t.Errorf("%s: no error_description", r)
	}
	for _, c := range desc {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("%s: error_description has %q, outside RFC 6749 §5.2's set", r, c)
		}
	}
}

// TestErrors: every error of RFC 6749 §5.2 that the endpoint answers, with
// its status, and WWW-Authenticate on a 401.
func TestErrors(t *testing.T) {
	e := newEnv(t, scimhttp.Options{})
	id, secret := e.addClient(t, "acme", false)
	roID, roSecret := e.addClient(t, "acme", true)
	fed, err := e.dir.AddFederation(context.Background(), directory.NewFederation{Tenant: "acme",
		EntraTenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", Subject: "s", Audience: "api://a"})
	if err != nil {
		t.Fatal(err)
	}
	otherID, otherSecret := e.addClient(t, "other", false)
	good := func(extra ...string) string {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				v.Del(extra[i])
			} else {
				v.Set(extra[i], extra[i+1])
			}
		}
		return v.Encode()
	}
	basic := func(id, secret string) http.Header {
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(id, secret)
		return r.Header
	}
	tests := []struct {
		name, method, ctype, body string
		header                    http.Header
		status                    int
		code                      string
	}{
		{"GET", http.MethodGet, "", "", nil, http.StatusMethodNotAllowed, oauth.ErrInvalidRequest},
		{"JSON body", http.MethodPost, "application/json", `{"grant_type":"client_credentials"}`, nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"no content type", http.MethodPost, "", good(), nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"latin-1 charset", http.MethodPost, formType + "; charset=iso-8859-1", good(), nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"no grant_type", http.MethodPost, formType, good("grant_type", ""), nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"repeated parameter", http.MethodPost, formType, good() + "&grant_type=client_credentials", nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"bad UTF-8", http.MethodPost, formType, good("scope", "\xff"), nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"bad escape", http.MethodPost, formType, good() + "&x=%zz", nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"oversized body", http.MethodPost, formType, good("pad", strings.Repeat("a", oauth.MaxBodyBytes)), nil, http.StatusRequestEntityTooLarge, oauth.ErrInvalidRequest},
		{"secret and Basic", http.MethodPost, formType, good(), basic(id, secret), http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"secret and assertion", http.MethodPost, formType, good("client_assertion", "x.y.z", "client_assertion_type", oauth.AssertionTypeJWT), nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"assertion without type", http.MethodPost, formType, good("client_secret", "", "client_assertion", "x.y.z"), nil, http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"Basic id differs from client_id", http.MethodPost, formType, good("client_secret", "", "client_id", otherID), basic(id, secret), http.StatusBadRequest, oauth.ErrInvalidRequest},
		{"query parameters", http.MethodPost, formType, good(), nil, http.StatusBadRequest, oauth.ErrInvalidRequest}, // URL set below

		{"no client authentication", http.MethodPost, formType, good("client_id", "", "client_secret", ""), nil, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"unknown client", http.MethodPost, formType, good("client_id", "oc_nope"), nil, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"wrong secret", http.MethodPost, formType, good("client_secret", otherSecret), nil, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"wrong secret, Basic", http.MethodPost, formType, good("client_id", "", "client_secret", ""), basic(id, otherSecret), http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"malformed Basic", http.MethodPost, formType, good("client_id", "", "client_secret", ""), http.Header{"Authorization": {"Basic !!!"}}, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"Bearer instead of Basic", http.MethodPost, formType, good("client_id", "", "client_secret", ""), http.Header{"Authorization": {"Bearer " + secret}}, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"another tenant's client", http.MethodPost, formType, good("client_id", otherID, "client_secret", otherSecret), nil, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"secret for a federation client", http.MethodPost, formType, good("client_id", fed.ID), nil, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"assertion, no verifier", http.MethodPost, formType, good("client_id", fed.ID, "client_secret", "", "client_assertion", "x.y.z", "client_assertion_type", oauth.AssertionTypeJWT), nil, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"assertion of another type", http.MethodPost, formType, good("client_id", fed.ID, "client_secret", "", "client_assertion", "x.y.z", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), nil, http.StatusUnauthorized, oauth.ErrInvalidClient},
		{"assertion without client_id", http.MethodPost, formType, good("client_id", "", "client_secret", "", "client_assertion", "x.y.z", "client_assertion_type", oauth.AssertionTypeJWT), nil, http.StatusUnauthorized, oauth.ErrInvalidClient},

		{"password grant", http.MethodPost, formType, good("grant_type", "password", "username", "u", "password", "p"), nil, http.StatusBadRequest, oauth.ErrUnauthorizedClient},
		{"refresh_token grant", http.MethodPost, formType, good("grant_type", "refresh_token", "refresh_token", "r"), nil, http.StatusBadRequest, oauth.ErrUnauthorizedClient},

		{"unknown grant", http.MethodPost, formType, good("grant_type", "urn:example:magic"), nil, http.StatusBadRequest, oauth.ErrUnsupportedGrantType},
		{"jwt-bearer grant", http.MethodPost, formType, good("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), nil, http.StatusBadRequest, oauth.ErrUnsupportedGrantType},

		{"unknown scope", http.MethodPost, formType, good("scope", "scim admin"), nil, http.StatusBadRequest, oauth.ErrInvalidScope},
		{"malformed scope", http.MethodPost, formType, good("scope", "scim  scim.read"), nil, http.StatusBadRequest, oauth.ErrInvalidScope},
		{"read-only client asks to write", http.MethodPost, formType, good("client_id", roID, "client_secret", roSecret, "scope", "scim"), nil, http.StatusBadRequest, oauth.ErrInvalidScope},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reply
			if tt.name == "query parameters" {
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth/acme/token?grant_type=client_credentials", strings.NewReader(tt.body))
				req.Header.Set("Content-Type", tt.ctype)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r = reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
				json.Unmarshal(b, &r.body) //nolint:errcheck
			} else {
				r = e.do(t, tt.method, "acme", tt.ctype, tt.body, tt.header)
			}
			if r.status != tt.status || r.body["error"] != tt.code {
				t.Fatalf("got %s; want %d %s", r, tt.status, tt.code)
			}
			checkAnswer(t, r)
			if _, ok := r.body["access_token"]; ok {
				t.Errorf("an error carries an access token: %s", r)
			}
			switch {
			case r.status == http.StatusUnauthorized && tt.header != nil:
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") || !strings.Contains(got, `error="invalid_client"`) {
					t.Errorf("WWW-Authenticate %q after a Basic attempt", got)
				}
			case r.status == http.StatusUnauthorized:
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
					t.Errorf("WWW-Authenticate %q on a 401", got)
				}
			case r.status == http.StatusMethodNotAllowed:
				if r.header.Get("Allow") != http.MethodPost {
					t.Errorf("Allow %q", r.header.Get("Allow"))
				}
			}
			seen[tt.code] = true
		})
	}
	for _, code := range []string{oauth.ErrInvalidRequest, oauth.ErrInvalidClient, oauth.ErrUnauthorizedClient, oauth.ErrUnsupportedGrantType, oauth.ErrInvalidScope} {
		if !seen[code] {
			t.Errorf("no case answered %s", code)
		}
	}
	// Refused requests issue nothing: the client's secret still works.
	e.token(t, "acme", id, secret)
}

// TestBasicAndPost: both client_secret_basic (with the id and secret
// form-urlencoded inside Basic) and client_secret_post obtain a token that
// the SCIM API and the change feed accept; the answer has the fields of
// RFC 6749 §5.1 and the scope asked for.
func TestBasicAndPost(t *testing.T) {
	e := newEnv(t, scimhttp.Options{OAuth: oauth.Options{AccessTokenLifetime: 2 * time.Hour}})
	id, secret := e.addClient(t, "acme", false)
	for name, r := range map[string]reply{
		"basic": e.post(t, "acme", url.Values{"grant_type": {"client_credentials"}, "scope": {"scim"}}, id, secret),
		"post":  e.post(t, "acme", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"scim"}}, "", ""),
		// Entra's reference sends scim.readwrite.
		"post, scim.readwrite": e.post(t, "acme", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"scim.readwrite"}}, "", ""),
	} {
		t.Run(name, func(t *testing.T) {
			if r.status != http.StatusOK {
				t.Fatalf("%s", r)
			}
			checkAnswer(t, r)
			tok, _ := r.body["access_token"].(string)
			if r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(7200) || tok == "" {
				t.Errorf("answer %s", r)
			}
			if want := strings.TrimPrefix(name, "post, "); r.body["scope"] != map[bool]string{true: "scim.readwrite", false: "scim"}[want == "scim.readwrite"] {
				t.Errorf("scope %v", r.body["scope"])
			}
			if st := e.call(t, http.MethodGet, "/scim/acme/v2/Users?filter="+url.QueryEscape(`userName eq "a@contoso.com"`), tok, ""); st != http.StatusOK {
				t.Errorf("SCIM lookup: %d", st)
			}
			if st := e.call(t, http.MethodPost, "/scim/acme/v2/Users", tok, userBody(name[:4]+strings.ReplaceAll(name[4:], " ", ""))); st != http.StatusCreated && st != http.StatusConflict {
				t.Errorf("SCIM create: %d", st)
			}
			if st := e.call(t, http.MethodGet, "/api/v1/acme/changes", tok, ""); st != http.StatusOK {
				t.Errorf("change feed: %d", st)
			}
		})
	}
	// The Basic user and password are form-urlencoded (RFC 6749 §2.3.1):
	// escaped characters are decoded before the comparison.
	h := http.Request{Header: http.Header{}}
	h.SetBasicAuth(strings.Replace(id, "_", "%5F", 1), secret)
	if r := e.do(t, http.MethodPost, "acme", formType, "grant_type=client_credentials", h.Header); r.status != http.StatusOK {
		t.Errorf("percent-encoded Basic user: %s", r)
	}
}

// TestRotation: after a rotation both secrets work until the old one is
// revoked; an expired secret is refused.
func TestRotation(t *testing.T) {
	e := newEnv(t, scimhttp.Options{})
	ctx := context.Background()
	added, err := e.dir.AddOAuthClient(ctx, directory.NewOAuthClient{Tenant: "acme", SecretLifetime: 2 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id, old := added.Client.ID, added.Secret.Reveal()
	rot, err := e.dir.RotateOAuthClient(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.token(t, "acme", id, old)
	e.token(t, "acme", id, rot.Secret.Reveal())
	if _, err := e.dir.RevokeOAuthClientSecret(ctx, id, added.Record.ID); err != nil {
		t.Fatal(err)
	}
	form := func(s string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {s}}
	}
	if r := e.post(t, "acme", form(old), "", ""); r.status != http.StatusUnauthorized || r.body["error"] != oauth.ErrInvalidClient {
		t.Errorf("revoked old secret: %s", r)
	}
	e.token(t, "acme", id, rot.Secret.Reveal())

	// A secret that expired is refused; the newer one (a year) still works.
	rot2, err := e.dir.RotateOAuthClient(ctx, id, 2*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.token(t, "acme", id, rot2.Secret.Reveal())
	e.clock.Add(2*24*time.Hour + time.Second)
	if r := e.post(t, "acme", form(rot2.Secret.Reveal()), "", ""); r.status != http.StatusUnauthorized || r.body["error"] != oauth.ErrInvalidClient {
		t.Errorf("expired secret: %s", r)
	}
	e.token(t, "acme", id, rot.Secret.Reveal())
}

// TestRevokeClient: revoking a client (from another process, as `roster
// oauth client revoke` does) makes the SCIM API and the change feed refuse
// its access tokens within the authentication cache's bound.
func TestRevokeClient(t *testing.T) {
	e := newEnv(t, scimhttp.Options{})
	id, secret := e.addClient(t, "acme", false)
	tok := e.token(t, "acme", id, secret)
	lookup := "/scim/acme/v2/Users?filter=" + url.QueryEscape(`userName eq "a@contoso.com"`)
	if st := e.call(t, http.MethodGet, lookup, tok, ""); st != http.StatusOK {
		t.Fatalf("before: %d", st)
	}
	if st := e.call(t, http.MethodGet, "/api/v1/acme/changes", tok, ""); st != http.StatusOK {
		t.Fatalf("feed before: %d", st)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, e.db.Path(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := directory.New(db, nil, nil).RevokeOAuthClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{lookup, "/api/v1/acme/changes"} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := e.call(t, http.MethodGet, path, tok, "")
			if st == http.StatusUnauthorized {
				break
			}
			if st != http.StatusOK || time.Now().After(deadline) {
				t.Fatalf("%s after the revocation: %d", path, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if r := e.post(t, "acme", url.Values{"grant_type": {"client_credentials"}}, id, secret); r.status != http.StatusUnauthorized {
		t.Errorf("revoked client's secret: %s", r)
	}
}

// TestTenantIsolation: an access token of tenant acme's client is refused
// on tenant other, and acme's client cannot obtain a token at other's
// endpoint.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, scimhttp.Options{})
	id, secret := e.addClient(t, "acme", false)
	tok := e.token(t, "acme", id, secret)
	for _, p := range []string{"/scim/other/v2/Users", "/api/v1/other/changes"} {
		if st := e.call(t, http.MethodGet, p, tok, ""); st != http.StatusUnauthorized {
			t.Errorf("%s with acme's token: %d", p, st)
		}
	}
	if st := e.call(t, http.MethodPost, "/scim/other/v2/Users", tok, userBody("x")); st != http.StatusUnauthorized {
		t.Errorf("write to other with acme's token: %d", st)
	}
	for _, r := range []reply{
		e.post(t, "other", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, "", ""),
		e.post(t, "other", url.Values{"grant_type": {"client_credentials"}}, id, secret),
		e.post(t, "nosuchtenant", url.Values{"grant_type": {"client_credentials"}}, id, secret),
	} {
		if r.status != http.StatusUnauthorized || r.body["error"] != oauth.ErrInvalidClient {
			t.Errorf("acme's client at another endpoint: %s", r)
		}
	}
}

// TestReadOnly: a read-only client's tokens, and tokens asked for with
// scope scim.read, read but cannot write.
func TestReadOnly(t *testing.T) {
	e := newEnv(t, scimhttp.Options{})
	roID, roSecret := e.addClient(t, "acme", true)
	id, secret := e.addClient(t, "acme", false)
	r := e.post(t, "acme", url.Values{"grant_type": {"client_credentials"}}, roID, roSecret)
	if r.status != http.StatusOK || r.body["scope"] != oauth.ScopeRead {
		t.Fatalf("read-only client: %s", r)
	}
	for name, tok := range map[string]string{
		"read-only client": r.body["access_token"].(string),
		"scope scim.read":  e.token(t, "acme", id, secret, "scope", oauth.ScopeRead),
	} {
		if st := e.call(t, http.MethodGet, "/scim/acme/v2/Users", tok, ""); st != http.StatusOK {
			t.Errorf("%s: read %d", name, st)
		}
		if st := e.call(t, http.MethodPost, "/scim/acme/v2/Users", tok, userBody("ro")); st != http.StatusForbidden {
			t.Errorf("%s: write %d, want 403", name, st)
		}
	}
	if st := e.call(t, http.MethodPost, "/scim/acme/v2/Users", e.token(t, "acme", id, secret), userBody("rw")); st != http.StatusCreated {
		t.Errorf("read-write client: write %d", st)
	}
}

// TestExpiry: an access token is refused once its lifetime has passed.
func TestExpiry(t *testing.T) {
	e := newEnv(t, scimhttp.Options{OAuth: oauth.Options{AccessTokenLifetime: 5 * time.Minute}})
	id, secret := e.addClient(t, "acme", false)
	r := e.post(t, "acme", url.Values{"grant_type": {"client_credentials"}}, id, secret)
	if r.status != http.StatusOK || r.body["expires_in"] != float64(300) {
		t.Fatalf("%s", r)
	}
	tok := r.body["access_token"].(string)
	if st := e.call(t, http.MethodGet, "/scim/acme/v2/Users", tok, ""); st != http.StatusOK {
		t.Fatalf("fresh token: %d", st)
	}
	e.clock.Add(5*time.Minute + time.Second)
	if st := e.call(t, http.MethodGet, "/scim/acme/v2/Users", tok, ""); st != http.StatusUnauthorized {
		t.Errorf("expired token: %d", st)
	}
}

// verifier records what it was asked and accepts one assertion.
type verifier struct {
	mu   sync.Mutex
	args []string
}

func (v *verifier) VerifyAssertion(_ context.Context, assertion, issuer, subject, audience, jwksURL string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.args = []string{assertion, issuer, subject, audience, jwksURL}
	if assertion != "signed.by.entra" {
		return errors.New("bad signature")
	}
	return nil
}

// TestFederation: a federation client authenticates with an assertion the
// verifier accepts (sent as Entra does, RFC 7523 §2.2, with client_id and
// scope), and is refused with any other.
func TestFederation(t *testing.T) {
	v := &verifier{}
	e := newEnv(t, scimhttp.Options{OAuth: oauth.Options{Verifier: v}})
	fed, err := e.dir.AddFederation(context.Background(), directory.NewFederation{Tenant: "acme",
		EntraTenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", Subject: "sync-fabric", Audience: "api://b5ba7a93/.default"})
	if err != nil {
		t.Fatal(err)
	}
	form := func(assertion string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {fed.ID}, "scope": {"scim"},
			"client_assertion_type": {oauth.AssertionTypeJWT}, "client_assertion": {assertion}}
	}
	r := e.post(t, "acme", form("signed.by.entra"), "", "")
	if r.status != http.StatusOK {
		t.Fatalf("%s", r)
	}
	want := []string{"signed.by.entra", "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", "sync-fabric",
		"api://b5ba7a93" /* stored without the portal's /.default */, "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2.0/keys"}
	if strings.Join(v.args, " ") != strings.Join(want, " ") {
		t.Errorf("verifier got %q, want %q", v.args, want)
	}
	if st := e.call(t, http.MethodGet, "/scim/acme/v2/Users", r.body["access_token"].(string), ""); st != http.StatusOK {
		t.Errorf("SCIM with the federation's token: %d", st)
	}
	if r := e.post(t, "acme", form("forged"), "", ""); r.status != http.StatusUnauthorized || r.body["error"] != oauth.ErrInvalidClient {
		t.Errorf("refused assertion: %s", r)
	}
	if r := e.post(t, "other", form("signed.by.entra"), "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("federation of acme at other: %s", r)
	}
}

// TestFailedAuthLimit: failed client authentications count against the
// same per-address allowance as the SCIM API's failed bearer tokens, and
// are answered 429 beyond it while a valid client is still served.
func TestFailedAuthLimit(t *testing.T) {
	e := newEnv(t, scimhttp.Options{Limits: scimhttp.Limits{AuthFailuresPerMinute: 1, AuthFailureBurst: 3}})
	id, secret := e.addClient(t, "acme", false)
	bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {"wrong"}}
	// Two wrong bearer tokens at the SCIM API, one wrong secret here: the
	// burst of 3 is spent.
	for range 2 {
		if st := e.call(t, http.MethodGet, "/scim/acme/v2/Users", "roster_wrong", ""); st != http.StatusUnauthorized {
			t.Fatalf("SCIM with a wrong token: %d", st)
		}
	}
	if r := e.post(t, "acme", bad, "", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("third failure: %s", r)
	}
	r := e.post(t, "acme", bad, "", "")
	if r.status != http.StatusTooManyRequests || r.body["error"] != oauth.ErrInvalidClient || r.header.Get("Retry-After") == "" {
		t.Fatalf("fourth failure: %s (Retry-After %q)", r, r.header.Get("Retry-After"))
	}
	checkAnswer(t, r)
	e.token(t, "acme", id, secret) // the right secret still works
	// The failures were recorded in one counted event per tenant, address
	// and minute, the SCIM API's and the token endpoint's together (the 429
	// is not recorded), and the grant in an event of its own.
	evs, err := e.dir.Events(context.Background(), store.EventQuery{TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	failures, grants := 0, 0
	for _, ev := range evs {
		switch ev.Status {
		case http.StatusUnauthorized:
			failures += ev.Count
		case http.StatusOK:
			if strings.HasPrefix(ev.Path, "/oauth/acme/token") && ev.TokenName == "acme-entra" {
				grants++
			}
		}
	}
	if failures != 3 || grants != 1 {
		t.Errorf("events: %d failed authentications, %d grants; want 3 and 1", failures, grants)
	}
}
