package tui

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeKeyPair writes a self-signed certificate and its key, and a second
// key that does not belong to it, as PEM files in a temporary directory.
func writeKeyPair(t *testing.T) (cert, key, otherKey string) {
	t.Helper()
	dir := t.TempDir()
	writeKey := func(name string) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := writeKey("roster.key")
	writeKey("other.key")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scim.contoso.com"},
		DNSNames: []string{"scim.contoso.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "roster.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "roster.crt"), filepath.Join(dir, "roster.key"), filepath.Join(dir, "other.key")
}

// plainInput joins answers into --plain's input.
func plainInput(lines ...string) *strings.Reader {
	return strings.NewReader(strings.Join(lines, "\n") + "\n")
}

// TestPlainChecksEachAnswerAtOnce: a bad answer is refused where it is
// given and asked again, not after all the questions.
func TestPlainChecksEachAnswerAtOnce(t *testing.T) {
	cert, key, other := writeKeyPair(t)
	f := newFake()
	f.refuseService = true
	var out bytes.Buffer
	err := RunPlain(context.Background(), plainInput(
		"2", // my own certificate
		"scim.contoso.com",
		filepath.Join(t.TempDir(), "missing.crt"), // refused: cannot read
		cert,
		other, // refused: not the certificate's key
		key,
		"contoso.com, alice@contoso.com", // refused: an address
		"contoso.com",
		"2", // service: refused here
		"1",
		"", "", // device code, app Roster
		"givenNme", // refused: no such mapping
		"givenName",
		"", "", "", "", // match, groups, scope, email
		"Alice Andrews",
		"", // credential: oauth2
		"",
	), &out, f, Options{})
	if err != nil {
		t.Fatalf("RunPlain: %v\n%s", err, out.String())
	}
	o := out.String()
	for _, c := range []struct{ after, want, before string }{
		{"Certificate file (PEM, full chain)", "Cannot read the certificate", "Key file"},
		{"Key file (PEM)", "cannot be used together", "Email domains"},
		{"Email domains", "Enter only the domain after the @", "How should the agent run?"},
		{"How should the agent run?", "The service keeps its data in /var/lib/roster", "How do you want to configure Entra?"},
		{"Optional mappings", "“givenNme” is not an optional mapping", "Match users on employeeId"},
	} {
		i := strings.Index(o, c.after)
		j := strings.Index(o[max(i, 0):], c.want)
		k := strings.Index(o[max(i, 0):], c.before)
		if i < 0 || j < 0 || k < 0 || j > k {
			t.Errorf("%q is not refused right after %q (before %q):\n%s", c.want, c.after, c.before, o)
		}
	}
	if c := f.configured; len(c.Mappings) != 6 || c.Mappings[5].Source != "givenName" {
		t.Errorf("mappings = %+v", c.Mappings)
	}
	if f.reach.CertFile != cert || f.reach.KeyFile != key {
		t.Errorf("reach = %+v", f.reach)
	}
}

// TestPlainResumes: the answers are saved as they are given; a new run offers
// them as the defaults, so enter keeps each.
func TestPlainResumes(t *testing.T) {
	f := newFake()
	err := RunPlain(context.Background(), plainInput("3", "https://scim.contoso.com", "127.0.0.1:9090", "contoso.com"), &bytes.Buffer{}, f, Options{})
	if !errors.Is(err, errInputEnded) {
		t.Fatalf("first run: %v", err)
	}
	if f.count("SetReach") != 0 {
		t.Errorf("an interrupted --plain changed something")
	}
	// The second run: enter everywhere keeps the earlier answers; the rest
	// are answered now.
	var out bytes.Buffer
	err = RunPlain(context.Background(), plainInput("", "", "", "", "", "", "", "surname", "", "", "", "ops@contoso.com", "Alice Andrews", "", ""), &out, f, Options{})
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"The defaults in brackets are your earlier answers", "Choose 1-4 [3]", "Public URL (what Entra calls) [https://scim.contoso.com]",
		"[127.0.0.1:9090]", "comma-separated (empty: none) [contoso.com]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("second run lacks %q:\n%s", want, out.String())
		}
	}
	if f.reach.PublicURL != "https://scim.contoso.com" || f.reach.Listen != "127.0.0.1:9090" {
		t.Errorf("reach = %+v", f.reach)
	}
	// A third run offers everything, the resolved assignment included.
	out.Reset()
	if err := RunPlain(context.Background(), plainInput(slices.Repeat([]string{""}, 15)...), &out, f, Options{}); err != nil {
		t.Fatalf("third run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"[surname]", "[ops@contoso.com]", "[alice@contoso.com]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("third run lacks %q:\n%s", want, out.String())
		}
	}
	if c := f.configured; c.NotificationEmail != "ops@contoso.com" || len(c.Assign) != 1 || c.Assign[0].ID != "u1" {
		t.Errorf("third run configured %+v", c)
	}
}

