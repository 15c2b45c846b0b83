package tui

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/rosterhq/roster/tui/styles"
)

// ---- welcome ----

// welcomeStep detects an existing setup and offers to resume or change it.
type welcomeStep struct {
	op     op
	loaded bool
	saved  State
	menu   menu
}

type welcomeLoaded struct {
	st State
	ex Existing
}

func (w *welcomeStep) init(s *session) tea.Cmd {
	return w.op.run(s, "looking for an existing setup", "Check that the data directory is readable (see --data-dir).",
		func(ctx context.Context) (any, error) {
			st, err := s.b.LoadState(ctx)
			if err != nil {
				return nil, fmt.Errorf("read saved progress: %w", err)
			}
			ex, err := s.b.Existing(ctx)
			if err != nil {
				return nil, fmt.Errorf("inspect the data directory: %w", err)
			}
			return welcomeLoaded{st, ex}, nil
		})
}

func (w *welcomeStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := w.op.finish(s, msg); ok {
		if w.op.err != nil {
			return nil
		}
		l := v.(welcomeLoaded)
		w.loaded, w.saved = true, l.st
		s.existing = &l.ex
		if l.st.Version > 0 {
			tenant := s.st.Tenant
			s.st = l.st
			if tenant != "" {
				s.st.Tenant = tenant
			}
		}
		switch {
		case l.st.Done:
			w.menu.items = []choice{
				{"change", "Change the setup", "Walk through the steps again; your earlier answers are the defaults."},
				{"quit", "Quit", "Everything is set up already."},
			}
		case l.st.Step != "" && l.st.Step != StepWelcome:
			w.menu.items = []choice{
				{"resume", "Resume at: " + stepTitles[l.st.Step], "Pick up where the last run stopped."},
				{"change", "Start from the first step", "Your earlier answers are the defaults."},
			}
		default:
			w.menu.items = []choice{{"start", "Start", "About ten steps; only the DNS record is done outside this terminal."}}
		}
		return nil
	}
	if !w.loaded {
		return nil
	}
	if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, keys.Enter) {
		switch w.menu.selected().id {
		case "quit":
			return func() tea.Msg { return quitMsg{done: true} }
		case "resume":
			target := w.saved.Step
			o := order(s.st)
			// Past the agent step, the agent (and then the sign-in) are only
			// in memory: start it again, sign in again, then jump there.
			if i := slices.Index(o, target); i > slices.Index(o, StepAgent) && target != StepSummary {
				if target != StepSignIn {
					s.resumeAt = target
				}
				target = StepAgent
			}
			return func() tea.Msg { return gotoMsg{target} }
		default:
			s.st.Done = false
			return next
		}
	}
	w.menu.update(msg)
	return nil
}

