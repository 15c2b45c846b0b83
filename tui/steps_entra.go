package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/rosterhq/roster/tui/styles"
)

// ---- sign in ----

// signInStep signs in to Microsoft Graph, or chooses the manual path.
type signInStep struct {
	op     op
	menu   menu
	form   *form
	code   *DeviceCode
	method string
}

type deviceCodeMsg struct {
	seq  int
	code DeviceCode
}

func (*signInStep) choices() []choice {
	return []choice{
		{SignInDeviceCode, "Sign in with a code in your browser", "Any device; needs the Application Administrator role."},
		{SignInAzureCLI, "Use the Azure CLI's sign-in", "If you ran `az login` on this machine."},
		{SignInClientSecret, "Use an app registration's client secret", "For automation; the app needs Graph application permissions."},
		{SignInManual, "Configure Entra by hand in the portal", "No sign-in: the wizard shows what to paste, then waits for Entra."},
	}
}

func (g *signInStep) init(s *session) tea.Cmd {
	g.menu.items = g.choices()
	switch {
	case s.st.Path == PathManual:
		g.menu.selectID(SignInManual)
	case s.st.SignIn.Method != "":
		g.menu.selectID(s.st.SignIn.Method)
	}
	return nil
}

func (g *signInStep) signIn(s *session, o SignInOptions) tea.Cmd {
	ch := make(chan DeviceCode, 1)
	prompt := func(dc DeviceCode) {
		select {
		case ch <- dc:
		default:
		}
	}
	g.code = nil
	run := g.op.run(s, "waiting for you to sign in", "Check the account has the Application Administrator role (or Cloud Application Administrator).",
		func(ctx context.Context) (any, error) { return s.b.SignIn(ctx, o, prompt) })
	seq, ctx := g.op.seq, s.ctx
	listen := func() tea.Msg {
		select {
		case dc := <-ch:
			return deviceCodeMsg{seq, dc}
		case <-ctx.Done():
			return nil
		}
	}
	g.op.again = func() tea.Cmd { return g.signIn(s, o) }
	return tea.Batch(run, listen)
}

func (g *signInStep) update(s *session, msg tea.Msg) tea.Cmd {
	if dc, ok := msg.(deviceCodeMsg); ok {
		if dc.seq == g.op.seq && g.op.busy() {
			g.code = &dc.code
		}
		return nil
	}
	if v, ok := g.op.finish(s, msg); ok {
		if g.op.err != nil {
			return nil
		}
		acc := v.(Account)
		s.account = &acc
		s.st.Path = PathGraph
		s.st.SignIn = SignInOptions{Method: g.method}
		if g.form != nil && g.method == SignInClientSecret {
			s.st.SignIn.TenantID, s.st.SignIn.ClientID = g.form.value(0), g.form.value(1)
		}
		if s.resumeAt != "" {
			to := s.resumeAt
			s.resumeAt = ""
			return func() tea.Msg { return gotoMsg{to} }
		}
		return next
	}
	if g.form != nil {
		cmd, submitted := g.form.update(msg)
		if !submitted {
			return cmd
		}
		return g.signIn(s, SignInOptions{Method: SignInClientSecret, TenantID: g.form.value(0),
			ClientID: g.form.value(1), ClientSecret: Secret(g.form.value(2))})
	}
	if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, keys.Enter) {
		g.method = g.menu.selected().id
		switch g.method {
		case SignInManual:
			s.st.Path = PathManual
			s.resumeAt = ""
			return next
		case SignInClientSecret:
			secret := newInput("client secret value", "")
			secret.EchoMode = textinput.EchoPassword
			g.form = &form{fields: []field{
				{label: "Directory (tenant) ID or domain", input: newInput("contoso.onmicrosoft.com", s.st.SignIn.TenantID), check: notEmpty("the tenant")},
				{label: "Application (client) ID", input: newInput("00000000-0000-0000-0000-000000000000", s.st.SignIn.ClientID), check: notEmpty("the client ID")},
				{label: "Client secret", input: secret, check: notEmpty("the secret")},
			}}
			g.form.fields[1].input.Blur()
			g.form.fields[2].input.Blur()
			return nil
		default:
			return g.signIn(s, SignInOptions{Method: g.method, TenantID: s.st.SignIn.TenantID})
		}
	}
	g.menu.update(msg)
	return nil
}