// TestAnswersCheckedBeforeAnything: a file that cannot work changes nothing,
// in Entra or here.
func TestAnswersCheckedBeforeAnything(t *testing.T) {
	cert, key, other := writeKeyPair(t)
	files := func(c, k string) Answers {
		a := goodAnswers()
		a.TLS, a.ACMEEmail, a.CertFile, a.KeyFile = TLSFiles, "", c, k
		return a
	}
	for _, tt := range []struct {
		name    string
		a       Answers
		service bool
		want    string
	}{
		{"missing certificate", files(filepath.Join(t.TempDir(), "nope.crt"), key), false, "cert_file: Cannot read the certificate"},
		{"key of another certificate", files(cert, other), false, "key_file: The certificate"},
		{"service mode with this data dir", goodAnswers(), true, "agent: The service keeps its data in /var/lib/roster"},
		{"an address as a domain", func() Answers { a := goodAnswers(); a.Domains = []string{"alice@contoso.com"}; return a }(), false, "domains: Enter only the domain after the @"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.refuseService = tt.service
			if tt.service {
				tt.a.Agent = AgentService
			}
			err := RunAnswers(context.Background(), tt.a, f, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			for _, c := range f.called() {
				if c != "CheckAgent" {
					t.Errorf("%s called before the answers were checked", c)
				}
			}
		})
	}
	if err := RunAnswers(context.Background(), files(cert, key), newFake(), &bytes.Buffer{}); err != nil {
		t.Errorf("matching certificate and key: %v", err)
	}
}

// TestAnswersPendingDomain: a domain whose record is not found yet (or whose
// lookup fails) does not stop the run, even when the agent refuses the user
// provisioned on demand because of it; the record is printed whole.
func TestAnswersPendingDomain(t *testing.T) {
	f := newFake()
	f.verify = false
	f.fail["ProvisionOnDemand"] = errors.New("the agent refused alice@contoso.com: domain contoso.com is not verified")
	a := goodAnswers()
	a.Domains = []string{"contoso.com", "fabrikam.com"}
	f.fail["CheckDomain"] = errors.New("lookup timed out") // the first lookup fails
	var out bytes.Buffer
	if err := RunAnswers(context.Background(), a, f, &out); err != nil {
		t.Fatalf("RunAnswers: %v\n%s", err, out.String())
	}
	o := out.String()
	for _, want := range []string{"… Domain contoso.com is pending", "… Domain fabrikam.com is pending", "\n_roster-challenge.contoso.com\n",
		"\n" + fakeTXT + "\n", "alice@contoso.com was not provisioned on demand", "Still to publish for fabrikam.com", "Done."} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	if last := f.saves[len(f.saves)-1]; !last.Done || len(last.Domains) != 2 {
		t.Errorf("last state %+v", last)
	}
	// Without a pending domain, a failed provision on demand fails the run.
	f = newFake()
	f.fail["ProvisionOnDemand"] = errors.New("the user is not assigned")
	if err := RunAnswers(context.Background(), goodAnswers(), f, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "not assigned") {
		t.Errorf("err = %v", err)
	}
}

