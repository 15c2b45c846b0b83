package directory

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/token"
	"github.com/rosterhq/roster/store"
)

// This file is the OAuth 2.0 clients' use cases (docs/oauth.md): the CLI
// and `roster entra connect` add, list, rotate and revoke clients; the
// token endpoint (package oauth) authenticates a client and issues it an
// access token. An access token is a row of the tokens table in the Secret
// Token format, tied to its client: Authenticate accepts it like a Secret
// Token, bound to its tenant, read-only when its client is.

// Lifetimes of client secrets. Microsoft's gallery rules ask that client
// secrets expire within one to three years
// (https://learn.microsoft.com/entra/identity/enterprise-apps/app-gallery-user-provisioning-requirements).
const (
	DefaultClientSecretLifetime = 365 * 24 * time.Hour
	MinClientSecretLifetime     = 24 * time.Hour
	MaxClientSecretLifetime     = 3 * 365 * 24 * time.Hour
)

// DefaultAccessTokenLifetime is how long an access token lives unless the
// agent's configuration says otherwise (oauth.access_token_lifetime).
const DefaultAccessTokenLifetime = time.Hour

// ErrOAuthClientNotFound is returned for a client id that does not exist.
var ErrOAuthClientNotFound = errors.New("no such OAuth client")

// ErrInvalidClient is returned (wrapped with the reason, for the log) when
// a client cannot be authenticated: unknown, of another tenant, revoked, a
// wrong or expired secret, a refused assertion, or a method its kind does
// not use (RFC 6749 §5.2 invalid_client). The reasons are never shown to
// the client.
var ErrInvalidClient = errors.New("client authentication failed")

// NewOAuthClient is what `roster oauth client add` asks for.
type NewOAuthClient struct {
	Tenant string
	// Name recognises the client in listings and logs; "" names it
	// oauth-<date>.
	Name string
	// ReadOnly clients receive read-only access tokens.
	ReadOnly bool
	// SecretLifetime is how long the first secret is valid; 0 is
	// DefaultClientSecretLifetime.
	SecretLifetime time.Duration
}

// IssuedClientSecret is a client with a newly issued secret: the only time
// the secret is available.
type IssuedClientSecret struct {
	Client *store.OAuthClient
	Secret token.Secret
	Record *store.OAuthClientSecret
}

// AddOAuthClient creates a client that authenticates with a secret, and
// its first secret.
func (s *Service) AddOAuthClient(ctx context.Context, n NewOAuthClient) (*IssuedClientSecret, error) {
	lifetime, err := checkSecretLifetime(n.SecretLifetime)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := &store.OAuthClient{ID: newClientID(), TenantID: n.Tenant, Name: clientName(n.Name, "oauth", now), Kind: store.OAuthSecret,
		ReadOnly: n.ReadOnly, Created: now}
	sec, rec, err := newClientSecret(c.ID, now, lifetime)
	if err != nil {
		return nil, err
	}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, n.Tenant); err != nil {
			return err
		}
		if err := tx.InsertOAuthClient(c); err != nil {
			return err
		}
		return tx.InsertOAuthClientSecret(rec)
	})
	if err != nil {
		return nil, fmt.Errorf("add OAuth client: %w", err)
	}
	c.Secrets = []*store.OAuthClientSecret{rec}
	return &IssuedClientSecret{Client: c, Secret: sec, Record: rec}, nil
}