func (g *signInStep) back(*session) (tea.Cmd, bool) {
	if g.form != nil || g.op.err != nil {
		g.form, g.op.err = nil, nil
		return nil, true
	}
	return nil, false
}

func (g *signInStep) view(s *session) string {
	var b strings.Builder
	if g.op.busy() {
		if g.code != nil {
			b.WriteString("On any device, open\n\n  " + styles.Value.Render(g.code.VerificationURL) + "\n\nand enter the code\n\n  " +
				styles.Value.Render(g.code.UserCode) + "\n\nthen sign in with an account that may create enterprise applications.")
			if !g.code.ExpiresAt.IsZero() {
				b.WriteString("\n" + styles.Muted.Render("The code expires at "+g.code.ExpiresAt.Format(time.Kitchen)+"."))
			}
			return b.String()
		}
		return "Signing in with: " + g.menu.selected().label
	}
	if g.form != nil {
		return styles.Muted.Render(g.menu.selected().label) + "\n\n" + g.form.view()
	}
	b.WriteString("The wizard creates and configures the Entra enterprise application through Microsoft Graph, as you. How do you want to sign in?\n\n")
	if s.resumeAt != "" {
		b.WriteString(styles.Warn.Render("Sign in again to resume at: "+stepTitles[s.resumeAt]) + "\n\n")
	}
	b.WriteString(g.menu.view())
	return b.String()
}

func (g *signInStep) keys(*session) []key.Binding {
	if g.form != nil {
		return []key.Binding{keys.Enter}
	}
	return []key.Binding{keys.Enter, keys.Up, keys.Down}
}
func (g *signInStep) typing() bool   { return g.form != nil }
func (g *signInStep) operation() *op { return &g.op }

// ---- enterprise app ----

// appStep creates the enterprise application or picks an existing one.
type appStep struct {
	op      op
	name    textinput.Model
	found   []App
	menu    *menu
	problem string
}

func (a *appStep) init(s *session) tea.Cmd {
	a.name = newInput("Roster", orDefault(s.st.App.Name, "Roster"))
	return nil
}

func (a *appStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := a.op.finish(s, msg); ok {
		if a.op.err != nil {
			return nil
		}
		switch v := v.(type) {
		case []App:
			a.found = v
			name := strings.TrimSpace(a.name.Value())
			m := &menu{}
			create := "Create a new app named “" + name + "”"
			for _, app := range v {
				desc := "Application ID " + app.AppID + " (not connected from here: provisioning moves to this agent)"
				if app.Connected {
					desc = "Application ID " + app.AppID + ", connected from this data directory"
				}
				if app.Name == name {
					create = "Create another app named “" + name + "” (two apps of the same name)"
				}
				m.items = append(m.items, choice{app.ID, "Use “" + app.Name + "”", desc})
			}
			m.items = append(m.items, choice{"", create, "A non-gallery enterprise application."})
			m.cursor = len(m.items) - 1
			for _, app := range v {
				if app.Connected {
					m.selectID(app.ID)
				}
			}
			if s.st.App.ID != "" {
				m.selectID(s.st.App.ID)
			}
			a.menu = m
			if len(v) == 0 {
				return a.create(s, name)
			}
		case App:
			s.st.App = v
			return next
		}
		return nil
	}
	k, isKey := msg.(tea.KeyMsg)
	if a.menu == nil {
		if isKey && key.Matches(k, keys.Enter) {
			name := strings.TrimSpace(a.name.Value())
			if p := check("app", name); p != "" {
				a.problem = p
				return nil
			}
			a.problem = ""
			return a.op.run(s, "looking for enterprise applications named “"+name+"”", "Check your network and that you are still signed in.",
				func(ctx context.Context) (any, error) { return s.b.FindApps(ctx, name) })
		}
		var cmd tea.Cmd
		a.name, cmd = a.name.Update(msg)
		return cmd
	}
	if isKey && key.Matches(k, keys.Enter) {
		c := a.menu.selected()
		if c.id == "" {
			return a.create(s, strings.TrimSpace(a.name.Value()))
		}
		for _, app := range a.found {
			if app.ID == c.id {
				s.st.App = app
			}
		}
		return next
	}
	a.menu.update(msg)
	return nil
}