// TestRetryKeyIsNotTyped: where a field has the focus, the footer offers
// ctrl+r, which retries without touching the field; r is text.
func TestRetryKeyIsNotTyped(t *testing.T) {
	f := newFake()
	f.fail["ProvisionOnDemand"] = errors.New("the user is not assigned to the app")
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter", "enter", "enter", "enter", "tab", "enter", "enter") // …, assign, credential: OAuth
	d.wantStep(StepProvision)
	d.press("enter")
	d.want("✗ Failed while Entra is provisioning alice@contoso.com (import, scope, match, action): the user is not assigned to the app.",
		"Check the user exists and is assigned to the app. Press ctrl+r to retry.", "ctrl+r retry")
	if strings.Contains(d.screen(), "Press r to") {
		t.Errorf("the footer offers a letter while the field has the focus:\n%s", d.screen())
	}
	d.press("ctrl+r")
	d.want("Perform action")
	if n := f.count("ProvisionOnDemand"); n != 2 {
		t.Errorf("ProvisionOnDemand called %d times, want 2", n)
	}
	if v := d.m.cur.(*provisionStep).user.Value(); v != "alice@contoso.com" {
		t.Errorf("field = %q after retrying", v)
	}
}

// TestDomainWithAt: an address typed as a domain is refused before it is
// added; no row appears, and letters (q included) stay in the field.
func TestDomainWithAt(t *testing.T) {
	f := newFake()
	d := newDriver(t, f)
	walkToDomains(d)
	d.typeText("alice@contoso.com")
	d.press("enter")
	d.want("Enter only the domain after the @, e.g. example.com for alice@example.com.")
	if f.count("AddDomain") != 0 || len(d.m.cur.(*domainsStep).list) != 0 {
		t.Fatalf("the address was added: calls %v", f.called())
	}
	d.typeText("q")
	if d.quit {
		t.Fatal("q quit the wizard while typing a domain")
	}
	if v := d.m.cur.(*domainsStep).input.input.Value(); v != "alice@contoso.comq" {
		t.Errorf("field = %q", v)
	}
}