func (w *welcomeStep) view(s *session) string {
	var b strings.Builder
	b.WriteString("Roster keeps a local copy of your Microsoft Entra users and groups. Entra's " +
		"provisioning service sends them to the Roster agent over SCIM. This wizard " +
		"proves your email domain, starts the agent, configures Entra and gives it " +
		"the credential you choose. Press esc on any step to go back; your answers are saved as you go.\n\n")
	if !w.loaded {
		return b.String()
	}
	ex := s.existing
	if ex != nil && (len(ex.Tenants) > 0 || ex.Tokens > 0 || len(ex.Domains) > 0 || ex.AppConnected) {
		// A re-run: what was set up matters more than the introduction,
		// and the menu must stay on a short screen.
		b.Reset()
		b.WriteString(styles.Label.Render("Found an existing setup") + "\n")
		if ex.DataDir != "" {
			b.WriteString("  Data:     " + ex.DataDir + "\n")
		}
		b.WriteString(fmt.Sprintf("  Tenants:  %s · %d active token(s)\n", orNone(strings.Join(ex.Tenants, ", ")), ex.Tokens))
		var ds []string
		for _, d := range ex.Domains {
			ds = append(ds, d.Name+" ("+d.State+")")
		}
		b.WriteString("  Domains:  " + orNone(strings.Join(ds, ", ")) + "\n")
		app := "not connected"
		if ex.AppConnected {
			app = "connected"
			if ex.AppName != "" {
				app = ex.AppName + " (connected)"
			}
		}
		b.WriteString("  Entra:    " + app + "\n")
		if ex.AgentRunning {
			b.WriteString("  Agent:    running\n")
		}
		b.WriteString("\n")
	} else {
		b.WriteString(styles.Muted.Render("No existing setup found: starting fresh.") + "\n\n")
	}
	b.WriteString(w.menu.view())
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (w *welcomeStep) keys(*session) []key.Binding {
	if !w.loaded {
		return nil
	}
	return []key.Binding{keys.Enter, keys.Up, keys.Down}
}
func (w *welcomeStep) typing() bool   { return false }
func (w *welcomeStep) operation() *op { return &w.op }

// ---- reach ----

// reachStep asks how Entra will reach the agent: hostname and TLS choice.
type reachStep struct {
	op    op
	menu  menu
	form  *form
	reach Reach
}

func (*reachStep) choices() []choice {
	return []choice{
		{TLSACME, "Automatic certificate", "This machine has a public hostname; Roster gets a certificate (ACME)."},
		{TLSFiles, "My own certificate", "Use certificate and key files you already have."},
		{TLSProxy, "Behind a reverse proxy or tunnel", "Your proxy serves HTTPS and forwards to the agent."},
		{TLSOnPrem, "Entra's on-premises provisioning agent", "No inbound access: Microsoft's agent on your network calls Roster."},
	}
}

func (r *reachStep) init(s *session) tea.Cmd {
	r.menu.items = r.choices()
	if s.st.Reach.TLS != "" {
		r.menu.selectID(s.st.Reach.TLS)
	}
	return nil
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

func checkHost(v string) string {
	switch {
	case v == "":
		return "enter the hostname Entra will call, e.g. scim.example.com"
	case strings.Contains(v, "://") || strings.ContainsAny(v, "/ "):
		return "enter only the hostname, e.g. scim.example.com (no spaces, https:// or path)"
	case !strings.Contains(v, "."):
		return "enter a full hostname with a dot, e.g. scim.example.com"
	}
	return ""
}

func checkURL(scheme ...string) func(string) string {
	return func(v string) string {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || !slices.Contains(scheme, u.Scheme) {
			return "enter a URL starting with " + strings.Join(scheme, ":// or ") + "://"
		}
		return ""
	}
}

// checkPublicURL accepts https, and plain http only on loopback: a trial on
// one machine, where Entra's stand-in (a test or a local proxy) calls the
// agent directly.
func checkPublicURL(v string) string {
	u, err := url.Parse(v)
	if err == nil && u.Scheme == "http" && u.Host != "" {
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1":
			return ""
		}
		return "Entra only calls https:// URLs (plain http:// only for localhost trials)"
	}
	return checkURL("https")(v)
}

func checkEmail(optional bool) func(string) string {
	return func(v string) string {
		if v == "" && optional {
			return ""
		}
		if _, err := mail.ParseAddress(v); err != nil || !strings.Contains(v, "@") {
			return "enter an email address like admin@example.com"
		}
		return ""
	}
}

func notEmpty(what string) func(string) string {
	return func(v string) string {
		if v == "" {
			return "enter " + what
		}
		return ""
	}
}

// openForm opens the form of the chosen TLS mode: the flow's questions for
// it (flow.go), with the earlier answers as defaults.
func (r *reachStep) openForm(s *session) {
	prev := answersOf(s.st)
	a := &Answers{TLS: r.menu.selected().id}
	f := &form{}
	for _, q := range questionsOf(StepReach, a) {
		if q.kind != askText {
			continue
		}
		def, auto := q.defaultFor(a), q.deflt
		if prev.TLS == a.TLS || q.key == "public_url" && (a.TLS == TLSACME || a.TLS == TLSFiles) && hostOf(prev.PublicURL) != "" {
			if v := q.get(&prev); v != "" {
				def, auto = v, nil
			}
		}
		check := q.check
		f.fields = append(f.fields, field{label: q.label, input: newInput(q.placeholder, def), set: q.set, auto: auto, autoValue: def,
			check: func(v string) string { return check(&checks{}, v) }})
	}
	for i := 1; i < len(f.fields); i++ {
		f.fields[i].input.Blur()
	}
	r.form = f
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// refreshDefaults recomputes the defaults that follow from earlier answers
// (the listen address from the Tenant URL) in the fields not edited yet.
func (r *reachStep) refreshDefaults() {
	a := &Answers{TLS: r.menu.selected().id}
	for i := range r.form.fields {
		fl := &r.form.fields[i]
		if fl.auto != nil && i != r.form.focus {
			if fl.input.Value() != fl.autoValue {
				fl.auto = nil // edited by the owner: theirs now
			} else if v := fl.auto(a); v != fl.autoValue {
				fl.input.SetValue(v)
				fl.input.CursorEnd() // typing goes after the value, not into it
				fl.autoValue = v
			}
		}
		fl.set(a, r.form.value(i))
	}
}

// collect returns the form's answers as a Reach.
func (r *reachStep) collect() Reach {
	a := &Answers{TLS: r.menu.selected().id}
	for i, fl := range r.form.fields {
		fl.set(a, r.form.value(i))
	}
	return a.reach()
}

func (r *reachStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := r.op.finish(s, msg); ok {
		if r.op.err == nil {
			s.st.Reach = r.reach
			s.st.TenantURL = v.(string)
			if s.st.Tenant == "" {
				s.st.Tenant = s.tenant()
			}
			return next
		}
		return nil
	}
	if r.form == nil {
		if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, keys.Enter) {
			r.openForm(s)
			return nil
		}
		r.menu.update(msg)
		return nil
	}
	cmd, submitted := r.form.update(msg)
	r.refreshDefaults()
	if !submitted {
		return cmd
	}
	r.reach = r.collect()
	rc, tenant := r.reach, s.tenant()
	return r.op.run(s, "checking and saving how Entra reaches the agent", "Correct the answer, then press enter.",
		func(ctx context.Context) (any, error) {
			// The certificate and key must belong together; the agent's
			// settings must be valid (the agent starts with them later).
			if err := s.b.CheckAgent(ctx, AgentOptions{Mode: AgentForeground, Reach: rc}); err != nil {
				return nil, err
			}
			if err := s.b.SetReach(ctx, rc); err != nil {
				return nil, err
			}
			// The tenant exists from here on (its domains need it); no
			// credential is issued before the owner chooses one.
			return s.b.PrepareTenant(ctx, tenant)
		})
}

func (r *reachStep) back(*session) (tea.Cmd, bool) {
	if r.form != nil {
		r.form, r.op.err = nil, nil
		return nil, true
	}
	return nil, false
}

func (r *reachStep) view(*session) string {
	if r.form == nil {
		return "Entra's provisioning service runs in Microsoft's cloud and calls the agent over HTTPS. How will it reach this machine?\n\n" + r.menu.view()
	}
	return styles.Muted.Render(r.menu.selected().label) + "\n\n" + r.form.view()
}

func (r *reachStep) keys(*session) []key.Binding {
	if r.form == nil {
		return []key.Binding{keys.Enter, keys.Up, keys.Down}
	}
	return []key.Binding{keys.Enter}
}
func (r *reachStep) typing() bool   { return r.form != nil }
func (r *reachStep) operation() *op { return &r.op }

// ---- token ----

// tokenStep issues the Secret Token and shows it once.
type tokenStep struct {
	op op
}

func (t *tokenStep) issue(s *session) tea.Cmd {
	return issueToken(s, &t.op, "issuing a Secret Token", "Check that the data directory is writable, then press r.")
}

// issueToken runs the backend's IssueToken for the session's tenant as o;
// the step receives an Issued when it finishes.
func issueToken(s *session, o *op, what, hint string) tea.Cmd {
	tenant := s.tenant()
	return o.run(s, what, hint, func(ctx context.Context) (any, error) { return s.b.IssueToken(ctx, tenant) })
}

func (t *tokenStep) init(s *session) tea.Cmd {
	if s.token == "" && !s.st.TokenIssued {
		return t.issue(s)
	}
	return nil
}

func (t *tokenStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := t.op.finish(s, msg); ok {
		if t.op.err == nil {
			is := v.(Issued)
			s.token, s.st.TenantURL, s.st.TokenIssued = is.Token, is.TenantURL, true
			if s.st.Tenant == "" {
				s.st.Tenant = s.tenant()
			}
		}
		return nil
	}
	if k, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(k, keys.NewToken) && s.token == "":
			return t.issue(s) // the one shown in an earlier run is lost
		case key.Matches(k, keys.Enter) && s.st.TokenIssued:
			return next
		}
	}
	return nil
}

