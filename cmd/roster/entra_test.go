package main

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/graph"
	"github.com/rosterhq/roster/graph/graphtest"
)

const fakeGraphToken = "graph-token-for-tests"

// aliceID is Alice's object id in the fake directory (a member of Sales).
const aliceID = "0f5e9a3c-1d2b-4c6e-8a7f-3b9d2e1c4a50"

// fakeGraph starts graph/graphtest and points the Graph commands at it
// through the environment, as an owner behind a proxy would.
func fakeGraph(t *testing.T) *graphtest.Server {
	t.Helper()
	fake := graphtest.New(t, graphtest.Options{
		Token: fakeGraphToken,
		Users: []graphtest.User{
			{ID: aliceID, UserPrincipalName: "alice@contoso.com", DisplayName: "Alice Smith", Mail: "alice@contoso.com", MailNickname: "alice",
				GivenName: "Alice", Surname: "Smith", JobTitle: "Engineer", Department: "R&D", EmployeeID: "E1"},
			{UserPrincipalName: "bob@contoso.com", DisplayName: "Bob Jones", Mail: "bob@contoso.com", MailNickname: "bob"},
		},
		Groups: []graphtest.Group{{DisplayName: "Sales", Members: []string{aliceID}}},
	})
	ca := filepath.Join(t.TempDir(), "fake-graph-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fake.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ROSTER_GRAPH_URL", fake.URL)
	t.Setenv("ROSTER_GRAPH_TOKEN", fakeGraphToken)
	t.Setenv("ROSTER_GRAPH_CA_FILE", ca)
	return fake
}

