// Package oauth serves each tenant's OAuth 2.0 token endpoint,
// POST /oauth/{tenant}/token (docs/oauth.md): the client credentials grant
// (RFC 6749 §4.4) for clients that authenticate with a client secret
// (client_secret_basic or client_secret_post, RFC 6749 §2.3.1) or, for
// Entra's Workload Identity Federation, with a JWT assertion
// (RFC 7523 §2.2). It answers an access token that the SCIM API and the
// change feed accept like a Secret Token of the tenant.
//
// Handlers never run SQL: they call the directory package.
package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// Pattern is the route under which Handler is mounted.
const Pattern = "/oauth/{tenant}/token"

// TokenURL returns a tenant's token endpoint, to give Entra as the Token
// Endpoint (or Token URL) next to the Tenant URL.
func TokenURL(publicURL, tenantID string) string {
	return strings.TrimRight(publicURL, "/") + "/oauth/" + tenantID + "/token"
}

// MaxBodyBytes bounds a token request's body: an assertion of Entra is
// about 2 KB; the form around it is small.
const MaxBodyBytes = 64 << 10

// AssertionTypeJWT is the client_assertion_type of a JWT assertion
// (RFC 7523 §2.2).
const AssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Scopes a client may ask for (RFC 6749 §3.3). Absent, a client gets
// ScopeSCIM, or ScopeRead when it is read-only.
const (
	// ScopeSCIM reads and writes the tenant's SCIM API.
	ScopeSCIM = "scim"
	// ScopeReadWrite is a synonym of ScopeSCIM, the name Entra's
	// documentation uses (docs/oauth.md#scopes).
	ScopeReadWrite = "scim.readwrite"
	// ScopeRead only reads: the token is read-only.
	ScopeRead = "scim.read"
)

// Error codes of RFC 6749 §5.2. The client credentials grant carries no
// grant besides the client's own authentication, so invalid_grant is never
// answered.
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidClient        = "invalid_client"
	ErrUnauthorizedClient   = "unauthorized_client"
	ErrUnsupportedGrantType = "unsupported_grant_type"
	ErrInvalidScope         = "invalid_scope"
)

// AssertionVerifier checks a client assertion (RFC 7523 §3): its signature
// against a key of jwksURL, and its claims against issuer, subject and
// audience. A nil error accepts it.
type AssertionVerifier interface {
	VerifyAssertion(ctx context.Context, assertion, issuer, subject, audience, jwksURL string) error
}

// FailureLimiter counts failed client authentications with those of the
// SCIM API (scimhttp.Server implements it): a client that fails too often
// is answered 429 rather than 401.
type FailureLimiter interface {
	// ClientAuthFailed counts a failed authentication of r's client
	// (request id reqID) and records it (err says why) as a provisioning
	// event of call. When the client is over its allowance, it records
	// nothing and returns limited with how long the client must wait.
	ClientAuthFailed(r *http.Request, reqID string, call directory.Call, err error) (wait time.Duration, limited bool)
}

// Options configures the handler.
type Options struct {
	// Verifier checks federation clients' assertions; nil refuses them
	// (invalid_client, with a log line).
	Verifier AssertionVerifier
	// AccessTokenLifetime is how long issued access tokens live; 0 is
	// directory.DefaultAccessTokenLifetime.
	AccessTokenLifetime time.Duration
	// Failures limits failed client authentications; nil does not limit
	// them, nor record them.
	Failures FailureLimiter
	Logger   *slog.Logger
}

// Handler serves the token endpoint.
type Handler struct {
	dir *directory.Service
	opt Options
	log *slog.Logger
}

// New returns the token endpoint's handler.
func New(dir *directory.Service, opt Options) *Handler {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.AccessTokenLifetime <= 0 {
		opt.AccessTokenLifetime = directory.DefaultAccessTokenLifetime
	}
	return &Handler{dir: dir, opt: opt, log: opt.Logger}
}

