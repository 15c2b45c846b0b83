package tui

import (
	"context"
	"fmt"
	"github.com/charmbracelet/lipgloss"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/rosterhq/roster/tui/styles"
)

// ---- agent ----

// agentStep starts the agent in this process or as a system service.
type agentStep struct {
	op   op
	menu menu
}

func (*agentStep) choices() []choice {
	return []choice{
		{AgentForeground, "Run it in this terminal", "It keeps running after the wizard until you press ctrl+c."},
		{AgentService, "Install it as a system service", "Starts at boot and restarts on failure (needs root or sudo)."},
	}
}

func (a *agentStep) init(s *session) tea.Cmd {
	a.menu.items = a.choices()
	if s.st.AgentMode != "" {
		a.menu.selectID(s.st.AgentMode)
	}
	return nil
}

func (a *agentStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := a.op.finish(s, msg); ok {
		if a.op.err == nil {
			info := v.(AgentInfo)
			s.agent = &info
			s.st.AgentMode = a.menu.selected().id
			s.st.DataDir = info.DataDir
			if info.TenantURL != "" {
				s.st.TenantURL = info.TenantURL
			}
			return next
		}
		return nil
	}
	if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, keys.Enter) {
		if s.agent != nil && s.st.AgentMode == a.menu.selected().id {
			return next // started earlier in this run
		}
		o := AgentOptions{Mode: a.menu.selected().id, Reach: s.st.Reach}
		hint := "Check the listen address is free and, for a service, that you run the wizard with sudo."
		return a.op.run(s, "starting the agent", hint, func(ctx context.Context) (any, error) { return s.b.StartAgent(ctx, o) })
	}
	a.menu.update(msg)
	return nil
}

func (a *agentStep) view(s *session) string {
	var b strings.Builder
	b.WriteString("The agent is the SCIM service Entra calls (every ~40 minutes, and on demand). It will answer at " + styles.Value.Render(s.st.Reach.PublicURL) + ".\n\n")
	if s.agent != nil {
		b.WriteString(styles.Good.Render("✓ The agent is running ("+s.st.AgentMode+").") + "\n\n")
	}
	if s.resumeAt != "" {
		b.WriteString(styles.Warn.Render("Start the agent again to resume at: "+stepTitles[s.resumeAt]) + "\n\n")
	}
	b.WriteString(a.menu.view())
	return b.String()
}

func (a *agentStep) keys(*session) []key.Binding {
	return []key.Binding{keys.Enter, keys.Up, keys.Down}
}
func (a *agentStep) typing() bool   { return false }
func (a *agentStep) operation() *op { return &a.op }

// ---- configure + Test Connection ----

// connectStep writes the settings to the app and runs Test Connection.
type connectStep struct {
	op    op
	phase string // "token", "configure", "test", "ok"
}

type (
	configured struct{ conn Connected }
	tested     struct{}
)

func (c *connectStep) init(s *session) tea.Cmd {
	// Only a Secret Token must come from this run: an OAuth client or a
	// federation is issued (or rotated) by Configure itself.
	if s.token == "" && !s.st.Connected && credentialOf(s.st) == CredentialToken {
		c.phase = "token"
		return nil
	}
	return c.configure(s)
}

func (c *connectStep) configure(s *session) tea.Cmd {
	// Without a token from this run Entra keeps the one it holds: the
	// settings, mappings and assignments are written all the same.
	c.phase = "configure"
	cred := credentialOf(s.st)
	tok := s.token
	if cred != CredentialToken {
		tok = "" // a token issued before the owner went back and chose again: Entra gets the credential chosen
	}
	o := ConnectOptions{App: s.st.App, TenantURL: s.st.TenantURL, Token: tok, Credential: cred, Subject: s.st.Subject, Audience: s.st.Audience,
		Mappings:          selectedMappings(s.st.Mappings),
		MatchOnEmployeeID: s.st.MatchOnEmployeeID, ProvisionGroups: s.st.ProvisionGroups, ScopeAllUsers: s.st.ScopeAllUsers,
		NotificationEmail: s.st.NotificationEmail, Assign: s.st.Assign}
	return c.op.run(s, "writing the Tenant URL, credentials, mappings, scope and assignments to “"+s.st.App.Name+"”",
		"Check that you are still signed in and may manage the app.",
		func(ctx context.Context) (any, error) {
			conn, err := s.b.Configure(ctx, o)
			return configured{conn}, err
		})
}

func (c *connectStep) test(s *session) tea.Cmd {
	c.phase = "test"
	url := s.st.TenantURL
	return c.op.run(s, "Entra is testing the connection to "+url,
		"Entra must reach "+hostOf(url)+" from the internet: check DNS points here, the port is open and the certificate is valid.",
		func(ctx context.Context) (any, error) { return tested{}, s.b.TestConnection(ctx) })
}