// TestEntraConnectProvisionEndToEnd is issue 4's end-to-end test: a real
// agent process, `roster entra connect` against the fake Graph (whose
// provisioning service calls the agent for Test Connection and on-demand
// provisioning), then `roster provision USER`, and the user is in the agent.
func TestEntraConnectProvisionEndToEnd(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	agent := startAgentProc(t, dir, true)

	// The Secret Token path (entra_oauth_test.go has OAuth, the default).
	out, errOut, err := runCLI(t, dir, "entra", "connect", "--credential", "token", "--allow-private-url", "--assign", "alice@contoso.com", "--assign", "group:Sales",
		"--notify", "ops@contoso.com", "--json")
	if err != nil {
		t.Fatalf("connect: %v\nstderr: %s", err, errOut)
	}
	var res struct {
		TenantURL string `json:"tenant_url"`
		TokenID   string `json:"token_id"`
		Result    struct {
			App struct {
				ServicePrincipalID string `json:"service_principal_id"`
			} `json:"app"`
			AppCreated bool `json:"app_created"`
			Job        struct{ ID string }
			Tested     bool
			Started    bool
			Assigned   []any
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("connect --json: %v\n%s", err, out)
	}
	if res.TenantURL != agent.TenantURL || !res.Result.AppCreated || !res.Result.Tested || !res.Result.Started || len(res.Result.Assigned) != 2 {
		t.Fatalf("connect result = %s (agent tenant URL %s)", out, agent.TenantURL)
	}
	for _, want := range []string{"finding enterprise app", "creating enterprise app", "Test Connection", "starting provisioning"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress on stderr lacks %q:\n%s", want, errOut)
		}
	}
	sec := fake.Secrets(res.Result.App.ServicePrincipalID)
	if sec["BaseAddress"] != agent.TenantURL || !strings.HasPrefix(sec["SecretToken"], "roster_") {
		t.Errorf("secrets saved in Entra = %v", sec)
	}

	out, errOut, err = runCLI(t, dir, "provision", "alice@contoso.com")
	if err != nil {
		t.Fatalf("provision: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"✓ Import", "✓ Scoping", "✓ Matching", "✓ Export", "Result: Success (create)"} {
		if !strings.Contains(out, want) {
			t.Errorf("provision output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, dir, "users", "show", "alice@contoso.com", "--json")
	if err != nil || !strings.Contains(out, `"title": "Engineer"`) {
		t.Fatalf("users show: %v\n%s", err, out)
	}
	// A group on demand: created with the members the agent already has.
	out, errOut, err = runCLI(t, dir, "provision", "group:Sales")
	if err != nil || !strings.Contains(out, "Result: Success (create)") {
		t.Fatalf("provision group:Sales: %v\n%s%s", err, out, errOut)
	}
	var alice struct{ ID string }
	out, _, _ = runCLI(t, dir, "users", "show", "alice@contoso.com", "--json")
	json.Unmarshal([]byte(out), &alice) //nolint:errcheck
	var sales struct{ Members []struct{ Value string } }
	out, _, err = runCLI(t, dir, "groups", "show", "Sales", "--json")
	if err != nil {
		t.Fatalf("groups show Sales: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &sales); err != nil || alice.ID == "" || len(sales.Members) != 1 || sales.Members[0].Value != alice.ID {
		t.Fatalf("groups show Sales (alice is %q): %v\n%s", alice.ID, err, out)
	}

	out, _, err = runCLI(t, dir, "entra", "logs", "--user", "alice")
	if err != nil || !strings.Contains(out, "create") || !strings.Contains(out, "success") {
		t.Errorf("entra logs: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, dir, "entra", "status")
	if err != nil || !strings.Contains(out, "State") {
		t.Errorf("entra status: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, dir, "entra", "pause")
	if err != nil || !strings.Contains(out, "Paused") {
		t.Errorf("entra pause: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, dir, "entra", "resume")
	if err != nil || strings.Contains(out, "Paused") {
		t.Errorf("entra resume: %v\n%s", err, out)
	}

	// Idempotency: a second connect finds the same app and job, leaves the
	// mappings alone, and Entra keeps its token.
	schema := fake.Schema(res.Result.Job.ID)
	out, errOut, err = runCLI(t, dir, "entra", "connect", "--allow-private-url", "--assign", "alice@contoso.com", "--assign", "group:Sales", "--notify", "ops@contoso.com")
	if err != nil {
		t.Fatalf("second connect: %v\n%s", err, errOut)
	}
	for _, want := range []string{"): found", "Provisioning job  " + res.Result.Job.ID + ": found", "Mappings          already as wanted",
		"Already assigned  Alice Smith <alice@contoso.com>", "Entra keeps its token"} {
		if !strings.Contains(out, want) {
			t.Errorf("second connect output lacks %q:\n%s", want, out)
		}
	}
	if string(fake.Schema(res.Result.Job.ID)) != string(schema) {
		t.Error("second connect changed the mappings")
	}
	var apps, jobs int
	for _, r := range fake.Requests() {
		if strings.HasSuffix(r.Path, "/instantiate") {
			apps++
		}
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/synchronization/jobs") {
			jobs++
		}
	}
	if apps != 1 || jobs != 1 {
		t.Errorf("apps created %d, jobs created %d; want 1 and 1", apps, jobs)
	}
	if n := activeTokens(t, dir, "entra"); n != 1 {
		t.Errorf("%d active entra tokens after two connects, want 1", n)
	}
	// --new-token rotates it: the one Entra held is revoked.
	out, errOut, err = runCLI(t, dir, "entra", "connect", "--allow-private-url", "--new-token")
	if err != nil || !strings.Contains(out, "new token saved in Entra; the previous Entra token was revoked") {
		t.Fatalf("connect --new-token: %v\n%s%s", err, out, errOut)
	}
	if n := activeTokens(t, dir, "entra"); n != 1 {
		t.Errorf("%d active entra tokens after --new-token, want 1", n)
	}
	// The token Entra now holds works; the old one no longer does.
	out, _, err = runCLI(t, dir, "provision", "alice@contoso.com")
	if err != nil || !strings.Contains(out, "Result: Skipped") {
		t.Errorf("provision after reconnect: %v\n%s", err, out)
	}
}

func TestEntraErrors(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	startAgentProc(t, dir, true)

	_, _, err := runCLI(t, dir, "provision", "alice@contoso.com")
	if err == nil || !strings.Contains(err.Error(), "not connected to Entra yet") {
		t.Errorf("provision before connect: %v", err)
	}
	_, _, err = runCLI(t, dir, "entra", "connect", "--allow-private-url", "--scope", "everyone")
	if err == nil || !strings.Contains(err.Error(), "--scope") {
		t.Errorf("bad scope: %v", err)
	}
	_, _, err = runCLI(t, dir, "entra", "connect", "--allow-private-url", "--assign", "nobody@contoso.com")
	if err == nil || !strings.Contains(err.Error(), "find user nobody@contoso.com") {
		t.Errorf("unknown user: %v", err)
	}
	// A failed connect leaves no token behind.
	if n := activeTokens(t, dir, "entra"); n != 0 {
		t.Errorf("%d entra tokens left active after failed connects", n)
	}
	fake.Forbid("POST", "/instantiate")
	_, _, err = runCLI(t, dir, "entra", "connect", "--allow-private-url")
	if err == nil || !strings.Contains(err.Error(), "Application.ReadWrite.All") {
		t.Errorf("missing permission: %v", err)
	}
	_, _, err = runCLI(t, dir, "entra", "connect", "--allow-private-url", "--tenant-url", "http://127.0.0.1:1/scim/default/v2", "--app-name", "x", "--skip-test=false")
	if err == nil {
		t.Error("connect with an unreachable Tenant URL succeeded")
	}
	if n := activeTokens(t, dir, "entra"); n != 0 {
		t.Errorf("%d entra tokens left active after a failed Test Connection", n)
	}
	_, _, err = runCLI(t, dir, "entra", "connect", "--allow-private-url", "--auth", "telepathy")
	if err == nil || !strings.Contains(err.Error(), `"telepathy"`) || !strings.Contains(err.Error(), "device-code") {
		t.Errorf("bad auth: %v", err)
	}
}

// activeTokens counts the active tokens named name.
func activeTokens(t *testing.T, dir, name string) int {
	t.Helper()
	return countTokens(t, dir, func(n string) bool { return n == name })
}

// countTokens counts the active tokens whose name is wanted.
func countTokens(t *testing.T, dir string, wanted func(name string) bool) int {
	t.Helper()
	out, _, err := runCLI(t, dir, "token", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var toks []struct{ Name, Status string }
	if err := json.Unmarshal([]byte(out), &toks); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tk := range toks {
		if wanted(tk.Name) && tk.Status == "active" {
			n++
		}
	}
	return n
}

func TestEntraConnectFromFile(t *testing.T) {
	fake := fakeGraph(t)
	dir := t.TempDir()
	startAgentProc(t, dir, true)
	file := filepath.Join(t.TempDir(), "entra.json")
	os.WriteFile(file, []byte(`{"app_name":"Contoso SCIM","match_on_employee_id":true,"provision_groups":false,"assign":["bob@contoso.com"],"scope":"assigned"}`), 0o600) //nolint:errcheck
	out, errOut, err := runCLI(t, dir, "entra", "connect", "--allow-private-url", "--file", file, "--json")
	if err != nil {
		t.Fatalf("connect --file: %v\n%s", err, errOut)
	}
	var res struct {
		Result struct {
			App struct {
				DisplayName string `json:"display_name"`
			}
			Job            struct{ ID string }
			MappingChanges []string `json:"mapping_changes"`
		}
	}
	json.Unmarshal([]byte(out), &res) //nolint:errcheck
	if res.Result.App.DisplayName != "Contoso SCIM" || len(res.Result.MappingChanges) != 2 {
		t.Fatalf("connect --file = %s", out)
	}
	if !strings.Contains(string(fake.Schema(res.Result.Job.ID)), `"name":"employeeId"`) {
		t.Error("employeeId mapping not saved")
	}
	os.WriteFile(file, []byte(`{"app_nmae":"typo"}`), 0o600) //nolint:errcheck
	if _, _, err := runCLI(t, dir, "entra", "connect", "--allow-private-url", "--file", file); err == nil || !strings.Contains(err.Error(), "app_nmae") {
		t.Errorf("unknown key in file: %v", err)
	}
}

// TestEntraConnectDeviceCode signs in with the device code flow (the
// default) against a fake authority: the code is shown on stderr, and one
// sign-in serves the whole connect.
func TestEntraConnectDeviceCode(t *testing.T) {
	fake := fakeGraph(t)
	login := graphtest.NewLogin(t, graphtest.LoginOptions{AccessToken: fakeGraphToken, PendingPolls: 1})
	ca := filepath.Join(t.TempDir(), "cas.pem")
	pems := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fake.Certificate().Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: login.Server().Certificate().Raw})...)
	if err := os.WriteFile(ca, pems, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ROSTER_GRAPH_CA_FILE", ca)
	t.Setenv("ROSTER_GRAPH_TOKEN", "")
	t.Setenv("ROSTER_LOGIN_URL", login.URL)
	dir := t.TempDir()
	startAgentProc(t, dir, true)
	out, errOut, err := runCLI(t, dir, "entra", "connect", "--allow-private-url", "--entra-tenant", "contoso.onmicrosoft.com")
	if err != nil {
		t.Fatalf("connect with device code: %v\n%s", err, errOut)
	}
	if n := strings.Count(errOut, "enter the code "+login.UserCode); n != 1 {
		t.Errorf("device code shown %d times, want once:\n%s", n, errOut)
	}
	if !strings.Contains(out, "Provisioning      started") {
		t.Errorf("connect output:\n%s", out)
	}
	// status reuses the saved sign-in method and, with the sign-in
	// remembered, asks for no device code; after logout it asks again. A
	// machine without secret storage asks every time and says why, once.
	cacheErr := graph.TokenCacheAvailable()
	_, errOut, err = runCLI(t, dir, "entra", "status")
	switch {
	case err != nil:
		t.Fatalf("status: %v\n%s", err, errOut)
	case cacheErr == nil && strings.Contains(errOut, login.UserCode):
		t.Errorf("status asked for a new sign-in although connect's was remembered:\n%s", errOut)
	case cacheErr != nil && (strings.Count(errOut, login.UserCode) != 1 || strings.Count(errOut, "will not be remembered") != 1):
		t.Errorf("status without a token cache (%v): want one prompt and one notice:\n%s", cacheErr, errOut)
	}
	if cacheErr != nil {
		t.Logf("no token cache on this machine (%v): the remembered path was not exercised here", cacheErr)
	}
	if got := login.DeviceCodeGrants(); cacheErr == nil && got != 1 {
		t.Errorf("device code sign-ins = %d, want 1 for connect and status together", got)
	}
	out, _, err = runCLI(t, dir, "entra", "logout")
	if err != nil || !strings.Contains(out, "Signed out") {
		t.Fatalf("logout: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "graph-signin.json")); !os.IsNotExist(err) {
		t.Errorf("graph-signin.json still there after logout: %v", err)
	}
	_, errOut, err = runCLI(t, dir, "entra", "status")
	if err != nil || strings.Count(errOut, login.UserCode) != 1 {
		t.Errorf("status after logout: want one device code prompt: %v\n%s", err, errOut)
	}
	out, _, err = runCLI(t, dir, "entra", "logout", "--json")
	if err != nil || !strings.Contains(out, `"signed_out": true`) {
		t.Errorf("second logout (the status after the first signed in again): %v\n%s", err, out)
	}
	out, _, err = runCLI(t, dir, "entra", "logout")
	if err != nil || !strings.Contains(out, "No remembered") {
		t.Errorf("logout with nothing remembered: %v\n%s", err, out)
	}
}
