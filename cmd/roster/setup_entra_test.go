package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/graph/graphtest"
	"github.com/rosterhq/roster/graph/mappings"
)

// setupProc is `roster setup --answers` running as its own process; after
// the flow it keeps the agent it started serving until stopped.
type setupProc struct {
	cmd *exec.Cmd
	out *ptyScreen
}

// startSetup runs `roster setup --answers` with answers and waits until
// the flow is done and the agent keeps running. Tests run on 127.0.0.1, so
// they pass the documented lab escape --allow-private-url.
func startSetup(t *testing.T, dir string, answers map[string]any) *setupProc {
	t.Helper()
	file := filepath.Join(t.TempDir(), "answers.json")
	b, _ := json.Marshal(answers)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--data-dir", dir, "setup", "--allow-private-url", "--answers", file)
	cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1")
	p := &setupProc{cmd: cmd, out: &ptyScreen{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) //nolint:errcheck
	p.out.waitFor(t, "The agent keeps running here")
	return p
}

// stop ends the setup process (and its agent) as Ctrl-C would.
func (p *setupProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("setup --answers exited with %v after SIGINT:\n%s", err, p.out.text())
	}
}

// setupAnswers are answers for the Secret Token path (TestSetupOAuth2
// takes the default, OAuth).
func setupAnswers(listen string) map[string]any {
	return map[string]any{"tls": "proxy", "public_url": "http://" + listen, "listen": listen, "sign_in": "device-code",
		"credential": "token", "app": "Roster", "scope": "assigned", "assign": []string{"alice@contoso.com"}}
}

