package setup

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/sysservice"
	"github.com/rosterhq/roster/graph/mappings"
	"github.com/rosterhq/roster/store"
)

// AdviceError is an error with the next step for the person running
// setup; the wizard shows both.
type AdviceError struct {
	Err  error
	Hint string
}

// Error returns the wrapped error's message.
func (e *AdviceError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *AdviceError) Unwrap() error { return e.Err }

// AgentReach is how Entra reaches the agent, as setup asks it.
type AgentReach struct {
	// TLSMode is config.TLSModeACME, TLSModeFiles, or TLSModeOff behind a
	// proxy or with Entra's on-premises agent.
	TLSMode           string
	PublicURL         string
	Listen            string // default :443 with TLS, else the config's
	CertFile, KeyFile string // TLSModeFiles
	ACMEEmail         string // TLSModeACME
}

// Agent is the agent a setup configures and starts: its configuration file
// in DataDir, and the system service it may be installed as.
type Agent struct {
	DataDir string
	// Installer installs the service; nil uses sysservice.System.
	Installer *sysservice.Installer
}

// ConfigFile is where setup writes the agent's configuration.
func (a Agent) ConfigFile() string { return filepath.Join(a.DataDir, "roster.conf") }

func (a Agent) installer() *sysservice.Installer {
	if a.Installer != nil {
		return a.Installer
	}
	return sysservice.System(io.Discard, io.Discard)
}

// Config turns r into the agent's configuration, on top of the file an
// earlier setup wrote (keeping what the owner edited by hand), and
// validates it.
func (a Agent) Config(r AgentReach) (config.Config, error) {
	cfg := config.Default()
	if old, err := config.Load(a.ConfigFile()); err == nil {
		cfg = old
	}
	cfg.DataDir = a.DataDir
	cfg.PublicURL = strings.TrimRight(r.PublicURL, "/")
	if r.Listen != "" {
		cfg.Listen = r.Listen
	}
	switch r.TLSMode {
	case config.TLSModeACME:
		cfg.TLS.Mode = config.TLSModeACME
		cfg.TLS.ACME.Email = r.ACMEEmail
		if r.Listen == "" {
			cfg.Listen = ":443"
		}
	case config.TLSModeFiles:
		cfg.TLS.Mode = config.TLSModeFiles
		cfg.TLS.CertFile, cfg.TLS.KeyFile = r.CertFile, r.KeyFile
		if r.Listen == "" {
			cfg.Listen = ":443"
		}
	default: // behind a proxy, or reached by Entra's on-premises agent
		cfg.TLS.Mode = config.TLSModeOff
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &AdviceError{Err: err, Hint: "Go back and correct the answer, or edit " + a.ConfigFile() + "."}
	}
	return cfg, nil
}

// WriteConfig writes the configuration Config returns to ConfigFile.
func (a Agent) WriteConfig(r AgentReach) (config.Config, error) {
	cfg, err := a.Config(r)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Write(a.ConfigFile())
}

// Check reports why the agent could not run with r, as a service when
// service is set, changing nothing: the service's constraints on this data
// directory, the configuration, and a certificate and key that belong
// together.
func (a Agent) Check(r AgentReach, service bool) error {
	if service {
		if err := a.CheckService(); err != nil {
			return err
		}
	}
	cfg, err := a.Config(r)
	if err != nil {
		return err
	}
	if cfg.TLS.Mode == config.TLSModeFiles {
		if _, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			return &AdviceError{Err: fmt.Errorf("the certificate %s and the key %s cannot be used together: %w", cfg.TLS.CertFile, cfg.TLS.KeyFile, err),
				Hint: "Give the PEM certificate chain and the private key that belongs to it, both readable by this user."}
		}
	}
	return nil
}

// CheckService refuses service mode when the service could not use this
// data directory.
func (a Agent) CheckService() error {
	o := sysservice.Options{DataDir: a.DataDir}
	if _, err := os.Stat(a.ConfigFile()); err == nil {
		o.Config = a.ConfigFile()
	}
	if err := a.installer().Check(o); err != nil {
		return &AdviceError{Err: err, Hint: "Fix what it says, or run the agent in this terminal now and move it into the service later with 'sudo roster service install'."}
	}
	return nil
}

