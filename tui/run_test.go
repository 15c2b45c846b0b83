package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
)

// TestTeatestCopyValues runs the program under teatest at 80x24 and 60x20
// through the domains and (on the manual path) the token steps. The Secret Token and the TXT value
// each reach the terminal whole on one line: on the screen where they fit, or
// printed above it with p where they do not (the renderer cuts lines wider
// than the terminal). No line ever holds a part of one. The final screens are
// the goldens testdata/TestTeatestCopyValues/*.golden.
func TestTeatestCopyValues(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {60, 20}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			m := newModel(context.Background(), newFake(), Options{Still: true, Output: io.Discard})
			tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
			var seen bytes.Buffer // everything the program wrote so far
			waitFor := func(text string) {
				t.Helper()
				read := 0 // WaitFor passes all it has read in this call
				teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
					seen.Write(b[read:])
					read = len(b)
					return strings.Contains(stripped(seen.String()), text)
				}, teatest.WithDuration(10*time.Second))
			}
			token := fakeToken(1)
			waitFor("Start")
			tm.Send(keyMsg("enter"))
			waitFor("Automatic certificate")
			tm.Send(keyMsg("enter"))
			waitFor("Public hostname")
			tm.Type("scim.contoso.com")
			tm.Send(keyMsg("enter"))
			tm.Type("admin@contoso.com")
			tm.Send(keyMsg("enter"))
			waitFor("Email domain")
			tm.Type("contoso.com")
			tm.Send(keyMsg("enter"))
			waitFor(fakeTXT)
			tm.Send(keyMsg("c"))
			waitFor("verified")
			tm.Send(keyMsg("enter"))
			waitFor("Run it in this terminal")
			tm.Send(keyMsg("enter"))
			waitFor("Configure Entra by hand in the portal")
			for _, k := range []string{"down", "down", "down", "enter"} {
				tm.Send(keyMsg(k))
			}
			// The manual path: the Secret Token is the first credential issued.
			waitFor("Secret Token  ·")
			if w < len(token) {
				waitFor("press p to print it whole above")
				tm.Send(keyMsg("p"))
			}
			waitFor(token)
			tm.Send(keyMsg("q"))
			fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*model)
			if fm.id != StepToken || fm.done {
				t.Fatalf("final step %s done=%v", fm.id, fm.done)
			}
			for _, v := range []string{token, fakeTXT, "_roster-challenge.contoso.com", "https://scim.contoso.com/scim/v2/default"} {
				if !wholeLine(seen.String(), v) {
					t.Errorf("%q never appeared whole on a line of its own at %dx%d", v, w, h)
				}
			}
			fm.quitting = false
			golden.RequireEqual(t, []byte(screenOf(fm)))
		})
	}
}

// wholeLine reports whether the terminal output out shows v alone on one
// line, and fails if a line shows v cut. Lines are what the terminal draws:
// split at line feeds and at cursor moves, without escape sequences.
func wholeLine(out, v string) bool {
	found := false
	for _, l := range regexp.MustCompile(`\r?\n|\x1b\[[0-9;]*[ABCDHf]`).Split(out, -1) {
		l = strings.TrimSpace(stripped(l))
		if l == v {
			found = true
			continue
		}
		for n := 16; n < len(v); n++ {
			if strings.HasSuffix(l, v[:n]) || strings.HasPrefix(l, v[len(v)-n:]) {
				panic(fmt.Sprintf("a line holds %q cut off: %q", v, l))
			}
		}
	}
	return found
}

func goodAnswers() Answers {
	return Answers{TLS: TLSACME, PublicURL: "https://scim.contoso.com", ACMEEmail: "admin@contoso.com", Domains: []string{"contoso.com"},
		SignIn: SignInDeviceCode, App: "Roster", Assign: []string{"alice@contoso.com", "All Staff"}, ProvisionOnDemand: "alice@contoso.com"}
}