// TokenResponse is a successful answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// ErrorResponse is an error answer (RFC 6749 §5.2).
type ErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// oauthError is a refused request: its RFC 6749 §5.2 code, HTTP status and
// description for the client; reason, when set, is what the log gets
// (never the client).
type oauthError struct {
	code, desc string
	status     int
	reason     error
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func fail(status int, code, format string, args ...any) *oauthError {
	return &oauthError{code: code, desc: fmt.Sprintf(format, args...), status: status}
}

// request is a parsed token request.
type request struct {
	grantType string
	scope     string
	cred      directory.ClientCredentials
	basic     bool // the client authenticated with the Authorization header
}

// ServeHTTP implements http.Handler for requests routed by Pattern.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	call := directory.Call{TenantID: tenant, Method: r.Method, Path: r.URL.Path, Start: time.Now()}
	req, oe := parse(w, r)
	if oe == nil {
		var resp *TokenResponse
		if resp, oe = h.grant(w, r, call, req); oe == nil {
			writeJSON(w, http.StatusOK, resp)
			return
		}
	}
	if oe.code == ErrInvalidClient && h.opt.Failures != nil {
		if wait, limited := h.opt.Failures.ClientAuthFailed(r, w.Header().Get("X-Request-Id"), call,
			scim.Errorf(http.StatusUnauthorized, "", "%s: %s", oe.code, errString(oe.reason, oe.desc))); limited {
			secs := strconv.FormatInt(max(int64((wait+time.Second-1)/time.Second), 1), 10)
			w.Header().Set("Retry-After", secs)
			oe = fail(http.StatusTooManyRequests, ErrInvalidClient, "too many failed client authentications from this address: check the client id and secret (or the federation) configured in Entra, then retry after %s seconds", secs)
		}
	} else if oe.code != ErrInvalidClient {
		h.dir.Record(context.WithoutCancel(r.Context()), call, oe.status, scim.Errorf(oe.status, "", "%s", oe.Error()))
	}
	if oe.code == ErrInvalidClient || oe.reason != nil {
		h.log.Info("token request refused", "request_id", w.Header().Get("X-Request-Id"), "tenant", tenant,
			"client_id", req.cred.ClientID, "error", oe.code, "reason", errString(oe.reason, oe.desc))
	}
	h.writeError(w, oe, req.basic)
}

func errString(err error, fallback string) string {
	if err == nil {
		return fallback
	}
	return err.Error()
}

// grant authenticates the client and issues its access token (RFC 6749
// §4.4.2, §4.4.3).
func (h *Handler) grant(w http.ResponseWriter, r *http.Request, call directory.Call, req request) (*TokenResponse, *oauthError) {
	ctx := r.Context()
	switch req.grantType {
	case "client_credentials":
	case "authorization_code", "password", "refresh_token":
		// Grants of RFC 6749 that no Roster client may use: answered
		// unauthorized_client once the client is known, below.
	default:
		return nil, fail(http.StatusBadRequest, ErrUnsupportedGrantType, "grant_type %s is not supported: use client_credentials", clean(req.grantType, 80))
	}
	if req.cred.Assertion != "" {
		if h.opt.Verifier == nil {
			h.log.Warn("a client presented an assertion, but this agent has no assertion verifier: federation clients are refused",
				"request_id", w.Header().Get("X-Request-Id"), "tenant", call.TenantID, "client_id", req.cred.ClientID)
		} else {
			req.cred.Verify = func(ctx context.Context, assertion string, c *store.OAuthClient) error {
				return h.opt.Verifier.VerifyAssertion(ctx, assertion, c.Issuer, c.Subject, c.Audience, c.JWKSURL)
			}
		}
	}
	c, err := h.dir.AuthenticateOAuthClient(ctx, call.TenantID, req.cred)
	if errors.Is(err, directory.ErrInvalidClient) {
		return nil, &oauthError{code: ErrInvalidClient, status: http.StatusUnauthorized, reason: err,
			desc: "client authentication failed: unknown client, wrong or expired secret, refused assertion, or a client of another tenant"}
	}
	if err != nil {
		return nil, h.internal(w, r, err)
	}
	if req.grantType != "client_credentials" {
		return nil, fail(http.StatusBadRequest, ErrUnauthorizedClient, "this client may use grant_type client_credentials only, not %s", req.grantType)
	}
	readOnly, scope, oe := grantScope(req.scope, c.ReadOnly)
	if oe != nil {
		return nil, oe
	}
	at, err := h.dir.IssueAccessToken(ctx, c, readOnly, h.opt.AccessTokenLifetime, call)
	if errors.Is(err, directory.ErrInvalidClient) { // revoked meanwhile
		return nil, &oauthError{code: ErrInvalidClient, status: http.StatusUnauthorized, reason: err, desc: "client authentication failed: the client was revoked"}
	}
	if err != nil {
		return nil, h.internal(w, r, err)
	}
	return &TokenResponse{AccessToken: at.Token.Reveal(), TokenType: "Bearer",
		ExpiresIn: int64(at.Record.Expires.Sub(at.Record.Created) / time.Second), Scope: scope}, nil
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) *oauthError {
	reqID := w.Header().Get("X-Request-Id")
	if se := directory.Unavailable(err); se != nil {
		h.log.Warn("token request refused: the store cannot be written", "request_id", reqID, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "60")
		return fail(http.StatusServiceUnavailable, "temporarily_unavailable", "the agent cannot store the token now; retry later")
	}
	h.log.Error("token request failed", "request_id", reqID, "path", r.URL.Path, "err", err)
	return fail(http.StatusInternalServerError, "server_error", "internal error (request id %s); the agent's log has the details", reqID)
}

