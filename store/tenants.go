package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Tenant is one organisation (or location) served by the agent, with its own
// Tenant URL, tokens and directory.
type Tenant struct {
	ID       string // slug in the Tenant URL
	Name     string
	Created  time.Time
	Settings TenantSettings
}

// TenantSettings are per-tenant options, stored as JSON.
type TenantSettings struct {
	// PatchUserNoContent makes PATCH /Users answer 204 without a body, as
	// Microsoft's reference server does; the default is 200 with the resource
	// (docs/entra.md#responses-entra-expects).
	PatchUserNoContent bool `json:"patch_user_no_content,omitempty"`
	// RetentionDays is how long a disabled user is kept before the agent
	// purges it; nil means the default (30 days), 0 keeps disabled users forever.
	RetentionDays *int `json:"retention_days,omitempty"`
	// Extensions are the custom extension attributes the tenant declared
	// (`roster tenant extension add`), in declaration order.
	Extensions []ExtensionAttribute `json:"extensions,omitempty"`
}

// ExtensionAttribute is a declared custom extension attribute: an attribute
// of an extension schema such as
// "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User" (RFC 7643 §3.3).
type ExtensionAttribute struct {
	Schema      string `json:"schema"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	MultiValued bool   `json:"multi_valued,omitempty"`
}

// DefaultRetentionDays is how long disabled users are kept unless a tenant says otherwise.
const DefaultRetentionDays = 30

// Retention returns the tenant's retention period; 0 means keep forever.
func (s TenantSettings) Retention() time.Duration {
	days := DefaultRetentionDays
	if s.RetentionDays != nil {
		days = *s.RetentionDays
	}
	return time.Duration(days) * 24 * time.Hour
}

// InsertTenant adds a tenant; ErrConflict if the id is taken.
func (t *Tx) InsertTenant(tn *Tenant) error {
	s, err := json.Marshal(tn.Settings)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO tenants(id, name, created, settings) VALUES (?, ?, ?, ?)`, tn.ID, tn.Name, nanos(tn.Created), string(s))
	if err != nil {
		return fmt.Errorf("insert tenant %s: %w", tn.ID, err)
	}
	return nil
}

// UpdateTenant changes a tenant's name and settings.
func (t *Tx) UpdateTenant(tn *Tenant) error {
	s, err := json.Marshal(tn.Settings)
	if err != nil {
		return err
	}
	res, err := t.exec(`UPDATE tenants SET name = ?, settings = ? WHERE id = ?`, tn.Name, string(s), tn.ID)
	if err != nil {
		return fmt.Errorf("update tenant %s: %w", tn.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("tenant %s: %w", tn.ID, ErrNotFound)
	}
	return nil
}

// DeleteTenant removes a tenant with everything it owns: its users, groups
// and their memberships, tokens and domains go by ON DELETE CASCADE
// (migrations 0001 and 0003); its provisioning events, which have no foreign
// key so that they outlive the resources they describe, are deleted here.
// ErrNotFound if there is no such tenant.
func (t *Tx) DeleteTenant(id string) error {
	if _, err := t.exec(`DELETE FROM events WHERE tenant_id = ?`, id); err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	res, err := t.exec(`DELETE FROM tenants WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	return nil
}

// Tenant returns the tenant with the given id, or ErrNotFound.
func (t *Tx) Tenant(id string) (*Tenant, error) {
	tn := &Tenant{}
	var created int64
	var settings string
	err := t.queryRow(`SELECT id, name, created, settings FROM tenants WHERE id = ?`, id).Scan(&tn.ID, &tn.Name, &created, &settings)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read tenant %s: %w", id, err)
	}
	tn.Created = fromNanos(created)
	if err := json.Unmarshal([]byte(settings), &tn.Settings); err != nil {
		return nil, fmt.Errorf("tenant %s settings: %w", id, err)
	}
	return tn, nil
}

// TenantSummary is a tenant with counts, for listings.
type TenantSummary struct {
	Tenant
	Users, Groups, ActiveTokens int
}

// Tenants lists every tenant with its user, group and active-Secret-Token
// counts (OAuth access tokens are not counted).
func (t *Tx) Tenants(now time.Time) ([]TenantSummary, error) {
	rows, err := t.query(`SELECT t.id, t.name, t.created, t.settings,
		(SELECT count(*) FROM resources r WHERE r.tenant_id = t.id AND r.kind = 'User'),
		(SELECT count(*) FROM resources r WHERE r.tenant_id = t.id AND r.kind = 'Group'),
		(SELECT count(*) FROM tokens k WHERE k.tenant_id = t.id AND k.client_id IS NULL AND k.revoked IS NULL AND (k.expires IS NULL OR k.expires > ?))
		FROM tenants t ORDER BY t.created, t.id`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	var out []TenantSummary
	for rows.Next() {
		var s TenantSummary
		var created int64
		var settings string
		if err := rows.Scan(&s.ID, &s.Name, &created, &settings, &s.Users, &s.Groups, &s.ActiveTokens); err != nil {
			return nil, err
		}
		s.Created = fromNanos(created)
		if err := json.Unmarshal([]byte(settings), &s.Settings); err != nil {
			return nil, fmt.Errorf("tenant %s settings: %w", s.ID, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Setting returns the value stored under key, or "" and ErrNotFound.
func (t *Tx) Setting(key string) (string, error) {
	var v string
	err := t.queryRow(`SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}

// DeleteSetting removes key; a missing key is not an error.
func (t *Tx) DeleteSetting(key string) error {
	_, err := t.exec(`DELETE FROM settings WHERE key = ?`, key)
	return err
}

// SetSetting stores value under key.
func (t *Tx) SetSetting(key, value string) error {
	_, err := t.exec(`INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
