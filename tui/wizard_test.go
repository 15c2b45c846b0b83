package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
)

// walkToDomains drives a fresh wizard to the domains step: an automatic
// certificate for scim.contoso.com.
func walkToDomains(d *driver) {
	d.t.Helper()
	d.press("enter", "enter")
	d.typeText("scim.contoso.com")
	d.press("enter")
	d.typeText("a@contoso.com")
	d.press("enter")
	d.wantStep(StepDomains)
}

// walkToToken drives a fresh wizard to the Secret Token step of the
// manual path, the first credential it issues.
func walkToToken(t *testing.T, d *driver) {
	t.Helper()
	walkToSignIn(t, d)
	d.press("down", "down", "down", "enter")
	d.wantStep(StepToken)
}

// walkToSignIn drives a fresh wizard through welcome, reach, domains (one
// domain, verified on check) and the agent (in this terminal). No
// credential is issued on the way.
func walkToSignIn(t *testing.T, d *driver) {
	t.Helper()
	d.wantStep(StepWelcome)
	d.want("No existing setup found", "Start")
	d.press("enter")
	d.wantStep(StepReach)
	d.want("Automatic certificate", "Behind a reverse proxy")
	d.press("enter")
	d.typeText("scim.contoso.com")
	d.press("enter")
	d.typeText("admin@contoso.com")
	d.press("enter")
	d.wantStep(StepDomains)
	d.typeText("contoso.com")
	d.press("enter")
	d.want("_roster-challenge.contoso.com", "pending")
	if d.m.s.width >= len(fakeTXT) {
		d.want(fakeTXT)
	}
	d.press("c")
	d.want("contoso.com", "verified")
	d.press("enter")
	d.wantStep(StepAgent)
	d.press("enter")
	d.wantStep(StepSignIn)
	if n := d.f.count("IssueToken"); n != 0 {
		d.t.Fatalf("IssueToken called %d times before a credential was chosen", n)
	}
}

// TestHappyPath walks the whole graph path with key presses and counts them.
func TestHappyPath(t *testing.T) {
	f := newFake()
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter") // device code
	d.wantStep(StepApp)
	d.want("Signed in as admin@contoso.com")
	d.press("enter") // name "Roster": none found, created
	d.wantStep(StepMappings)
	d.want("userPrincipalName", "(required)", "[x] Provision groups")
	d.press("enter")
	d.wantStep(StepSettings)
	d.want("admin@contoso.com") // notification email defaults to the signed-in account
	d.press("enter")
	d.wantStep(StepAssign)
	d.typeText("ali")
	d.want("Alice Andrews")
	if strings.Contains(d.screen(), "Bob Brown") {
		t.Fatalf("filter ali still lists Bob:\n%s", d.screen())
	}
	d.press("tab")
	d.want("Assigned (1): Alice Andrews")
	d.press("enter")
	d.wantStep(StepCredential)
	d.want("› OAuth client credentials (recommended)", "Secret Token (long-lived)", "Workload Identity Federation")
	d.press("enter")
	d.wantStep(StepProvision) // Test Connection passed: on at once
	d.want("Entra reached the agent and accepted the OAuth client", "Provisioning is on", "alice@contoso.com")
	d.press("enter")
	d.want("Perform action", "Created the user in Roster")
	d.press("enter")
	d.wantStep(StepSummary)
	d.want("https://scim.contoso.com/scim/v2/default", "/var/lib/roster", "roster entra status", "roster entra logs", "roster log", "roster users list",
		"Credential  OAuth client oc_fake01", "https://scim.contoso.com/oauth/default/token", "s print client secret")
	if strings.Contains(d.screen(), fakeClientSecret) {
		t.Errorf("the summary shows the OAuth client secret unasked:\n%s", d.screen())
	}
	d.press("enter")
	if !d.quit || !d.m.done {
		t.Fatalf("enter on the summary did not finish the wizard")
	}
	t.Logf("happy path: %d key presses + %d typed characters = %d keystrokes", d.presses, d.typed, d.presses+d.typed)
	if d.presses != 18 {
		t.Errorf("happy path took %d key presses, want 18 (update the report if the flow changed on purpose)", d.presses)
	}
	c := f.configured
	// OAuth is the default: the token shown earlier is not given to Entra.
	if c.Credential != CredentialOAuth2 || c.Token != "" || c.App.ID != "sp-new" || len(c.Mappings) != 9 || !c.ProvisionGroups || c.ScopeAllUsers ||
		c.NotificationEmail != "admin@contoso.com" || len(c.Assign) != 1 || c.Assign[0].ID != "u1" {
		t.Errorf("Configure got %+v", c)
	}
	if f.reach.PublicURL != "https://scim.contoso.com" || f.reach.TLS != TLSACME || f.reach.ACMEEmail != "admin@contoso.com" {
		t.Errorf("SetReach got %+v", f.reach)
	}
	last := f.saves[len(f.saves)-1]
	if !last.Done || last.Step != StepSummary || !last.Connected || !last.Provisioning {
		t.Errorf("last saved state = %+v", last)
	}
	for _, s := range f.saves {
		if strings.Contains(strings.ToLower(s.SignIn.ClientSecret.String()+s.TenantURL), "roster_0000") {
			t.Errorf("a saved state holds the token")
		}
	}
}