// grantScope checks the requested scope (RFC 6749 §3.3) against the
// client's rights and returns whether the token is read-only and the scope
// to answer.
func grantScope(requested string, clientReadOnly bool) (readOnly bool, scope string, _ *oauthError) {
	if requested == "" {
		if clientReadOnly {
			return true, ScopeRead, nil
		}
		return false, ScopeSCIM, nil
	}
	var granted []string
	write := false
	for _, s := range strings.Split(requested, " ") {
		switch s {
		case "":
			return false, "", fail(http.StatusBadRequest, ErrInvalidScope, "the scope is malformed: separate scope values by one space")
		case ScopeSCIM, ScopeReadWrite:
			write = true
		case ScopeRead:
		default:
			return false, "", fail(http.StatusBadRequest, ErrInvalidScope, "unknown scope %s: use %s (read and write) or %s (read only)", clean(s, 80), ScopeSCIM, ScopeRead)
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	if write && clientReadOnly {
		return false, "", fail(http.StatusBadRequest, ErrInvalidScope, "this client is read-only: ask for scope %s, or none", ScopeRead)
	}
	return !write, strings.Join(granted, " "), nil
}

// parse reads a token request strictly: a POST of a form (RFC 6749 §3.2,
// Appendix B) in UTF-8 without repeated parameters, no larger than
// MaxBodyBytes, with one client authentication method (RFC 6749 §2.3).
// Parameters without a value count as absent (RFC 6749 §3.1).
func parse(w http.ResponseWriter, r *http.Request) (request, *oauthError) {
	var req request
	auth := r.Header.Get("Authorization")
	req.basic = auth != ""
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return req, fail(http.StatusMethodNotAllowed, ErrInvalidRequest, "%s is not supported: the token endpoint takes a POST (RFC 6749 section 3.2)", r.Method)
	}
	if r.URL.RawQuery != "" {
		return req, fail(http.StatusBadRequest, ErrInvalidRequest, "send the parameters in the body, not in the URL's query")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return req, fail(http.StatusBadRequest, ErrInvalidRequest, "the body must be application/x-www-form-urlencoded (RFC 6749 appendix B)")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return req, fail(http.StatusBadRequest, ErrInvalidRequest, "the body must be in UTF-8")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, fail(http.StatusRequestEntityTooLarge, ErrInvalidRequest, "the body is larger than %d bytes", MaxBodyBytes)
		}
		return req, fail(http.StatusBadRequest, ErrInvalidRequest, "the body could not be read")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return req, fail(http.StatusBadRequest, ErrInvalidRequest, "the body is not a valid form: %s", clean(err.Error(), 120))
	}
	get := map[string]string{}
	for k, vs := range form {
		if !utf8.ValidString(k) {
			return req, fail(http.StatusBadRequest, ErrInvalidRequest, "the body is not valid UTF-8")
		}
		if len(vs) > 1 {
			return req, fail(http.StatusBadRequest, ErrInvalidRequest, "the parameter %s is repeated (RFC 6749 section 3.2)", clean(k, 80))
		}
		if !utf8.ValidString(vs[0]) {
			return req, fail(http.StatusBadRequest, ErrInvalidRequest, "the parameter %s is not valid UTF-8", clean(k, 80))
		}
		if vs[0] != "" {
			get[k] = vs[0]
		}
	}
	req.grantType, req.scope = get["grant_type"], get["scope"]
	if req.grantType == "" {
		return req, fail(http.StatusBadRequest, ErrInvalidRequest, "grant_type is missing: use grant_type=client_credentials")
	}
	req.cred.ClientID = get["client_id"]
	secret, assertion, atype := get["client_secret"], get["client_assertion"], get["client_assertion_type"]
	methods := 0
	for _, used := range []bool{req.basic, secret != "", assertion != "" || atype != ""} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return req, fail(http.StatusBadRequest, ErrInvalidRequest, "use one client authentication method: the Authorization header, client_secret, or client_assertion (RFC 6749 section 2.3)")
	}
	switch {
	case req.basic:
		id, sec, oe := parseBasic(auth)
		if oe != nil {
			return req, oe
		}
		if req.cred.ClientID != "" && req.cred.ClientID != id {
			return req, fail(http.StatusBadRequest, ErrInvalidRequest, "client_id in the body differs from the one in the Authorization header")
		}
		req.cred.ClientID, req.cred.Secret = id, sec
	case secret != "":
		req.cred.Secret = secret
	case assertion != "" || atype != "":
		switch {
		case assertion == "":
			return req, fail(http.StatusBadRequest, ErrInvalidRequest, "client_assertion is missing next to client_assertion_type")
		case atype == "":
			return req, fail(http.StatusBadRequest, ErrInvalidRequest, "client_assertion_type is missing: use %s (RFC 7523 section 2.2)", AssertionTypeJWT)
		case atype != AssertionTypeJWT:
			return req, &oauthError{code: ErrInvalidClient, status: http.StatusUnauthorized,
				desc: "unsupported client_assertion_type: use " + AssertionTypeJWT}
		}
		req.cred.Assertion = assertion
	}
	if req.cred.ClientID == "" {
		desc := "no client authentication: send the client id and secret in the Authorization header (Basic) or as client_id and client_secret"
		if req.cred.Assertion != "" {
			desc = "client_id is missing: Roster finds the federation by the client id it printed"
		}
		return req, &oauthError{code: ErrInvalidClient, status: http.StatusUnauthorized, desc: desc}
	}
	if req.cred.Secret == "" && req.cred.Assertion == "" {
		return req, &oauthError{code: ErrInvalidClient, status: http.StatusUnauthorized,
			desc: "no client authentication: send client_secret, or a client_assertion"}
	}
	return req, nil
}