func (c *connectStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := c.op.finish(s, msg); ok {
		if c.op.err != nil {
			return nil
		}
		switch v := v.(type) {
		case Issued:
			s.token, s.st.TenantURL = v.Token, v.TenantURL
			return c.configure(s)
		case configured:
			s.conn = &v.conn
			if len(v.conn.Portal) > 0 {
				c.phase = "portal" // the owner finishes it there, then presses enter
				return nil
			}
			return c.test(s)
		case tested:
			c.phase = "ok"
			s.st.Connected = true
			if !s.backward {
				return next // nothing to decide here: provisioning starts
			}
		}
		return nil
	}
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	switch {
	case c.phase == "token" && key.Matches(k, keys.NewToken):
		return issueToken(s, &c.op, "issuing a new Secret Token", "Check that the data directory is writable.")
	case c.phase == "ok" && key.Matches(k, keys.Enter):
		return next
	case c.phase == "portal" && key.Matches(k, keys.Enter):
		return c.configure(s) // confirms the portal's settings with Test Connection
	}
	return nil
}

// copyValues are the values the portal steps paste (federation), then the
// steps themselves: p prints them all whole where the screen is short.
func (c *connectStep) copyValues(s *session) []copyItem {
	if c.phase != "portal" || s.conn == nil {
		return nil
	}
	items := []copyItem{{"Client ID", s.conn.ClientID}, {"Token URL", s.conn.TokenURL}, {"Tenant URL", s.st.TenantURL}}
	for i, st := range s.conn.Portal {
		items = append(items, copyItem{fmt.Sprintf("Portal step %d", i+1), st})
	}
	return items
}

func (c *connectStep) view(s *session) string {
	var b strings.Builder
	b.WriteString("Tenant URL  " + styles.Value.Render(s.st.TenantURL) + "\nApp         " + s.st.App.Name + "\n\n")
	switch c.phase {
	case "token":
		b.WriteString("Entra needs the Secret Token, which was shown once in an earlier run and is not stored in clear. Press n to issue a new one; the wizard hands it to Entra.")
	case "ok":
		b.WriteString(styles.Good.Render("✓ Entra reached the agent and accepted its credentials.") + "\n\nThe settings are saved in the app; next, provisioning starts.")
	case "portal":
		b.Reset() // the values to paste come first: they must stay on screen
		b.WriteString("Graph cannot set up Workload Identity Federation: finish it in the Entra portal with these values, then press enter to run Test Connection.\n\n")
		for _, it := range c.copyValues(s)[:3] {
			b.WriteString(styles.Label.Render(it.what) + "\n" + copyLine(s, it.what, it.value) + "\n")
		}
		for i, st := range s.conn.Portal {
			b.WriteString(fmt.Sprintf("\n%d. %s", i+1, st))
		}
	default:
		mark := func(done bool, text string) string {
			if done {
				return styles.Good.Render("✓ ") + text
			}
			return styles.Muted.Render("· ") + text
		}
		b.WriteString(mark(c.phase == "test", "Settings written to the app") + "\n" + mark(false, "Test Connection"))
	}
	return b.String()
}

func (c *connectStep) keys(*session) []key.Binding {
	switch c.phase {
	case "token":
		return []key.Binding{keys.NewToken}
	case "ok":
		return []key.Binding{keys.Enter}
	case "portal":
		return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "test connection"))}
	}
	return nil
}
func (c *connectStep) typing() bool   { return false }
func (c *connectStep) operation() *op { return &c.op }

// ---- provisioning ----

// provisionStep starts provisioning and can provision one user on demand.
type provisionStep struct {
	op      op
	started bool
	user    textinput.Model
	result  *OnDemandResult
	who     string
}

type provStarted struct{}

func (p *provisionStep) init(s *session) tea.Cmd {
	def := ""
	for _, a := range s.st.Assign {
		if a.Kind == KindUser && strings.Contains(a.Detail, "@") {
			def = a.Detail
			break
		}
	}
	p.user = newInput("user@example.com (empty: skip)", def)
	return p.op.run(s, "starting the provisioning job", "Check that you may manage the app.",
		func(ctx context.Context) (any, error) { return provStarted{}, s.b.StartProvisioning(ctx) })
}

