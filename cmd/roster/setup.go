package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/domainproof"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/agent/setup"
	"github.com/rosterhq/roster/agent/sysservice"
	"github.com/rosterhq/roster/graph"
	"github.com/rosterhq/roster/graph/graphapi"
	"github.com/rosterhq/roster/store"
	"github.com/rosterhq/roster/tui"
)

func newSetupCmd(rf *rootFlags) *cobra.Command {
	var (
		gf                 graphFlags
		dns                dnsFlags
		answers, logFile   string
		tenant             string
		plain, noAltScreen bool
		allowPrivate       bool
	)
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Set up Roster and Entra provisioning, step by step, in the terminal",
		Long: `A wizard that takes you from nothing to Entra provisioning users into a running
agent: how Entra reaches the agent (automatic certificate, your own, a reverse
proxy, or Entra's on-premises agent), your email domains (DNS TXT records,
checked live), starting the agent, signing in to Microsoft, the enterprise
app, attribute mappings, scope, notification email, users and groups, how
Entra authenticates to the agent, Test Connection, starting provisioning, and
one user on demand. Nothing is created in Entra before the agent runs.

How Entra authenticates (the same choice as 'roster entra connect
--credential'): oauth2, the default, an OAuth client that Roster saves in Entra
itself (the summary shows its client id and token URL; s prints its secret);
token, a long-lived Secret Token, shown once (the fallback, and the default on
the on-premises route); or federation, Workload Identity Federation, with the
Subject and Audience the portal shows (or the one added with 'roster oauth
federation add'), finished in the portal. Only the credential chosen is
issued, once it is chosen. The manual path uses a Secret Token.

Progress is saved after each step: quit any time (q, or ctrl+c twice) and run
'roster setup' again to resume; it offers your earlier answers, the credential
kind included, as the defaults. Esc goes back or cancels what is running; r
(ctrl+r while typing) retries what failed. Values to copy (the Secret Token,
the Tenant URL, the TXT record) stand alone on their line; y copies one to the
clipboard (OSC 52), and p prints them whole above the wizard when the terminal
is too narrow to show them. The summary, the next commands and any TXT record
still to publish stay in the terminal after the wizard ends. If you cannot
sign in to Microsoft Graph, choose the manual path: the wizard shows the
values to type into the Entra admin center and confirms when Entra's first
request arrives.

Without a terminal (stdin not a TTY, or --plain) the same questions are asked
line by line, each checked as it is answered; a new run offers the earlier
answers as defaults (enter keeps one, - clears it). --answers FILE runs the
whole flow unattended from JSON, checked whole (domains, certificate and key,
service mode) before anything changes:

  {
    "tls": "acme",                     // acme, files, proxy or onprem
    "public_url": "https://scim.contoso.com",
    "acme_email": "it@contoso.com",    // acme; cert_file and key_file for files
    "listen": ":443",                  // default :443, or 127.0.0.1:8080 (proxy)
    "domains": ["contoso.com"],        // pending domains do not stop the run
    "sign_in": "device-code",          // device-code, azure-cli, client-secret, manual
    "tenant_id": "contoso.onmicrosoft.com",
    "client_id": "", "client_secret_env": "ROSTER_GRAPH_CLIENT_SECRET",
    "app": "Roster",                   // or the service principal id of an app to adopt;
                                       // an app of this name is reused only if this
                                       // data dir connected it
    "credential": "oauth2",            // how Entra authenticates: oauth2 (default, an
                                       // OAuth client), token (a Secret Token) or
                                       // federation (finished in the portal)
    "subject": "", "audience": "",     // federation: as the portal shows them (or
                                       // from 'roster oauth federation add')
    "new_token": false,                // token: a new one only when not connected yet
    "mappings": ["givenName", "surname", "employeeId", "manager"],
    "match_on_employee_id": false, "provision_groups": true,
    "scope": "assigned",               // or all
    "notification_email": "it@contoso.com",
    "assign": ["alice@contoso.com", "Sales"],
    "agent": "foreground",             // or service
    "provision_on_demand": "alice@contoso.com",
    "wait_first_request": "10m"        // manual path only
  }

(Without the comments: the file is plain JSON; unknown keys are errors.) A
token in ROSTER_GRAPH_TOKEN is used instead of any sign-in method.

Running setup again changes the same Entra app in place (mappings, scope,
notification email and assignments). With OAuth (the default) each run gives
the client a new secret and revokes the old one once Test Connection passed;
with a Secret Token, Entra keeps its token unless a new one is issued. A
loopback or private public URL is refused outside the on-premises route;
--allow-private-url accepts one for labs and tests.`,
		Example: `  roster setup
  roster setup --answers setup.json
  ROSTER_GRAPH_TOKEN=ey... roster setup --plain < answers.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A hang-up (the terminal closed, the SSH session dropped) ends
			// the setup and the agent it started, as it ends any program
			// run in a terminal. The in-process agent's own SIGHUP handler
			// reloads, so without this the wizard would stay behind
			// headless, holding the data directory's lock.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGHUP)
			defer stop()
			if rf.dataDir == "" {
				return usageError{errors.New("--data-dir must not be empty")}
			}
			if err := os.MkdirAll(rf.dataDir, 0o700); err != nil {
				return err
			}
			if logFile == "" {
				logFile = filepath.Join(rf.dataDir, "setup.log")
			}
			lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("open the setup log: %w", err)
			}
			defer lf.Close()
			log := slog.New(slog.NewJSONHandler(lf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			b, err := newSetupBackend(ctx, rf, &gf, &dns, lf, log)
			if err != nil {
				return err
			}
			defer b.Close()
			b.allowPrivate = allowPrivate
			opts := tui.Options{Tenant: tenant, Logger: log, AltScreen: !noAltScreen}
			out := cmd.OutOrStdout()
			switch {
			case answers != "":
				a, err := tui.LoadAnswers(answers)
				if err != nil {
					return usageError{err}
				}
				err = tui.RunAnswers(ctx, a, b, out)
				if err != nil {
					return err
				}
			case plain || !isatty.IsTerminal(os.Stdin.Fd()) || !isatty.IsTerminal(os.Stdout.Fd()):
				if err := tui.RunPlain(ctx, cmd.InOrStdin(), out, b, opts); err != nil {
					return err
				}
			default:
				err := tui.Run(ctx, b, opts)
				if errors.Is(err, tui.ErrQuit) {
					fmt.Fprintln(out, "Setup paused; your progress is saved. Run 'roster setup' again to resume.")
					b.StopAgent()
					return nil
				}
				if err != nil {
					return err
				}
			}
			return b.KeepAgentRunning(ctx, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&answers, "answers", "", "run unattended from this JSON answers file")
	f.BoolVar(&plain, "plain", false, "ask line by line instead of the full-screen wizard (the default without a terminal)")
	f.BoolVar(&noAltScreen, "no-alt-screen", false, "draw in the normal screen buffer (keeps the wizard in the scrollback)")
	f.StringVar(&logFile, "log-file", "", "where the wizard and an agent it starts log (default <data-dir>/setup.log)")
	f.StringVar(&tenant, "tenant", "", "Roster tenant to set up (default \"default\")")
	f.BoolVar(&allowPrivate, "allow-private-url", false, "accept a loopback or private public URL outside the on-premises route (labs and tests only: Entra's cloud service cannot call it)")
	gf.register(cmd)
	dns.register(cmd)
	return cmd
}

// setupBackend implements tui.Backend over the setup use cases (agent/setup),
// the Graph client and an agent started in this process or as a service:
// it only converts between the wizard's types and theirs.
type setupBackend struct {
	rf  *rootFlags
	gf  *graphFlags
	dns *dnsFlags
	db  *store.DB
	dir *directory.Service
	svc *setup.Service
	log *slog.Logger
	// logOut receives an in-process agent's output (never the screen).
	logOut io.Writer
	// allowPrivate accepts a loopback or private public URL (--allow-private-url).
	allowPrivate bool

	mu     sync.Mutex
	client *graph.Client
	gcfg   graph.Config
	tenant string
	issued *setup.Issued // the token issued in this run, if any
	onPrem bool

	agent     setup.Agent
	running   *agent.Running
	agentInfo *tui.AgentInfo
}

func newSetupBackend(ctx context.Context, rf *rootFlags, gf *graphFlags, dns *dnsFlags, logOut io.Writer, log *slog.Logger) (*setupBackend, error) {
	opts, err := storeOptions()
	if err != nil {
		return nil, err
	}
	b := &setupBackend{rf: rf, gf: gf, dns: dns, log: log, logOut: logOut, tenant: directory.DefaultTenant,
		agent: setup.Agent{DataDir: rf.dataDir, Installer: newInstaller(io.Discard, io.Discard)}}
	return b, b.openStore(ctx, rf.dbPath(), opts)
}

// openStore makes the store at path the one the wizard works on.
func (b *setupBackend) openStore(ctx context.Context, path string, opts store.Options) error {
	db, err := store.Open(ctx, path, opts)
	if err != nil {
		return err
	}
	b.db, b.dir = db, directory.New(db, b.log, nil)
	b.svc = setup.New(b.dir, setup.Options{Logger: b.log, Checker: b.dns.checker()})
	return nil
}

// Close stops an in-process agent and closes the store.
func (b *setupBackend) Close() {
	b.StopAgent()
	b.db.Close()
}

// hint turns an error's advice into the wizard's.
func hint(err error) error {
	if err == nil {
		return nil
	}
	var ge *graph.Error
	if errors.As(err, &ge) && ge.Hint != "" {
		return &tui.HintError{Err: err, Hint: ge.Hint}
	}
	var adv *setup.AdviceError
	if errors.As(err, &adv) {
		return &tui.HintError{Err: err, Hint: adv.Hint}
	}
	var ae *setup.AppExistsError
	if errors.As(err, &ae) {
		return &tui.HintError{Err: err, Hint: "go back and choose the app to use, or another name"}
	}
	if errors.Is(err, setup.ErrPrivateURL) {
		return &tui.HintError{Err: err, Hint: "go back and give a public HTTPS URL, or choose the on-premises route"}
	}
	return err
}

func (b *setupBackend) LoadState(ctx context.Context) (tui.State, error) {
	var st tui.State
	if _, err := b.dir.SetupState(ctx, &st); err != nil {
		b.log.Warn("saved setup progress unreadable; starting over", "err", err)
		return tui.State{}, nil
	}
	return st, nil
}

func (b *setupBackend) SaveState(ctx context.Context, s tui.State) error {
	if s.Tenant != "" {
		b.mu.Lock()
		b.tenant = s.Tenant
		b.mu.Unlock()
	}
	return b.dir.SaveSetupState(ctx, s)
}

func (b *setupBackend) Existing(ctx context.Context) (tui.Existing, error) {
	o, err := b.svc.Overview(ctx)
	e := tui.Existing{DataDir: b.rf.dataDir, Tenants: o.Tenants, Tokens: o.Tokens, AppConnected: o.AppConnected, AppName: o.AppName, AgentRunning: o.AgentRunning}
	for _, d := range o.Domains {
		e.Domains = append(e.Domains, tuiDomain(d))
	}
	return e, err
}

func (b *setupBackend) reach() setup.Reach {
	b.mu.Lock()
	defer b.mu.Unlock()
	return setup.Reach{OnPremises: b.onPrem, AllowPrivateURL: b.allowPrivate}
}

func (b *setupBackend) SetReach(ctx context.Context, r tui.Reach) error {
	if r.PublicURL == "" {
		return nil
	}
	b.mu.Lock()
	b.onPrem = r.TLS == tui.TLSOnPrem
	b.mu.Unlock()
	return hint(b.svc.SetPublicURL(ctx, r.PublicURL, b.reach()))
}

func (b *setupBackend) PrepareTenant(ctx context.Context, tenant string) (string, error) {
	url, err := b.svc.PrepareTenant(ctx, tenant)
	if err != nil {
		return "", err
	}
	if tenant != "" {
		b.mu.Lock()
		b.tenant = tenant
		b.mu.Unlock()
	}
	return url, nil
}

func (b *setupBackend) IssueToken(ctx context.Context, tenant string) (tui.Issued, error) {
	is, err := b.svc.IssueToken(ctx, tenant)
	if err != nil {
		return tui.Issued{}, err
	}
	b.mu.Lock()
	b.tenant, b.issued = is.Tenant, is
	b.mu.Unlock()
	return tui.Issued{TenantURL: is.TenantURL, Token: tui.Secret(is.Token.Reveal())}, nil
}

func tuiDomain(d *store.Domain) tui.Domain {
	return tui.Domain{Name: d.Domain, TXTName: d.RecordName, TXTValue: d.Value, State: string(d.Status), LastError: d.Detail}
}

func (b *setupBackend) Domains(ctx context.Context, tenant string) ([]tui.Domain, error) {
	ds, err := b.svc.Domains(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]tui.Domain, 0, len(ds))
	for _, d := range ds {
		out = append(out, tuiDomain(d))
	}
	return out, nil
}

func (b *setupBackend) AddDomain(ctx context.Context, tenant, domain string) (tui.Domain, error) {
	d, err := b.svc.AddDomain(ctx, tenant, domain)
	if err != nil {
		return tui.Domain{}, err
	}
	return tuiDomain(d), nil
}

func (b *setupBackend) CheckDomain(ctx context.Context, tenant, domain string) (tui.Domain, error) {
	d, err := b.svc.CheckDomain(ctx, tenant, domain)
	if err != nil {
		return tui.Domain{}, err
	}
	return tuiDomain(d), nil
}

func (b *setupBackend) SignIn(ctx context.Context, o tui.SignInOptions, prompt func(tui.DeviceCode)) (tui.Account, error) {
	gf := *b.gf
	if gf.auth == "" && os.Getenv("ROSTER_GRAPH_TOKEN") == "" {
		gf.auth = o.Method
	}
	if o.TenantID != "" {
		gf.entraTenant = o.TenantID
	}
	if o.ClientID != "" {
		gf.clientID = o.ClientID
	}
	if o.Cloud != "" {
		gf.cloud = o.Cloud
	}
	cfg, err := gf.config(nil, string(o.ClientSecret), io.Discard)
	if err != nil {
		return tui.Account{}, err
	}
	cfg.Logger = b.log
	cfg.DeviceCodePrompt = func(_ context.Context, dc graph.DeviceCode) error {
		prompt(tui.DeviceCode{UserCode: dc.UserCode, VerificationURL: dc.VerificationURL, Message: dc.Message, ExpiresAt: time.Now().Add(15 * time.Minute)})
		return nil
	}
	c, err := graph.New(cfg)
	if err != nil {
		return tui.Account{}, err
	}
	if err := c.SignIn(ctx); err != nil {
		return tui.Account{}, hint(err)
	}
	acct, err := c.Account(ctx)
	if err != nil {
		return tui.Account{}, hint(err)
	}
	b.mu.Lock()
	b.client, b.gcfg = c, cfg
	b.mu.Unlock()
	if acct.Name == "" {
		acct.Name = "your account (" + string(cfg.Auth) + ")"
		if cfg.Auth == graph.AuthToken {
			acct.Name = "the access token in ROSTER_GRAPH_TOKEN"
		}
	}
	return tui.Account{Name: acct.Name, TenantID: acct.TenantID}, nil
}

// graphClient returns the signed-in client and the tenant being set up.
func (b *setupBackend) graphClient() (*graph.Client, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client == nil {
		return nil, b.tenant, errors.New("not signed in to Microsoft Graph")
	}
	return b.client, b.tenant, nil
}

func (b *setupBackend) FindApps(ctx context.Context, name string) ([]tui.App, error) {
	c, tenant, err := b.graphClient()
	if err != nil {
		return nil, err
	}
	apps, err := b.svc.FindApps(ctx, c, tenant, name)
	if err != nil {
		return nil, hint(err)
	}
	var out []tui.App
	for _, a := range apps {
		out = append(out, tui.App{ID: a.ServicePrincipalID, AppID: a.AppID, Name: a.DisplayName, Connected: a.Connected})
	}
	return out, nil
}

func (b *setupBackend) CreateApp(ctx context.Context, name string) (tui.App, error) {
	c, _, err := b.graphClient()
	if err != nil {
		return tui.App{}, err
	}
	a, err := c.CreateApp(ctx, name, func(s string) { b.log.Info(s) })
	if err != nil {
		return tui.App{}, hint(err)
	}
	return tui.App{ID: a.ServicePrincipalID, AppID: a.AppID, Name: a.DisplayName}, nil
}

func (b *setupBackend) SearchPrincipals(ctx context.Context, query string) ([]tui.Principal, error) {
	c, _, err := b.graphClient()
	if err != nil {
		return nil, err
	}
	ps, err := c.SearchPrincipals(ctx, query, 25)
	if err != nil {
		return nil, hint(err)
	}
	out := make([]tui.Principal, 0, len(ps))
	for _, p := range ps {
		detail := p.UserPrincipalName
		if p.Kind == "Group" {
			detail = "group"
		}
		out = append(out, tui.Principal{ID: p.ID, Name: p.DisplayName, Kind: p.Kind, Detail: detail})
	}
	return out, nil
}

// Configure connects the tenant to the chosen app through the setup use
// case: settings, mappings and assignments on every run, the Tenant URL
// and token only when Entra needs a new one.
func (b *setupBackend) Configure(ctx context.Context, o tui.ConnectOptions) (tui.Connected, error) {
	c, tenant, err := b.graphClient()
	if err != nil {
		return tui.Connected{}, err
	}
	var chosen []string
	for _, m := range o.Mappings {
		chosen = append(chosen, m.Source)
	}
	set := b.svc.WizardSettings(ctx, tenant, setup.WizardChoices{Mappings: chosen, MatchOnEmployeeID: o.MatchOnEmployeeID,
		ProvisionGroups: o.ProvisionGroups, ScopeAllUsers: o.ScopeAllUsers, NotificationEmail: o.NotificationEmail})
	var assign []string
	for _, p := range o.Assign {
		if p.Kind == tui.KindGroup {
			assign = append(assign, "group:"+p.ID)
		} else {
			assign = append(assign, p.ID)
		}
	}
	kind, err := graphapi.ParseCredentialKind(o.Credential)
	if err != nil {
		return tui.Connected{}, err
	}
	b.mu.Lock()
	var issued *setup.Issued
	if kind == graphapi.CredentialToken && b.issued != nil && o.Token != "" && string(o.Token) == b.issued.Token.Reveal() {
		issued = b.issued
	}
	cfg := b.gcfg
	b.mu.Unlock()
	var fed *directory.NewFederation
	if kind == graphapi.CredentialFederation && o.Subject != "" {
		fed = &directory.NewFederation{Subject: o.Subject, Audience: o.Audience}
	}
	res, err := b.svc.Connect(ctx, c, setup.ConnectRequest{Tenant: tenant, App: o.App.ID, AppName: o.App.Name, TenantURL: o.TenantURL,
		Reach: b.reach(), Settings: set, Assign: assign, Credential: kind, Federation: fed, Token: issued, SkipTest: true, NoStart: true,
		SignIn: signIn(cfg), Progress: func(s string) { b.log.Info("configure", "step", s) }})
	if err == nil && kind != graphapi.CredentialToken {
		b.mu.Lock()
		unused := b.issued
		b.issued = nil
		b.mu.Unlock()
		if unused != nil {
			if derr := b.svc.Discard(ctx, unused); derr != nil {
				b.log.Warn("could not revoke the unused Secret Token", "err", derr)
			}
		}
	}
	conn := tui.Connected{Credential: string(res.Credential), ClientID: res.OAuthClientID, TokenURL: res.TokenURL,
		ClientSecret: tui.Secret(res.NewSecret.Reveal())}
	if err == nil && res.Pending {
		// Graph cannot configure the federation: the owner finishes it in
		// the portal, then configures again, which confirms it with Test
		// Connection.
		conn.Portal = res.Manual
	}
	return conn, hint(err)
}

func (b *setupBackend) TestConnection(ctx context.Context) error {
	c, tenant, err := b.graphClient()
	if err != nil {
		return err
	}
	return hint(b.svc.TestConnection(ctx, c, tenant))
}

func (b *setupBackend) StartProvisioning(ctx context.Context) error {
	c, tenant, err := b.graphClient()
	if err != nil {
		return err
	}
	_, err = b.svc.StartProvisioning(ctx, c, tenant)
	return hint(err)
}

func (b *setupBackend) ProvisionOnDemand(ctx context.Context, user string) (tui.OnDemandResult, error) {
	c, tenant, err := b.graphClient()
	if err != nil {
		return tui.OnDemandResult{}, err
	}
	_, res, err := b.svc.ProvisionOnDemand(ctx, c, tenant, user)
	var out tui.OnDemandResult
	for _, s := range res.Steps {
		status := strings.ToLower(s.Status)
		if status == "failure" {
			status = tui.StepFailed
		}
		out.Steps = append(out.Steps, tui.OnDemandStep{Name: s.Type, Status: status, Description: s.Description})
	}
	if err != nil && res.Result == "Failure" {
		return out, &tui.HintError{Err: err, Hint: "See 'roster log --failed' for what the agent refused, and 'roster entra logs --failed' for what Entra reports."}
	}
	return out, hint(err)
}

// NormalizeDomain returns the canonical form of an email domain.
func (b *setupBackend) NormalizeDomain(name string) (string, error) {
	return domainproof.NormalizeDomain(name)
}

func agentReach(r tui.Reach) setup.AgentReach {
	mode := config.TLSModeOff // behind a proxy, or reached by Entra's on-premises agent
	switch r.TLS {
	case tui.TLSACME:
		mode = config.TLSModeACME
	case tui.TLSFiles:
		mode = config.TLSModeFiles
	}
	return setup.AgentReach{TLSMode: mode, PublicURL: r.PublicURL, Listen: r.Listen, CertFile: r.CertFile, KeyFile: r.KeyFile, ACMEEmail: r.ACMEEmail}
}

// CheckAgent reports why the agent could not run with o, changing nothing.
func (b *setupBackend) CheckAgent(_ context.Context, o tui.AgentOptions) error {
	return hint(b.agent.Check(agentReach(o.Reach), o.Mode == tui.AgentService))
}

func (b *setupBackend) StartAgent(ctx context.Context, o tui.AgentOptions) (tui.AgentInfo, error) {
	cfg, err := b.agent.WriteConfig(agentReach(o.Reach))
	if err != nil {
		return tui.AgentInfo{}, hint(err)
	}
	b.mu.Lock()
	tenant := b.tenant
	b.mu.Unlock()
	info := tui.AgentInfo{Listen: cfg.Listen, DataDir: b.rf.dataDir, LogFile: filepath.Join(b.rf.dataDir, "setup.log"),
		TenantURL: scimhttp.TenantURL(cfg.PublicURL, tenant)}
	if o.Mode == tui.AgentService {
		if err := b.agent.CheckService(); err != nil {
			return info, hint(err)
		}
		// The install moves this setup's store into the service; the wizard
		// goes on with the service's copy, where Entra's token now lives.
		b.StopAgent()
		b.db.Close()
		res, err := b.agent.InstallService(ctx)
		dbPath := b.rf.dbPath()
		if res.MovedFrom != "" {
			dbPath, info.DataDir = filepath.Join(res.StateDir, filepath.Base(dbPath)), res.StateDir
		}
		opts, _ := storeOptions() // checked when the wizard started
		if oerr := b.openStore(ctx, dbPath, opts); err != nil || oerr != nil {
			return info, errors.Join(err, oerr)
		}
		info.Service = res.Service
		return info, sysservice.WaitListening(ctx, cfg.Listen, 90*time.Second)
	}
	b.StopAgent()
	resolve := func() (config.Config, error) {
		return resolveAgentConfig(b.agent.ConfigFile(), map[string]string{"log-format": "json", "metrics-listen": ""}, b.rf.dataDir)
	}
	acfg, err := resolve()
	if err != nil {
		return info, err
	}
	sopts, err := storeOptions()
	if err != nil {
		return info, err
	}
	r, err := agent.Start(ctx, acfg, agent.RunOptions{LogOutput: b.logOut, Stdout: b.logOut, Reload: resolve,
		ConfigFile: b.agent.ConfigFile(), Store: sopts, Version: buildVersion()})
	if err != nil {
		return info, &tui.HintError{Err: fmt.Errorf("start the agent: %w", err), Hint: "See " + info.LogFile + ". Check that the port is free and, with an automatic certificate, that the host name points here and port 443 is reachable."}
	}
	b.mu.Lock()
	b.running, b.agentInfo = r, &info
	b.mu.Unlock()
	return info, nil
}

// StopAgent stops an agent started in this process, waiting for it.
func (b *setupBackend) StopAgent() {
	b.mu.Lock()
	r := b.running
	b.running, b.agentInfo = nil, nil
	b.mu.Unlock()
	if r != nil {
		r.Stop() //nolint:errcheck // stopping on purpose; its log has any error
	}
}

// KeepAgentRunning keeps an in-process agent serving after the wizard
// ends, until Ctrl-C or SIGTERM.
func (b *setupBackend) KeepAgentRunning(ctx context.Context, out io.Writer) error {
	b.mu.Lock()
	r, info := b.running, b.agentInfo
	b.mu.Unlock()
	if r == nil {
		return nil
	}
	// Each value alone on its line: a narrow terminal never splits one.
	fmt.Fprintf(out, "\nThe agent keeps running here; Ctrl-C stops it. It answers at\n%s\nIts log:\n%s\n"+
		"To run it unattended:\nsudo roster service install --data-dir %s\n", info.TenantURL, info.LogFile, b.rf.dataDir)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case <-sig:
	case <-ctx.Done():
	case <-r.Done():
		b.mu.Lock()
		b.running = nil
		b.mu.Unlock()
		return r.Wait()
	}
	b.StopAgent()
	return nil
}

func (b *setupBackend) WaitFirstRequest(ctx context.Context) (tui.FirstRequest, error) {
	b.mu.Lock()
	tenant, tokenID := b.tenant, ""
	if b.issued != nil {
		tokenID = b.issued.TokenID
	}
	b.mu.Unlock()
	at, err := b.svc.WaitFirstRequest(ctx, tenant, tokenID)
	if err != nil {
		return tui.FirstRequest{}, err
	}
	return tui.FirstRequest{At: at, Method: "GET", Path: "/Users (Test Connection or a provisioning cycle)"}, nil
}
