package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Answers are the wizard's answers in a file, for `roster setup --answers`:
// the same flow runs without a terminal.
type Answers struct {
	Tenant string `json:"tenant,omitempty"` // default "default"

	TLS       string `json:"tls"`                  // acme, files, proxy or onprem
	PublicURL string `json:"public_url"`           // https://scim.example.com (local URL for onprem)
	Listen    string `json:"listen,omitempty"`     // default :443 (acme, files) or 127.0.0.1:8080
	CertFile  string `json:"cert_file,omitempty"`  // tls files
	KeyFile   string `json:"key_file,omitempty"`   // tls files
	ACMEEmail string `json:"acme_email,omitempty"` // tls acme

	Domains []string `json:"domains,omitempty"` // email domains to add (pending ones do not stop the run)

	SignIn          string `json:"sign_in"`                     // device-code, azure-cli, client-secret or manual
	TenantID        string `json:"tenant_id,omitempty"`         // Entra directory (tenant) ID or domain
	ClientID        string `json:"client_id,omitempty"`         // client-secret
	ClientSecretEnv string `json:"client_secret_env,omitempty"` // environment variable holding the secret
	Cloud           string `json:"cloud,omitempty"`

	// App is the app's name (default "Roster"), or the service principal id
	// of an existing app to adopt. An app of that name is reused only when
	// this data directory connected it before.
	App string `json:"app,omitempty"`
	// Credential is how Entra authenticates to the agent on the Graph
	// path: oauth2 (default: an OAuth client whose secret Entra trades for
	// short-lived access tokens), token (a long-lived Secret Token) or
	// federation (Workload Identity Federation, finished in the portal).
	Credential string `json:"credential,omitempty"`
	// Subject and Audience describe the federation (as the portal shows
	// them); empty: the one added with `roster oauth federation add`.
	Subject  string `json:"subject,omitempty"`
	Audience string `json:"audience,omitempty"`
	// NewToken issues a new Secret Token for Entra; default: only when this
	// data directory is not connected to Entra yet and Entra needs a token
	// (the manual path, or credential token).
	NewToken          *bool    `json:"new_token,omitempty"`
	Mappings          []string `json:"mappings,omitempty"` // optional mappings to add: givenName, surname, employeeId, manager (default all)
	MatchOnEmployeeID bool     `json:"match_on_employee_id,omitempty"`
	ProvisionGroups   *bool    `json:"provision_groups,omitempty"` // default true
	Scope             string   `json:"scope,omitempty"`            // assigned (default) or all
	NotificationEmail string   `json:"notification_email,omitempty"`
	Assign            []string `json:"assign,omitempty"` // names, UPNs or object IDs; each must match one user or group

	Agent             string `json:"agent,omitempty"`               // foreground (default) or service
	ProvisionOnDemand string `json:"provision_on_demand,omitempty"` // a user to provision at once
	WaitFirstRequest  string `json:"wait_first_request,omitempty"`  // manual path: how long to wait (Go duration, e.g. 10m)
}

// LoadAnswers reads an answers file (JSON; unknown fields are errors) and
// validates it.
func LoadAnswers(path string) (Answers, error) {
	var a Answers
	data, err := os.ReadFile(path)
	if err != nil {
		return a, fmt.Errorf("read answers: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, fmt.Errorf("parse answers %s: %w", path, err)
	}
	if err := a.Validate(); err != nil {
		return a, fmt.Errorf("answers %s: %w", path, err)
	}
	return a, nil
}

// Validate checks every answer that needs no backend (the flow's questions,
// flow.go) and reports all problems at once.
func (a Answers) Validate() error {
	return problems(checkAnswers(context.Background(), nil, &a))
}

// check checks every answer, with the backend: each domain's syntax, the
// certificate and key, and whether the agent can run as asked. RunAnswers
// calls it before it changes anything.
func (a Answers) check(ctx context.Context, b Backend) error {
	return problems(checkAnswers(ctx, b, &a))
}

func problems(ps []string) error {
	var errs []error
	for _, p := range ps {
		errs = append(errs, errors.New(p))
	}
	return errors.Join(errs...)
}

func (a Answers) reach() Reach {
	r := Reach{PublicURL: strings.TrimRight(a.PublicURL, "/"), TLS: a.TLS, Listen: a.Listen, CertFile: a.CertFile, KeyFile: a.KeyFile, ACMEEmail: a.ACMEEmail}
	if r.Listen == "" {
		r.Listen = defaultListen(&a)
		if a.TLS == TLSACME || a.TLS == TLSFiles {
			r.Listen = ":443"
		}
	}
	return r
}

// defaultListen is where the agent listens by default behind a proxy or for
// the on-premises agent: the Tenant URL's own address when that is plain
// http on this machine (a trial, where the caller reaches the agent
// directly), else 127.0.0.1:8080.
func defaultListen(a *Answers) string {
	u, err := url.Parse(a.PublicURL)
	if err == nil && u.Scheme == "http" && u.Port() != "" {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
			return u.Host
		}
	}
	return "127.0.0.1:8080"
}