func TestRunAnswers(t *testing.T) {
	f := newFake()
	var out bytes.Buffer
	if err := RunAnswers(context.Background(), goodAnswers(), f, &out); err != nil {
		t.Fatalf("RunAnswers: %v\n%s", err, out.String())
	}
	for _, want := range []string{"✓ Entra will reach the agent at https://scim.contoso.com (acme)", "✓ Domain contoso.com verified",
		"open https://microsoft.com/devicelogin and enter the code ABCD-EFGH", "✓ Created the app \"Roster\"",
		"✓ Assign user Alice Andrews", "✓ Assign group All Staff", "✓ Test Connection", "success  Perform action", "roster entra status"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "roster_0000") {
		t.Errorf("the graph path printed the token:\n%s", out.String())
	}
	// OAuth is the default: Entra gets an OAuth client, no Secret Token.
	if c := f.configured; c.Credential != CredentialOAuth2 || c.Token != "" || f.count("IssueToken") != 0 || len(c.Assign) != 2 || !c.ProvisionGroups {
		t.Errorf("Configure got %+v (IssueToken %d)", c, f.count("IssueToken"))
	}
	if !strings.Contains(out.String(), "✓ Tenant URL, OAuth client oc_fake01, 9 mappings") {
		t.Errorf("output lacks the OAuth client:\n%s", out.String())
	}

	// credential: token gives Entra a Secret Token issued in this run.
	f = newFake()
	a := goodAnswers()
	a.Credential = CredentialToken
	out.Reset()
	if err := RunAnswers(context.Background(), a, f, &out); err != nil {
		t.Fatalf("RunAnswers: %v\n%s", err, out.String())
	}
	if c := f.configured; c.Credential != CredentialToken || c.Token.String() != fakeToken(1) {
		t.Errorf("credential token: Configure got %+v", c)
	}
	if last := f.saves[len(f.saves)-1]; !last.Done || last.Step != StepSummary {
		t.Errorf("last saved state %+v", last)
	}
}

