package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/store"
)

// Settings keys of what setup remembers.
const (
	settingPublicURL  = "public_url" // the base URL the agent answers at
	settingSetupState = "setup"      // the wizard's saved progress
	settingEntraPfx   = "entra:"     // + tenant id: the saved Entra connection
)

// ErrNotConnected is returned by EntraConnection for a tenant that no Entra
// app provisions into yet.
var ErrNotConnected = errors.New("not connected to Entra")

// EntraApp identifies the Entra enterprise app of a connection.
type EntraApp struct {
	ServicePrincipalID string `json:"service_principal_id"`
	AppID              string `json:"app_id"`
	DisplayName        string `json:"display_name"`
	UserRoleID         string `json:"user_role_id,omitempty"`
}

// EntraSettings are the provisioning settings a connection wrote to the app;
// a later run starts from them.
type EntraSettings struct {
	MatchOnEmployeeID bool     `json:"match_on_employee_id,omitempty"`
	ProvisionGroups   bool     `json:"provision_groups"`
	Omit              []string `json:"omit,omitempty"`
	SyncAll           bool     `json:"sync_all,omitempty"`
	NotificationEmail string   `json:"notification_email,omitempty"`
	DeleteThreshold   int      `json:"delete_threshold"`
}

// EntraConnection is what a tenant's connection to Entra remembers, so that
// later commands need no flags and a re-run changes the same app. It holds
// no secret: TokenID names the Secret Token Entra holds, OAuthClientID the
// OAuth client (Credential says which of them Entra uses).
type EntraConnection struct {
	App       EntraApp `json:"app"`
	JobID     string   `json:"job_id"`
	TenantURL string   `json:"tenant_url"`
	// Credential is how Entra authenticates to the agent: "oauth2",
	// "token" or "federation"; "" in connections saved before the choice
	// (a Secret Token).
	Credential    string `json:"credential,omitempty"`
	OAuthClientID string `json:"oauth_client_id,omitempty"`
	// OAuthSecretID is the client secret Entra holds: once it has passed
	// Test Connection, the client's other secrets are revoked.
	OAuthSecretID string    `json:"oauth_secret_id,omitempty"`
	TokenID       string    `json:"token_id,omitempty"`
	OnPremises    bool      `json:"on_premises,omitempty"`
	Auth          string    `json:"auth"`
	EntraID       string    `json:"entra_tenant_id,omitempty"`
	ClientID      string    `json:"client_id,omitempty"`
	Cloud         string    `json:"cloud,omitempty"`
	Connected     time.Time `json:"connected"`
	// Settings is nil in connections saved by older versions.
	Settings *EntraSettings `json:"settings,omitempty"`
}

// EntraConnection returns the tenant's saved Entra connection, or an error
// wrapping ErrNotConnected.
func (s *Service) EntraConnection(ctx context.Context, tenantID string) (*EntraConnection, error) {
	var raw string
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) { raw, err = tx.Setting(settingEntraPfx + tenantID); return })
	if errors.Is(err, store.ErrNotFound) || (err == nil && raw == "") {
		return nil, fmt.Errorf("tenant %q: %w", tenantID, ErrNotConnected)
	}
	if err != nil {
		return nil, err
	}
	var c EntraConnection
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("read the saved Entra connection of tenant %q: %w", tenantID, err)
	}
	return &c, nil
}

// SaveEntraConnection stores the tenant's Entra connection.
func (s *Service) SaveEntraConnection(ctx context.Context, tenantID string, c *EntraConnection) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx *store.Tx) error { return tx.SetSetting(settingEntraPfx+tenantID, string(b)) })
}

// DeleteEntraConnection forgets the tenant's Entra connection.
func (s *Service) DeleteEntraConnection(ctx context.Context, tenantID string) error {
	return s.db.Write(ctx, func(tx *store.Tx) error { return tx.DeleteSetting(settingEntraPfx + tenantID) })
}

// SetupState decodes the wizard's saved progress into v and reports whether
// there was any.
func (s *Service) SetupState(ctx context.Context, v any) (bool, error) {
	var raw string
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) { raw, err = tx.Setting(settingSetupState); return })
	if errors.Is(err, store.ErrNotFound) || (err == nil && raw == "") {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, fmt.Errorf("read the saved setup progress: %w", err)
	}
	return true, nil
}

// SaveSetupState stores the wizard's progress (v is encoded as JSON).
func (s *Service) SaveSetupState(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx *store.Tx) error { return tx.SetSetting(settingSetupState, string(b)) })
}

// PublicURL returns the base URL the agent answers at (without a trailing
// slash), or "" when none was recorded.
func (s *Service) PublicURL(ctx context.Context) (string, error) {
	var v string
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) { v, err = tx.Setting(settingPublicURL); return })
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// SetPublicURL records the base URL the agent answers at.
func (s *Service) SetPublicURL(ctx context.Context, u string) error {
	u = strings.TrimRight(u, "/")
	return s.db.Write(ctx, func(tx *store.Tx) error { return tx.SetSetting(settingPublicURL, u) })
}
