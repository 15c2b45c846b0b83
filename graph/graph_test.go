package graph_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/graph"
	"github.com/rosterhq/roster/graph/graphtest"
	"github.com/rosterhq/roster/graph/mappings"
	"github.com/rosterhq/roster/store"
)

const graphToken = "graph-access-token"

var (
	alice = graphtest.User{UserPrincipalName: "alice@contoso.com", DisplayName: "Alice Smith", Mail: "alice@contoso.com",
		MailNickname: "alice", GivenName: "Alice", Surname: "Smith", JobTitle: "Engineer", Department: "R&D", EmployeeID: "E1"}
	bob = graphtest.User{UserPrincipalName: "bob@contoso.com", DisplayName: "Bob Jones", Mail: "bob@contoso.com",
		MailNickname: "bob", EmployeeID: "E2"}
)

// env is a real agent (SQLite + SCIM over HTTP) and a fake Graph whose
// provisioning service calls it, with a client using the real SDK.
type env struct {
	fake      *graphtest.Server
	client    *graph.Client
	dir       *directory.Service
	tenantURL string
	token     string
}

func newEnv(t *testing.T, fakeOpt graphtest.Options) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := directory.New(db, nil, nil)
	agent := httptest.NewServer(scimhttp.New(dir, scimhttp.Options{}))
	t.Cleanup(agent.Close)
	if _, err := dir.AddTenant(ctx, "default", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	issued, err := dir.IssueToken(ctx, "default", "entra", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	fakeOpt.Token = graphToken
	if fakeOpt.Users == nil {
		fakeOpt.Users = []graphtest.User{alice, bob}
		fakeOpt.Groups = []graphtest.Group{{DisplayName: "Staff"}}
	}
	fake := graphtest.New(t, fakeOpt)
	return &env{fake: fake, client: newClient(t, fake, graph.Config{}), dir: dir,
		tenantURL: scimhttp.TenantURL(agent.URL, "default"), token: issued.Token.Reveal()}
}

func newClient(t *testing.T, fake *graphtest.Server, cfg graph.Config) *graph.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(fake.Certificate())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	if cfg.Auth == "" {
		cfg.Auth, cfg.Token = graph.AuthToken, graphToken
	}
	cfg.BaseURL, cfg.Transport, cfg.PollInterval = fake.URL, tr, 10*time.Millisecond
	c, err := graph.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) connectOptions() graph.ConnectOptions {
	return graph.ConnectOptions{
		TenantURL: e.tenantURL, Credentials: graph.Credentials{Kind: graph.CredentialToken, Token: e.token}, NotificationEmail: "ops@contoso.com", DeleteThreshold: 500,
		Mappings: mappings.Default(), Assign: []string{"alice@contoso.com", "group:Staff"},
	}
}