// flow runs the answers against the backend, printing progress lines.
type flow struct {
	b       Backend
	out     io.Writer
	st      State
	pending []Domain // domains not proven yet
}

func (f *flow) say(format string, args ...any) { fmt.Fprintf(f.out, format+"\n", args...) }

func (f *flow) save(ctx context.Context, step string) error {
	f.st.Step, f.st.Version = step, StateVersion
	if err := f.b.SaveState(ctx, f.st); err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	return nil
}

// RunAnswers runs the whole setup from answers without a terminal, printing
// one progress line per step to out. It checks every answer first (with the
// backend: domains, certificate and key, service mode), so that nothing is
// changed, in Entra or here, for a file that cannot work. It stops at the
// first error after that; a domain still pending never stops it.
func RunAnswers(ctx context.Context, a Answers, b Backend, out io.Writer) error {
	if err := a.check(ctx, b); err != nil {
		return fmt.Errorf("answers: %w", err)
	}
	f := &flow{b: b, out: out}
	return f.run(ctx, a)
}

func (f *flow) run(ctx context.Context, a Answers) error {
	st := &f.st
	remember(st, &a)
	st.Tenant = orDefault(a.Tenant, "default")
	st.Reach = a.reach()
	if err := f.b.SetReach(ctx, st.Reach); err != nil {
		return fmt.Errorf("set how Entra reaches the agent: %w", err)
	}
	f.say("✓ Entra will reach the agent at %s (%s)", st.Reach.PublicURL, st.Reach.TLS)
	// The tenant exists from here on (its domains need it); no credential
	// is issued before the one chosen is needed.
	url, err := f.b.PrepareTenant(ctx, st.Tenant)
	if err != nil {
		return fmt.Errorf("prepare tenant %s: %w", st.Tenant, err)
	}
	st.TenantURL = url
	if a.SignIn != SignInManual { // the manual path types the Secret Token into the portal
		st.Credential = orDefault(a.Credential, defaultCredential(a.TLS))
	}
	if err := f.save(ctx, StepDomains); err != nil {
		return err
	}

	st.Domains = nil
	for _, name := range a.Domains {
		norm, p := checkDomain(f.b, name)
		if p != "" {
			return fmt.Errorf("add domain %s: %s", name, p)
		}
		name = norm
		if _, err := f.b.AddDomain(ctx, st.Tenant, name); err != nil {
			return fmt.Errorf("add domain %s: %w", name, err)
		}
		d := checkDomains(ctx, f.b, st.Tenant, []string{name})[0]
		if d.State == DomainVerified {
			f.say("✓ Domain %s verified", d.Name)
		} else {
			f.pending = append(f.pending, d)
			f.say("… Domain %s is %s: publish this TXT record (the agent keeps checking)", d.Name, d.State)
			f.sayRecord(d)
		}
		st.Domains = append(st.Domains, d.Name)
	}
	if err := f.save(ctx, StepAgent); err != nil {
		return err
	}

	// The agent answers before anything is created in Entra.
	if err := f.startAgent(ctx, AgentOptions{Mode: orDefault(a.Agent, AgentForeground), Reach: st.Reach}); err != nil {
		return err
	}
	if err := f.save(ctx, StepSignIn); err != nil {
		return err
	}

	if a.SignIn == SignInManual {
		st.Path = PathManual
		issued, err := f.issueToken(ctx, a)
		if err != nil {
			return err
		}
		f.say("Enter these in the Entra portal (Provisioning › Admin Credentials):")
		f.say("Tenant URL:\n%s", st.TenantURL)
		if issued.Token != "" {
			f.say("Secret Token:\n%s", issued.Token.String())
		} else {
			f.say("Secret Token: unchanged (set new_token to issue another)")
		}
		f.say("Required mappings: userPrincipalName→userName, displayName→displayName, jobTitle→title, mail→emails[type eq \"work\"].value, department→enterprise:department")
		if err := f.save(ctx, StepManual); err != nil {
			return err
		}
		if a.WaitFirstRequest != "" {
			d, _ := time.ParseDuration(a.WaitFirstRequest)
			wctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			f.say("… waiting up to %s for Entra's first request", d)
			fr, err := f.b.WaitFirstRequest(wctx)
			if err != nil {
				return fmt.Errorf("wait for Entra's first request: %w", err)
			}
			st.Connected = true
			f.say("✓ Entra's first request arrived at %s: %s %s", fr.At.Format(time.RFC3339), fr.Method, fr.Path)
		}
		return f.finish(ctx)
	}

	st.Path = PathGraph
	so := SignInOptions{Method: a.SignIn, TenantID: a.TenantID, ClientID: a.ClientID, Cloud: a.Cloud}
	if a.ClientSecretEnv != "" {
		so.ClientSecret = Secret(os.Getenv(a.ClientSecretEnv))
	}
	acc, err := f.b.SignIn(ctx, so, func(dc DeviceCode) {
		f.say("To sign in, open %s and enter the code %s", dc.VerificationURL, dc.UserCode)
	})
	if err != nil {
		return fmt.Errorf("sign in to Microsoft: %w", err)
	}
	so.ClientSecret = ""
	st.SignIn = so
	f.say("✓ Signed in as %s", acc.Name)

	// Resolve the assignments (reading only) before the app is created.
	st.Assign = nil
	if a.Scope != "all" {
		for _, q := range a.Assign {
			p, err := f.resolve(ctx, q)
			if err != nil {
				return err
			}
			st.Assign = append(st.Assign, p)
		}
	}

	name := orDefault(a.App, "Roster")
	apps, err := f.b.FindApps(ctx, name)
	if err != nil {
		return fmt.Errorf("look for the app %q: %w", name, err)
	}
	// Adopt only the app this data directory connected, or one named by
	// its id; never take over, or duplicate, another app of that name.
	i := slices.IndexFunc(apps, func(x App) bool { return x.ID == name || (x.Name == name && x.Connected) })
	same := slices.IndexFunc(apps, func(x App) bool { return x.Name == name })
	switch {
	case i >= 0:
		st.App = apps[i]
		f.say("✓ Using the existing app %q (%s)", st.App.Name, st.App.AppID)
	case same >= 0:
		return fmt.Errorf("app: an enterprise app named %q already exists (service principal %s) and this data directory did not connect it; "+
			"to adopt it, set \"app\" to its service principal id; to create a separate app, choose another name", name, apps[same].ID)
	default:
		f.say("… creating the app %q (Entra can take a minute)", name)
		if st.App, err = f.b.CreateApp(ctx, name); err != nil {
			return fmt.Errorf("create enterprise app: %w", err)
		}
		f.say("✓ Created the app %q (%s)", st.App.Name, st.App.AppID)
	}
	if err := f.save(ctx, StepConnect); err != nil {
		return err
	}

	issued, err := f.issueToken(ctx, a)
	if err != nil {
		return err
	}
	conn, err := f.b.Configure(ctx, ConnectOptions{App: st.App, TenantURL: st.TenantURL, Token: issued.Token, Credential: st.Credential,
		Subject: a.Subject, Audience: a.Audience, Mappings: selectedMappings(st.Mappings),
		MatchOnEmployeeID: st.MatchOnEmployeeID, ProvisionGroups: st.ProvisionGroups, ScopeAllUsers: st.ScopeAllUsers,
		NotificationEmail: st.NotificationEmail, Assign: st.Assign})
	if err != nil {
		return fmt.Errorf("configure the app: %w", err)
	}
	what := "Settings"
	switch {
	case st.Credential == CredentialOAuth2:
		what = "Tenant URL, OAuth client " + conn.ClientID
	case issued.Token != "":
		what = "Tenant URL, token"
	}
	f.say("✓ %s, %d mappings, scope and %d assignments written to the app", what, len(selectedMappings(st.Mappings)), len(st.Assign))
	if err := f.b.TestConnection(ctx); err != nil {
		return fmt.Errorf("test connection: %w", err)
	}
	st.Connected = true
	f.say("✓ Test Connection: Entra reached the agent")
	if err := f.save(ctx, StepProvision); err != nil {
		return err
	}
	if err := f.b.StartProvisioning(ctx); err != nil {
		return fmt.Errorf("start provisioning: %w", err)
	}
	st.Provisioning = true
	f.say("✓ Provisioning started")
	if a.ProvisionOnDemand != "" {
		if err := f.onDemand(ctx, a.ProvisionOnDemand); err != nil {
			return err
		}
	}
	return f.finish(ctx)
}