// TestManualPath goes without Graph and waits for Entra's first request.
func TestManualPath(t *testing.T) {
	f := newFake()
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("up", "up", "up", "down", "down", "down") // to the last choice
	d.press("enter")
	d.wantStep(StepToken) // the manual path's credential: issued only now
	d.want(fakeToken(1), "Paste it into the Entra portal on the next screen")
	d.press("enter")
	d.wantStep(StepManual)
	d.want("Tenant URL", fakeToken(1), "jobTitle", "enterprise:department", "Entra's first request arrived at 10:42:07: GET /scim/v2/default/Users")
	d.press("enter")
	d.wantStep(StepSummary)
	if strings.Contains(d.screen(), "roster entra status") {
		t.Errorf("manual summary mentions entra commands:\n%s", d.screen())
	}
	for _, c := range []string{"SignIn", "Configure", "CreateApp"} {
		if f.count(c) != 0 {
			t.Errorf("manual path called %s", c)
		}
	}
}

// TestManualWaitCancel: esc cancels the wait (not the program); r waits again.
func TestManualWaitCancel(t *testing.T) {
	f := newFake()
	f.first = make(chan FirstRequest)
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("up", "down", "down", "down", "enter", "enter")
	d.wantStep(StepManual)
	d.want("waiting for Entra's first request", "esc cancel")
	d.press("esc")
	d.wantStep(StepManual)
	d.want("Cancelled while waiting for Entra's first request", "r retry")
	d.press("r")
	d.want("waiting for Entra's first request")
	f.first <- FirstRequest{Method: "GET", Path: "/scim/v2/default/Users"}
	d.settle()
	d.want("✓ Entra's first request arrived")
	if n := f.count("WaitFirstRequest"); n != 2 {
		t.Errorf("WaitFirstRequest called %d times, want 2", n)
	}
}

// TestBackEveryStep: esc on each step returns to the one before it.
func TestBackEveryStep(t *testing.T) {
	f := newFake()
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter", "enter", "enter", "enter", "tab", "enter", "enter") // to provision: assign needs a choice; OAuth
	d.wantStep(StepProvision)
	o := order(d.m.s.st)
	for i := slices.Index(o, StepProvision); i > 0; i-- {
		d.wantStep(o[i])
		d.press("esc")
		d.wantStep(o[i-1])
	}
	d.press("shift+tab")
	d.wantStep(StepWelcome)
}

// TestRetryAfterError: an error says what failed and what to do; r retries.
func TestRetryAfterError(t *testing.T) {
	f := newFake()
	f.fail["TestConnection"] = &HintError{Err: errors.New("the agent answered 401"), Hint: "Issue a new token."}
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter", "enter", "enter", "enter", "tab", "enter", "enter")
	d.wantStep(StepConnect)
	d.want("✗ Failed while Entra is testing the connection to https://scim.contoso.com/scim/v2/default: the agent answered 401.",
		"Issue a new token. Press r to retry.")
	d.press("r")
	d.want("Entra reached the agent")
	if n := f.count("TestConnection"); n != 2 {
		t.Errorf("TestConnection called %d times, want 2", n)
	}
}