// RotateOAuthClient issues a further secret to a secret client. The
// client's other secrets stay valid until they are revoked
// (RevokeOAuthClientSecret) or expire, so Entra's configuration can be
// changed without an outage. lifetime 0 is DefaultClientSecretLifetime.
func (s *Service) RotateOAuthClient(ctx context.Context, clientID string, lifetime time.Duration) (*IssuedClientSecret, error) {
	lifetime, err := checkSecretLifetime(lifetime)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sec, rec, err := newClientSecret(clientID, now, lifetime)
	if err != nil {
		return nil, err
	}
	var c *store.OAuthClient
	err = s.db.Write(ctx, func(tx *store.Tx) (err error) {
		if c, err = tx.OAuthClient(clientID); err != nil {
			return err
		}
		switch {
		case c.Kind != store.OAuthSecret:
			return fmt.Errorf("OAuth client %s is a federation client: it authenticates with Entra's signed assertions and has no secret to rotate", clientID)
		case !c.Active():
			return fmt.Errorf("OAuth client %s is revoked: add a new one with 'roster oauth client add'", clientID)
		}
		if err := tx.InsertOAuthClientSecret(rec); err != nil {
			return err
		}
		c.Secrets = append([]*store.OAuthClientSecret{rec}, c.Secrets...)
		return nil
	})
	if err != nil {
		return nil, oauthClientErr(clientID, err)
	}
	return &IssuedClientSecret{Client: c, Secret: sec, Record: rec}, nil
}

// RevokeOAuthClientSecret revokes one secret of a client (the old one,
// after a rotation) and returns the client.
func (s *Service) RevokeOAuthClientSecret(ctx context.Context, clientID, secretID string) (*store.OAuthClient, error) {
	secretID = strings.TrimSuffix(strings.TrimPrefix(secretID, token.Prefix), "…")
	var c *store.OAuthClient
	err := s.db.Write(ctx, func(tx *store.Tx) (err error) {
		if _, err = tx.OAuthClient(clientID); err != nil {
			return err
		}
		if err = tx.RevokeOAuthClientSecret(clientID, secretID, s.now()); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("OAuth client %s has no secret %q: see 'roster oauth client list'", clientID, secretID)
		} else if err != nil {
			return err
		}
		c, err = tx.OAuthClient(clientID)
		return err
	})
	return c, oauthClientErr(clientID, err)
}

// RevokeOAuthClient revokes a client, its secrets and its live access
// tokens in one transaction. A running agent refuses those tokens within
// authCacheTTL.
func (s *Service) RevokeOAuthClient(ctx context.Context, clientID string) (*store.OAuthClient, error) {
	var c *store.OAuthClient
	var tokens []string
	err := s.db.Write(ctx, func(tx *store.Tx) (err error) {
		if tokens, err = tx.RevokeOAuthClient(clientID, s.now()); err != nil {
			return err
		}
		c, err = tx.OAuthClient(clientID)
		return err
	})
	if err != nil {
		return nil, oauthClientErr(clientID, err)
	}
	s.authMu.Lock()
	for _, id := range tokens {
		delete(s.authCache, id)
	}
	s.authMu.Unlock()
	return c, nil
}

// ListOAuthClients lists the clients of a tenant ("" for all) with their
// secrets' records, oldest first; ErrNoTenant for a tenant that does not
// exist.
func (s *Service) ListOAuthClients(ctx context.Context, tenantID string) ([]*store.OAuthClient, error) {
	var out []*store.OAuthClient
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		if err = tenantFilter(tx, tenantID); err == nil {
			out, err = tx.OAuthClients(tenantID)
		}
		return err
	})
	return out, err
}

// OAuthClient returns one client with its secrets' records, or
// ErrOAuthClientNotFound.
func (s *Service) OAuthClient(ctx context.Context, clientID string) (*store.OAuthClient, error) {
	var c *store.OAuthClient
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		c, err = tx.OAuthClient(clientID)
		return err
	})
	return c, oauthClientErr(clientID, err)
}

func oauthClientErr(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q (see 'roster oauth client list')", ErrOAuthClientNotFound, id)
	}
	return err
}

// Entra's sign-in hosts per cloud
// (https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud).
var entraHosts = map[string]string{
	"public": "login.microsoftonline.com",
	"usgov":  "login.microsoftonline.us",
	"china":  "login.partner.microsoftonline.cn",
}

