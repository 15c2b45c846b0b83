package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kinds of OAuth client.
const (
	// OAuthSecret is a client that authenticates with a client secret
	// (RFC 6749 §2.3.1).
	OAuthSecret = "secret"
	// OAuthFederation is a client that authenticates with a JWT assertion
	// of a trusted issuer (RFC 7523 §2.2): Workload Identity Federation.
	OAuthFederation = "federation"
)

// OAuthClient is a client of a tenant's token endpoint (docs/oauth.md).
type OAuthClient struct {
	ID       string // client_id, public
	TenantID string
	Name     string
	Kind     string // OAuthSecret or OAuthFederation
	// ReadOnly clients receive read-only access tokens.
	ReadOnly bool
	Created  time.Time
	Revoked  *time.Time
	// Issuer, Subject, Audience and JWKSURL describe the assertions a
	// federation client presents; "" for a secret client.
	Issuer, Subject, Audience, JWKSURL string
	// Secrets are the client's secrets, newest first (without the secrets
	// themselves); filled by OAuthClient and OAuthClients.
	Secrets []*OAuthClientSecret
}

// Active reports whether the client may obtain tokens.
func (c *OAuthClient) Active() bool { return c.Revoked == nil }

// OAuthClientSecret is one secret of an OAuth client: only its SHA-256
// digest is stored, like a Secret Token's.
type OAuthClientSecret struct {
	ID       string // public id, embedded in the secret
	ClientID string
	Hash     []byte
	Created  time.Time
	Expires  time.Time
	Revoked  *time.Time
}

// Active reports whether the secret may be used at now.
func (k *OAuthClientSecret) Active(now time.Time) bool {
	return k.Revoked == nil && now.Before(k.Expires)
}

// InsertOAuthClient records a new client (without secrets).
func (t *Tx) InsertOAuthClient(c *OAuthClient) error {
	_, err := t.exec(`INSERT INTO oauth_clients(id, tenant_id, name, kind, read_only, created, issuer, subject, audience, jwks_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.TenantID, c.Name, c.Kind, boolInt(c.ReadOnly), nanos(c.Created), c.Issuer, c.Subject, c.Audience, c.JWKSURL)
	if err != nil {
		return fmt.Errorf("insert OAuth client: %w", err)
	}
	return nil
}

// InsertOAuthClientSecret records a new secret of a client.
func (t *Tx) InsertOAuthClientSecret(k *OAuthClientSecret) error {
	_, err := t.exec(`INSERT INTO oauth_client_secrets(id, client_id, hash, created, expires) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.ClientID, k.Hash, nanos(k.Created), nanos(k.Expires))
	if err != nil {
		return fmt.Errorf("insert OAuth client secret: %w", err)
	}
	return nil
}

const oauthClientCols = `id, tenant_id, name, kind, read_only, created, revoked, issuer, subject, audience, jwks_url`

func scanOAuthClient(sc interface{ Scan(...any) error }) (*OAuthClient, error) {
	c := &OAuthClient{}
	var ro int
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&c.ID, &c.TenantID, &c.Name, &c.Kind, &ro, &created, &revoked, &c.Issuer, &c.Subject, &c.Audience, &c.JWKSURL); err != nil {
		return nil, err
	}
	c.ReadOnly, c.Created, c.Revoked = ro != 0, fromNanos(created), fromNullNanos(revoked)
	return c, nil
}

