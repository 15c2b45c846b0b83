// Package setup holds the setup use cases that the wizard (full screen,
// --plain and --answers) and the plain subcommands share: issue the Secret
// Token, prove a domain, check that Entra can reach the agent, connect
// Entra (issue the token, configure the app through Graph, save the
// connection, revoke the token it replaced), provision on demand, and
// disconnect. Each has one implementation here, with one set of defaults.
//
// It reaches Microsoft Graph through graphapi.Client, so neither this
// package nor its tests compile the Graph SDK, and it knows nothing of the
// terminal: the wizard and the commands only map their input to these calls
// and print the results.
package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/agent/token"
	"github.com/rosterhq/roster/graph/graphapi"
	"github.com/rosterhq/roster/graph/mappings"
	"github.com/rosterhq/roster/store"
)

// TokenName is the name of every Secret Token issued for Entra, by the
// wizard and by `roster entra connect` alike.
const TokenName = "entra"

// DefaultDeleteThreshold is the accidental-deletion threshold unless told
// otherwise: Entra's own default (https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions).
const DefaultDeleteThreshold = 500

// DefaultSettings are the provisioning settings unless told otherwise:
// users matched on userPrincipalName, every optional attribute mapped
// (mappings.Default), groups provisioned, only assigned users and groups in
// scope, no notification email, the default deletion threshold.
func DefaultSettings() directory.EntraSettings {
	d := mappings.Default()
	return directory.EntraSettings{ProvisionGroups: d.ProvisionGroups, Omit: d.Omit,
		MatchOnEmployeeID: d.MatchOnEmployeeID, DeleteThreshold: DefaultDeleteThreshold}
}

// MappingOptions returns the attribute mappings the settings ask for.
func MappingOptions(s directory.EntraSettings) mappings.Options {
	return mappings.Options{MatchOnEmployeeID: s.MatchOnEmployeeID, ProvisionGroups: s.ProvisionGroups, Omit: s.Omit}
}

// ValidateSettings reports every problem with the settings at once.
func ValidateSettings(s directory.EntraSettings) error {
	var errs []error
	if err := MappingOptions(s).Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.DeleteThreshold < 0 {
		errs = append(errs, errors.New("the accidental-deletion threshold must be 0 (off) or more"))
	}
	if s.NotificationEmail != "" && !strings.Contains(s.NotificationEmail, "@") {
		errs = append(errs, fmt.Errorf("notification email %q is not an email address", s.NotificationEmail))
	}
	return errors.Join(errs...)
}