// TestValidationGates: bad input keeps the step and says why.
func TestValidationGates(t *testing.T) {
	f := newFake()
	d := newDriver(t, f)
	d.press("enter", "enter")
	d.typeText("https://scim")
	d.press("enter", "enter")
	d.wantStep(StepReach)
	d.want("Public hostname: Enter only the hostname")
	if f.count("SetReach") != 0 {
		t.Fatal("SetReach called with an invalid hostname")
	}
	d.press("esc") // back to the TLS menu, not the previous step
	d.wantStep(StepReach)
	d.want("Automatic certificate")
	d.press("down", "down", "enter") // proxy
	d.typeText("http://x.example.com")
	d.press("enter", "enter")
	d.want("Public URL (what Entra calls): Entra only calls https:// URLs (plain http:// only for localhost trials).")

	// settings: a bad notification email
	d2 := newDriver(t, newFake())
	walkToSignIn(t, d2)
	d2.press("enter", "enter", "enter")
	d2.wantStep(StepSettings)
	d2.press("tab")
	d2.typeText("@@")
	d2.press("enter")
	d2.wantStep(StepSettings)
	d2.want("Notification email: Enter an email address like admin@example.com.")
	// assign: nothing chosen
	d2.press("shift+tab")
	d2.wantStep(StepMappings)
	d2.press("enter")
	d2.press("tab")
	for range 20 {
		d2.press("backspace")
	}
	d2.press("enter")
	d2.wantStep(StepAssign)
	d2.press("enter")
	d2.wantStep(StepAssign)
	d2.want("Select at least one user or group")
}

// TestResume: a saved state resumes at its step; past the agent, it starts
// the agent and signs in again, then jumps there.
func TestResume(t *testing.T) {
	f := newFake()
	f.state = State{Version: 1, Step: StepConnect, Path: PathGraph, TenantURL: "https://scim.contoso.com/scim/v2/default", TokenIssued: true,
		Reach: Reach{PublicURL: "https://scim.contoso.com", TLS: TLSACME}, App: App{ID: "sp1", Name: "Roster"}, Assign: []Principal{{ID: "u1", Name: "Alice"}}}
	f.existing = Existing{DataDir: "/var/lib/roster", Tenants: []string{"default"}, Tokens: 1, Domains: []Domain{{Name: "contoso.com", State: DomainVerified}}}
	d := newDriver(t, f)
	d.want("Found an existing setup", "default · 1 active token(s)", "contoso.com (verified)", "Resume at: Test Connection")
	d.press("enter")
	d.wantStep(StepAgent)
	d.want("Start the agent again to resume at: Test Connection")
	d.press("enter")
	d.wantStep(StepSignIn)
	d.want("Sign in again to resume at: Test Connection")
	d.press("enter")
	d.wantStep(StepConnect)
	d.want("Press n to issue a new one")
	d.press("n")
	d.want("Entra reached the agent")
	if f.configured.Token.String() != fakeToken(1) {
		t.Errorf("configured token = %q", f.configured.Token)
	}
}

// TestResumeConnectedWritesSettings: a re-run of a connected setup writes
// the settings to the app without a new token before Test Connection, and
// says so only after they were written.
func TestResumeConnectedWritesSettings(t *testing.T) {
	f := newFake()
	f.state = State{Version: 1, Step: StepAgent, Path: PathGraph, TenantURL: "https://scim.contoso.com/scim/v2/default", TokenIssued: true,
		Connected: true, ScopeAllUsers: true, Mappings: []string{"givenName"},
		Reach: Reach{PublicURL: "https://scim.contoso.com", TLS: TLSACME}, App: App{ID: "sp1", Name: "Roster", Connected: true}}
	f.existing = Existing{DataDir: "/var/lib/roster", Tenants: []string{"default"}, Tokens: 1, AppConnected: true}
	f.apps = []App{{ID: "sp1", AppID: "app1", Name: "Roster", Connected: true}} // Entra lists the connected app
	d := newDriver(t, f)
	// The agent starts before the sign-in; a connected re-run walks
	// through the saved answers to Test Connection, which moves on to
	// provisioning by itself once Entra reached the agent.
	// Connected before the credential choice existed: the Secret Token is
	// the saved kind, so it is the default, and Entra keeps its token.
	for _, step := range []string{StepAgent, StepSignIn, StepApp, StepMappings, StepSettings, StepCredential, StepToken, StepProvision} {
		d.press("enter")
		d.wantStep(step)
		switch step {
		case StepApp:
			d.press("enter") // the name: Entra lists the connected app, preselected
			d.want("connected from this data directory")
		case StepCredential:
			d.want("› Secret Token (long-lived)")
		case StepToken:
			d.want("A token was issued in an earlier run")
		}
	}
	if f.count("Configure") != 1 || f.count("IssueToken") != 0 {
		t.Fatalf("Configure %d, IssueToken %d; want the settings written once, no new token", f.count("Configure"), f.count("IssueToken"))
	}
	if c := f.configured; c.Token != "" || !c.ScopeAllUsers || len(c.Mappings) != 6 || c.App.ID != "sp1" {
		t.Errorf("Configure got %+v", c)
	}
}