// TestErrorSentence: an error whose message carries its advice (graph.Error)
// shows the advice once, and the failure is a whole sentence.
func TestErrorSentence(t *testing.T) {
	f := newFake()
	f.fail["TestConnection"] = &HintError{Err: errors.New("test connection: the agent answered 401\n  → Issue a new token."), Hint: "Issue a new token."}
	d := newDriver(t, f)
	walkToSignIn(t, d)
	d.press("enter", "enter", "enter", "enter", "tab", "enter", "enter") // …, assign, credential: OAuth
	d.wantStep(StepConnect)
	s := d.screen()
	if n := strings.Count(s, "Issue a new token"); n != 1 {
		t.Errorf("the advice is shown %d times:\n%s", n, s)
	}
	d.want("✗ Failed while Entra is testing the connection to https://scim.contoso.com/scim/v2/default: test connection: the agent answered 401.",
		"Issue a new token. Press r to retry.")
	for _, tt := range []struct{ in, want string }{
		{"check the record;", "Check the record."},
		{"already a sentence.", "Already a sentence."},
		{"what now?", "What now?"},
		{"", ""},
	} {
		if got := sentence(tt.in); got != tt.want {
			t.Errorf("sentence(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCopyKey: y puts the screen's value on the clipboard with OSC 52.
func TestCopyKey(t *testing.T) {
	t.Setenv("TMUX", "")
	t.Setenv("TERM", "xterm-256color")
	d := newDriver(t, newFake())
	walkToToken(t, d)
	d.press("y")
	want := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(fakeToken(1))) + "\a"
	if d.out.String() != want {
		t.Errorf("y on the token step wrote %q, want %q", d.out.String(), want)
	}
	d.want("Copied the Secret Token to the clipboard")
	f := newFake()
	f.verify = false
	d = newDriver(t, f)
	walkToDomains(d)
	d.typeText("contoso.com")
	d.press("enter", "y")
	if want := base64.StdEncoding.EncodeToString([]byte(fakeTXT)); !strings.Contains(d.out.String(), want) {
		t.Errorf("y on the domains step wrote %q", d.out.String())
	}
}

// TestCopyValuesNeverCut: from 40 columns up, the token, the Tenant URL and
// the TXT record are never cut: each is whole on its own line, or (wider than
// the terminal) not shown and offered with p and y.
func TestCopyValuesNeverCut(t *testing.T) {
	for _, w := range []int{40, 51, 52, 53, 63, 64, 100} {
		shots := screens(t, w, 30)
		assertWhole(t, shots["token"], fakeToken(1), w >= 64)
		assertWhole(t, shots["token"], "https://scim.contoso.com/scim/v2/default", w >= 40)
		assertWhole(t, shots["domains"], fakeTXT, w >= 52)
		assertWhole(t, shots["domains"], "_roster-challenge.contoso.com", true)
		assertWhole(t, shots["manual"], fakeToken(1), w >= 64)
		assertWhole(t, shots["summary"], "https://scim.contoso.com/scim/v2/default", true)
	}
}

// TestSummaryAfterExit: the summary, the next commands and the TXT records
// still pending are printed after the wizard's screen is gone.
func TestSummaryAfterExit(t *testing.T) {
	f := newFake()
	f.state = State{Version: 1, Step: StepSummary, Done: true, Path: PathGraph, TenantURL: "https://scim.contoso.com/scim/v2/default", DataDir: "/var/lib/roster"}
	out := &watchWriter{want: "Change the setup", seen: make(chan struct{})}
	seen := out.seen
	inR, inW := io.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- Run(context.Background(), f, Options{Input: inR, Output: out, Still: true}) }()
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the welcome screen never showed its menu")
	}
	inW.Write([]byte("j\r")) // Quit: everything is set up
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end")
	}
	out.mu.Lock()
	all := stripped(out.buf.String())
	out.mu.Unlock()
	i := strings.LastIndex(all, "Roster is set up.")
	if i < 0 {
		t.Fatalf("no summary after exit:\n%s", all)
	}
	for _, want := range []string{"\nhttps://scim.contoso.com/scim/v2/default\n", "roster entra status", "roster users list", "Run `roster setup` again"} {
		if !strings.Contains(all[i:], want) {
			t.Errorf("after exit lacks %q:\n%s", want, all[i:])
		}
	}
	s := &session{width: 60, st: State{TenantURL: "https://scim.contoso.com/scim/v2/default"},
		domains: []Domain{{Name: "contoso.com", State: DomainPending, TXTName: "_roster-challenge.contoso.com", TXTValue: fakeTXT}}}
	quit := stripped(afterExit(s, false))
	for _, want := range []string{"\nhttps://scim.contoso.com/scim/v2/default\n", "\n_roster-challenge.contoso.com\n", "\n" + fakeTXT + "\n"} {
		if !strings.Contains(quit, want) {
			t.Errorf("after quitting lacks %q:\n%s", want, quit)
		}
	}
}

// TestListenFollowsLocalURL: for a plain http Tenant URL on this machine the
// agent listens on that address by default, in the wizard and in --plain;
// an address typed by the owner stays.
func TestListenFollowsLocalURL(t *testing.T) {
	f := newFake()
	d := newDriver(t, f)
	d.press("enter", "down", "down", "enter")
	d.typeText("http://127.0.0.1:9443")
	d.press("enter")
	if v := d.m.cur.(*reachStep).form.value(1); v != "127.0.0.1:9443" {
		t.Errorf("listen = %q, want the Tenant URL's address", v)
	}
	// Typing in the filled-in field goes after its value, not inside it.
	d.typeText("0")
	if v := d.m.cur.(*reachStep).form.value(1); v != "127.0.0.1:94430" {
		t.Errorf("listen = %q, want the typed 0 after the default", v)
	}
	d.press("backspace", "enter")
	if f.reach.Listen != "127.0.0.1:9443" {
		t.Errorf("SetReach got %+v", f.reach)
	}

	d = newDriver(t, newFake())
	d.press("enter", "down", "down", "enter", "down")
	for range 20 {
		d.press("backspace")
	}
	d.typeText("0.0.0.0:8443")
	d.press("up")
	d.typeText("http://127.0.0.1:9443")
	if v := d.m.cur.(*reachStep).form.value(1); v != "0.0.0.0:8443" {
		t.Errorf("listen = %q, want the address typed", v)
	}

	var out bytes.Buffer
	err := RunPlain(context.Background(), plainInput("3", "http://127.0.0.1:9443"), &out, newFake(), Options{})
	if !errors.Is(err, errInputEnded) || !strings.Contains(out.String(), "(your proxy forwards here) [127.0.0.1:9443]") {
		t.Errorf("plain: %v\n%s", err, out.String())
	}
}