func (a *appStep) create(s *session, name string) tea.Cmd {
	return a.op.run(s, "waiting for Entra to finish creating the app (this can take a minute)",
		"Check that your account may create enterprise applications (Application Administrator).",
		func(ctx context.Context) (any, error) { return s.b.CreateApp(ctx, name) })
}

func (a *appStep) back(*session) (tea.Cmd, bool) {
	if a.menu != nil {
		a.menu, a.op.err = nil, nil
		return nil, true
	}
	return nil, false
}

func (a *appStep) view(s *session) string {
	var b strings.Builder
	if s.account != nil {
		b.WriteString(styles.Good.Render("✓ Signed in as "+s.account.Name) + "\n\n")
	}
	b.WriteString("Entra provisions through an enterprise application: the wizard creates one (non-gallery, like the portal's “Create your own application”) or reuses one.\n\n")
	if a.menu == nil {
		b.WriteString(styles.Label.Render("Application name") + "\n" + a.name.View())
		if a.problem != "" {
			b.WriteString("\n" + styles.Bad.Render("✗ "+a.problem))
		}
		return b.String()
	}
	b.WriteString(a.menu.view())
	return b.String()
}

func (a *appStep) keys(*session) []key.Binding {
	if a.menu == nil {
		return []key.Binding{keys.Enter}
	}
	return []key.Binding{keys.Enter, keys.Up, keys.Down}
}
func (a *appStep) typing() bool   { return a.menu == nil }
func (a *appStep) operation() *op { return &a.op }

// ---- mappings ----

// mappingsStep chooses the attribute mappings, the matching key and groups.
type mappingsStep struct {
	all    []Mapping
	on     map[string]bool
	cursor int
	match  bool
	groups bool
}

func (p *mappingsStep) init(s *session) tea.Cmd {
	p.all = Mappings()
	p.on = map[string]bool{}
	for _, m := range selectedMappings(s.st.Mappings) {
		p.on[m.Source] = true
	}
	p.match, p.groups = s.st.MatchOnEmployeeID, s.st.ProvisionGroups
	if s.st.Mappings == nil {
		p.groups = true
	}
	return nil
}

func (p *mappingsStep) rows() int { return len(p.all) + 2 }

func (p *mappingsStep) update(s *session, msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	switch {
	case key.Matches(k, keys.Up):
		if p.cursor > 0 {
			p.cursor--
		}
	case key.Matches(k, keys.Down):
		if p.cursor < p.rows()-1 {
			p.cursor++
		}
	case key.Matches(k, keys.Toggle):
		switch {
		case p.cursor < len(p.all):
			m := p.all[p.cursor]
			if !m.Required {
				p.on[m.Source] = !p.on[m.Source]
				if m.Source == "employeeId" && !p.on[m.Source] {
					p.match = false
				}
			}
		case p.cursor == len(p.all):
			p.match = !p.match
			if p.match {
				p.on["employeeId"] = true
			}
		default:
			p.groups = !p.groups
		}
	case key.Matches(k, keys.Enter):
		s.st.Mappings = []string{}
		for _, m := range p.all {
			if p.on[m.Source] {
				s.st.Mappings = append(s.st.Mappings, m.Source)
			}
		}
		s.st.MatchOnEmployeeID, s.st.ProvisionGroups = p.match, p.groups
		return next
	}
	return nil
}

func box(on bool) string {
	if on {
		return "[x]"
	}
	return "[ ]"
}