// TestDomainsPending: continuing while a record is pending is allowed and the
// status stays visible.
func TestDomainsPending(t *testing.T) {
	f := newFake()
	f.verify = false
	d := newDriver(t, f)
	walkToDomains(d)
	d.typeText("contoso.com")
	d.press("enter", "c")
	d.want("… pending", "no TXT record yet", "You can\ncontinue while they are pending")
	d.typeText("a")
	d.typeText("not a domain")
	d.press("enter")
	d.want("“not a domain” is not an email domain")
	d.press("esc")
	d.want("press c to check")
	d.press("enter")
	d.wantStep(StepAgent)
	if got := d.m.s.st.Domains; len(got) != 1 || got[0] != "contoso.com" {
		t.Errorf("state domains = %v", got)
	}
}

// TestCtrlC: ctrl+c cancels a running operation; pressed twice when idle it quits.
func TestCtrlC(t *testing.T) {
	f := newFake()
	f.block["SignIn"] = true
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter")
	d.want("https://microsoft.com/devicelogin", "ABCD-EFGH")
	// The first ctrl+c stops the operation and arms the quit, as the help
	// line ("ctrl+c quit") says; the second quits.
	d.press("ctrl+c")
	d.wantStep(StepSignIn)
	d.want("Cancelled while waiting for you to sign in", "Press ctrl+c again to quit")
	if d.quit {
		t.Fatal("ctrl+c during an operation quit the program")
	}
	d.press("ctrl+c")
	if !d.quit || d.m.done {
		t.Fatalf("quit=%v done=%v after ctrl+c twice", d.quit, d.m.done)
	}
	// Any other key disarms it: esc then ctrl+c does not quit.
	f2 := newFake()
	f2.block["SignIn"] = true
	d2 := newDriver(t, f2)
	walkToSignIn(t, d2)
	d2.press("enter")
	d2.want("https://microsoft.com/devicelogin")
	d2.press("ctrl+c", "r")
	d2.want("https://microsoft.com/devicelogin")
	d2.press("ctrl+c")
	if d2.quit {
		t.Fatal("ctrl+c after a retry quit at once: the retry key should have disarmed the quit")
	}
}

// TestAppPickConnected: the app this data directory connected before is
// the default choice; another app of the same name is not.
func TestAppPickConnected(t *testing.T) {
	f := newFake()
	f.apps = []App{{ID: "sp-other", AppID: "app-other", Name: "Roster"}, {ID: "sp-mine", AppID: "app-mine", Name: "Roster", Connected: true}}
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter", "enter")
	d.wantStep(StepApp)
	d.want("connected from this data directory")
	d.press("enter")
	d.wantStep(StepMappings)
	if d.m.s.st.App.ID != "sp-mine" || f.count("CreateApp") != 0 {
		t.Errorf("app = %+v, CreateApp calls %d", d.m.s.st.App, f.count("CreateApp"))
	}
}

// TestAppPickExisting: an existing app can be reused.
func TestAppPickExisting(t *testing.T) {
	f := newFake()
	f.apps = []App{{ID: "sp-old", AppID: "app-old", Name: "Roster"}}
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter", "enter")
	d.wantStep(StepApp)
	d.want("Use “Roster”", "not connected from here", "Create another app named “Roster” (two apps of the same name)")
	d.press("up", "enter")
	d.wantStep(StepMappings)
	if d.m.s.st.App.ID != "sp-old" || f.count("CreateApp") != 0 {
		t.Errorf("app = %+v, CreateApp calls %d", d.m.s.st.App, f.count("CreateApp"))
	}
	// employeeId as matching key selects the employeeId mapping too
	for range 9 {
		d.press("down")
	}
	d.press("space")
	d.want("[x] Match users on employeeId", "[x] employeeId")
	d.press("enter")
	if !d.m.s.st.MatchOnEmployeeID || !slices.Contains(d.m.s.st.Mappings, "employeeId") {
		t.Errorf("state = %+v", d.m.s.st)
	}
}