// NewFederation is what `roster oauth federation add` asks for: the
// values Entra's Workload Identity Federation shows for the app
// (docs/oauth.md#workload-identity-federation).
type NewFederation struct {
	Tenant   string
	Name     string // "" names it federation-<date>
	ReadOnly bool
	// EntraTenant is the customer's Entra tenant id (a GUID), or one of its
	// domains when Issuer is given.
	EntraTenant string
	// Cloud is public (default), usgov or china: the sign-in host the
	// issuer and JWKS URL default to.
	Cloud string
	// Subject and Audience are the assertion's exact sub and aud.
	Subject, Audience string
	// Issuer defaults to https://<host>/<EntraTenant>/v2.0, JWKSURL to
	// https://<host>/<EntraTenant>/discovery/v2.0/keys.
	Issuer, JWKSURL string
	// AllowHTTP accepts http:// issuer and JWKS URLs, for a lab whose
	// Entra is simulated; otherwise both must be https.
	AllowHTTP bool
}

var (
	guidRe   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	domainRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// Federation returns the client values of n with the defaults applied and
// checked, without storing anything.
func (n NewFederation) Federation() (*store.OAuthClient, error) {
	cloud := n.Cloud
	if cloud == "" {
		cloud = "public"
	}
	host, ok := entraHosts[cloud]
	if !ok {
		return nil, fmt.Errorf("cloud %q: use public, usgov or china", n.Cloud)
	}
	tid := strings.ToLower(strings.TrimSpace(n.EntraTenant))
	switch {
	case tid == "" && (n.Issuer == "" || n.JWKSURL == ""):
		return nil, errors.New("the Entra tenant id is missing: give the customer's tenant id (a GUID, in Entra's overview page), or both the issuer and the JWKS URL")
	case tid != "" && !guidRe.MatchString(tid) && !domainRe.MatchString(tid):
		return nil, fmt.Errorf("the Entra tenant %q is neither a tenant id (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47) nor a domain such as contoso.onmicrosoft.com", n.EntraTenant)
	case tid != "" && !guidRe.MatchString(tid) && n.Issuer == "":
		// Entra's assertions name the tenant by its id in iss, never by
		// a domain (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
		return nil, fmt.Errorf("the Entra tenant %q is a domain, but the assertions' issuer names the tenant by its id: give the tenant id (a GUID) instead, or the issuer itself", n.EntraTenant)
	}
	c := &store.OAuthClient{Kind: store.OAuthFederation, ReadOnly: n.ReadOnly,
		Issuer: n.Issuer, Subject: strings.TrimSpace(n.Subject), Audience: strings.TrimSpace(n.Audience), JWKSURL: n.JWKSURL}
	if c.Issuer == "" {
		c.Issuer = "https://" + host + "/" + tid + "/v2.0"
	}
	if c.JWKSURL == "" {
		c.JWKSURL = "https://" + host + "/" + tid + "/discovery/v2.0/keys"
	}
	if c.Subject == "" {
		return nil, errors.New("the subject is missing: give the Subject (sub) that Entra shows for the Workload Identity Federation")
	}
	if c.Audience == "" {
		return nil, errors.New("the audience is missing: give the Audience (aud) that Entra shows for the Workload Identity Federation")
	}
	// The portal shows the audience as a scope, api://{app id}/.default,
	// while the assertion's aud is the application id URI without it
	// (https://github.com/AzureAD/SCIMReferenceCode/blob/master/Workload-Identity-Federation-for-SCIM-Provisioning.md
	// lists both): compare with what the assertion carries.
	c.Audience = strings.TrimSuffix(c.Audience, "/.default")
	if err := checkFederationURL("issuer", c.Issuer, n.AllowHTTP); err != nil {
		return nil, err
	}
	if err := checkFederationURL("JWKS URL", c.JWKSURL, n.AllowHTTP); err != nil {
		return nil, err
	}
	return c, nil
}

// checkFederationURL accepts absolute https URLs (http ones with
// allowHTTP), without user info or fragment.
func checkFederationURL(what, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("the %s %q is not an absolute https URL", what, raw)
	}
	if u.Scheme == "http" && !allowHTTP {
		return fmt.Errorf("the %s %q is not https: the signing keys must come over TLS (--allow-private-url accepts http in a lab)", what, raw)
	}
	return nil
}