// TestRunAnswersAdoptsOnlyItsOwnApp: answers reuse the app this data
// directory connected, refuse another of the same name unless it is named
// by id, and keep Entra's token on a re-run.
func TestRunAnswersAdoptsOnlyItsOwnApp(t *testing.T) {
	t.Run("foreign app of the same name", func(t *testing.T) {
		f := newFake()
		f.apps = []App{{ID: "sp-other", AppID: "app-other", Name: "Roster"}}
		err := RunAnswers(context.Background(), goodAnswers(), f, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "did not connect it") || !strings.Contains(err.Error(), "sp-other") {
			t.Fatalf("err = %v", err)
		}
		if f.count("CreateApp") != 0 || f.count("Configure") != 0 {
			t.Error("a foreign app was taken over or duplicated")
		}
	})
	t.Run("named by id", func(t *testing.T) {
		f := newFake()
		f.apps = []App{{ID: "sp-other", AppID: "app-other", Name: "Roster"}}
		a := goodAnswers()
		a.App = "sp-other"
		if err := RunAnswers(context.Background(), a, f, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if f.configured.App.ID != "sp-other" || f.count("CreateApp") != 0 {
			t.Errorf("configured %+v, CreateApp %d", f.configured.App, f.count("CreateApp"))
		}
	})
	t.Run("re-run of a connected setup", func(t *testing.T) {
		f := newFake()
		f.apps = []App{{ID: "sp-mine", AppID: "app-mine", Name: "Roster", Connected: true}}
		f.existing.AppConnected = true
		var out bytes.Buffer
		a := goodAnswers()
		a.Credential = CredentialToken // Entra keeps the token it holds
		if err := RunAnswers(context.Background(), a, f, &out); err != nil {
			t.Fatal(err)
		}
		if f.count("IssueToken") != 0 || f.configured.Token != "" || f.configured.App.ID != "sp-mine" {
			t.Errorf("IssueToken %d, configured %+v", f.count("IssueToken"), f.configured)
		}
		for _, want := range []string{"Entra keeps the Secret Token", "✓ Settings, 9 mappings"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
}

func TestRunAnswersErrors(t *testing.T) {
	t.Run("ambiguous assignment", func(t *testing.T) {
		a := goodAnswers()
		a.Assign = []string{"Al"}
		err := RunAnswers(context.Background(), a, newFake(), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), `"Al" matches several`) && !strings.Contains(err.Error(), `no user or group matches "Al"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("test connection fails", func(t *testing.T) {
		f := newFake()
		f.fail["TestConnection"] = errors.New("401")
		err := RunAnswers(context.Background(), goodAnswers(), f, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "test connection: 401") {
			t.Fatalf("err = %v", err)
		}
		if f.count("StartProvisioning") != 0 {
			t.Error("provisioning started after a failed Test Connection")
		}
	})
	t.Run("manual path waits for the first request", func(t *testing.T) {
		f := newFake()
		var out bytes.Buffer
		a := Answers{TLS: TLSProxy, PublicURL: "https://scim.contoso.com", SignIn: SignInManual, WaitFirstRequest: "1m"}
		if err := RunAnswers(context.Background(), a, f, &out); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Secret Token:\n" + fakeToken(1), "✓ Entra's first request arrived", "Listen"[:0] + "listening on 127.0.0.1:8080"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
}

// TestAnswersValidate reports every problem at once.
func TestAnswersValidate(t *testing.T) {
	a := Answers{TLS: "ftp", Domains: []string{"https://x"}, SignIn: "password", Mappings: []string{"mail", "givenName"},
		Scope: "some", NotificationEmail: "nope", Agent: "daemon"}
	err := a.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"tls:", "domains:", "sign_in:", `mappings: “mail”`, "scope:", "notification_email:", "agent:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `"givenName"`) {
		t.Errorf("givenName rejected: %v", err)
	}
	if err := goodAnswers().Validate(); err != nil {
		t.Errorf("good answers: %v", err)
	}
	t.Setenv("ROSTER_TEST_SECRET", "")
	cs := goodAnswers()
	cs.SignIn, cs.TenantID, cs.ClientID, cs.ClientSecretEnv = SignInClientSecret, "t", "c", "ROSTER_TEST_SECRET"
	if err := cs.Validate(); err == nil || !strings.Contains(err.Error(), "$ROSTER_TEST_SECRET is empty") {
		t.Errorf("empty secret env: %v", err)
	}
}

func TestLoadAnswers(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"tls":"proxy","public_url":"https://scim.contoso.com","sign_in":"azure-cli","scope":"all","provision_groups":false}`), 0o600)
	a, err := LoadAnswers(good)
	if err != nil {
		t.Fatal(err)
	}
	if a.Scope != "all" || a.ProvisionGroups == nil || *a.ProvisionGroups {
		t.Errorf("loaded %+v", a)
	}
	unknown := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknown, []byte(`{"tls":"proxy","public_url":"https://x.com","sign_in":"manual","colour":"red"}`), 0o600)
	if _, err := LoadAnswers(unknown); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field: %v", err)
	}
	invalid := filepath.Join(dir, "invalid.json")
	os.WriteFile(invalid, []byte(`{"tls":"acme","sign_in":"manual"}`), 0o600)
	if _, err := LoadAnswers(invalid); err == nil || !strings.Contains(err.Error(), "public_url") || !strings.Contains(err.Error(), "acme_email") {
		t.Errorf("invalid: %v", err)
	}
}

func TestRunPlain(t *testing.T) {
	in := strings.Join([]string{
		"",                 // TLS: 1 (acme)
		"https://bad",      // hostname rejected
		"scim.contoso.com", // hostname
		"admin@contoso.com",
		"contoso.com",
		"2", // service
		"",  // sign in: device code
		"",  // app Roster
		"",  // no optional mappings
		"",  // match on UPN
		"",  // groups yes
		"",  // assigned only
		"",  // no notification email
		"Alice Andrews",
		"", // credential: oauth2
		"alice@contoso.com",
	}, "\n") + "\n"
	f := newFake()
	var out bytes.Buffer
	if err := RunPlain(context.Background(), strings.NewReader(in), &out, f, Options{}); err != nil {
		t.Fatalf("RunPlain: %v\n%s", err, out.String())
	}
	for _, want := range []string{"How will Entra reach the agent?", "Enter only the hostname", "✓ Assign user Alice Andrews",
		"✓ Agent running (service)", "success  Perform action", "Done. Tenant URL: https://scim.contoso.com/scim/v2/default"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	err := RunPlain(context.Background(), strings.NewReader("1\n"), &bytes.Buffer{}, newFake(), Options{})
	if !errors.Is(err, errInputEnded) {
		t.Errorf("short input: %v", err)
	}
}

// TestRunAnswersOnPremisesDefaultsToToken: the on-premises route's
// documented credential is the Secret Token, so it is the default there.
func TestRunAnswersOnPremisesDefaultsToToken(t *testing.T) {
	f := newFake()
	a := goodAnswers()
	a.TLS, a.PublicURL, a.ACMEEmail, a.Listen = TLSOnPrem, "http://localhost:8080", "", "127.0.0.1:8080"
	var out bytes.Buffer
	if err := RunAnswers(context.Background(), a, f, &out); err != nil {
		t.Fatalf("RunAnswers: %v\n%s", err, out.String())
	}
	if c := f.configured; c.Credential != CredentialToken || c.Token.String() != fakeToken(1) {
		t.Errorf("Configure got %+v", c)
	}
}