// TestScreensFit renders every step at 80x24 and at 60x20, checks that it
// fits, and compares it with its golden file (go test ./tui -run
// TestScreensFit -update rewrites them).
func TestScreensFit(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {60, 20}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			shots := screens(t, w, h)
			for name, s := range shots {
				t.Run(name, func(t *testing.T) {
					lines := strings.Split(s, "\n")
					if len(lines) > h {
						t.Errorf("%d lines, more than %d", len(lines), h)
					}
					for i, l := range lines {
						if lw := lipgloss.Width(l); lw > w {
							t.Errorf("line %d is %d columns wide: %q", i+1, lw, l)
						}
					}
					golden.RequireEqual(t, []byte(s))
				})
			}
			// The values to copy are never cut: each is whole on a line of
			// its own, or (wider than the screen) not shown at all but
			// offered with p and y.
			token := fakeToken(1)
			assertWhole(t, shots["domains"], fakeTXT, true)
			assertWhole(t, shots["domains"], "_roster-challenge.contoso.com", true)
			assertWhole(t, shots["token"], token, w >= len(token))
			assertWhole(t, shots["manual"], token, w >= len(token))
			if w < len(token) && !strings.Contains(strings.Join(strings.Fields(shots["token"]), " "), "press p to print it whole above") {
				t.Errorf("at %d columns the token screen does not offer p:\n%s", w, shots["token"])
			}
		})
	}
}

// assertWhole checks that v appears on screen alone on one line (when shown
// is true), and that no line shows a part of it cut off.
func assertWhole(t *testing.T, screen, v string, shown bool) {
	t.Helper()
	found := false
	for _, l := range strings.Split(screen, "\n") {
		l = strings.TrimSpace(l)
		if l == v {
			found = true
			continue
		}
		for n := 16; n < len(v); n++ {
			if strings.HasSuffix(l, v[:n]) || strings.HasPrefix(l, v[len(v)-n:]) {
				t.Errorf("a line holds %q cut off: %q", v, l)
				break
			}
		}
	}
	if found != shown {
		t.Errorf("%q alone on a line: %v, want %v; screen:\n%s", v, found, shown, screen)
	}
}

// screens walks the whole wizard at w x h and returns the screen of each step.
func screens(t *testing.T, w, h int) map[string]string {
	f := newFake()
	f.block["SignIn"] = true
	d := newDriver(t, f)
	d.m.Update(windowSize(w, h))
	shots := map[string]string{}
	snap := func(name string) {
		shots[name] = d.screen()
	}
	snap("welcome")
	d.press("enter")
	snap("reach")
	d.press("enter")
	d.typeText("scim.contoso.com")
	d.press("enter")
	snap("reach_form")
	d.typeText("admin@contoso.com")
	d.press("enter")
	d.typeText("contoso.com")
	d.press("enter")
	snap("domains")
	d.press("c", "enter")
	snap("agent")
	d.press("enter")
	snap("signin")
	d.press("enter")
	snap("signin_code")
	f.mu.Lock()
	f.block["SignIn"] = false
	f.mu.Unlock()
	d.press("esc", "esc", "enter")
	snap("app")
	d.press("enter")
	snap("mappings")
	d.press("enter")
	snap("settings")
	d.press("enter")
	d.typeText("a")
	snap("assign")
	f.mu.Lock()
	f.block["TestConnection"] = true
	f.mu.Unlock()
	d.press("tab", "enter")
	snap("credential")
	d.press("down", "down", "enter")
	d.typeText("/eid1/c/pub/t/abc/a/def/appid")
	d.press("enter")
	snap("credential_federation")
	d.press("esc", "up", "up")
	d.press("enter")
	snap("connect")
	f.mu.Lock()
	f.block["TestConnection"] = false
	f.mu.Unlock()
	d.press("esc", "r") // cancel, then test again: on to provisioning
	d.wantStep(StepProvision)
	snap("provision")
	d.press("enter", "enter")
	snap("summary")
	d2 := newDriver(t, newFake())
	d2.m.Update(windowSize(w, h))
	walkToToken(t, d2)
	shots["token"] = d2.screen()
	d2.press("enter")
	shots["manual"] = d2.screen()
	return shots
}

