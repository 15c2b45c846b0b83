package graphtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Token endpoint client authentication methods (RFC 6749 §2.3.1), as the
// portal's OAuth2 Client Credentials Grant offers them.
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
)

// OAuth2ClientCredentialsGrant is the AuthenticationType secret value that
// makes the provisioning service obtain access tokens from
// Oauth2TokenExchangeUri
// (https://github.com/AzureAD/SCIMReferenceCode/blob/master/Microsoft.SCIM.LogicAppValidationTemplate/StandardLogicApp/scim-onboarding.agent.md).
const OAuth2ClientCredentialsGrant = "OAuth2ClientCredentialsGrant"

// jwtBearer is the client_assertion_type of RFC 7523 §2.2.
const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Federation is Workload Identity Federation as an administrator sets it up
// in the portal's Admin Credentials (Graph has no call for it): the
// provisioning service presents an assertion its tenant signed as
// client_assertion at TokenURL (RFC 7523 §2.2), with ClientID and Scope,
// and uses the access token it gets on its SCIM calls to TenantURL
// (https://github.com/AzureAD/SCIMReferenceCode/blob/master/Workload-Identity-Federation-for-SCIM-Provisioning.md).
type Federation struct {
	TenantURL, TokenURL, ClientID string
	// Scope is sent with each token request ("" sends none).
	Scope string
	// Assertion returns a fresh signed assertion, as the customer's Entra
	// tenant issues it (a fake issuer's Sign, in tests).
	Assertion func(ctx context.Context) (string, error)
}

// ConfigureFederation does what an administrator does in the portal to
// switch an app's provisioning to Workload Identity Federation: the saved
// admin credentials become f's (no secret is stored). It reports whether
// the service principal exists.
func (s *Server) ConfigureFederation(spID string, f Federation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.findSP(spID)
	if sp == nil {
		return false
	}
	sp.federation = &f
	sp.secrets = mergeSecrets(sp.secrets, []keyValue{{Key: "BaseAddress", Value: f.TenantURL}}, true)
	s.configured(sp)
	return true
}

// TokenRequest is one token request the fake's provisioning service made.
type TokenRequest struct {
	URL string
	// Basic says the client authenticated with HTTP Basic
	// (client_secret_basic); BasicUser is the client id it sent.
	Basic     bool
	BasicUser string
	// Form is the form body; client_secret and client_assertion are kept
	// as sent, for tests to check.
	Form url.Values
	// Status is the token endpoint's HTTP status (0: no answer).
	Status int
}

// TokenRequests returns the token requests made so far, in order.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.tokenRequests...)
}

// credentials are the admin credentials the provisioning service calls the
// agent with: saved on the app, or given to validateCredentials.
type credentials struct {
	base, authType, secretToken      string
	clientID, clientSecret, exchange string
	federation                       *Federation
}

// credentialsOf reads credentials from secrets (and the app's federation,
// which wins as the portal's last choice; fed may be nil).
func credentialsOf(kvs []keyValue, fed *Federation) credentials {
	var c credentials
	for _, kv := range kvs {
		switch kv.Key {
		case "BaseAddress":
			c.base = kv.Value
		case "AuthenticationType":
			c.authType = kv.Value
		case "SecretToken":
			c.secretToken = kv.Value
		case "Oauth2ClientId":
			c.clientID = kv.Value
		case "Oauth2ClientSecret":
			c.clientSecret = kv.Value
		case "Oauth2TokenExchangeUri":
			c.exchange = kv.Value
		}
	}
	c.federation = fed
	return c
}

// credentialKeys are the secrets that make up the admin credentials.
var credentialKeys = map[string]bool{"BaseAddress": true, "SecretToken": true, "AuthenticationType": true,
	"Oauth2ClientId": true, "Oauth2ClientSecret": true, "Oauth2TokenExchangeUri": true}

// oauthKeys are the keys of the OAuth2 client credentials grant.
func hasOAuthKeys(kvs []keyValue) bool {
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, "Oauth2") || (kv.Key == "AuthenticationType" && kv.Value == OAuth2ClientCredentialsGrant) {
			return true
		}
	}
	return false
}