// issueToken issues the Secret Token when Entra gets one (the manual path,
// or credential token) and needs a new one: by default only when this data
// directory is not connected to Entra yet (new_token decides otherwise).
// It is issued only here, once the credential is known.
func (f *flow) issueToken(ctx context.Context, a Answers) (Issued, error) {
	if a.SignIn != SignInManual && f.st.Credential != CredentialToken {
		return Issued{}, nil
	}
	newToken := a.NewToken != nil && *a.NewToken
	if a.NewToken == nil {
		ex, err := f.b.Existing(ctx)
		if err != nil {
			return Issued{}, fmt.Errorf("look at the existing setup: %w", err)
		}
		newToken = !ex.AppConnected
	}
	if !newToken {
		f.say("✓ Entra keeps the Secret Token it holds (set new_token to issue another)")
		return Issued{}, nil
	}
	issued, err := f.b.IssueToken(ctx, f.st.Tenant)
	if err != nil {
		return Issued{}, fmt.Errorf("issue the Secret Token: %w", err)
	}
	f.st.TenantURL, f.st.TokenIssued = issued.TenantURL, true
	f.say("✓ Secret Token issued for %s", f.st.TenantURL)
	return issued, nil
}

// onDemand provisions user now. While a domain is pending the agent refuses
// its users: then a failure is reported, and the run goes on.
func (f *flow) onDemand(ctx context.Context, user string) error {
	res, err := f.b.ProvisionOnDemand(ctx, user)
	failed := err != nil
	for _, s := range res.Steps {
		f.say("  %-8s %s: %s", s.Status, s.Name, s.Description)
		failed = failed || s.Status == StepFailed
	}
	if !failed {
		f.say("✓ Provisioned %s on demand", user)
		return nil
	}
	if err == nil {
		err = errors.New("a step failed (see above)")
	}
	if len(f.pending) > 0 {
		var names []string
		for _, d := range f.pending {
			names = append(names, d.Name)
		}
		f.say("… %s was not provisioned on demand (%v). The agent accepts users of %s once the TXT record is found; Entra's next cycle brings them.",
			user, err, strings.Join(names, ", "))
		return nil
	}
	return fmt.Errorf("provision %s on demand: %w", user, err)
}