// TestNarrowTerminal: text wraps to a narrow width instead of running off.
func TestNarrowTerminal(t *testing.T) {
	d := newDriver(t, newFake())
	d.m.Update(windowSize(50, 30))
	for i, l := range strings.Split(d.screen(), "\n") {
		if w := lipgloss.Width(l); w > 50 {
			t.Errorf("line %d is %d wide at 50 columns: %q", i+1, w, l)
		}
	}
}

func windowSize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }

// watchWriter signals when the program has drawn want.
type watchWriter struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	seen chan struct{}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.seen != nil && strings.Contains(stripped(w.buf.String()), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return len(p), nil
}

// TestRunQuit runs the real program: q on the welcome screen returns ErrQuit.
func TestRunQuit(t *testing.T) {
	inR, inW := io.Pipe()
	out := &watchWriter{want: "Start", seen: make(chan struct{})}
	seen := out.seen
	errc := make(chan error, 1)
	go func() { errc <- Run(context.Background(), newFake(), Options{Input: inR, Output: out, Still: true}) }()
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the welcome screen never showed Start")
	}
	inW.Write([]byte("q"))
	select {
	case err := <-errc:
		if !errors.Is(err, ErrQuit) {
			t.Fatalf("Run = %v, want ErrQuit", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("q did not quit")
	}
}

func TestCheckPublicURL(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"https://scim.example.com", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://scim.example.com", false},
		{"ftp://scim.example.com", false},
		{"scim.example.com", false},
	} {
		if got := checkPublicURL(tt.in) == ""; got != tt.ok {
			t.Errorf("checkPublicURL(%q) ok = %v, want %v", tt.in, got, tt.ok)
		}
	}
}

// TestCredentialChosenBeforeIssued: nothing is issued before the
// credential step; the Secret Token chosen there is issued then, shown once
// and handed to Entra; going back and choosing OAuth hands Entra the OAuth
// client instead.
func TestCredentialChosenBeforeIssued(t *testing.T) {
	f := newFake()
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter", "enter", "enter", "enter")
	d.typeText("ali")
	d.want("Alice Andrews")
	d.press("tab", "enter")
	d.wantStep(StepCredential)
	if n := f.count("IssueToken"); n != 0 {
		t.Fatalf("IssueToken called %d times before the choice", n)
	}
	d.want("› OAuth client credentials (recommended)")
	d.press("down")
	d.want("› Secret Token (long-lived)")
	d.press("enter")
	d.wantStep(StepToken)
	d.want(fakeToken(1), "The wizard hands it to Entra.")
	if d.m.s.st.Credential != CredentialToken || f.count("IssueToken") != 1 {
		t.Fatalf("credential = %q, IssueToken %d", d.m.s.st.Credential, f.count("IssueToken"))
	}
	d.press("enter")
	d.wantStep(StepProvision)
	d.want("accepted the Secret Token")
	if c := f.configured; c.Credential != CredentialToken || c.Token.String() != fakeToken(1) {
		t.Errorf("Configure got %+v", c)
	}

	// Back to the credential step: OAuth now; Entra gets the OAuth client,
	// not the token shown before.
	d.press("esc")
	d.wantStep(StepConnect)
	d.press("esc")
	d.wantStep(StepToken)
	d.press("esc")
	d.wantStep(StepCredential)
	d.want("› Secret Token (long-lived)") // the kind chosen last
	d.press("up", "enter")
	d.wantStep(StepProvision)
	if c := f.configured; c.Credential != CredentialOAuth2 || c.Token != "" || f.count("IssueToken") != 1 {
		t.Errorf("Configure got %+v, IssueToken %d", c, f.count("IssueToken"))
	}
}

