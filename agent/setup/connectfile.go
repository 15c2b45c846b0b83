package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/rosterhq/roster/agent/directory"
)

// ConnectFile is the --file format of `roster entra connect`: the same
// settings as its flags, which override it.
type ConnectFile struct {
	Tenant            string   `json:"tenant"`
	App               string   `json:"app"`
	AppName           string   `json:"app_name"`
	OnPremises        bool     `json:"on_premises"`
	TenantURL         string   `json:"tenant_url"`
	NotificationEmail string   `json:"notification_email"`
	DeleteThreshold   *int     `json:"delete_threshold"`
	Scope             string   `json:"scope"`
	Assign            []string `json:"assign"`
	MatchOnEmployeeID bool     `json:"match_on_employee_id"`
	Groups            *bool    `json:"provision_groups"`
	Omit              []string `json:"omit"`
	NoStart           bool     `json:"no_start"`
	Auth              string   `json:"auth"`
	EntraTenant       string   `json:"entra_tenant"`
	ClientID          string   `json:"client_id"`
	Cloud             string   `json:"cloud"`
	// Credential is oauth2, token or federation; Subject and Audience
	// describe the federation.
	Credential string `json:"credential"`
	Subject    string `json:"subject"`
	Audience   string `json:"audience"`
}

// LoadConnectFile reads a ConnectFile; unknown keys are errors. A file that
// cannot be read is the *fs.PathError; one that cannot be decoded is an
// error naming the file.
func LoadConnectFile(path string) (ConnectFile, error) {
	var cf ConnectFile
	b, err := os.ReadFile(path)
	if err != nil {
		return cf, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return cf, fmt.Errorf("%s: %w", path, err)
	}
	return cf, nil
}

// Apply sets the provisioning settings that the file gives.
func (cf ConnectFile) Apply(set *directory.EntraSettings) {
	if cf.NotificationEmail != "" {
		set.NotificationEmail = cf.NotificationEmail
	}
	if cf.DeleteThreshold != nil {
		set.DeleteThreshold = *cf.DeleteThreshold
	}
	if cf.Scope != "" {
		set.SyncAll = cf.Scope == "all"
	}
	if cf.Omit != nil {
		set.Omit = cf.Omit
	}
	if cf.MatchOnEmployeeID {
		set.MatchOnEmployeeID = true
	}
	if cf.Groups != nil {
		set.ProvisionGroups = *cf.Groups
	}
}

// Settings returns the provisioning settings of the tenant's last
// connection, or DefaultSettings when it has none: where a re-run starts.
func (s *Service) Settings(ctx context.Context, tenant string) directory.EntraSettings {
	if prev, err := s.Connection(ctx, tenant); err == nil && prev.Settings != nil {
		return *prev.Settings
	}
	return DefaultSettings()
}