// Options configure a Service.
type Options struct {
	// Logger receives what the use cases do; nil discards it.
	Logger *slog.Logger
	// Checker looks domain proofs up in DNS.
	Checker directory.DomainChecker
	// HTTPClient makes the pre-flight request to the Tenant URL (default:
	// a client with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service runs the setup use cases over one directory.
type Service struct {
	dir     *directory.Service
	log     *slog.Logger
	checker directory.DomainChecker
	hc      *http.Client
	now     func() time.Time
}

// New returns a Service over dir.
func New(dir *directory.Service, o Options) *Service {
	s := &Service{dir: dir, log: o.Logger, checker: o.Checker, hc: o.HTTPClient, now: o.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 10 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// defaultPublicURL is the agent's address when none was recorded: the
// default listen address.
const defaultPublicURL = "http://127.0.0.1:8080"

// PublicURL returns the recorded public URL of the agent, or the default
// listen address's when none was recorded.
func (s *Service) PublicURL(ctx context.Context) (string, error) {
	pub, err := s.dir.PublicURL(ctx)
	if pub == "" && err == nil {
		pub = defaultPublicURL
	}
	return pub, err
}

// TenantURL returns the Tenant URL of a tenant at the recorded public URL.
func (s *Service) TenantURL(ctx context.Context, tenant string) (string, error) {
	pub, err := s.PublicURL(ctx)
	if err != nil {
		return "", err
	}
	return scimhttp.TenantURL(pub, orDefault(tenant)), nil
}

// SetPublicURL records the URL Entra reaches the agent at, after checking
// it against the reach rules.
func (s *Service) SetPublicURL(ctx context.Context, publicURL string, r Reach) error {
	if err := CheckURL(publicURL, r); err != nil {
		return err
	}
	return s.dir.SetPublicURL(ctx, publicURL)
}

// Issued is a newly issued Secret Token for Entra: the only time its value
// is known.
type Issued struct {
	Tenant    string
	TenantURL string
	Token     token.Secret
	TokenID   string
}

// PrepareTenant creates tenant when it does not exist yet and returns its
// Tenant URL. It issues no credential.
func (s *Service) PrepareTenant(ctx context.Context, tenant string) (string, error) {
	tenant = orDefault(tenant)
	if _, err := s.dir.Tenant(ctx, tenant); errors.Is(err, store.ErrNotFound) {
		if _, err := s.dir.AddTenant(ctx, tenant, "", store.TenantSettings{}); err != nil && !errors.Is(err, directory.ErrTenantExists) {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	return s.TenantURL(ctx, tenant)
}

// IssueToken issues a Secret Token for Entra in tenant, creating the tenant
// when it does not exist yet.
func (s *Service) IssueToken(ctx context.Context, tenant string) (*Issued, error) {
	tenant = orDefault(tenant)
	if _, err := s.PrepareTenant(ctx, tenant); err != nil {
		return nil, err
	}
	return s.issue(ctx, tenant)
}

func (s *Service) issue(ctx context.Context, tenant string) (*Issued, error) {
	url, err := s.TenantURL(ctx, tenant)
	if err != nil {
		return nil, err
	}
	is, err := s.dir.IssueToken(ctx, tenant, TokenName, false, nil)
	if err != nil {
		return nil, fmt.Errorf("issue a Secret Token: %w", err)
	}
	return &Issued{Tenant: tenant, TenantURL: url, Token: is.Token, TokenID: is.Record.ID}, nil
}

// Discard revokes a Secret Token issued for Entra that Entra will not get
// (the owner went back and chose an OAuth client or a federation instead).
func (s *Service) Discard(ctx context.Context, is *Issued) error {
	if _, err := s.dir.RevokeToken(ctx, is.TokenID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("revoke the unused Secret Token: %w", err)
	}
	return nil
}

// Domains lists the tenant's email domains.
func (s *Service) Domains(ctx context.Context, tenant string) ([]*store.Domain, error) {
	return s.dir.Domains(ctx, orDefault(tenant))
}

// AddDomain adds an email domain to prove; it returns the TXT record to publish.
func (s *Service) AddDomain(ctx context.Context, tenant, domain string) (*store.Domain, error) {
	return s.dir.AddDomain(ctx, orDefault(tenant), domain)
}

// CheckDomain looks the domain's TXT record up now.
func (s *Service) CheckDomain(ctx context.Context, tenant, domain string) (*store.Domain, error) {
	if s.checker == nil {
		return nil, errors.New("check domain: no DNS checker configured")
	}
	d, _, err := s.dir.VerifyDomain(ctx, orDefault(tenant), domain, s.checker)
	return d, err
}

// Connection returns the tenant's saved Entra connection, or an error
// wrapping directory.ErrNotConnected that says what to run.
func (s *Service) Connection(ctx context.Context, tenant string) (*directory.EntraConnection, error) {
	c, err := s.dir.EntraConnection(ctx, orDefault(tenant))
	if errors.Is(err, directory.ErrNotConnected) {
		return nil, fmt.Errorf("tenant %q is %w yet: run 'roster entra connect' (or 'roster setup')", orDefault(tenant), directory.ErrNotConnected)
	}
	return c, err
}

func orDefault(tenant string) string {
	if tenant == "" {
		return directory.DefaultTenant
	}
	return tenant
}

func appOf(c *directory.EntraConnection) graphapi.App { return graphapi.App(c.App) }