func (t *tokenStep) view(s *session) string {
	var b strings.Builder
	b.WriteString("Entra authenticates to the agent with a Secret Token. Roster stores only its hash, so it is shown once, here.\n\n")
	if s.token == "" {
		if s.st.TokenIssued {
			b.WriteString("A token was issued in an earlier run and is not stored in clear. Press n to issue a new one (Entra needs it unless it is connected already), or enter to continue.\n")
		}
		return b.String()
	}
	b.WriteString(styles.Label.Render("Tenant URL") + "\n" + copyLine(s, "Tenant URL", s.st.TenantURL) + "\n\n")
	b.WriteString(styles.Label.Render("Secret Token") + "\n" + copyLine(s, "Secret Token", s.token.String()) + "\n\n")
	hand := "The wizard hands it to Entra."
	if s.st.Path == PathManual {
		hand = "Paste it into the Entra portal on the next screen."
	}
	b.WriteString(styles.Muted.Render("Copy it now if you want a copy: press y, or select it with the mouse. "+hand+" Lost it? `roster token issue` makes a new one.") + "\n")
	return b.String()
}

func (t *tokenStep) copyValues(s *session) []copyItem {
	if s.token == "" {
		return nil // nothing shown to copy
	}
	return []copyItem{{"Secret Token", s.token.String()}, {"Tenant URL", s.st.TenantURL}}
}

