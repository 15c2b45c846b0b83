package tui

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// fakeBackend is an in-memory Backend: it records calls, can fail a method
// once (fail) or block it until its context ends (block).
type fakeBackend struct {
	mu         sync.Mutex
	state      State
	saves      []State
	existing   Existing
	domains    []Domain
	verify     bool // CheckDomain verifies
	apps       []App
	principals []Principal
	calls      []string
	fail       map[string]error
	block      map[string]bool
	configured ConnectOptions
	reach      Reach
	tokens     int
	first      chan FirstRequest
	// portal is what Configure leaves to do in the portal (federation).
	portal []string
	// refuseService makes CheckAgent refuse service mode.
	refuseService bool
}

func newFake() *fakeBackend {
	return &fakeBackend{
		verify: true,
		fail:   map[string]error{},
		block:  map[string]bool{},
		principals: []Principal{
			{ID: "u1", Name: "Alice Andrews", Kind: KindUser, Detail: "alice@contoso.com"},
			{ID: "u2", Name: "Alan Turing", Kind: KindUser, Detail: "alan@contoso.com"},
			{ID: "g1", Name: "All Staff", Kind: KindGroup, Detail: "42 members"},
			{ID: "u3", Name: "Bob Brown", Kind: KindUser, Detail: "bob@contoso.com"},
		},
	}
}

// enter records a call and applies fail/block.
func (f *fakeBackend) enter(ctx context.Context, name string) error {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	err, failing := f.fail[name]
	delete(f.fail, name)
	block := f.block[name]
	f.mu.Unlock()
	if failing {
		return err
	}
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeBackend) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) count(name string) int {
	n := 0
	for _, c := range f.called() {
		if c == name {
			n++
		}
	}
	return n
}