// TestCopyWhileWaiting: on the manual path the wizard waits for Entra while
// the owner pastes the token: y still copies it, and esc still cancels.
func TestCopyWhileWaiting(t *testing.T) {
	t.Setenv("TMUX", "")
	t.Setenv("TERM", "xterm-256color")
	f := newFake()
	f.first = make(chan FirstRequest)
	d := newDriver(t, f)
	d.m.Update(windowSize(60, 20))
	walkToToken(t, d)
	d.press("enter")
	d.wantStep(StepManual)
	d.want("waiting for Entra's first request", "y copy Secret Token", "p print whole", "esc cancel")
	d.out.Reset()
	d.press("y")
	if want := base64.StdEncoding.EncodeToString([]byte(fakeToken(1))); !strings.Contains(d.out.String(), want) {
		t.Errorf("y while waiting wrote %q", d.out.String())
	}
	d.want("waiting for Entra's first request", "Copied the Secret Token")
	d.press("esc")
	d.want("Cancelled while waiting for Entra's first request")
}

// TestWizardCertificateChecked: the wizard's own-certificate form refuses an
// unreadable certificate and a key of another certificate where they are
// typed, before anything is saved; the right pair goes on.
func TestWizardCertificateChecked(t *testing.T) {
	cert, key, other := writeKeyPair(t)
	f := newFake()
	d := newDriver(t, f)
	d.press("enter", "down", "enter")
	d.typeText("scim.contoso.com")
	d.press("enter")
	d.typeText(cert + ".missing")
	d.press("enter")
	d.typeText(other)
	d.press("enter")
	d.want("Certificate file (PEM, full chain): Cannot read the certificate")
	form := d.m.cur.(*reachStep).form
	form.fields[1].input.SetValue(cert)
	form.setFocus(2)
	d.press("enter")
	d.wantStep(StepReach)
	d.want("✗ Failed while checking and saving how Entra reaches the agent: the certificate", "cannot be used together",
		"Press ctrl+r to retry")
	if f.count("SetReach") != 0 {
		t.Fatal("SetReach called with a key of another certificate")
	}
	form.fields[2].input.SetValue(key)
	d.press("enter")
	d.wantStep(StepDomains)
	if f.reach.CertFile != cert || f.reach.KeyFile != key {
		t.Errorf("SetReach got %+v", f.reach)
	}
}

// TestFlowOrderMatchesSteps: the questions come in the order of the wizard's
// steps, on both paths, so that --plain asks what the wizard shows, in the
// same order.
func TestFlowOrderMatchesSteps(t *testing.T) {
	for _, a := range []Answers{
		{TLS: TLSProxy, SignIn: SignInDeviceCode, Scope: "assigned"},
		{TLS: TLSFiles, SignIn: SignInDeviceCode, Scope: "all"},
		{TLS: TLSOnPrem, SignIn: SignInManual},
	} {
		var st State
		remember(&st, &a)
		steps := order(st)
		pos := 0
		for _, q := range flowQuestions() {
			if q.fileOnly || !q.applies(&a) {
				continue
			}
			i := slices.Index(steps, q.step)
			if i < pos {
				t.Errorf("%+v: %s (step %s) comes after step %s in the wizard's order %v", a, q.key, q.step, steps[pos], steps)
			}
			pos = max(pos, i)
		}
	}
}