func (p *provisionStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := p.op.finish(s, msg); ok {
		if p.op.err != nil {
			return nil
		}
		switch v := v.(type) {
		case provStarted:
			p.started = true
			s.st.Provisioning = true
		case OnDemandResult:
			p.result = &v
		}
		return nil
	}
	if !p.started {
		return nil
	}
	k, isKey := msg.(tea.KeyMsg)
	if p.result != nil {
		if isKey && key.Matches(k, keys.Enter) {
			return next
		}
		return nil
	}
	if isKey && key.Matches(k, keys.Enter) {
		u := strings.TrimSpace(p.user.Value())
		if u == "" {
			return next
		}
		p.who = u
		return p.op.run(s, "Entra is provisioning "+u+" (import, scope, match, action)",
			"Check the user exists and is assigned to the app.",
			func(ctx context.Context) (any, error) { return s.b.ProvisionOnDemand(ctx, u) })
	}
	var cmd tea.Cmd
	p.user, cmd = p.user.Update(msg)
	return cmd
}

func statusMark(st string) string {
	switch st {
	case StepSuccess:
		return styles.Good.Render("✓")
	case StepSkipped:
		return styles.Muted.Render("–")
	case StepWarning:
		return styles.Warn.Render("!")
	default:
		return styles.Bad.Render("✗")
	}
}

func (p *provisionStep) view(s *session) string {
	var b strings.Builder
	if !p.started {
		return "Entra's provisioning job runs about every 40 minutes once started."
	}
	if s.st.Connected {
		b.WriteString(styles.Good.Render("✓ Test Connection: Entra reached the agent and accepted "+credentialName(s)+".") + "\n")
	}
	b.WriteString(styles.Good.Render("✓ Provisioning is on.") + " Entra's first full cycle can take up to 40 minutes.\n\n")
	if p.result == nil {
		b.WriteString("To see a user arrive now, provision one on demand:\n\n" + styles.Label.Render("User (UPN)") + "\n" + p.user.View())
		return b.String()
	}
	b.WriteString(styles.Label.Render("Provisioned on demand: "+p.who) + "\n")
	for _, st := range p.result.Steps {
		// Continuation lines of a long description keep the indent.
		style := lipgloss.NewStyle().PaddingLeft(2)
		if s.width > 20 {
			style = style.Width(s.width)
		}
		desc := style.Render(st.Description)
		b.WriteString(fmt.Sprintf("\n%s %s\n%s", statusMark(st.Status), st.Name, styles.Muted.Render(desc)))
	}
	return b.String()
}

func (p *provisionStep) keys(*session) []key.Binding {
	if !p.started {
		return nil
	}
	return []key.Binding{keys.Enter}
}
func (p *provisionStep) typing() bool   { return p.started && p.result == nil }
func (p *provisionStep) operation() *op { return &p.op }

// ---- manual path ----

// manualStep shows what to enter in the portal and waits for Entra's first
// request.
type manualStep struct {
	op    op
	first *FirstRequest
}

func (m *manualStep) init(s *session) tea.Cmd {
	if s.token == "" {
		return nil
	}
	return m.wait(s)
}

func (m *manualStep) wait(s *session) tea.Cmd {
	return m.op.run(s, "waiting for Entra's first request (click Test Connection in the portal)",
		"Check the Tenant URL and token in the portal, and that "+hostOf(s.st.TenantURL)+" reaches this machine.",
		func(ctx context.Context) (any, error) { return s.b.WaitFirstRequest(ctx) })
}

func (m *manualStep) update(s *session, msg tea.Msg) tea.Cmd {
	if v, ok := m.op.finish(s, msg); ok {
		if m.op.err != nil {
			return nil
		}
		switch v := v.(type) {
		case Issued:
			s.token, s.st.TenantURL = v.Token, v.TenantURL
			return m.wait(s)
		case FirstRequest:
			m.first = &v
			s.st.Connected = true
		}
		return nil
	}
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	switch {
	case s.token == "" && key.Matches(k, keys.NewToken):
		return issueToken(s, &m.op, "issuing a new Secret Token", "Check that the data directory is writable.")
	case m.first != nil && key.Matches(k, keys.Enter):
		return next
	}
	return nil
}

func (m *manualStep) view(s *session) string {
	var b strings.Builder
	tok := ""
	if s.token == "" {
		tok = styles.Warn.Render("shown once in an earlier run: press n for a new one")
	}
	if s.token != "" {
		tok = copyLine(s, "Secret Token", s.token.String())
	}
	b.WriteString(styles.Label.Render("Tenant URL") + "\n" + copyLine(s, "Tenant URL", s.st.TenantURL) + "\n\n" + styles.Label.Render("Secret Token") + "\n" + tok + "\n\n")
	b.WriteString("In the Entra admin center: Enterprise applications › New application › Create your own (non-gallery) › Provisioning › Automatic › Admin Credentials: paste both values › Test Connection › Save. Under Mappings, users need:\n\n")
	for _, mp := range Mappings() {
		if mp.Required {
			b.WriteString(fmt.Sprintf("  %-18s → %s\n", mp.Source, shortTarget(mp.Target)))
		}
	}
	b.WriteString("\nThen assign users and groups, and set Provisioning Status to On.")
	if m.first != nil {
		b.WriteString("\n\n" + styles.Good.Render(fmt.Sprintf("✓ Entra's first request arrived at %s: %s %s", m.first.At.Format("15:04:05"), m.first.Method, m.first.Path)))
	}
	return b.String()
}