func hasKey(kvs []keyValue, key string) bool {
	for _, kv := range kvs {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// mergeSecrets merges in into have. When in carries admin credentials
// (or replaceCreds), the saved credential keys are replaced as a whole, as
// the portal saves one authentication method (modelled); other keys merge
// by key.
func mergeSecrets(have, in []keyValue, replaceCreds bool) []keyValue {
	for _, kv := range in {
		replaceCreds = replaceCreds || credentialKeys[kv.Key]
	}
	var out []keyValue
	for _, kv := range have {
		if replaceCreds && credentialKeys[kv.Key] {
			continue
		}
		out = append(out, kv)
	}
	for _, kv := range in {
		i := -1
		for j := range out {
			if out[j].Key == kv.Key {
				i = j
			}
		}
		if i < 0 {
			out = append(out, kv)
		} else {
			out[i] = kv
		}
	}
	return out
}

// cachedToken is an access token the provisioning service holds.
type cachedToken struct {
	token   string
	expires time.Time
	life    time.Duration
}

// refreshMargin is how long before expiry a token is replaced: a quarter of
// its life, at most five minutes (modelled: Entra refreshes before expiry).
func (t cachedToken) refreshAt() time.Time {
	return t.expires.Add(-min(t.life/4, 5*time.Minute))
}

func (s *Server) now() time.Time {
	if s.opt.Now != nil {
		return s.opt.Now()
	}
	return time.Now()
}

// credentialError words a failure as Entra's Test Connection shows it.
func credentialError(detail string) string {
	return credentialsMessage + "Error code: SystemForCrossDomainIdentityManagementCredentialValidationUnavailable\r\nDetails: " + detail
}

// bearer returns the bearer token for SCIM calls with c: the Secret Token,
// or an access token from the token endpoint, cached until shortly before
// it expires unless fresh (Test Connection tests the credentials, so it
// always exchanges them). msg is the failure as Entra words it, "" on
// success.
func (s *Server) bearer(ctx context.Context, c credentials, fresh bool) (token, msg string) {
	var form url.Values
	var key, user, pass string
	switch {
	case c.federation != nil:
		if c.federation.Assertion == nil {
			return "", credentialError("no workload identity is selected to sign the client assertion.")
		}
		a, err := c.federation.Assertion(ctx)
		if err != nil {
			return "", credentialError("could not obtain a client assertion from Microsoft Entra ID: " + err.Error())
		}
		form = url.Values{"grant_type": {"client_credentials"}, "client_id": {c.federation.ClientID},
			"client_assertion_type": {jwtBearer}, "client_assertion": {a}}
		if c.federation.Scope != "" {
			form.Set("scope", c.federation.Scope)
		}
		c.exchange = c.federation.TokenURL
		key = "fed\x00" + c.exchange + "\x00" + c.federation.ClientID
	case c.authType == OAuth2ClientCredentialsGrant:
		if c.clientID == "" || c.clientSecret == "" || c.exchange == "" {
			return "", credentialError("the OAuth2 client credentials need Oauth2ClientId, Oauth2ClientSecret and Oauth2TokenExchangeUri.")
		}
		form = url.Values{"grant_type": {"client_credentials"}}
		if s.opt.TokenAuth == ClientSecretPost {
			form.Set("client_id", c.clientID)
			form.Set("client_secret", c.clientSecret)
		} else {
			// RFC 6749 §2.3.1: both are form-urlencoded before Basic.
			user, pass = url.QueryEscape(c.clientID), url.QueryEscape(c.clientSecret)
		}
		if s.opt.TokenScope != "" {
			form.Set("scope", s.opt.TokenScope)
		}
		key = "oauth\x00" + c.exchange + "\x00" + c.clientID + "\x00" + c.clientSecret
	default:
		return c.secretToken, ""
	}

	s.mu.Lock()
	t, ok := s.tokens[key]
	s.mu.Unlock()
	if ok && !fresh && s.now().Before(t.refreshAt()) {
		return t.token, ""
	}
	t, msg = s.exchange(ctx, c.exchange, form, user, pass)
	if msg != "" {
		return "", msg
	}
	s.mu.Lock()
	s.tokens[key] = t
	s.mu.Unlock()
	return t.token, ""
}

// exchange posts form to the token endpoint and reads the RFC 6749 §5.1
// answer, or words its §5.2 error.
func (s *Server) exchange(ctx context.Context, tokenURL string, form url.Values, user, pass string) (cachedToken, string) {
	rec := TokenRequest{URL: tokenURL, Basic: user != "", BasicUser: user, Form: form}
	defer func() {
		s.mu.Lock()
		s.tokenRequests = append(s.tokenRequests, rec)
		s.mu.Unlock()
	}()
	if u, err := url.Parse(tokenURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return cachedToken{}, credentialError("the token URL '" + tokenURL + "' is not a valid absolute URL.")
	}
	ctx, cancel := context.WithTimeout(ctx, scimTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return cachedToken{}, credentialError(err.Error())
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := s.agent.Do(req)
	if err != nil {
		return cachedToken{}, credentialError("could not connect to the token endpoint " + tokenURL + ": " + err.Error())
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := scimResponse{status: resp.StatusCode, body: body}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			d := "the token endpoint " + tokenURL + " refused the request: " + e.Error
			if e.Description != "" {
				d += " (" + e.Description + ")"
			}
			return cachedToken{}, credentialError(fmt.Sprintf("%s. StatusCode: %d %s.", d, resp.StatusCode, http.StatusText(resp.StatusCode)))
		}
		return cachedToken{}, credentialError("We received this unexpected response from the token endpoint " + tokenURL + ": " + r.describe())
	}
	var ok struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &ok); err != nil || ok.AccessToken == "" {
		return cachedToken{}, credentialError("the answer of the token endpoint " + tokenURL + " has no access_token: " + r.describe())
	}
	if !strings.EqualFold(ok.TokenType, "Bearer") {
		return cachedToken{}, credentialError(fmt.Sprintf("the token endpoint %s issued a token of type %q; only Bearer is supported.", tokenURL, ok.TokenType))
	}
	life := time.Hour // RFC 6749 §5.1: expires_in is RECOMMENDED; assume an hour
	if len(ok.ExpiresIn) > 0 {
		var n json.Number
		if err := json.Unmarshal([]byte(strings.Trim(string(ok.ExpiresIn), `"`)), &n); err == nil {
			if sec, err := n.Int64(); err == nil && sec > 0 {
				life = time.Duration(sec) * time.Second
			}
		}
	}
	return cachedToken{token: ok.AccessToken, expires: s.now().Add(life), life: life}, ""
}

// podBearer obtains the bearer of an on-demand run (reusing the token the
// service holds); when it cannot, it fails res as Entra does, before any
// SCIM call, answers, and reports false.
func (s *Server) podBearer(ctx context.Context, w http.ResponseWriter, res *podResult, cred credentials, jobID, spID, spName string) (string, bool) {
	token, msg := s.bearer(ctx, cred, false)
	if msg != "" {
		res.step("EntryImport", "Matching", "Failure", "Could not obtain an access token for "+targetDirectory+". "+msg, nil)
		res.fail("SystemForCrossDomainIdentityManagementCredentialValidationUnavailable", msg)
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return "", false
	}
	return token, true
}
