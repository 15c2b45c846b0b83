package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rosterhq/roster/agent/domainproof/dnstest"
	"github.com/rosterhq/roster/graph/graphtest"
)

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]|\r`)

// ptyScreen collects what a program writes to a pseudo-terminal, without
// escape sequences, so a test can wait for text to appear.
type ptyScreen struct {
	mu  sync.Mutex
	buf bytes.Buffer
	pos int // text before pos has been matched already
}

func (s *ptyScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *ptyScreen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansiRE.ReplaceAllString(s.buf.String(), "")
}

// waitFor waits until every want has appeared after the previous match.
func (s *ptyScreen) waitFor(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := s.text()
		rest := all[min(s.pos, len(all)):]
		ok := true
		end := 0
		for _, w := range want {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			end = max(end, i+len(w))
		}
		if ok {
			s.pos += end
			return rest
		}
		if time.Now().After(deadline) {
			tail := rest
			if len(tail) > 3000 {
				tail = tail[len(tail)-3000:]
			}
			t.Fatalf("screen never showed %q; last output:\n%s", want, tail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSetupWizardEndToEnd drives `roster setup` through a pseudo-terminal
// at 80x24, as a person would: against the fake Graph and an in-process DNS
// server, it proves contoso.com, starts the agent, creates the app, assigns
// Alice, gives Entra an OAuth client (the default; no Secret Token is ever
// issued), runs Test Connection, starts provisioning and provisions Alice on
// demand — who then is in the running agent.
func TestSetupWizardEndToEnd(t *testing.T) {
	fake := fakeGraph(t)
	// Sign in with the device code flow, as a person would, against a fake
	// authority that approves after two polls.
	login := graphtest.NewLogin(t, graphtest.LoginOptions{AccessToken: fakeGraphToken, PendingPolls: 2})
	ca := filepath.Join(t.TempDir(), "cas.pem")
	pems := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fake.Certificate().Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: login.Server().Certificate().Raw})...)
	if err := os.WriteFile(ca, pems, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ROSTER_GRAPH_CA_FILE", ca)
	t.Setenv("ROSTER_GRAPH_TOKEN", "")
	t.Setenv("ROSTER_LOGIN_URL", login.URL)
	dnsSrv := dnstest.Start(t)
	dnsSrv.AddZone(t, "contoso.com", "127.0.0.1")
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	public := "http://" + listen

	term := startSetupTerm(t, 80, 24, "--data-dir", dir, "setup", "--allow-private-url", "--no-alt-screen", "--dns-nameserver", dnsSrv.Addr)
	cmd, f, scr, send := term.cmd, term.f, term.scr, term.send
	typeText := func(s string) {
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		term.keys += len(s)
		time.Sleep(50 * time.Millisecond)
	}
	const enter, down, tab = "\r", "\x1b[B", "\t"

	scr.waitFor(t, "Welcome", "No existing setup found")
	send(enter)
	scr.waitFor(t, "How Entra will reach the agent", "Behind a reverse proxy")
	send(down, down, enter)
	scr.waitFor(t, "Public URL (what Entra calls)")
	typeText(public)
	send(enter) // the listen address follows the local Tenant URL
	scr.waitFor(t, "> "+listen)
	send(enter)
	scr.waitFor(t, "Email domain to add")
	typeText("contoso.com")
	send(enter)
	out := scr.waitFor(t, "_roster-challenge.contoso.com", "pending")
	txt := regexp.MustCompile(`roster-verification=[a-z0-9]+`).FindString(scr.text())
	if txt == "" {
		t.Fatalf("no TXT value on screen:\n%s", out)
	}
	dnsSrv.Add(t, `_roster-challenge.contoso.com. 60 IN TXT "`+txt+`"`)
	send("c")
	scr.waitFor(t, "verified")
	send(enter)
	scr.waitFor(t, "Start the agent", "Run it in this terminal")
	send(enter)
	scr.waitFor(t, "Sign in to Microsoft", "Sign in with a code")
	send(enter)
	scr.waitFor(t, "microsoft.com/devicelogin", login.UserCode)
	scr.waitFor(t, "Signed in as", "Application name")
	send(enter)
	scr.waitFor(t, "Attribute mappings", "userPrincipalName")
	send(enter)
	scr.waitFor(t, "Scope and notifications")
	send(enter)
	scr.waitFor(t, "Assign users and groups")
	typeText("ali")
	scr.waitFor(t, "alice@contoso.com")
	send(tab)
	scr.waitFor(t, "Assigned (1)")
	send(enter)
	// The credential is chosen before any is issued: OAuth, the default.
	scr.waitFor(t, "How Entra signs in", "OAuth client credentials (recommended)")
	send(enter)
	scr.waitFor(t, "Entra reached the agent and accepted the OAuth client", "Provisioning is on", "alice@contoso.com")
	send(enter)
	scr.waitFor(t, "Provisioned on demand", "Import", "Scoping", "Matching", "Export", "was created")
	send(enter)
	scr.waitFor(t, "Roster is set up", public+"/scim/default/v2", "Credential  OAuth client", public+"/oauth/default/token", "roster entra status")
	send(enter)
	// The summary and the next commands stay in the scrollback.
	scr.waitFor(t, "Roster is set up", public+"/scim/default/v2", "roster users list", "The agent keeps running here")
	t.Logf("happy path at 80x24: %d keystrokes", term.keys)
	// OAuth: no Secret Token was ever issued, not even one revoked later.
	if out, _, err := runCLI(t, dir, "token", "list", "--json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("tokens after an OAuth setup: %v\n%s", err, out)
	}

	// Alice is in the agent the wizard started, which answers SCIM.
	out, _, err := runCLI(t, dir, "users", "list", "--json")
	if err != nil || !strings.Contains(out, `"alice@contoso.com"`) {
		t.Fatalf("users list after setup: %v\n%s", err, out)
	}
	if apps := len(fake.Requests()); apps == 0 {
		t.Fatal("the fake Graph saw no request")
	}
	var st map[string]any
	raw, _, _ := runCLI(t, dir, "entra", "status", "--json")
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st["status"] == nil {
		t.Errorf("entra status after setup: %v\n%s", err, raw)
	}
	// Ctrl-C stops the agent and the program.
	send("\x03")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("setup exited with %v after Ctrl-C", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("setup did not stop after Ctrl-C")
	}
	if c, err := net.Dial("tcp", listen); err == nil {
		c.Close()
		t.Error("the agent still listens after setup ended")
	}
}

// TestSetupAnswersFile runs `roster setup --answers` (no terminal) with the
// real backend against the fake Graph: the same flow, then the agent keeps
// serving until SIGINT.
func TestSetupAnswersFile(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	answers := dir + "/answers.json"
	a := map[string]any{
		"tls": "proxy", "public_url": "http://" + listen, "listen": listen, "sign_in": "device-code", "credential": "token", // the Secret Token path

		"app": "Roster Automation", "mappings": []string{"givenName", "surname"}, "scope": "assigned",
		"notification_email": "ops@contoso.com", "assign": []string{"alice@contoso.com", "Sales"},
		"provision_on_demand": "alice@contoso.com",
	}
	b, _ := json.Marshal(a)
	if err := os.WriteFile(answers, b, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() (*exec.Cmd, *ptyScreen) {
		cmd := exec.Command(os.Args[0], "--data-dir", dir, "setup", "--allow-private-url", "--answers", answers)
		cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1")
		out := &ptyScreen{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() }) //nolint:errcheck
		out.waitFor(t, "The agent keeps running here")
		return cmd, out
	}
	cmd, out := run()
	users, _, err := runCLI(t, dir, "users", "show", "alice@contoso.com", "--json")
	if err != nil || !strings.Contains(users, `"givenName": "Alice"`) {
		t.Fatalf("alice after setup --answers: %v\n%s\n%s", err, users, out.text())
	}
	var spID string
	for _, r := range fake.Requests() {
		if strings.HasSuffix(r.Path, "/appRoleAssignedTo") && r.Method == "POST" {
			spID = strings.Split(r.Path, "/")[3]
		}
	}
	if n := len(fake.Assignments(spID)); n != 2 {
		t.Errorf("assignments = %d, want alice and Sales", n)
	}
	stop := func(cmd *exec.Cmd, out *ptyScreen) {
		t.Helper()
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("setup --answers exited with %v after SIGINT:\n%s", err, out.text())
		}
	}
	stop(cmd, out)

	// Running it again converges: the same app, and one active token (Entra
	// keeps the first run's).
	cmd, out = run()
	stop(cmd, out)
	instantiated := 0
	for _, r := range fake.Requests() {
		if strings.HasSuffix(r.Path, "/instantiate") {
			instantiated++
		}
	}
	if instantiated != 1 {
		t.Errorf("%d apps created by two runs, want 1", instantiated)
	}
	if n := activeTokens(t, dir, "entra"); n != 1 {
		t.Errorf("%d active setup tokens after two runs, want 1", n)
	}
}

// TestSetupWizardNarrow runs `roster setup` in the alternate screen of a
// 60x20 pseudo-terminal, where the Secret Token (64 characters) does not fit
// a line: p prints it whole above the wizard, and the TXT value stands alone
// on its line. Quitting leaves the Tenant URL and the TXT record still to
// publish in the scrollback, each whole on its line.
func TestSetupWizardNarrow(t *testing.T) {
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	public := "http://" + listen
	// No DNS lookup happens here (no c); port 1 answers nothing anyway.
	term := startSetupTerm(t, 60, 20, "--data-dir", dir, "setup", "--allow-private-url", "--dns-nameserver", "127.0.0.1:1")
	cmd, scr, send := term.cmd, term.scr, term.send
	const down = "\x1b[B"
	scr.waitFor(t, "No existing setup found")
	send("\r")
	scr.waitFor(t, "Behind a reverse proxy")
	send(down, down, "\r")
	scr.waitFor(t, "Public URL (what Entra calls)")
	send(public)
	send("\r")
	scr.waitFor(t, "> "+listen)
	send("\r")
	scr.waitFor(t, "Email domain to add")
	send("contoso.com")
	send("\r")
	scr.waitFor(t, "TXT record value:")
	txt := waitForLine(t, scr, `roster-verification=[a-z0-9]{32}`)
	send("\r") // on while the record is pending
	scr.waitFor(t, "Run it in this terminal")
	send("\r")
	scr.waitFor(t, "Configure Entra by hand in the portal")
	send(down, down, down, "\r")
	// The manual path's Secret Token: issued only now, the first credential.
	scr.waitFor(t, "Secret Token", "press p to print it whole above")
	send("p")
	scr.waitFor(t, "Printed above")
	token := waitForLine(t, scr, `roster_[0-9A-Za-z]{57}`)
	send("q")
	rest := scr.waitFor(t, "TXT records to publish", "Setup paused")
	if !strings.Contains(rest, "\n"+public+"/scim/default/v2\n") || !strings.Contains(rest, "\n"+txt+"\n") {
		t.Errorf("after quitting, the Tenant URL or the TXT value is not whole on its line:\n%s", rest)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("setup exited with %v after q", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("setup did not end after q")
	}
	// The token shown is the one the agent knows.
	out, _, err := runCLI(t, dir, "token", "list", "--json")
	if err != nil || !strings.Contains(out, `"id": "`+token[len("roster_"):len("roster_")+8]+`"`) {
		t.Errorf("token list: %v\n%s", err, out)
	}
}

// TestSetupEndsOnHangup: when the terminal goes away (SIGHUP), the wizard
// ends and stops the agent it started, rather than staying behind
// headless with the data directory locked (the agent alone takes SIGHUP
// as a reload).
func TestSetupEndsOnHangup(t *testing.T) {
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	term := startSetupTerm(t, 80, 24, "--data-dir", dir, "setup", "--allow-private-url", "--dns-nameserver", "127.0.0.1:1")
	cmd, scr, send := term.cmd, term.scr, term.send
	const down = "\x1b[B"
	scr.waitFor(t, "No existing setup found")
	send("\r")
	scr.waitFor(t, "Behind a reverse proxy")
	send(down, down, "\r")
	scr.waitFor(t, "Public URL (what Entra calls)")
	send("http://"+listen, "\r")
	scr.waitFor(t, "> "+listen)
	send("\r")
	scr.waitFor(t, "Email domain to add")
	send("\r") // no domain
	scr.waitFor(t, "Run it in this terminal")
	send("\r")
	scr.waitFor(t, "Sign in to Microsoft")
	// The agent answers now.
	resp, err := http.Get("http://" + listen + "/healthz")
	if err != nil {
		t.Fatalf("the agent the wizard started does not answer: %v", err)
	}
	resp.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("setup is still running 30 s after SIGHUP")
	}
	if _, err := http.Get("http://" + listen + "/healthz"); err == nil {
		t.Error("the agent still answers after the wizard ended")
	}
	// The data directory is free: the next setup or agent may start.
	out, _, err := runCLI(t, dir, "status", "--json")
	if strings.Contains(out, `"reachable": true`) {
		t.Errorf("status still finds an agent after the hang-up: %v\n%s", err, out)
	}
}

// setupTerm is the roster binary (this test binary) run with args in a
// pseudo-terminal of the given size, as a person runs the wizard.
type setupTerm struct {
	t    *testing.T
	cmd  *exec.Cmd
	f    *os.File
	scr  *ptyScreen
	keys int // keys sent so far
}

func startSetupTerm(t *testing.T, cols, rows uint16, args ...string) *setupTerm {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1", "TERM=xterm-256color")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: cols, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); f.Close() }) //nolint:errcheck
	term := &setupTerm{t: t, cmd: cmd, f: f, scr: &ptyScreen{}}
	go io.Copy(term.scr, f) //nolint:errcheck
	return term
}

// send types each key with a pause after it, as a person would.
func (term *setupTerm) send(keys ...string) {
	for _, k := range keys {
		if _, err := term.f.Write([]byte(k)); err != nil {
			term.t.Fatal(err)
		}
		term.keys++
		time.Sleep(30 * time.Millisecond)
	}
}

// waitForLine waits until a whole line of the screen matches re, and returns it.
func waitForLine(t *testing.T, scr *ptyScreen, re string) string {
	t.Helper()
	line := regexp.MustCompile(`(?m)^` + re + `$`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := line.FindString(scr.text()); m != "" {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line is exactly %s:\n%s", re, scr.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
