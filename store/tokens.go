package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Token is an issued Secret Token's record. The token itself is never stored:
// only its SHA-256 digest (docs/architecture.md#secret-tokens).
type Token struct {
	ID       string // public id, embedded in the token
	TenantID string
	Name     string
	Hash     []byte
	ReadOnly bool
	// App marks a read-write token for the organisation's own applications:
	// unlike a provisioning token (Entra's), it may not change the
	// attributes Entra manages.
	App bool
	// ClientID is the OAuth client an access token was issued to; "" for
	// a Secret Token.
	ClientID string
	Created  time.Time
	Expires  *time.Time
	Revoked  *time.Time
	LastUsed *time.Time
}

// Active reports whether the token may be used at now.
func (k *Token) Active(now time.Time) bool {
	return k.Revoked == nil && (k.Expires == nil || now.Before(*k.Expires))
}

// InsertToken records a new token.
func (t *Tx) InsertToken(k *Token) error {
	_, err := t.exec(`INSERT INTO tokens(id, tenant_id, name, hash, read_only, app, created, expires, client_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, k.Hash, boolInt(k.ReadOnly), boolInt(k.App), nanos(k.Created), nullNanos(k.Expires), nullString(k.ClientID))
	if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

const tokenCols = `id, tenant_id, name, hash, read_only, app, created, expires, revoked, last_used, client_id`

func scanToken(sc interface{ Scan(...any) error }) (*Token, error) {
	k := &Token{}
	var ro, app int
	var created int64
	var expires, revoked, lastUsed sql.NullInt64
	var client sql.NullString
	if err := sc.Scan(&k.ID, &k.TenantID, &k.Name, &k.Hash, &ro, &app, &created, &expires, &revoked, &lastUsed, &client); err != nil {
		return nil, err
	}
	k.ClientID = client.String
	k.ReadOnly, k.App = ro != 0, app != 0
	k.Created = fromNanos(created)
	k.Expires, k.Revoked, k.LastUsed = fromNullNanos(expires), fromNullNanos(revoked), fromNullNanos(lastUsed)
	return k, nil
}

// Token returns the token with the given public id, or ErrNotFound.
func (t *Tx) Token(id string) (*Token, error) {
	k, err := scanToken(t.queryRow(`SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	return k, err
}

// Tokens lists the Secret Tokens of a tenant ("" for all tenants), newest
// first; the OAuth access tokens are not listed.
func (t *Tx) Tokens(tenantID string) ([]*Token, error) {
	rows, err := t.query(`SELECT `+tokenCols+` FROM tokens WHERE (? = '' OR tenant_id = ?) AND client_id IS NULL ORDER BY created DESC, id`, tenantID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		k, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeToken marks a token revoked at now; ErrNotFound if it does not exist.
// Revoking a revoked token keeps the first revocation time.
func (t *Tx) RevokeToken(id string, now time.Time) error {
	res, err := t.exec(`UPDATE tokens SET revoked = COALESCE(revoked, ?) WHERE id = ?`, nanos(now), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	return nil
}

// TouchToken records that a token was used at now.
func (t *Tx) TouchToken(id string, now time.Time) error {
	_, err := t.exec(`UPDATE tokens SET last_used = ? WHERE id = ?`, nanos(now), id)
	return err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