// AddFederation creates a federation client: Entra authenticates it with
// assertions of n's issuer, subject and audience, signed by a key of n's
// JWKS URL (RFC 7523 §2.2, §3).
func (s *Service) AddFederation(ctx context.Context, n NewFederation) (*store.OAuthClient, error) {
	c, err := n.Federation()
	if err != nil {
		return nil, err
	}
	now := s.now()
	c.ID, c.TenantID, c.Name, c.Created = newClientID(), n.Tenant, clientName(n.Name, "federation", now), now
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, n.Tenant); err != nil {
			return err
		}
		return tx.InsertOAuthClient(c)
	})
	if err != nil {
		return nil, fmt.Errorf("add federation: %w", err)
	}
	return c, nil
}

// ClientCredentials are what a client presented to the token endpoint to
// authenticate (RFC 6749 §2.3.1, RFC 7523 §2.2): a secret, or an assertion.
type ClientCredentials struct {
	ClientID string
	// Secret is the client_secret (Basic or form); "" when an assertion is
	// presented.
	Secret string
	// Assertion is the client_assertion; "" when a secret is presented.
	Assertion string
	// Verify checks an assertion against a federation client's issuer,
	// subject, audience and JWKS URL; nil refuses every assertion.
	Verify func(ctx context.Context, assertion string, c *store.OAuthClient) error
}

// AuthenticateOAuthClient authenticates a client of tenantID by its
// credentials and returns it. Every failure is ErrInvalidClient, wrapped
// with the reason for the log: a client of another tenant is refused
// exactly like an unknown one.
func (s *Service) AuthenticateOAuthClient(ctx context.Context, tenantID string, cred ClientCredentials) (*store.OAuthClient, error) {
	var c *store.OAuthClient
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		c, err = tx.OAuthClient(cred.ClientID)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && c.TenantID != tenantID):
		if cred.Secret != "" {
			token.Equal(cred.Secret, make([]byte, 32)) // unknown ids cost the same as wrong secrets
		}
		return nil, fmt.Errorf("%w: no client %q in tenant %q", ErrInvalidClient, cred.ClientID, tenantID)
	case err != nil:
		return nil, fmt.Errorf("authenticate OAuth client: %w", err)
	case !c.Active():
		return nil, fmt.Errorf("%w: client %s is revoked", ErrInvalidClient, c.ID)
	}
	switch c.Kind {
	case store.OAuthSecret:
		if cred.Secret == "" {
			return nil, fmt.Errorf("%w: client %s authenticates with a client secret, not an assertion", ErrInvalidClient, c.ID)
		}
		if err := checkClientSecret(c, cred.Secret, s.now()); err != nil {
			return nil, err
		}
	case store.OAuthFederation:
		switch {
		case cred.Assertion == "":
			return nil, fmt.Errorf("%w: client %s is a federation client: it authenticates with a client_assertion, not a secret", ErrInvalidClient, c.ID)
		case cred.Verify == nil:
			return nil, fmt.Errorf("%w: client %s is a federation client, but this agent verifies no assertions", ErrInvalidClient, c.ID)
		}
		if err := cred.Verify(ctx, cred.Assertion, c); err != nil {
			return nil, fmt.Errorf("%w: client %s: assertion refused: %w", ErrInvalidClient, c.ID, err)
		}
	default:
		return nil, fmt.Errorf("%w: client %s is of unknown kind %q", ErrInvalidClient, c.ID, c.Kind)
	}
	return c, nil
}

// checkClientSecret compares a presented secret with the client's stored
// digests in constant time: the secret's public id selects the record, and
// a secret of the wrong shape is compared against a dummy digest.
func checkClientSecret(c *store.OAuthClient, secret string, now time.Time) error {
	id, err := token.Parse(secret)
	if err != nil {
		token.Equal(secret, make([]byte, 32))
		return fmt.Errorf("%w: client %s: the secret is not a Roster client secret", ErrInvalidClient, c.ID)
	}
	for _, k := range c.Secrets {
		if k.ID != id {
			continue
		}
		switch {
		case !token.Equal(secret, k.Hash):
			return fmt.Errorf("%w: client %s: wrong secret", ErrInvalidClient, c.ID)
		case k.Revoked != nil:
			return fmt.Errorf("%w: client %s: secret %s is revoked", ErrInvalidClient, c.ID, k.ID)
		case !k.Active(now):
			return fmt.Errorf("%w: client %s: secret %s expired at %s", ErrInvalidClient, c.ID, k.ID, k.Expires.Format(time.RFC3339))
		}
		return nil
	}
	token.Equal(secret, make([]byte, 32))
	return fmt.Errorf("%w: client %s: wrong secret", ErrInvalidClient, c.ID)
}