func (p *mappingsStep) view(*session) string {
	var b strings.Builder
	b.WriteString("What Entra sends for each user. The first five are required by Roster.\n\n")
	row := func(i int, text string) {
		if i == p.cursor {
			b.WriteString(styles.Selected.Render("› "+text) + "\n")
		} else {
			b.WriteString("  " + text + "\n")
		}
	}
	for i, m := range p.all {
		text := fmt.Sprintf("%s %-18s → %s", box(p.on[m.Source]), m.Source, shortTarget(m.Target))
		if m.Required {
			text += styles.Muted.Render("  (required)")
		}
		row(i, text)
	}
	b.WriteString("\n")
	row(len(p.all), box(p.match)+" Match users on employeeId (not userPrincipalName)")
	row(len(p.all)+1, box(p.groups)+" Provision groups and their members")
	return strings.TrimRight(b.String(), "\n")
}

func (p *mappingsStep) keys(*session) []key.Binding {
	return []key.Binding{keys.Enter, keys.Toggle, keys.Up, keys.Down}
}
func (p *mappingsStep) typing() bool   { return false }
func (p *mappingsStep) operation() *op { return nil }

// ---- scope and notification email ----

// settingsStep chooses the scope and the notification email.
type settingsStep struct {
	scope   menu
	email   textinput.Model
	focus   int // 0: scope, 1: email
	problem string
}

func (t *settingsStep) init(s *session) tea.Cmd {
	t.scope.items = scopeChoices()
	if s.st.ScopeAllUsers {
		t.scope.cursor = 1
	}
	def := s.st.NotificationEmail
	if def == "" && s.account != nil && strings.Contains(s.account.Name, "@") {
		def = s.account.Name
	}
	t.email = newInput("admin@example.com (optional)", def)
	t.email.Blur()
	return nil
}

func (t *settingsStep) update(s *session, msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	focus := func(f int) tea.Cmd {
		t.focus = f
		if f == 1 {
			t.email.Focus()
		} else {
			t.email.Blur()
		}
		return nil
	}
	switch {
	case k.String() == "tab":
		return focus((t.focus + 1) % 2)
	case t.focus == 0 && k.String() == "down" && t.scope.cursor == len(t.scope.items)-1:
		return focus(1)
	case t.focus == 1 && k.String() == "up":
		return focus(0)
	case key.Matches(k, keys.Enter):
		e := strings.TrimSpace(t.email.Value())
		if p := check("notification_email", e); p != "" {
			t.problem = "Notification email: " + p
			return nil
		}
		s.st.ScopeAllUsers = t.scope.selected().id == "all"
		s.st.NotificationEmail = e
		return next
	}
	if t.focus == 1 {
		var cmd tea.Cmd
		t.email, cmd = t.email.Update(msg)
		return cmd
	}
	t.scope.update(msg)
	return nil
}

func (t *settingsStep) view(*session) string {
	var b strings.Builder
	b.WriteString(styles.Label.Render("Who Entra provisions") + "\n" + t.scope.view() + "\n\n")
	b.WriteString(styles.Label.Render("Notification email") + " " + styles.Muted.Render("(Entra writes here when provisioning fails)") + "\n" + t.email.View())
	if t.problem != "" {
		b.WriteString("\n" + styles.Bad.Render("✗ "+t.problem))
	}
	return b.String()
}

func (t *settingsStep) keys(*session) []key.Binding {
	return []key.Binding{keys.Enter, keys.Up, keys.Down}
}
func (t *settingsStep) typing() bool   { return t.focus == 1 }
func (t *settingsStep) operation() *op { return nil }

// ---- credential ----

// credentialStep chooses how Entra authenticates to the agent, before any
// credential is issued: the next steps issue only the one chosen (the
// Secret Token step for a token; Configure issues an OAuth client or trusts
// the federation). Federation asks for the Subject and Audience the portal
// shows, with the flow's checks.
type credentialStep struct {
	menu menu
	form *form
}