func (m *manualStep) keys(s *session) []key.Binding {
	switch {
	case s.token == "":
		return []key.Binding{keys.NewToken}
	case m.first != nil:
		return []key.Binding{keys.Enter}
	}
	return nil
}
func (m *manualStep) typing() bool { return false }

func (m *manualStep) copyValues(s *session) []copyItem {
	return []copyItem{{"Secret Token", s.token.String()}, {"Tenant URL", s.st.TenantURL}}
}
func (m *manualStep) operation() *op { return &m.op }

// ---- summary ----

// summaryStep says where everything is and which commands to use next.
type summaryStep struct{}

func (*summaryStep) init(*session) tea.Cmd { return nil }

func (*summaryStep) update(s *session, msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, keys.Enter) {
		return func() tea.Msg { return quitMsg{done: true} }
	}
	return nil
}

func (*summaryStep) view(s *session) string {
	var b strings.Builder
	b.WriteString(styles.Good.Render("Roster is set up.") + "\n\n")
	b.WriteString(styles.Label.Render("Tenant URL") + "\n" + copyLine(s, "Tenant URL", s.st.TenantURL) + "\n")
	switch c := s.conn; {
	case c != nil && c.ClientID != "":
		kind := "OAuth client"
		if c.Credential == CredentialFederation {
			kind = "federation, OAuth client"
		}
		b.WriteString(styles.Label.Render("Token URL") + "\n" + copyLine(s, "Token URL", c.TokenURL) + "\n")
		b.WriteString("Credential  " + kind + " " + c.ClientID + "\n")
	case s.st.Path == PathGraph && credentialOf(s.st) == CredentialToken:
		b.WriteString("Credential  Secret Token\n")
	}
	if s.st.DataDir != "" {
		b.WriteString("Data        " + s.st.DataDir + "\n")
	}
	if s.agent != nil && s.agent.LogFile != "" {
		b.WriteString("Agent log   " + s.agent.LogFile + "\n")
	}
	switch {
	case s.st.AgentMode == AgentService:
		svc := "roster"
		if s.agent != nil && s.agent.Service != "" {
			svc = s.agent.Service
		}
		b.WriteString("Agent       runs as the service " + svc + "\n")
	case s.agent != nil:
		b.WriteString("Agent       keeps running here after you press enter\n")
	}
	b.WriteString("\n" + styles.Label.Render("Next") + "\n")
	cmds := [][2]string{
		{"roster users list", "the users Entra has provisioned"},
		{"roster log", "what Entra changed, what was refused"},
	}
	if s.st.Path == PathGraph {
		cmds = append([][2]string{
			{"roster entra status", "the job's state and its last cycle"},
			{"roster entra logs", "Entra's provisioning log for this app"},
		}, cmds...)
	}
	for _, c := range cmds {
		b.WriteString(fmt.Sprintf("  %-20s %s\n", c[0], styles.Muted.Render(c[1])))
	}
	b.WriteString("\nRun `roster setup` again to change any of this.")
	return b.String()
}

func (*summaryStep) keys(*session) []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "finish"))}
}

func (*summaryStep) copyValues(s *session) []copyItem {
	items := []copyItem{{"Tenant URL", s.st.TenantURL}}
	if s.conn != nil {
		items = append(items, copyItem{"Token URL", s.conn.TokenURL})
	}
	return items
}

// secretValues is the OAuth client secret saved in Entra in this run: the
// owner never needs it, so it is printed only on request (keys.ShowSecret).
func (*summaryStep) secretValues(s *session) []copyItem {
	if s.conn == nil || s.conn.ClientSecret == "" {
		return nil
	}
	return []copyItem{{"OAuth client secret (saved in Entra already)", s.conn.ClientSecret.String()}}
}

// credentialName says what Entra authenticates with, as a noun.
func credentialName(s *session) string {
	switch credentialOf(s.st) {
	case CredentialOAuth2:
		return "the OAuth client"
	case CredentialFederation:
		return "the federation (OAuth client)"
	}
	return "the Secret Token"
}
func (*summaryStep) typing() bool   { return false }
func (*summaryStep) operation() *op { return nil }