// AccessToken is a newly issued access token: the only time it is
// available.
type AccessToken struct {
	Token  token.Secret
	Record *store.Token
	Client *store.OAuthClient
}

// IssueAccessToken issues an access token to a client that
// AuthenticateOAuthClient returned, valid for lifetime (0 is
// DefaultAccessTokenLifetime) and read-only when the client is or readOnly
// asks for it. It records the grant as a provisioning event of call, in the
// same transaction; a client revoked meanwhile gets ErrInvalidClient.
func (s *Service) IssueAccessToken(ctx context.Context, c *store.OAuthClient, readOnly bool, lifetime time.Duration, call Call) (*AccessToken, error) {
	if lifetime <= 0 {
		lifetime = DefaultAccessTokenLifetime
	}
	sec, id, err := token.New()
	if err != nil {
		return nil, fmt.Errorf("issue access token: %w", err)
	}
	now := s.now()
	exp := now.Add(lifetime)
	rec := &store.Token{ID: id, TenantID: c.TenantID, Name: c.Name, Hash: token.Hash(sec.Reveal()), ReadOnly: c.ReadOnly || readOnly,
		ClientID: c.ID, Created: now, Expires: &exp}
	call.TokenName = c.Name
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		// The client's revocation commits in one transaction with its
		// tokens'; checking here keeps a grant racing it from outliving it.
		cur, err := tx.OAuthClient(c.ID)
		if err != nil {
			return err
		}
		if !cur.Active() {
			return fmt.Errorf("%w: client %s is revoked", ErrInvalidClient, c.ID)
		}
		if err := tx.InsertToken(rec); err != nil {
			return err
		}
		ev := s.event(call, "", "", "")
		ev.Status = scim.StatusOK
		access := "read-write"
		if rec.ReadOnly {
			access = "read-only"
		}
		ev.Detail = fmt.Sprintf("issued %s access token %s to OAuth client %s, valid until %s", access, id, c.ID, exp.UTC().Format(time.RFC3339))
		return tx.InsertEvent(ev)
	})
	if err != nil {
		return nil, fmt.Errorf("issue access token: %w", err)
	}
	return &AccessToken{Token: sec, Record: rec, Client: c}, nil
}

// checkSecretLifetime applies the default and the gallery's bounds.
func checkSecretLifetime(d time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return DefaultClientSecretLifetime, nil
	case d < MinClientSecretLifetime:
		return 0, fmt.Errorf("a client secret must live at least 1 day, not %s", d)
	case d > MaxClientSecretLifetime:
		return 0, fmt.Errorf("a client secret may live at most 3 years (Microsoft's gallery rules), not %d days", int(d.Hours()/24))
	}
	return d, nil
}

func newClientSecret(clientID string, now time.Time, lifetime time.Duration) (token.Secret, *store.OAuthClientSecret, error) {
	sec, id, err := token.New()
	if err != nil {
		return "", nil, fmt.Errorf("new client secret: %w", err)
	}
	return sec, &store.OAuthClientSecret{ID: id, ClientID: clientID, Hash: token.Hash(sec.Reveal()), Created: now, Expires: now.Add(lifetime)}, nil
}

// newClientID returns a random, public client_id.
func newClientID() string { return "oc_" + strings.ReplaceAll(newID(), "-", "") }

func clientName(name, kind string, now time.Time) string {
	if name != "" {
		return name
	}
	return kind + "-" + now.UTC().Format("20060102-150405")
}