// connection is what `roster entra status --json` says of the saved app.
func connection(t *testing.T, dir string) (spID, jobID string) {
	t.Helper()
	out, errOut, err := runCLI(t, dir, "entra", "status", "--json")
	var st struct {
		App struct {
			ServicePrincipalID string `json:"service_principal_id"`
		}
		Status struct {
			JobID string `json:"job_id"`
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.App.ServicePrincipalID == "" || st.Status.JobID == "" {
		t.Fatalf("entra status: %v\n%s%s", err, out, errOut)
	}
	return st.App.ServicePrincipalID, st.Status.JobID
}

// created counts the apps and provisioning jobs created in the fake Entra,
// and the schema writes.
func created(fake *graphtest.Server) (apps, jobs, schemaPuts int) {
	for _, r := range fake.Requests() {
		switch {
		case strings.HasSuffix(r.Path, "/instantiate"):
			apps++
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/synchronization/jobs"):
			jobs++
		case r.Method == "PUT" && strings.HasSuffix(r.Path, "/schema"):
			schemaPuts++
		}
	}
	return
}

// TestSetupAndConnectAgree: `roster setup --answers` and `roster entra
// connect` are one use case. Either order on the same data directory ends
// with one app, one job, the mappings of the first run untouched by the
// second, and exactly one active Entra token.
func TestSetupAndConnectAgree(t *testing.T) {
	for _, order := range []string{"setup then connect", "connect then setup"} {
		t.Run(order, func(t *testing.T) {
			fake := fakeGraph(t)
			dir := t.TempDir()
			listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			connect := func() string {
				t.Helper()
				out, errOut, err := runCLI(t, dir, "entra", "connect", "--credential", "token", "--allow-private-url", "--assign", "alice@contoso.com")
				if err != nil {
					t.Fatalf("entra connect: %v\n%s%s", err, out, errOut)
				}
				return out
			}
			var second string
			var putsFirst int
			if order == "setup then connect" {
				p := startSetup(t, dir, setupAnswers(listen))
				_, job := connection(t, dir)
				schema := string(fake.Schema(job))
				_, _, putsFirst = created(fake)
				second = connect() // while the wizard's agent runs
				p.stop(t)
				if string(fake.Schema(job)) != schema {
					t.Error("connect changed the mappings the wizard set")
				}
				if !strings.Contains(second, "Mappings          already as wanted") || !strings.Contains(second, "Entra keeps its token") {
					t.Errorf("connect after setup:\n%s", second)
				}
			} else {
				agent := startAgentProc(t, dir, true, "--listen", listen)
				connect()
				_, job := connection(t, dir)
				schema := string(fake.Schema(job))
				_, _, putsFirst = created(fake)
				agent.Stop(t)
				p := startSetup(t, dir, setupAnswers(listen))
				p.stop(t)
				second = p.out.text()
				if string(fake.Schema(job)) != schema {
					t.Error("setup changed the mappings connect set")
				}
				for _, want := range []string{"Using the existing app \"Roster\"", "Entra keeps the Secret Token", "✓ Settings, 9 mappings", "✓ Test Connection"} {
					if !strings.Contains(second, want) {
						t.Errorf("setup after connect lacks %q:\n%s", want, second)
					}
				}
			}
			apps, jobs, puts := created(fake)
			if apps != 1 || jobs != 1 || puts != putsFirst {
				t.Errorf("%s: %d apps, %d jobs created, %d schema writes by the second run; want 1, 1, 0", order, apps, jobs, puts-putsFirst)
			}
			// Every token but the agent's first-start one is Entra's: exactly one
			// may be active (Entra holds one).
			active := countTokens(t, dir, func(name string) bool { return name != "initial" })
			if active != 1 || activeTokens(t, dir, "entra") != 1 {
				t.Errorf("%s: %d active tokens for Entra, want exactly 1", order, active)
			}
		})
	}
}

// TestSetupOAuth2: the wizard's default credential is an OAuth client:
// setup --answers saves it in Entra (no Secret Token for Entra), Test
// Connection and on-demand provisioning go through the agent's token
// endpoint, and a later `entra connect` rotates the same client's secret.
func TestSetupOAuth2(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := setupAnswers(listen)
	delete(a, "credential")
	a["provision_on_demand"] = "alice@contoso.com"
	p := startSetup(t, dir, a)
	out := p.out.text()
	for _, want := range []string{"✓ Tenant URL, OAuth client", "✓ Test Connection", "✓ Provisioned alice@contoso.com on demand"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup lacks %q:\n%s", want, out)
		}
	}
	sp, _ := connection(t, dir)
	sec := fake.Secrets(sp)
	if sec["AuthenticationType"] != "OAuth2ClientCredentialsGrant" || sec["SecretToken"] != "" || sec["Oauth2ClientId"] == "" {
		t.Errorf("secrets after setup = %v", sec)
	}
	if n := activeTokens(t, dir, "entra"); n != 0 {
		t.Errorf("%d Secret Tokens for Entra after an OAuth setup", n)
	}
	if len(fake.TokenRequests()) == 0 {
		t.Error("Entra never obtained an access token")
	}
	res := connectCLI(t, dir)
	p.stop(t)
	if res.Credential != "oauth2" || res.OAuthClientID != sec["Oauth2ClientId"] || len(res.RevokedSecretIDs) != 1 {
		t.Errorf("connect after setup = %+v", res)
	}
}

// TestSetupRerunChangesEntraInPlace: a second wizard run changes scope and
// mappings in Entra without a new token; Entra keeps the first token, and
// Test Connection passes with the saved credentials.
func TestSetupRerunChangesEntraInPlace(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startSetup(t, dir, setupAnswers(listen)).stop(t)
	sp, job := connection(t, dir)
	before := fake.Secrets(sp)
	if m := mapped(t, fake.Schema(job)); before["SyncAll"] != "false" || !m["manager"] || !m["surname"] {
		t.Fatalf("after the first run: secrets %v, mappings %v", before, m)
	}

	a := setupAnswers(listen)
	a["scope"], a["assign"], a["mappings"] = "all", nil, []string{"givenName"}
	p := startSetup(t, dir, a)
	p.stop(t)
	for _, want := range []string{"Entra keeps the Secret Token", "✓ Settings, 6 mappings, scope and 0 assignments written", "✓ Test Connection"} {
		if !strings.Contains(p.out.text(), want) {
			t.Errorf("second run lacks %q:\n%s", want, p.out.text())
		}
	}
	after := fake.Secrets(sp)
	if after["SyncAll"] != "true" {
		t.Errorf("scope in Entra after the re-run: SyncAll=%q, want true", after["SyncAll"])
	}
	if after["SecretToken"] != before["SecretToken"] || after["BaseAddress"] != before["BaseAddress"] {
		t.Error("the re-run changed Entra's credentials without a new token")
	}
	m := mapped(t, fake.Schema(job))
	if m["manager"] || m["surname"] || m["employeeId"] || !m["givenName"] || !m["userPrincipalName"] {
		t.Errorf("mappings in Entra after the re-run = %v, want givenName and the required ones only", m)
	}
	if n := activeTokens(t, dir, "entra"); n != 1 {
		t.Errorf("%d active Entra tokens after the re-run, want 1", n)
	}
	if apps, jobs, _ := created(fake); apps != 1 || jobs != 1 {
		t.Errorf("%d apps, %d jobs created over two runs; want 1 and 1", apps, jobs)
	}
}

// mapped returns the source attributes of the user mappings in a schema.
func mapped(t *testing.T, schema []byte) map[string]bool {
	t.Helper()
	table, _, err := mappings.Current(schema)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range table {
		out[m.Source] = true
	}
	return out
}

// TestEntraDisconnect: disconnect asks first, then pauses the job, forgets
// the connection and revokes Entra's token; --delete-app deletes the app.
func TestEntraDisconnect(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	startAgentProc(t, dir, true)
	if _, errOut, err := runCLI(t, dir, "entra", "connect", "--credential", "token", "--allow-private-url"); err != nil {
		t.Fatalf("connect: %v\n%s", err, errOut)
	}
	sp, _ := connection(t, dir)
	cmd := newRootCmd()
	var out, errOut strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader("n\n"))
	defer func(f func(io.Reader) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(io.Reader) bool { return true } // answer the question as a person would
	cmd.SetArgs([]string{"--data-dir", dir, "entra", "disconnect"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "cancelled") || !strings.Contains(errOut.String(), "Continue? [y/N]") {
		t.Fatalf("disconnect answered no: %v\n%s", err, errOut.String())
	}
	if n := activeTokens(t, dir, "entra"); n != 1 {
		t.Fatalf("a cancelled disconnect changed the tokens: %d active", n)
	}
	res, errS, err := runCLI(t, dir, "entra", "disconnect", "--yes")
	if err != nil || !strings.Contains(res, "Paused provisioning") || !strings.Contains(res, "Revoked Entra's Secret Token") {
		t.Fatalf("disconnect --yes: %v\n%s%s", err, res, errS)
	}
	if n := activeTokens(t, dir, "entra"); n != 0 {
		t.Errorf("%d active Entra tokens after disconnect", n)
	}
	if _, _, err := runCLI(t, dir, "entra", "status"); err == nil || !strings.Contains(err.Error(), "not connected to Entra yet") {
		t.Errorf("status after disconnect: %v", err)
	}
	if len(fake.Secrets(sp)) == 0 {
		t.Error("disconnect without --delete-app deleted the app")
	}
	// Reconnect (the paused app is named explicitly: this data directory no
	// longer remembers it), then delete it.
	if _, errOut, err := runCLI(t, dir, "entra", "connect", "--allow-private-url"); err == nil || !strings.Contains(err.Error(), "--app "+sp) {
		t.Fatalf("reconnect to a forgotten app by name must ask for --app: %v\n%s", err, errOut)
	}
	if _, errOut, err := runCLI(t, dir, "entra", "connect", "--allow-private-url", "--app", sp); err != nil {
		t.Fatalf("connect --app: %v\n%s", err, errOut)
	}
	if res, errS, err = runCLI(t, dir, "entra", "disconnect", "--yes", "--delete-app"); err != nil || !strings.Contains(res, "Deleted the enterprise app") {
		t.Fatalf("disconnect --delete-app: %v\n%s%s", err, res, errS)
	}
	found := false
	for _, r := range fake.Requests() {
		found = found || (r.Method == "DELETE" && strings.Contains(r.Path, "/applications/"))
	}
	if !found {
		t.Error("no DELETE of the application reached Graph")
	}
}

// TestConnectPreflight: with no agent answering, or a loopback Tenant URL
// outside the lab escape, connect stops before anything is created in Entra.
func TestConnectPreflight(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	agent := startAgentProc(t, dir, true)
	_, _, err := runCLI(t, dir, "entra", "connect")
	if err == nil || !strings.Contains(err.Error(), "loopback or private") || !strings.Contains(err.Error(), "--on-premises") {
		t.Errorf("loopback Tenant URL without --allow-private-url: %v", err)
	}
	agent.Stop(t)
	_, _, err = runCLI(t, dir, "entra", "connect", "--allow-private-url")
	if err == nil || !strings.Contains(err.Error(), "Start the agent first") {
		t.Errorf("connect with no agent: %v", err)
	}
	if len(fake.Requests()) != 0 {
		t.Errorf("failed pre-flights reached Graph: %+v", fake.Requests())
	}
	if n := activeTokens(t, dir, "entra"); n != 0 {
		t.Errorf("%d Entra tokens issued by failed pre-flights", n)
	}
}