// parseBasic decodes client_secret_basic: the client id and secret are
// form-urlencoded, then sent as the Basic user and password
// (RFC 6749 §2.3.1).
func parseBasic(auth string) (id, secret string, _ *oauthError) {
	bad := &oauthError{code: ErrInvalidClient, status: http.StatusUnauthorized,
		desc: "the Authorization header must be Basic with the client id and secret (RFC 6749 section 2.3.1)"}
	r := http.Request{Header: http.Header{"Authorization": {auth}}}
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", "", bad
	}
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil || !utf8.ValidString(id) || !utf8.ValidString(secret) || id == "" || secret == "" {
		return "", "", bad
	}
	return id, secret, nil
}

// writeError answers an error (RFC 6749 §5.2). A 401 names the scheme the
// endpoint accepts in WWW-Authenticate (RFC 9110 §11.6.1), as RFC 6749
// §5.2 requires when the client used the Authorization header.
func (h *Handler) writeError(w http.ResponseWriter, oe *oauthError, basic bool) {
	if oe.status == http.StatusUnauthorized {
		v := `Basic realm="roster"`
		if basic {
			v += `, error="invalid_client"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	writeJSON(w, oe.status, ErrorResponse{Error: oe.code, ErrorDescription: clean(oe.desc, 400)})
}

// writeJSON answers v with the headers of RFC 6749 §5.1: tokens are never
// cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // our own types
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck
}

// clean makes s fit error_description, whose characters RFC 6749 §5.2
// limits to printable ASCII without '"' and '\', and at most n bytes.
func clean(s string, n int) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"':
			b.WriteByte('\'')
		case c == '\\':
			b.WriteByte('/')
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(c)
		}
		if b.Len() >= n {
			return b.String()[:n]
		}
	}
	return b.String()
}