func TestConnectThenProvisionOnDemand(t *testing.T) {
	e := newEnv(t, graphtest.Options{SPReadyAfter: 3})
	ctx := context.Background()
	var steps []string
	res, err := e.client.Connect(ctx, e.connectOptions(), func(s string) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	if !res.AppCreated || !res.JobCreated || !res.Tested || !res.Started || len(res.Assigned) != 2 {
		t.Fatalf("result = %+v", res)
	}
	if res.App.DisplayName != graph.DefaultAppName || res.App.UserRoleID != graphtest.UserRoleID {
		t.Errorf("app = %+v", res.App)
	}
	if got := strings.Join(steps, "|"); !strings.Contains(got, "waiting for Entra to finish creating the app") || !strings.Contains(got, "Test Connection") {
		t.Errorf("progress = %s", got)
	}
	sec := e.fake.Secrets(res.App.ServicePrincipalID)
	if sec["BaseAddress"] != e.tenantURL || sec["SecretToken"] != e.token || sec["SyncAll"] != "false" ||
		!strings.Contains(sec["SyncNotificationSettings"], `"Recipients":"ops@contoso.com"`) ||
		!strings.Contains(sec["SyncNotificationSettings"], `"DeleteThresholdValue":500`) {
		t.Errorf("secrets = %v", sec)
	}
	if got := e.fake.JobStatus(res.Job.ID); got == graphtest.StatusNotConfigured || got == graphtest.StatusPaused {
		t.Errorf("job status = %s, want started", got)
	}
	// The SDK's schema PUT arrived as PUT (never PATCH, which Graph 404s).
	for _, r := range e.fake.Requests() {
		if strings.HasSuffix(r.Path, "/schema") && r.Method == "PATCH" {
			t.Errorf("schema sent with PATCH")
		}
	}

	user, err := e.client.User(ctx, "alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	pod, err := e.client.ProvisionOnDemand(ctx, res.App, res.Job.ID, user)
	if err != nil {
		t.Fatal(err)
	}
	if pod.Result != "Success" || pod.Action != "Create" || pod.TargetID == "" {
		t.Fatalf("on demand = %+v", pod)
	}
	var types []string
	for _, s := range pod.Steps {
		types = append(types, s.Type+":"+s.Status)
	}
	if got, want := strings.Join(types, " "), "Import:Success Scoping:Success Matching:Success Export:Success"; got != want {
		t.Errorf("steps = %s, want %s", got, want)
	}
	// The user is now in the agent's database.
	got, err := e.dir.Get(ctx, directory.Call{TenantID: "default"}, store.KindUser, pod.TargetID, schema.Projection{})
	if err != nil {
		t.Fatalf("user %s not in the agent: %v", pod.TargetID, err)
	}
	if got.Doc["userName"] != "alice@contoso.com" || got.Doc["title"] != "Engineer" {
		t.Errorf("agent has %v", got.Doc)
	}
	// A second run finds nothing to do.
	pod, err = e.client.ProvisionOnDemand(ctx, res.App, res.Job.ID, user)
	if err != nil || pod.Result != "Skipped" || pod.ErrorCode != "RedundantExport" {
		t.Errorf("second on demand = %+v, %v", pod, err)
	}

	logs, err := e.client.Logs(ctx, graph.LogQuery{JobID: res.Job.ID, User: "ALICE@contoso", Since: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 || logs[0].Status != "skipped" || logs[1].Action != "create" || logs[1].Status != "success" {
		t.Errorf("logs = %+v", logs)
	}
	if none, err := e.client.Logs(ctx, graph.LogQuery{JobID: res.Job.ID, User: "bob"}); err != nil || len(none) != 0 {
		t.Errorf("logs for bob = %+v, %v", none, err)
	}
}

// TestConnectWithoutToken: a re-run without a token writes the scope and
// settings, keeps the Tenant URL and token saved in the app, and tests the
// saved credentials; a new app cannot be configured without a token.
func TestConnectWithoutToken(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	first, err := e.client.Connect(ctx, e.connectOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := e.fake.Secrets(first.App.ServicePrincipalID)
	o := e.connectOptions()
	o.Credentials, o.SyncAll, o.NotificationEmail = graph.Credentials{}, true, "it@contoso.com"
	again, err := e.client.Connect(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := e.fake.Secrets(first.App.ServicePrincipalID)
	if !again.Tested || again.AppCreated || after["SecretToken"] != before["SecretToken"] || after["BaseAddress"] != before["BaseAddress"] {
		t.Errorf("re-run without a token: tested %v, secrets %v (before %v)", again.Tested, after, before)
	}
	if after["SyncAll"] != "true" || !strings.Contains(after["SyncNotificationSettings"], "it@contoso.com") {
		t.Errorf("scope and notification not written: %v", after)
	}
	o.AppName = "Another"
	if _, err := e.client.Connect(ctx, o, nil); err == nil || !strings.Contains(err.Error(), "needs the Tenant URL and credentials") {
		t.Errorf("new app without a token: %v", err)
	}
	instantiates := 0
	for _, r := range e.fake.Requests() {
		if strings.HasSuffix(r.Path, "/instantiate") {
			instantiates++
		}
	}
	if instantiates != 1 {
		t.Errorf("%d apps created, want 1: none that could not be configured", instantiates)
	}
}

func TestConnectIsIdempotent(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	first, err := e.client.Connect(ctx, e.connectOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	schema := e.fake.Schema(first.Job.ID)
	second, err := e.client.Connect(ctx, e.connectOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.AppCreated || second.JobCreated || second.Started || len(second.Assigned) != 0 || len(second.AlreadyAssigned) != 2 || len(second.MappingChanges) != 0 {
		t.Errorf("second connect = %+v", second)
	}
	if second.App.ServicePrincipalID != first.App.ServicePrincipalID || second.Job.ID != first.Job.ID {
		t.Errorf("second connect used app %s job %s, want %s %s", second.App.ServicePrincipalID, second.Job.ID, first.App.ServicePrincipalID, first.Job.ID)
	}
	if string(e.fake.Schema(first.Job.ID)) != string(schema) {
		t.Error("mappings changed on the second connect")
	}
	var instantiates, jobPosts, schemaPuts int
	for _, r := range e.fake.Requests() {
		switch {
		case strings.HasSuffix(r.Path, "/instantiate"):
			instantiates++
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/synchronization/jobs"):
			jobPosts++
		case r.Method == "PUT" && strings.HasSuffix(r.Path, "/schema"):
			schemaPuts++
		}
	}
	if instantiates != 1 || jobPosts != 1 || schemaPuts != 0 {
		t.Errorf("instantiate %d, job POST %d, schema PUT %d; want 1, 1, 0 (the default schema already matches)", instantiates, jobPosts, schemaPuts)
	}
	if n := len(e.fake.Assignments(first.App.ServicePrincipalID)); n != 2 {
		t.Errorf("assignments = %d, want 2", n)
	}

	// Changing an option converges: groups off rewrites the schema once.
	o := e.connectOptions()
	o.Mappings.ProvisionGroups = false
	third, err := e.client.Connect(ctx, o, nil)
	if err != nil || len(third.MappingChanges) != 1 {
		t.Fatalf("third connect: %+v, %v", third.MappingChanges, err)
	}
	if _, groups, _ := mappings.Current(e.fake.Schema(first.Job.ID)); groups {
		t.Error("group provisioning still enabled")
	}
}

func TestMatchOnEmployeeID(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	o := e.connectOptions()
	o.Mappings.MatchOnEmployeeID = true
	res, err := e.client.Connect(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MappingChanges) == 0 {
		t.Fatal("no mapping change for employeeId matching")
	}
	user, _ := e.client.User(ctx, "alice@contoso.com")
	pod, err := e.client.ProvisionOnDemand(ctx, res.App, res.Job.ID, user)
	if err != nil || pod.Result != "Success" {
		t.Fatalf("on demand = %+v, %v", pod, err)
	}
	got, err := e.dir.Get(ctx, directory.Call{TenantID: "default"}, store.KindUser, pod.TargetID, schema.Projection{})
	if err != nil || got.Doc["userName"] != "E1" {
		t.Errorf("agent user = %s, %v; want userName E1", got.Doc, err)
	}
}

func TestAdoptExistingApp(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	app, err := e.client.CreateApp(ctx, "Contoso SCIM", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{app.ServicePrincipalID, app.AppID, "Contoso SCIM"} {
		got, err := e.client.App(ctx, ref)
		if err != nil || got.ServicePrincipalID != app.ServicePrincipalID {
			t.Errorf("App(%s) = %+v, %v", ref, got, err)
		}
	}
	o := e.connectOptions()
	o.App = "Contoso SCIM"
	res, err := e.client.Connect(ctx, o, nil)
	if err != nil || res.AppCreated || res.App.ServicePrincipalID != app.ServicePrincipalID {
		t.Fatalf("connect = %+v, %v", res, err)
	}
	if _, err := e.client.App(ctx, "No Such App"); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("missing app: err = %v", err)
	}
	// Two apps with the same name: the error names both ids.
	if _, err := e.client.CreateApp(ctx, "Contoso SCIM", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.App(ctx, "Contoso SCIM"); err == nil || !strings.Contains(err.Error(), app.ServicePrincipalID) {
		t.Errorf("ambiguous name: err = %v", err)
	}
}

func TestErrorsInPlainWords(t *testing.T) {
	ctx := context.Background()
	t.Run("test connection cannot reach the agent", func(t *testing.T) {
		e := newEnv(t, graphtest.Options{})
		o := e.connectOptions()
		o.TenantURL = "http://127.0.0.1:1/scim/default/v2"
		_, err := e.client.Connect(ctx, o, nil)
		if err == nil || !strings.Contains(err.Error(), "Test Connection") || !strings.Contains(err.Error(), "public HTTPS") {
			t.Errorf("err = %v", err)
		}
		// Nothing was saved: the token is not left on an app that cannot use it.
		for _, r := range e.fake.Requests() {
			if strings.HasSuffix(r.Path, "/secrets") {
				t.Error("secrets saved despite failed Test Connection")
			}
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		e := newEnv(t, graphtest.Options{})
		o := e.connectOptions()
		o.Credentials.Token = "roster_wrong"
		if _, err := e.client.Connect(ctx, o, nil); err == nil || !strings.Contains(err.Error(), "roster token list") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("missing permission names it", func(t *testing.T) {
		e := newEnv(t, graphtest.Options{})
		e.fake.Forbid("POST", "/instantiate")
		_, err := e.client.Connect(ctx, e.connectOptions(), nil)
		var ge *graph.Error
		if !errors.As(err, &ge) || ge.Status != 403 || !strings.Contains(ge.Hint, "Application.ReadWrite.All") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("throttling is retried after Retry-After", func(t *testing.T) {
		e := newEnv(t, graphtest.Options{})
		e.fake.Throttle(2, time.Second)
		start := time.Now()
		if _, err := e.client.FindApps(ctx, "Roster"); err != nil {
			t.Fatalf("throttled request not retried: %v", err)
		}
		if time.Since(start) < 2*time.Second {
			t.Errorf("retried before Retry-After elapsed (%v)", time.Since(start))
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		e := newEnv(t, graphtest.Options{})
		o := e.connectOptions()
		o.Assign = []string{"nobody@contoso.com"}
		_, err := e.client.Connect(ctx, o, nil)
		if !errors.Is(err, graph.ErrNotFound) || !strings.Contains(err.Error(), "userPrincipalName") {
			t.Errorf("err = %v", err)
		}
		if n := len(e.fake.Requests()); n > 2 {
			t.Errorf("%d requests before failing on an unknown user; want the lookup to come first", n)
		}
	})
	t.Run("bad options all at once", func(t *testing.T) {
		err := graph.ConnectOptions{TenantURL: "ftp://x", DeleteThreshold: -1, NotificationEmail: "nope",
			Mappings: mappings.Options{Omit: []string{"shoe"}}}.Validate()
		for _, want := range []string{"ftp://x", "threshold", "nope", "shoe"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to mention %q", err, want)
			}
		}
	})
}

func TestStatusPauseResumeQuarantine(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	res, err := e.client.Connect(ctx, e.connectOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.Pause(ctx, res.App, res.Job.ID); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.Status(ctx, res.App, res.Job.ID)
	if err != nil || st.Code != "Paused" || !strings.Contains(st.Explain(), "paused") {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if err := e.client.Start(ctx, res.App, res.Job.ID); err != nil {
		t.Fatal(err)
	}
	e.fake.RunCycle(res.Job.ID)
	st, _ = e.client.Status(ctx, res.App, res.Job.ID)
	if st.Code != "Active" || st.LastExecution == nil || st.LastExecution.State != "Succeeded" {
		t.Errorf("after a cycle: %+v", st)
	}
	e.fake.Quarantine(res.Job.ID, "TooManyDeletes")
	st, _ = e.client.Status(ctx, res.App, res.Job.ID)
	if st.Code != "Quarantine" || st.Quarantine == nil || st.Quarantine.Reason != "tooManyDeletes" && st.Quarantine.Reason != "TooManyDeletes" {
		t.Fatalf("quarantine status = %+v", st)
	}
	if !strings.Contains(st.Explain(), "--allow-deletes") {
		t.Errorf("explain = %s", st.Explain())
	}
	if err := e.client.Restart(ctx, res.App, res.Job.ID, graph.RestartForceDelete); err != nil {
		t.Fatal(err)
	}
	if st, _ = e.client.Status(ctx, res.App, res.Job.ID); st.Code == "Quarantine" {
		t.Errorf("still in quarantine after restart: %+v", st)
	}
}

func TestUserByNameOrID(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	byUPN, err := e.client.User(ctx, "alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{byUPN.ID, "Alice Smith"} {
		if got, err := e.client.User(ctx, ref); err != nil || got.ID != byUPN.ID {
			t.Errorf("User(%q) = %+v, %v", ref, got, err)
		}
	}
	if _, err := e.client.User(ctx, "Carol"); !errors.Is(err, graph.ErrNotFound) || !strings.Contains(err.Error(), "display name") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestSearchPrincipals(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	got, err := e.client.SearchPrincipals(context.Background(), "ali", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].UserPrincipalName != "alice@contoso.com" || got[0].Kind != "User" {
		t.Errorf("search ali = %+v", got)
	}
	got, _ = e.client.SearchPrincipals(context.Background(), "staff", 10)
	if len(got) != 1 || got[0].Kind != "Group" || got[0].Label() != "Staff (group)" {
		t.Errorf("search staff = %+v", got)
	}
}

func TestSearchAppsAndAccount(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	ctx := context.Background()
	for _, n := range []string{"Roster", "Roster EU", "Payroll"} {
		if _, err := e.client.CreateApp(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	apps, err := e.client.SearchApps(ctx, "rost")
	if err != nil || len(apps) != 2 {
		t.Errorf("SearchApps(rost) = %+v, %v", apps, err)
	}
	// An opaque token says nothing about who signed in.
	if a, err := e.client.Account(ctx); err != nil || a != (graph.Account{}) {
		t.Errorf("Account with an opaque token = %+v, %v", a, err)
	}
	// A JWT's claims name the account (the signature is not checked: display only).
	jwt := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"upn":"admin@contoso.com","tid":"t-1"}`)) + ".sig"
	c := newClient(t, e.fake, graph.Config{Auth: graph.AuthToken, Token: jwt})
	if a, err := c.Account(ctx); err != nil || a.Name != "admin@contoso.com" || a.TenantID != "t-1" {
		t.Errorf("Account = %+v, %v", a, err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := graph.Config{Auth: "magic", Cloud: "mars", BaseURL: "http://graph.example.com/v1.0"}.Validate()
	for _, want := range []string{"magic", "mars", "https"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	if err := (graph.Config{Auth: graph.AuthClientSecret}).Validate(); err == nil || !strings.Contains(err.Error(), "client secret") {
		t.Errorf("client-secret without values: %v", err)
	}
	if err := (graph.Config{Auth: graph.AuthDeviceCode, Cloud: graph.CloudUSGov}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestOnPremises(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	o := e.connectOptions()
	o.OnPremises = true
	o.AppName = "Roster on-prem"
	res, err := e.client.Connect(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Manual) != 2 || !strings.Contains(res.Manual[1], "On-Premises Connectivity") {
		t.Errorf("manual steps = %q", res.Manual)
	}
	var usedTemplate bool
	for _, r := range e.fake.Requests() {
		if strings.Contains(r.Path, graphtest.OnPremSCIMTemplateID+"/instantiate") {
			usedTemplate = true
		}
	}
	if !usedTemplate {
		t.Error("the on-premises SCIM gallery template was not instantiated")
	}
}

// TestDeviceCodeSignIn signs in with the device code flow against a fake
// authority: the prompt reaches the caller (the wizard shows it), polling
// waits while the person signs in, and the token then works against Graph.
func TestDeviceCodeSignIn(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	login := graphtest.NewLogin(t, graphtest.LoginOptions{AccessToken: graphToken, PendingPolls: 1})
	tr := trustingTransport(e.fake.Certificate(), login.Server().Certificate())
	var prompts []graph.DeviceCode
	c, err := graph.New(graph.Config{
		Auth: graph.AuthDeviceCode, TenantID: "contoso.onmicrosoft.com", LoginURL: login.URL, BaseURL: e.fake.URL,
		Transport: tr, DeviceCodePrompt: func(_ context.Context, dc graph.DeviceCode) error {
			prompts = append(prompts, dc)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 1 || prompts[0].UserCode != login.UserCode || prompts[0].VerificationURL != "https://microsoft.com/devicelogin" {
		t.Fatalf("prompts = %+v", prompts)
	}
	if got := login.Grants(); len(got) != 2 {
		t.Errorf("token polls = %v, want one pending and one granted", got)
	}
	if s := login.Scopes(); len(s) == 0 || !strings.Contains(s[0], "https://graph.microsoft.com/.default") {
		t.Errorf("scopes = %q", s)
	}
	// The token is cached: Graph calls need no second sign-in.
	if _, err := c.FindApps(ctx, "Roster"); err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 1 {
		t.Errorf("prompted %d times", len(prompts))
	}
	// US Government: the scope names that cloud's Graph.
	login2 := graphtest.NewLogin(t, graphtest.LoginOptions{AccessToken: graphToken})
	tr.TLSClientConfig.RootCAs.AddCert(login2.Server().Certificate())
	gov, err := graph.New(graph.Config{Auth: graph.AuthDeviceCode, Cloud: graph.CloudUSGov, LoginURL: login2.URL, BaseURL: e.fake.URL,
		Transport: tr, DeviceCodePrompt: func(context.Context, graph.DeviceCode) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := gov.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	if s := login2.Scopes(); len(s) == 0 || !strings.Contains(s[0], "https://graph.microsoft.us/.default") {
		t.Errorf("US Gov scopes = %q", s)
	}
}

func TestClientSecretSignIn(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	login := graphtest.NewLogin(t, graphtest.LoginOptions{AccessToken: graphToken})
	tr := trustingTransport(e.fake.Certificate(), login.Server().Certificate())
	c, err := graph.New(graph.Config{Auth: graph.AuthClientSecret, TenantID: "7e1c0000-0000-4000-8000-000000000001",
		ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: "s3cret", LoginURL: login.URL, BaseURL: e.fake.URL, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindApps(context.Background(), "Roster"); err != nil {
		t.Fatal(err)
	}
	if g := login.Grants(); len(g) != 1 || g[0] != "client_credentials" {
		t.Errorf("grants = %v", g)
	}
}