func (t *tokenStep) keys(s *session) []key.Binding {
	switch {
	case !s.st.TokenIssued:
		return nil
	case s.token != "": // shown here: a second one would only be one more to revoke
		return []key.Binding{keys.Enter}
	}
	return []key.Binding{keys.Enter, keys.NewToken}
}
func (t *tokenStep) typing() bool   { return false }
func (t *tokenStep) operation() *op { return &t.op }

// ---- domains ----

// domainsStep adds email domains, shows their TXT records and checks them.
type domainsStep struct {
	op      op
	loaded  bool
	list    []Domain
	adding  bool
	input   field
	problem string
}

func (d *domainsStep) init(s *session) tea.Cmd {
	d.input = field{label: "Email domain", input: newInput("example.com", "")}
	tenant := s.tenant()
	return d.op.run(s, "reading the tenant's email domains", "Check that the data directory is readable, then press r.",
		func(ctx context.Context) (any, error) { return s.b.Domains(ctx, tenant) })
}

func (d *domainsStep) replace(nd Domain) {
	for i := range d.list {
		if d.list[i].Name == nd.Name {
			d.list[i] = nd
			return
		}
	}
	d.list = append(d.list, nd)
}

func (d *domainsStep) check(s *session) tea.Cmd {
	tenant := s.tenant()
	var names []string
	for _, x := range d.list {
		if x.State != DomainVerified {
			names = append(names, x.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return d.op.run(s, "looking up the TXT record of "+strings.Join(names, ", ")+" at its DNS servers",
		"DNS changes can take minutes (rarely hours) to show. Check the record at your DNS provider.",
		func(ctx context.Context) (any, error) {
			return checkDomains(ctx, s.b, tenant, names), nil
		})
}

func (d *domainsStep) update(s *session, msg tea.Msg) tea.Cmd {
	defer func() { s.domains = d.list }()
	if v, ok := d.op.finish(s, msg); ok {
		switch v := v.(type) {
		case []Domain:
			for _, x := range v {
				d.replace(x)
			}
			if !d.loaded {
				d.loaded = true
				d.adding = len(d.list) == 0
			}
		case Domain:
			d.replace(v)
			d.adding = false
			d.input.input.SetValue("")
		}
		return nil
	}
	if !d.loaded {
		return nil
	}
	k, isKey := msg.(tea.KeyMsg)
	if d.adding {
		if isKey && key.Matches(k, keys.Enter) {
			name := strings.ToLower(strings.TrimSpace(d.input.input.Value()))
			if name == "" {
				if len(d.list) > 0 {
					d.adding = false
					return nil
				}
				return d.finish(s)
			}
			norm, p := checkDomain(s.b, name)
			if p != "" {
				d.problem = p
				return nil
			}
			d.problem, name = "", norm
			tenant := s.tenant()
			return d.op.run(s, "adding "+name, "Check the domain's spelling, then press r.",
				func(ctx context.Context) (any, error) { return s.b.AddDomain(ctx, tenant, name) })
		}
		var cmd tea.Cmd
		d.input.input, cmd = d.input.input.Update(msg)
		return cmd
	}
	if isKey {
		switch {
		case key.Matches(k, keys.Enter):
			return d.finish(s)
		case key.Matches(k, keys.Add):
			d.adding = true
			return nil
		case key.Matches(k, keys.Check):
			return d.check(s)
		}
	}
	return nil
}

// checkDomain checks that name is an email domain (not an address, URL or
// host with a port) and returns its canonical form, or the problem as a
// sentence.
func checkDomain(b Backend, name string) (string, string) {
	if name == "" {
		return "", "Enter an email domain, e.g. example.com."
	}
	if strings.Contains(name, "@") {
		return "", "Enter only the domain after the @, e.g. example.com for alice@example.com."
	}
	norm, err := b.NormalizeDomain(name)
	if err != nil {
		return "", sentence("“" + name + "” is not an email domain: " + err.Error())
	}
	return norm, ""
}

// checkDomains looks up the TXT record of each domain. A lookup that fails
// leaves the domain pending with the failure as its last error: a domain that
// is not proven yet never stops the setup (the agent keeps checking).
func checkDomains(ctx context.Context, b Backend, tenant string, names []string) []Domain {
	var out []Domain
	for _, n := range names {
		nd, err := b.CheckDomain(ctx, tenant, n)
		if err != nil {
			nd = Domain{Name: n, State: DomainPending, LastError: err.Error()}
			if ds, lerr := b.Domains(ctx, tenant); lerr == nil {
				for _, x := range ds {
					if x.Name == n {
						nd.TXTName, nd.TXTValue = x.TXTName, x.TXTValue
					}
				}
			}
		}
		out = append(out, nd)
	}
	return out
}

func (d *domainsStep) finish(s *session) tea.Cmd {
	s.st.Domains = nil
	for _, x := range d.list {
		s.st.Domains = append(s.st.Domains, x.Name)
	}
	return next
}

func (d *domainsStep) back(*session) (tea.Cmd, bool) {
	if d.adding && len(d.list) > 0 {
		d.adding, d.problem = false, ""
		return nil, true
	}
	return nil, false
}

func stateMark(state string) string {
	switch state {
	case DomainVerified:
		return styles.Good.Render("✓ verified")
	case DomainPending:
		return styles.Warn.Render("… pending")
	case DomainLapsed:
		return styles.Warn.Render("! record missing")
	default:
		return styles.Bad.Render("✗ " + state)
	}
}

// copyValues are the TXT records still pending, the last added first.
func (d *domainsStep) copyValues(*session) []copyItem {
	var out []copyItem
	for i := len(d.list) - 1; i >= 0; i-- {
		if x := d.list[i]; x.State != DomainVerified {
			out = append(out, copyItem{"TXT record value of " + x.Name, x.TXTValue}, copyItem{"TXT record name of " + x.Name, x.TXTName})
		}
	}
	return out
}

func (d *domainsStep) view(s *session) string {
	var b strings.Builder
	b.WriteString("The agent accepts only users whose email domain you have proven you own, by publishing a DNS TXT record. With no domain, it accepts any.\n")
	shown := d.list
	if len(shown) > 3 {
		shown = shown[len(shown)-3:]
		b.WriteString(styles.Muted.Render(fmt.Sprintf("\n(%d more domains above: see `roster domain list`)", len(d.list)-3)) + "\n")
	}
	for _, x := range shown {
		b.WriteString("\n" + styles.Label.Render(x.Name) + "  " + stateMark(x.State))
		if x.LastError != "" && x.State != DomainVerified {
			b.WriteString("  " + styles.Muted.Render(x.LastError))
		}
		if x.State != DomainVerified {
			// Name and value each alone on a line: copied whole at any width.
			b.WriteString("\nTXT record name:\n" + copyLine(s, "record name", x.TXTName))
			b.WriteString("\nTXT record value:\n" + copyLine(s, "record value", x.TXTValue))
		}
		b.WriteString("\n")
	}
	if !d.loaded {
		return b.String()
	}
	b.WriteString("\n")
	if d.adding {
		b.WriteString(styles.Label.Render("Email domain to add") + " " + styles.Muted.Render("(enter on an empty line continues)") + "\n" + d.input.input.View())
		if d.problem != "" {
			b.WriteString("\n" + styles.Bad.Render("✗ "+d.problem))
		}
		return b.String()
	}
	pending := false
	for _, x := range d.list {
		pending = pending || x.State != DomainVerified
	}
	if pending {
		b.WriteString("Create the record(s) at your DNS provider, then press c to check. You can continue while they are pending: the agent keeps checking.")
	} else {
		b.WriteString(styles.Good.Render("All domains are verified."))
	}
	return b.String()
}

func (d *domainsStep) keys(*session) []key.Binding {
	if !d.loaded {
		return nil
	}
	if d.adding {
		return []key.Binding{keys.Enter}
	}
	return []key.Binding{keys.Enter, keys.Add, keys.Check}
}
func (d *domainsStep) typing() bool   { return d.adding }
func (d *domainsStep) operation() *op { return &d.op }