// OAuthClient returns the client with the given id and its secrets, or
// ErrNotFound.
func (t *Tx) OAuthClient(id string) (*OAuthClient, error) {
	c, err := scanOAuthClient(t.queryRow(`SELECT `+oauthClientCols+` FROM oauth_clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("OAuth client %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read OAuth client %s: %w", id, err)
	}
	if c.Secrets, err = t.oauthClientSecrets(`WHERE client_id = ?`, id); err != nil {
		return nil, err
	}
	return c, nil
}

// OAuthClients lists the clients of a tenant ("" for all tenants) with
// their secrets, oldest first.
func (t *Tx) OAuthClients(tenantID string) ([]*OAuthClient, error) {
	rows, err := t.query(`SELECT `+oauthClientCols+` FROM oauth_clients WHERE ? = '' OR tenant_id = ? ORDER BY created, id`, tenantID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list OAuth clients: %w", err)
	}
	var out []*OAuthClient
	byID := map[string]*OAuthClient{}
	for rows.Next() {
		c, err := scanOAuthClient(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
		byID[c.ID] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	secrets, err := t.oauthClientSecrets(`WHERE client_id IN (SELECT id FROM oauth_clients WHERE ? = '' OR tenant_id = ?)`, tenantID, tenantID)
	if err != nil {
		return nil, err
	}
	for _, k := range secrets {
		if c := byID[k.ClientID]; c != nil {
			c.Secrets = append(c.Secrets, k)
		}
	}
	return out, nil
}

func (t *Tx) oauthClientSecrets(where string, args ...any) ([]*OAuthClientSecret, error) {
	rows, err := t.query(`SELECT id, client_id, hash, created, expires, revoked FROM oauth_client_secrets `+where+` ORDER BY created DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list OAuth client secrets: %w", err)
	}
	defer rows.Close()
	var out []*OAuthClientSecret
	for rows.Next() {
		k := &OAuthClientSecret{}
		var created, expires int64
		var revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.ClientID, &k.Hash, &created, &expires, &revoked); err != nil {
			return nil, err
		}
		k.Created, k.Expires, k.Revoked = fromNanos(created), fromNanos(expires), fromNullNanos(revoked)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeOAuthClient marks a client revoked at now, with its secrets and its
// access tokens still live, and returns the ids of the access tokens it
// revoked; ErrNotFound if there is no such client. Revoking a revoked
// client keeps the first revocation time.
func (t *Tx) RevokeOAuthClient(id string, now time.Time) ([]string, error) {
	res, err := t.exec(`UPDATE oauth_clients SET revoked = COALESCE(revoked, ?) WHERE id = ?`, nanos(now), id)
	if err != nil {
		return nil, fmt.Errorf("revoke OAuth client: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("OAuth client %q: %w", id, ErrNotFound)
	}
	if _, err := t.exec(`UPDATE oauth_client_secrets SET revoked = ? WHERE client_id = ? AND revoked IS NULL`, nanos(now), id); err != nil {
		return nil, fmt.Errorf("revoke OAuth client secrets: %w", err)
	}
	rows, err := t.query(`SELECT id FROM tokens WHERE client_id = ? AND revoked IS NULL`, id)
	if err != nil {
		return nil, fmt.Errorf("revoke OAuth access tokens: %w", err)
	}
	var ids []string
	for rows.Next() {
		var tid string
		if err := rows.Scan(&tid); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, tid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := t.exec(`UPDATE tokens SET revoked = ? WHERE client_id = ? AND revoked IS NULL`, nanos(now), id); err != nil {
		return nil, fmt.Errorf("revoke OAuth access tokens: %w", err)
	}
	return ids, nil
}

// RevokeOAuthClientSecret marks one secret of a client revoked at now;
// ErrNotFound if the client has no such secret.
func (t *Tx) RevokeOAuthClientSecret(clientID, secretID string, now time.Time) error {
	res, err := t.exec(`UPDATE oauth_client_secrets SET revoked = COALESCE(revoked, ?) WHERE id = ? AND client_id = ?`, nanos(now), secretID, clientID)
	if err != nil {
		return fmt.Errorf("revoke OAuth client secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("secret %q of OAuth client %q: %w", secretID, clientID, ErrNotFound)
	}
	return nil
}

// PurgeAccessTokens deletes the OAuth access tokens that expired or were
// revoked before before, and returns how many it deleted.
func (t *Tx) PurgeAccessTokens(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM tokens WHERE client_id IS NOT NULL AND (expires < ? OR revoked < ?)`, nanos(before), nanos(before))
	if err != nil {
		return 0, fmt.Errorf("purge access tokens: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