func (c *credentialStep) init(s *session) tea.Cmd {
	c.menu.items = credentialChoices()
	// A re-run offers the kind chosen last; a setup connected before the
	// choice existed used the Secret Token.
	def := s.st.Credential
	if def == "" && s.st.Connected {
		def = CredentialToken
	}
	c.menu.selectID(orDefault(def, defaultCredential(s.st.Reach.TLS)))
	return nil
}

// openForm asks for the federation's Subject and Audience: the flow's
// questions, with the last run's answers as defaults.
func (c *credentialStep) openForm(s *session) {
	a := &Answers{SignIn: s.st.SignIn.Method, Credential: CredentialFederation, Subject: "-"}
	prev := answersOf(s.st)
	f := &form{}
	for _, q := range questionsOf(StepCredential, a) {
		if q.kind != askText {
			continue
		}
		check := q.check
		if q.key == "audience" { // needed only with a Subject: checked on submit
			check = plainCheck(checkFederationValue("Audience"))
		}
		f.fields = append(f.fields, field{label: orDefault(q.short, q.label), input: newInput(q.placeholder, q.get(&prev)), set: q.set,
			check: func(v string) string { return check(&checks{}, v) }})
	}
	for i := 1; i < len(f.fields); i++ {
		f.fields[i].input.Blur()
	}
	c.form = f
}

func (c *credentialStep) update(s *session, msg tea.Msg) tea.Cmd {
	if c.form != nil {
		cmd, submitted := c.form.update(msg)
		if !submitted {
			return cmd
		}
		a := &Answers{}
		for i, fl := range c.form.fields {
			fl.set(a, c.form.value(i))
		}
		// The Audience is needed only with a Subject (flow.go): empty
		// both, Entra gets the federation added with `roster oauth federation add`.
		if a.Subject == "" {
			a.Audience = ""
		} else if p := check("audience", a.Audience); p != "" {
			c.form.problem = "Audience: " + p
			c.form.setFocus(1)
			return nil
		}
		s.st.Credential, s.st.Subject, s.st.Audience = CredentialFederation, a.Subject, a.Audience
		return next
	}
	if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, keys.Enter) {
		id := c.menu.selected().id
		if id == CredentialFederation {
			c.openForm(s)
			return nil
		}
		s.st.Credential, s.st.Subject, s.st.Audience = id, "", ""
		return next
	}
	c.menu.update(msg)
	return nil
}

func (c *credentialStep) back(*session) (tea.Cmd, bool) {
	if c.form != nil {
		c.form = nil
		return nil, true
	}
	return nil, false
}

func (c *credentialStep) view(s *session) string {
	if c.form != nil {
		return styles.Muted.Render(c.menu.selected().label) + "\n\n" +
			"In the Entra portal, the app's Provisioning › Admin Credentials › Workload Identity Federation shows a Subject and an Audience: paste them here. " +
			"Leave both empty to use the federation added with `roster oauth federation add`.\n\n" + c.form.view()
	}
	return "Only the credential you choose is issued. Roster saves it in Entra itself.\n\n" + c.menu.view()
}

func (c *credentialStep) keys(*session) []key.Binding {
	if c.form != nil {
		return []key.Binding{keys.Enter}
	}
	return []key.Binding{keys.Enter, keys.Up, keys.Down}
}
func (c *credentialStep) typing() bool   { return c.form != nil }
func (c *credentialStep) operation() *op { return nil }

// ---- assignments ----

// assignStep searches users and groups as the owner types and selects them.
type assignStep struct {
	op       op
	query    textinput.Model
	results  []Principal
	cursor   int
	chosen   []Principal
	lastQ    string
	pending  int // debounce sequence
	problem  string
	searched bool
}

type searchTick struct{ n int }

func (a *assignStep) init(s *session) tea.Cmd {
	a.query = newInput("type a name to search users and groups", "")
	a.chosen = slices.Clone(s.st.Assign)
	return a.search(s, "")
}

func (a *assignStep) search(s *session, q string) tea.Cmd {
	a.lastQ = q
	return a.op.run(s, "searching users and groups", "Check your network and that you are still signed in.",
		func(ctx context.Context) (any, error) { return s.b.SearchPrincipals(ctx, q) })
}