// InstallService installs the agent as a system service that takes over
// this data directory and its configuration file, as `roster service
// install --data-dir DIR --config FILE` does.
func (a Agent) InstallService(ctx context.Context) (sysservice.Result, error) {
	return a.installer().Install(ctx, sysservice.Options{DataDir: a.DataDir, Config: a.ConfigFile()})
}

// Overview is what is already set up in a data directory.
type Overview struct {
	Tenants      []string
	Tokens       int // active Secret Tokens, all tenants
	Domains      []*store.Domain
	AppConnected bool   // a tenant has a saved Entra connection
	AppName      string // the connected app's display name
	AgentRunning bool   // an agent answers /healthz at the recorded public URL
}

// Overview describes what is already set up: tenants, tokens, domains, a
// saved Entra connection, and whether an agent answers at the recorded
// public URL.
func (s *Service) Overview(ctx context.Context) (Overview, error) {
	var o Overview
	tenants, err := s.dir.Tenants(ctx)
	if err != nil {
		return o, err
	}
	for _, t := range tenants {
		o.Tenants = append(o.Tenants, t.ID)
		o.Tokens += t.ActiveTokens
		doms, err := s.Domains(ctx, t.ID)
		if err != nil {
			return o, err
		}
		o.Domains = append(o.Domains, doms...)
		if c, err := s.Connection(ctx, t.ID); err == nil {
			o.AppConnected, o.AppName = true, c.App.DisplayName
		}
	}
	pub, err := s.PublicURL(ctx)
	if err != nil {
		return o, err
	}
	hc := &http.Client{Timeout: 700 * time.Millisecond, Transport: s.hc.Transport}
	if resp, err := hc.Get(pub + "/healthz"); err == nil {
		resp.Body.Close()
		o.AgentRunning = resp.StatusCode == http.StatusOK
	}
	return o, nil
}

// firstRequestPoll is how often WaitFirstRequest looks at the token.
const firstRequestPoll = time.Second

// WaitFirstRequest waits until the token tokenID of tenant is first used
// (Entra's Test Connection or first cycle), and returns when.
func (s *Service) WaitFirstRequest(ctx context.Context, tenant, tokenID string) (time.Time, error) {
	if tokenID == "" {
		return time.Time{}, errors.New("no Secret Token issued in this run: issue one first")
	}
	for {
		toks, err := s.dir.Tokens(ctx, orDefault(tenant))
		if err != nil {
			return time.Time{}, err
		}
		for _, t := range toks {
			if t.ID == tokenID && t.LastUsed != nil {
				return *t.LastUsed, nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(firstRequestPoll):
		}
	}
}

// WizardChoices are the provisioning choices the setup wizard asks for.
type WizardChoices struct {
	Mappings          []string // sources of the optional mappings chosen
	MatchOnEmployeeID bool
	ProvisionGroups   bool
	ScopeAllUsers     bool
	NotificationEmail string
}

// WizardSettings applies the wizard's choices to the settings of the
// tenant's last connection (or DefaultSettings): every optional mapping not
// chosen is omitted, except employeeId when users are matched on it.
func (s *Service) WizardSettings(ctx context.Context, tenant string, c WizardChoices) directory.EntraSettings {
	set := s.Settings(ctx, tenant)
	selected := map[string]bool{}
	for _, m := range c.Mappings {
		selected[m] = true
	}
	set.Omit = nil
	for _, m := range mappings.Table(mappings.Options{}) {
		if !m.Required && !selected[m.Source] && !(m.Source == mappings.EmployeeID && c.MatchOnEmployeeID) {
			set.Omit = append(set.Omit, m.Source)
		}
	}
	set.MatchOnEmployeeID, set.ProvisionGroups = c.MatchOnEmployeeID, c.ProvisionGroups
	set.SyncAll, set.NotificationEmail = c.ScopeAllUsers, c.NotificationEmail
	return set
}