// sayRecord prints a domain's TXT record, the name and the value each alone
// on a line (copied whole, whatever the terminal's width).
func (f *flow) sayRecord(d Domain) {
	f.say("TXT record name:\n%s\nTXT record value:\n%s", d.TXTName, d.TXTValue)
}

func (f *flow) startAgent(ctx context.Context, o AgentOptions) error {
	info, err := f.b.StartAgent(ctx, o)
	if err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	f.st.AgentMode, f.st.DataDir = o.Mode, info.DataDir
	if info.TenantURL != "" {
		f.st.TenantURL = info.TenantURL
	}
	f.say("✓ Agent running (%s), listening on %s", o.Mode, info.Listen)
	return nil
}

// resolve finds the one user or group a query names.
func (f *flow) resolve(ctx context.Context, q string) (Principal, error) {
	ps, err := f.b.SearchPrincipals(ctx, q)
	if err != nil {
		return Principal{}, fmt.Errorf("search %q: %w", q, err)
	}
	var exact []Principal
	for _, p := range ps {
		if strings.EqualFold(p.Name, q) || strings.EqualFold(p.Detail, q) || p.ID == q {
			exact = append(exact, p)
		}
	}
	if len(exact) == 0 && len(ps) == 1 {
		exact = ps
	}
	switch len(exact) {
	case 1:
		f.say("✓ Assign %s %s", strings.ToLower(exact[0].Kind), exact[0].Name)
		return exact[0], nil
	case 0:
		return Principal{}, fmt.Errorf("assign: no user or group matches %q", q)
	default:
		var names []string
		for _, p := range exact {
			names = append(names, p.Kind+" "+p.Name+" ("+p.ID+")")
		}
		return Principal{}, fmt.Errorf("assign: %q matches several: %s; use the object ID", q, strings.Join(names, ", "))
	}
}

func (f *flow) finish(ctx context.Context) error {
	f.st.Done = true
	if err := f.save(ctx, StepSummary); err != nil {
		return err
	}
	f.say("Done. Tenant URL: %s", f.st.TenantURL)
	if f.st.DataDir != "" {
		f.say("Data: %s", f.st.DataDir)
	}
	if f.st.Path == PathGraph {
		f.say("Next: roster entra status · roster entra logs · roster log · roster users list")
	} else {
		f.say("Next: roster log · roster users list")
	}
	for _, d := range f.pending {
		f.say("Still to publish for %s (the agent keeps checking; see roster domain list):", d.Name)
		f.sayRecord(d)
	}
	return nil
}