func (a *assignStep) isChosen(id string) bool {
	return slices.ContainsFunc(a.chosen, func(p Principal) bool { return p.ID == id })
}

func (a *assignStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := a.op.finish(s, msg); ok {
		if a.op.err == nil {
			a.results, a.cursor, a.searched = v.([]Principal), 0, true
		}
		if q := strings.TrimSpace(a.query.Value()); q != a.lastQ {
			return a.search(s, q) // the owner typed while the search ran
		}
		return nil
	}
	if t, ok := msg.(searchTick); ok {
		if t.n == a.pending && !a.op.busy() {
			return a.search(s, strings.TrimSpace(a.query.Value()))
		}
		return nil
	}
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	switch {
	case k.String() == "up":
		if a.cursor > 0 {
			a.cursor--
		}
		return nil
	case k.String() == "down":
		if a.cursor < len(a.results)-1 {
			a.cursor++
		}
		return nil
	case key.Matches(k, keys.Select):
		if a.cursor < len(a.results) {
			p := a.results[a.cursor]
			if a.isChosen(p.ID) {
				a.chosen = slices.DeleteFunc(a.chosen, func(x Principal) bool { return x.ID == p.ID })
			} else {
				a.chosen = append(a.chosen, p)
			}
			a.problem = ""
		}
		return nil
	case key.Matches(k, keys.Enter):
		if len(a.chosen) == 0 {
			a.problem = "Select at least one user or group (tab), or go back and provision all users."
			return nil
		}
		s.st.Assign = a.chosen
		return next
	}
	before := a.query.Value()
	var cmd tea.Cmd
	a.query, cmd = a.query.Update(msg)
	if a.query.Value() != before {
		a.pending++
		n := a.pending
		return tea.Batch(cmd, tea.Tick(s.debounce, func(time.Time) tea.Msg { return searchTick{n} }))
	}
	return cmd
}

func (a *assignStep) view(s *session) string {
	var b strings.Builder
	b.WriteString("Entra provisions the users and groups assigned to the app (group members too).\n\n")
	b.WriteString(a.query.View() + "\n\n")
	const rows = 7
	start := 0
	if a.cursor >= rows {
		start = a.cursor - rows + 1
	}
	if a.searched && len(a.results) == 0 {
		b.WriteString(styles.Muted.Render("  No user or group starts with “"+a.lastQ+"”.") + "\n")
	}
	for i := start; i < len(a.results) && i < start+rows; i++ {
		p := a.results[i]
		text := fmt.Sprintf("%s %-5s %s", box(a.isChosen(p.ID)), p.Kind, p.Name)
		if p.Detail != "" {
			text += styles.Muted.Render("  " + p.Detail)
		}
		if i == a.cursor {
			b.WriteString(styles.Selected.Render("›") + " " + text + "\n")
		} else {
			b.WriteString("  " + text + "\n")
		}
	}
	if len(a.results) > rows {
		b.WriteString(styles.Muted.Render(fmt.Sprintf("  %d of %d shown; type to narrow", rows, len(a.results))) + "\n")
	}
	var names []string
	for _, p := range a.chosen {
		names = append(names, p.Name)
	}
	b.WriteString("\n" + styles.Label.Render(fmt.Sprintf("Assigned (%d): ", len(a.chosen))) + orNone(strings.Join(names, ", ")))
	if a.problem != "" {
		b.WriteString("\n" + styles.Bad.Render("✗ "+a.problem))
	}
	return b.String()
}

func (a *assignStep) keys(*session) []key.Binding {
	return []key.Binding{keys.Enter, keys.Select, key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "move"))}
}
func (a *assignStep) typing() bool { return true }

func (a *assignStep) stopOps() { a.op.stop() }

// operation is nil while searching: a search never blocks typing, and its
// spinner would only flicker. A failed search shows its error and hint.
func (a *assignStep) operation() *op {
	if a.op.failed() && !a.op.cancelled() {
		return &a.op
	}
	return nil
}