// TestCredentialFederation: federation asks for the Subject and Audience
// (a Subject needs an Audience; both empty use the federation added with
// `roster oauth federation add`) and issues no token.
func TestCredentialFederation(t *testing.T) {
	f := newFake()
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter", "enter", "enter", "enter")
	d.typeText("ali")
	d.want("Alice Andrews")
	d.press("tab", "enter")
	d.wantStep(StepCredential)
	d.press("down", "down", "enter")
	d.want("Subject (sub)", "Audience (aud)", "roster oauth federation add")
	d.typeText("with space")
	d.press("enter", "enter")
	d.want("The Subject is one value without spaces")
	for range len("with space") {
		d.press("backspace")
	}
	d.typeText("/eid1/c/pub/t/abc/a/def/appid")
	d.press("enter", "enter")
	d.wantStep(StepCredential)
	d.want("Audience: Enter the Audience (aud) the portal shows")
	d.typeText("api://roster")
	f.mu.Lock()
	f.portal = []string{"In the Microsoft Entra admin center → Enterprise applications → Roster → Provisioning → Admin Credentials, choose Workload Identity Federation", "Paste the values, then Test Connection and Save"}
	f.mu.Unlock()
	d.m.Update(windowSize(60, 20))
	d.press("enter")
	// Graph cannot finish it: the values to paste, each whole on its line,
	// then the portal steps; enter confirms with Test Connection.
	d.wantStep(StepConnect)
	d.want("finish it in the Entra portal", "Client ID", "oc_fake01", "https://scim.contoso.com/oauth/default/token", "1. In the Microsoft Entra admin center", "enter test connection")
	assertWhole(t, d.screen(), "https://scim.contoso.com/oauth/default/token", true)
	if n := f.count("TestConnection"); n != 0 {
		t.Errorf("Test Connection ran %d times before the portal steps", n)
	}
	f.mu.Lock()
	f.portal = nil
	f.mu.Unlock()
	d.press("enter")
	d.wantStep(StepProvision)
	c := f.configured
	if c.Credential != CredentialFederation || c.Subject != "/eid1/c/pub/t/abc/a/def/appid" || c.Audience != "api://roster" || c.Token != "" || f.count("IssueToken") != 0 {
		t.Errorf("Configure got %+v, IssueToken %d", c, f.count("IssueToken"))
	}
	// Both empty: the federation added with `roster oauth federation add`.
	d2 := newDriver(t, newFake())
	walkToSignIn(t, d2)
	d2.press("enter", "enter", "enter", "enter")
	d2.typeText("ali")
	d2.want("Alice Andrews")
	d2.press("tab", "enter", "down", "down", "enter", "enter", "enter")
	d2.wantStep(StepProvision)
	if c := d2.f.configured; c.Credential != CredentialFederation || c.Subject != "" || c.Audience != "" {
		t.Errorf("Configure got %+v", c)
	}
}

// TestCredentialRerunDefault: a re-run offers the kind saved by the last
// run, in the wizard and in --plain.
func TestCredentialRerunDefault(t *testing.T) {
	f := newFake()
	f.state = State{Version: 1, Step: StepSummary, Done: true, Path: PathGraph, Credential: CredentialToken,
		Reach: Reach{PublicURL: "https://scim.contoso.com", TLS: TLSACME}}
	st := newDriver(t, f).m.s
	st.st = f.state
	c := &credentialStep{}
	c.init(st)
	if got := c.menu.selected().id; got != CredentialToken {
		t.Errorf("wizard default = %q, want token", got)
	}
	var q question
	for _, x := range flowQuestions() {
		if x.key == "credential" {
			q = x
		}
	}
	prev := answersOf(f.state)
	if got := q.get(&prev); got != CredentialToken {
		t.Errorf("--plain default = %q, want token", got)
	}
	var saved State
	remember(&saved, &Answers{Credential: CredentialFederation, Subject: "s", Audience: "a"})
	if saved.Credential != CredentialFederation || saved.Subject != "s" || saved.Audience != "a" {
		t.Errorf("remember kept %+v", saved)
	}
}

// TestWelcomeRerunFits: on a re-run at 60x20 the welcome screen shows what
// exists and every choice of its menu.
func TestWelcomeRerunFits(t *testing.T) {
	f := newFake()
	f.state = State{Version: 1, Step: StepSummary, Done: true, Path: PathGraph, Credential: CredentialToken}
	f.existing = Existing{DataDir: "/var/lib/roster", Tenants: []string{"default"}, Tokens: 1,
		Domains: []Domain{{Name: "contoso.com", State: DomainVerified}}, AppConnected: true, AppName: "Roster"}
	d := newDriver(t, f)
	d.m.Update(windowSize(60, 20))
	d.want("Found an existing setup", "Roster (connected)", "Change the setup", "Quit")
	if strings.Contains(d.screen(), "make the terminal taller") {
		t.Errorf("the re-run welcome does not fit 60x20:\n%s", d.screen())
	}
}