func (f *fakeBackend) LoadState(ctx context.Context) (State, error) {
	if err := f.enter(ctx, "LoadState"); err != nil {
		return State{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, nil
}

func (f *fakeBackend) SaveState(ctx context.Context, s State) error {
	if err := f.enter(ctx, "SaveState"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = s
	f.saves = append(f.saves, s)
	return nil
}

func (f *fakeBackend) Existing(ctx context.Context) (Existing, error) {
	if err := f.enter(ctx, "Existing"); err != nil {
		return Existing{}, err
	}
	return f.existing, nil
}

func (f *fakeBackend) SetReach(ctx context.Context, r Reach) error {
	if err := f.enter(ctx, "SetReach"); err != nil {
		return err
	}
	f.mu.Lock()
	f.reach = r
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) PrepareTenant(ctx context.Context, tenant string) (string, error) {
	if err := f.enter(ctx, "PrepareTenant"); err != nil {
		return "", err
	}
	return "https://scim.contoso.com/scim/v2/" + tenant, nil
}

func (f *fakeBackend) IssueToken(ctx context.Context, tenant string) (Issued, error) {
	if err := f.enter(ctx, "IssueToken"); err != nil {
		return Issued{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
	return Issued{TenantURL: "https://scim.contoso.com/scim/v2/" + tenant, Token: Secret(fakeToken(f.tokens))}, nil
}

// fakeToken is the n-th token the fake issues: as long as a real one (64
// characters, agent/token), so that screens are tested with real widths.
func fakeToken(n int) string {
	return fmt.Sprintf("roster_%08d", n) + "Zx9" + strings.Repeat("aB3", 13) + "kQ1w2E3"
}

// fakeTXT is the TXT value the fake asks for: as long as a real one.
const fakeTXT = "roster-verification=abc123defghijklmnopqrstuvwxyz234"

func (f *fakeBackend) Domains(ctx context.Context, tenant string) ([]Domain, error) {
	if err := f.enter(ctx, "Domains"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Domain(nil), f.domains...), nil
}

func (f *fakeBackend) AddDomain(ctx context.Context, tenant, domain string) (Domain, error) {
	if err := f.enter(ctx, "AddDomain"); err != nil {
		return Domain{}, err
	}
	d := Domain{Name: domain, TXTName: "_roster-challenge." + domain, TXTValue: fakeTXT, State: DomainPending}
	f.mu.Lock()
	f.domains = append(f.domains, d)
	f.mu.Unlock()
	return d, nil
}

func (f *fakeBackend) CheckDomain(ctx context.Context, tenant, domain string) (Domain, error) {
	if err := f.enter(ctx, "CheckDomain"); err != nil {
		return Domain{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range f.domains {
		if d.Name == domain {
			if f.verify {
				f.domains[i].State = DomainVerified
			} else {
				f.domains[i].LastError = "no TXT record yet"
			}
			return f.domains[i], nil
		}
	}
	return Domain{}, errors.New("no such domain")
}

func (f *fakeBackend) SignIn(ctx context.Context, o SignInOptions, prompt func(DeviceCode)) (Account, error) {
	if o.Method == SignInDeviceCode {
		prompt(DeviceCode{UserCode: "ABCD-EFGH", VerificationURL: "https://microsoft.com/devicelogin"})
	}
	if err := f.enter(ctx, "SignIn"); err != nil {
		return Account{}, err
	}
	return Account{Name: "admin@contoso.com", TenantID: "t1", Domain: "contoso.com"}, nil
}

func (f *fakeBackend) FindApps(ctx context.Context, name string) ([]App, error) {
	if err := f.enter(ctx, "FindApps"); err != nil {
		return nil, err
	}
	var out []App
	for _, a := range f.apps {
		if strings.HasPrefix(a.Name, name) || a.ID == name { // the real backend resolves ids too
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeBackend) CreateApp(ctx context.Context, name string) (App, error) {
	if err := f.enter(ctx, "CreateApp"); err != nil {
		return App{}, err
	}
	return App{ID: "sp-new", AppID: "app-new", Name: name}, nil
}

func (f *fakeBackend) SearchPrincipals(ctx context.Context, q string) ([]Principal, error) {
	if err := f.enter(ctx, "SearchPrincipals"); err != nil {
		return nil, err
	}
	var out []Principal
	for _, p := range f.principals {
		if strings.HasPrefix(strings.ToLower(p.Name), strings.ToLower(q)) || strings.HasPrefix(p.Detail, strings.ToLower(q)) {
			out = append(out, p)
		}
	}
	return out, nil
}

// fakeClientSecret is the OAuth client secret the fake saves in Entra.
const fakeClientSecret = "roster_cs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"

func (f *fakeBackend) Configure(ctx context.Context, o ConnectOptions) (Connected, error) {
	if err := f.enter(ctx, "Configure"); err != nil {
		return Connected{}, err
	}
	f.mu.Lock()
	f.configured = o
	f.mu.Unlock()
	c := Connected{Credential: o.Credential}
	if o.Credential != CredentialToken {
		c.ClientID, c.TokenURL = "oc_fake01", "https://scim.contoso.com/oauth/default/token"
	}
	if o.Credential == CredentialOAuth2 {
		c.ClientSecret = fakeClientSecret
	}
	if o.Credential == CredentialFederation {
		f.mu.Lock()
		c.Portal = f.portal
		f.mu.Unlock()
	}
	return c, nil
}

func (f *fakeBackend) TestConnection(ctx context.Context) error {
	return f.enter(ctx, "TestConnection")
}

func (f *fakeBackend) StartProvisioning(ctx context.Context) error {
	return f.enter(ctx, "StartProvisioning")
}

func (f *fakeBackend) ProvisionOnDemand(ctx context.Context, user string) (OnDemandResult, error) {
	if err := f.enter(ctx, "ProvisionOnDemand"); err != nil {
		return OnDemandResult{}, err
	}
	return OnDemandResult{Steps: []OnDemandStep{
		{Name: "Import user", Status: StepSuccess, Description: "Retrieved " + user + " from Entra ID"},
		{Name: "Determine if user is in scope", Status: StepSuccess, Description: "Assigned to the app"},
		{Name: "Match user between source and target", Status: StepSuccess, Description: "No match: the user will be created"},
		{Name: "Perform action", Status: StepSuccess, Description: "Created the user in Roster"},
	}}, nil
}

func (f *fakeBackend) StartAgent(ctx context.Context, o AgentOptions) (AgentInfo, error) {
	if err := f.enter(ctx, "StartAgent"); err != nil {
		return AgentInfo{}, err
	}
	return AgentInfo{TenantURL: "https://scim.contoso.com/scim/v2/default", Listen: o.Reach.Listen,
		DataDir: "/var/lib/roster", LogFile: "/var/log/roster/agent.log"}, nil
}

func (f *fakeBackend) WaitFirstRequest(ctx context.Context) (FirstRequest, error) {
	if err := f.enter(ctx, "WaitFirstRequest"); err != nil {
		return FirstRequest{}, err
	}
	if f.first == nil {
		return FirstRequest{At: time.Date(2026, 1, 2, 10, 42, 7, 0, time.UTC), Method: "GET", Path: "/scim/v2/default/Users?filter=userName+eq+%22probe%22"}, nil
	}
	select {
	case fr := <-f.first:
		return fr, nil
	case <-ctx.Done():
		return FirstRequest{}, ctx.Err()
	}
}

// driver runs a wizard model like tea.Program does, without a terminal:
// commands run in goroutines and their messages go through Update.
type driver struct {
	t       *testing.T
	m       *model
	f       *fakeBackend
	msgs    chan tea.Msg
	flight  int
	presses int // keys pressed, typed text excluded
	typed   int // characters typed
	quit    bool
	out     bytes.Buffer // what the model writes outside the renderer (OSC 52)
}

func newDriver(t *testing.T, f *fakeBackend) *driver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &driver{t: t, f: f, msgs: make(chan tea.Msg, 64)}
	d.m = newModel(ctx, f, Options{Still: true, Debounce: time.Millisecond, Output: &d.out})
	d.spawn(d.m.Init())
	d.settle()
	return d
}

func (d *driver) spawn(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	d.flight++
	go func() { d.msgs <- cmd() }()
}

// settle delivers messages until no command is in flight, or until the
// remaining ones have been quiet for a while (operations blocked on purpose).
func (d *driver) settle() {
	d.t.Helper()
	for d.flight > 0 {
		select {
		case msg := <-d.msgs:
			d.flight--
			d.deliver(msg)
		case <-time.After(300 * time.Millisecond):
			return
		}
	}
}

func (d *driver) deliver(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			d.spawn(c)
		}
	case tea.QuitMsg:
		d.quit = true
	default:
		_, cmd := d.m.Update(msg)
		d.spawn(cmd)
	}
}

// press sends named keys ("enter", "esc", "tab", "down", "ctrl+c" or a rune).
func (d *driver) press(names ...string) {
	d.t.Helper()
	for _, n := range names {
		d.presses++
		d.deliver(keyMsg(n))
		d.settle()
	}
}

// typeText types s into the focused input.
func (d *driver) typeText(s string) {
	d.t.Helper()
	for _, r := range s {
		d.typed++
		d.deliver(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	d.settle()
}

func keyMsg(n string) tea.KeyMsg {
	switch n {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "ctrl+r":
		return tea.KeyMsg{Type: tea.KeyCtrlR}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(n)}
}

// screen is the current view without ANSI escapes or trailing blanks.
func (d *driver) screen() string { return screenOf(d.m) }

// screenOf renders m's view as plain text, without trailing blanks.
func screenOf(m *model) string {
	lines := strings.Split(stripped(m.View()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// want checks the screen shows each text; runs of blanks and line breaks
// count as one space, since text wraps to the terminal's width.
func (d *driver) want(texts ...string) {
	d.t.Helper()
	s := strings.Join(strings.Fields(d.screen()), " ")
	for _, w := range texts {
		if !strings.Contains(s, strings.Join(strings.Fields(w), " ")) {
			d.t.Fatalf("step %s: screen lacks %q:\n%s", d.m.id, w, s)
		}
	}
}

func (d *driver) wantStep(id string) {
	d.t.Helper()
	if d.m.id != id {
		d.t.Fatalf("step = %s, want %s; screen:\n%s", d.m.id, id, d.screen())
	}
}

func (f *fakeBackend) NormalizeDomain(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if n == "" || !strings.Contains(n, ".") || strings.ContainsAny(n, "@/: ") {
		return "", fmt.Errorf("invalid domain: %q is not a domain name", name)
	}
	return n, nil
}

func (f *fakeBackend) CheckAgent(ctx context.Context, o AgentOptions) error {
	if err := f.enter(ctx, "CheckAgent"); err != nil {
		return err
	}
	if o.Mode == AgentService && f.refuseService {
		return &HintError{Err: errors.New("the service keeps its data in /var/lib/roster, but this setup uses /tmp/x"),
			Hint: "Run the wizard as root with the service's data directory, or choose to run the agent in this terminal."}
	}
	if o.Reach.TLS == TLSFiles {
		if _, err := tls.LoadX509KeyPair(o.Reach.CertFile, o.Reach.KeyFile); err != nil {
			return fmt.Errorf("the certificate %s and the key %s cannot be used together: %w", o.Reach.CertFile, o.Reach.KeyFile, err)
		}
	}
	return nil
}
