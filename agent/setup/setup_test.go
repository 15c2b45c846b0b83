package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/graph/graphapi"
	"github.com/rosterhq/roster/store"
)

// fakeGraph is an in-memory graphapi.Client: apps, one job each, the
// secrets and mapping options Connect saved, and every call made.
type fakeGraph struct {
	mu      sync.Mutex
	apps    []graphapi.App
	conn    map[string]graphapi.ConnectOptions // last Connect by service principal id
	secrets map[string]string                  // SecretToken by service principal id
	paused  map[string]bool
	deleted []string
	calls   []string
	failOn  string // a call that fails
	next    int
}

func newFakeGraph() *fakeGraph {
	return &fakeGraph{conn: map[string]graphapi.ConnectOptions{}, secrets: map[string]string{}, paused: map[string]bool{}}
}

func (f *fakeGraph) call(name string) error {
	f.calls = append(f.calls, name)
	if f.failOn == name {
		return &graphapi.Error{Op: name, Status: 500, Err: errors.New("boom")}
	}
	return nil
}

func (f *fakeGraph) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (f *fakeGraph) addApp(name string) graphapi.App {
	f.next++
	a := graphapi.App{ServicePrincipalID: fmt.Sprintf("00000000-0000-0000-0000-%012d", f.next), AppID: fmt.Sprintf("app-%d", f.next), DisplayName: name}
	f.apps = append(f.apps, a)
	return a
}

func (f *fakeGraph) SignIn(context.Context) error { return nil }
func (f *fakeGraph) Account(context.Context) (graphapi.Account, error) {
	return graphapi.Account{Name: "admin@contoso.com"}, nil
}

func (f *fakeGraph) FindApps(_ context.Context, name string) ([]graphapi.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("FindApps"); err != nil {
		return nil, err
	}
	var out []graphapi.App
	for _, a := range f.apps {
		if a.DisplayName == name {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeGraph) SearchApps(_ context.Context, prefix string) ([]graphapi.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []graphapi.App
	for _, a := range f.apps {
		if strings.HasPrefix(a.DisplayName, prefix) {
			out = append(out, a)
		}
	}
	return out, f.call("SearchApps")
}

func (f *fakeGraph) App(_ context.Context, ref string) (graphapi.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.apps {
		if a.ServicePrincipalID == ref || a.AppID == ref {
			return a, f.call("App")
		}
	}
	return graphapi.App{}, &graphapi.Error{Op: "find app " + ref, Status: 404, Err: graphapi.ErrNotFound}
}

func (f *fakeGraph) CreateApp(_ context.Context, name string, _ func(string)) (graphapi.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateApp"); err != nil {
		return graphapi.App{}, err
	}
	return f.addApp(name), nil
}

func (f *fakeGraph) DeleteApp(_ context.Context, app graphapi.App) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, app.ServicePrincipalID)
	return f.call("DeleteApp")
}

func (f *fakeGraph) SearchPrincipals(context.Context, string, int) ([]graphapi.Principal, error) {
	return nil, nil
}

func (f *fakeGraph) User(_ context.Context, ref string) (graphapi.Principal, error) {
	return graphapi.Principal{ID: "u-" + ref, Kind: "User", DisplayName: ref, UserPrincipalName: ref}, nil
}

func (f *fakeGraph) Group(_ context.Context, ref string) (graphapi.Principal, error) {
	return graphapi.Principal{ID: "g-" + ref, Kind: "Group", DisplayName: ref}, nil
}

// Connect behaves as graph.Client.Connect does: it adopts o.App or the one
// app named o.AppName, else creates one; a new app needs a token.
func (f *fakeGraph) Connect(_ context.Context, o graphapi.ConnectOptions, _ func(string)) (graphapi.ConnectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var res graphapi.ConnectResult
	if err := f.call("Connect"); err != nil {
		return res, err
	}
	for _, a := range f.apps {
		if a.ServicePrincipalID == o.App || (o.App == "" && a.DisplayName == o.AppName) {
			res.App = a
		}
	}
	if res.App.ServicePrincipalID == "" {
		if o.Credentials.Empty() && o.Credentials.Kind != graphapi.CredentialFederation {
			return res, errors.New("a new app needs credentials")
		}
		res.App, res.AppCreated, res.JobCreated = f.addApp(o.AppName), true, true
	}
	res.Job = graphapi.Job{ID: "scim." + res.App.ServicePrincipalID}
	if !o.Credentials.Empty() {
		f.secrets[res.App.ServicePrincipalID] = o.Credentials.Token + o.Credentials.ClientSecret
		res.Saved = true
	}
	res.Tested = !o.SkipTest && o.Credentials.Kind != graphapi.CredentialFederation
	if o.Credentials.Kind == graphapi.CredentialFederation {
		res.Manual = []string{"portal step"}
	}
	f.conn[res.App.ServicePrincipalID] = o
	return res, nil
}

func (f *fakeGraph) TestConnection(_ context.Context, app graphapi.App, _, _ string, cred graphapi.Credentials) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cred.Empty() && f.secrets[app.ServicePrincipalID] == "" {
		return errors.New("no saved credentials")
	}
	return f.call("TestConnection")
}

func (f *fakeGraph) Status(_ context.Context, app graphapi.App, jobID string) (graphapi.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	code := "Active"
	if f.paused[app.ServicePrincipalID] {
		code = "Paused"
	}
	return graphapi.Status{JobID: jobID, Code: code}, f.call("Status")
}

func (f *fakeGraph) Start(_ context.Context, app graphapi.App, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused[app.ServicePrincipalID] = false
	return f.call("Start")
}

func (f *fakeGraph) Pause(_ context.Context, app graphapi.App, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused[app.ServicePrincipalID] = true
	return f.call("Pause")
}

func (f *fakeGraph) Restart(context.Context, graphapi.App, string, graphapi.RestartScope) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.call("Restart")
}

func (f *fakeGraph) ProvisionOnDemand(_ context.Context, _ graphapi.App, _ string, p graphapi.Principal) (graphapi.OnDemandResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return graphapi.OnDemandResult{Result: "Success", Action: "Create", TargetID: "t-" + p.ID}, f.call("ProvisionOnDemand")
}

func (f *fakeGraph) Logs(context.Context, graphapi.LogQuery) ([]graphapi.LogEntry, error) {
	return nil, nil
}

// env is a directory in a temporary SQLite file with the default tenant,
// and an agent stand-in answering SCIM at a loopback public URL.
type env struct {
	dir   *directory.Service
	svc   *Service
	g     *fakeGraph
	probe int
	mu    sync.Mutex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{dir: directory.New(db, nil, nil), g: newFakeGraph()}
	if _, err := e.dir.AddTenant(ctx, directory.DefaultTenant, "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.probe++
		e.mu.Unlock()
		if r.URL.Path != "/scim/default/v2/ServiceProviderConfig" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401"}`) //nolint:errcheck
	}))
	t.Cleanup(agent.Close)
	e.svc = New(e.dir, Options{})
	if err := e.svc.SetPublicURL(ctx, agent.URL, lab); err != nil {
		t.Fatal(err)
	}
	return e
}

// lab is the documented escape for tests on 127.0.0.1.
var lab = Reach{AllowPrivateURL: true}

// connect connects with req; these tests are about the Secret Token unless
// req says otherwise (oauth_test.go has the other kinds).
func (e *env) connect(t *testing.T, req ConnectRequest) ConnectResult {
	t.Helper()
	if req.Credential == "" {
		req.Credential = graphapi.CredentialToken
	}
	if req.Settings.DeleteThreshold == 0 && !req.Settings.ProvisionGroups {
		req.Settings = DefaultSettings()
	}
	req.Reach.AllowPrivateURL = true
	res, err := e.svc.Connect(context.Background(), e.g, req)
	if err != nil {
		t.Fatalf("Connect(%+v): %v", req, err)
	}
	return res
}

func (e *env) activeTokens(t *testing.T) []*store.Token {
	t.Helper()
	toks, err := e.dir.Tokens(context.Background(), directory.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.Token
	for _, tk := range toks {
		if tk.Revoked == nil {
			out = append(out, tk)
		}
	}
	return out
}

func TestConnectTwiceKeepsOneTokenAndOneApp(t *testing.T) {
	e := newEnv(t)
	first := e.connect(t, ConnectRequest{})
	if !first.AppCreated || !first.NewToken || first.TokenID == "" {
		t.Fatalf("first connect = %+v", first)
	}
	if got := e.g.conn[first.App.ServicePrincipalID]; got.Credentials.Token == "" || got.TenantURL != first.TenantURL {
		t.Errorf("first connect sent %+v, want the Tenant URL and a token", got)
	}
	// A re-run changes settings in place: same app, no new token.
	set := DefaultSettings()
	set.SyncAll, set.Omit = true, []string{"manager"}
	second := e.connect(t, ConnectRequest{Settings: set})
	if second.AppCreated || second.NewToken || second.TokenID != first.TokenID || second.RevokedTokenID != "" {
		t.Errorf("second connect = %+v", second)
	}
	got := e.g.conn[first.App.ServicePrincipalID]
	if got.Credentials.Token != "" || !got.SyncAll || len(got.Mappings.Omit) != 1 || got.App != first.App.ServicePrincipalID {
		t.Errorf("second connect sent %+v, want the new settings without a token, to the same app", got)
	}
	if len(e.g.apps) != 1 {
		t.Errorf("%d apps in Entra, want 1", len(e.g.apps))
	}
	if toks := e.activeTokens(t); len(toks) != 1 || toks[0].ID != first.TokenID || toks[0].Name != TokenName {
		t.Errorf("active tokens = %+v, want only %s", toks, first.TokenID)
	}
	c, err := e.svc.Connection(context.Background(), "")
	if err != nil || c.Settings == nil || !c.Settings.SyncAll || c.TokenID != first.TokenID {
		t.Errorf("saved connection = %+v, %v", c, err)
	}
}

func TestConnectNewTokenRevokesTheReplacedOneByID(t *testing.T) {
	e := newEnv(t)
	first := e.connect(t, ConnectRequest{})
	// A token with the same name that Entra does not hold is left alone:
	// revocation goes by the saved id, not by name.
	other, err := e.dir.IssueToken(context.Background(), directory.DefaultTenant, TokenName, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	second := e.connect(t, ConnectRequest{NewToken: true})
	if !second.NewToken || second.RevokedTokenID != first.TokenID {
		t.Fatalf("second connect = %+v, want %s revoked", second, first.TokenID)
	}
	active := map[string]bool{}
	for _, tk := range e.activeTokens(t) {
		active[tk.ID] = true
	}
	if active[first.TokenID] || !active[second.TokenID] || !active[other.Record.ID] {
		t.Errorf("active = %v; want %s and %s, not %s", active, second.TokenID, other.Record.ID, first.TokenID)
	}
	if e.g.secrets[second.App.ServicePrincipalID] == "" {
		t.Error("the new token did not reach Entra")
	}
}

func TestConnectUsesTheWizardsToken(t *testing.T) {
	e := newEnv(t)
	is, err := e.svc.IssueToken(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	res := e.connect(t, ConnectRequest{Token: is})
	if res.TokenID != is.TokenID || e.g.secrets[res.App.ServicePrincipalID] != is.Token.Reveal() {
		t.Errorf("connect = %+v, want the wizard's token %s", res, is.TokenID)
	}
	if n := len(e.activeTokens(t)); n != 1 {
		t.Errorf("%d active tokens, want 1", n)
	}
}

func TestConnectNeverAdoptsAForeignAppSilently(t *testing.T) {
	e := newEnv(t)
	foreign := e.g.addApp("Roster")
	_, err := e.svc.Connect(context.Background(), e.g, ConnectRequest{Settings: DefaultSettings(), Reach: lab})
	var ae *AppExistsError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "--app "+foreign.ServicePrincipalID) {
		t.Fatalf("connect with a foreign app of the same name: %v", err)
	}
	if e.g.count("Connect") != 0 || len(e.g.apps) != 1 || len(e.activeTokens(t)) != 0 {
		t.Errorf("a refused connect changed something: calls %v, tokens %d", e.g.calls, len(e.activeTokens(t)))
	}
	// Named explicitly, it is adopted; afterwards it is this data dir's app.
	res := e.connect(t, ConnectRequest{App: foreign.ServicePrincipalID})
	if res.App.ServicePrincipalID != foreign.ServicePrincipalID || res.AppCreated {
		t.Errorf("explicit adoption = %+v", res)
	}
	again := e.connect(t, ConnectRequest{})
	if again.App.ServicePrincipalID != foreign.ServicePrincipalID || again.NewToken {
		t.Errorf("re-run after adoption = %+v", again)
	}
	apps, err := e.svc.FindApps(context.Background(), e.g, "", "Ros")
	if err != nil || len(apps) != 1 || !apps[0].Connected {
		t.Errorf("FindApps = %+v, %v", apps, err)
	}
}

func TestConnectPreflight(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Loopback without the lab escape: refused before Graph is asked anything.
	_, err := e.svc.Connect(ctx, e.g, ConnectRequest{Settings: DefaultSettings()})
	if !errors.Is(err, ErrPrivateURL) || !strings.Contains(err.Error(), "--on-premises") {
		t.Errorf("loopback Tenant URL: %v", err)
	}
	// Nothing answers at the Tenant URL.
	_, err = e.svc.Connect(ctx, e.g, ConnectRequest{Settings: DefaultSettings(), Reach: lab, TenantURL: "http://127.0.0.1:1/scim/default/v2"})
	if err == nil || !strings.Contains(err.Error(), "Start the agent first") {
		t.Errorf("no agent: %v", err)
	}
	// Something answers, but not as a Roster tenant.
	_, err = e.svc.Connect(ctx, e.g, ConnectRequest{Settings: DefaultSettings(), Reach: lab, TenantURL: strings.Replace(must(e.svc.TenantURL(ctx, "")), "/default/", "/nope/", 1)})
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("not a Roster tenant: %v", err)
	}
	if len(e.g.calls) != 0 || len(e.activeTokens(t)) != 0 {
		t.Errorf("failed pre-flights reached Graph (%v) or issued tokens", e.g.calls)
	}
	// On premises, a local URL is right.
	if _, err := e.svc.Connect(ctx, e.g, ConnectRequest{Settings: DefaultSettings(), Reach: Reach{OnPremises: true}}); err != nil {
		t.Errorf("on premises: %v", err)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func TestConnectFailureRevokesTheUnusedToken(t *testing.T) {
	e := newEnv(t)
	e.g.failOn = "Connect"
	_, err := e.svc.Connect(context.Background(), e.g, ConnectRequest{Credential: graphapi.CredentialToken, Settings: DefaultSettings(), Reach: lab})
	if err == nil {
		t.Fatal("connect succeeded although Graph failed")
	}
	if n := len(e.activeTokens(t)); n != 0 {
		t.Errorf("%d tokens left active after a failed connect", n)
	}
	if _, err := e.svc.Connection(context.Background(), ""); !errors.Is(err, directory.ErrNotConnected) {
		t.Errorf("connection saved after a failure: %v", err)
	}
}

func TestConnectRejectsBadSettings(t *testing.T) {
	e := newEnv(t)
	set := DefaultSettings()
	set.Omit, set.DeleteThreshold, set.NotificationEmail = []string{"shoeSize"}, -1, "nobody"
	_, err := e.svc.Connect(context.Background(), e.g, ConnectRequest{Settings: set, Reach: lab})
	for _, want := range []string{"shoeSize", "threshold", "nobody"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if e.probe != 0 || len(e.g.calls) != 0 {
		t.Error("bad settings were not refused first")
	}
}

func TestProvisionStatusAndDisconnect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.ProvisionOnDemand(ctx, e.g, "", "alice@contoso.com"); !errors.Is(err, directory.ErrNotConnected) {
		t.Errorf("provision before connect: %v", err)
	}
	res := e.connect(t, ConnectRequest{})
	if err := e.svc.TestConnection(ctx, e.g, ""); err != nil {
		t.Errorf("test connection with the saved credentials: %v", err)
	}
	p, od, err := e.svc.ProvisionOnDemand(ctx, e.g, "", "group:Sales")
	if err != nil || p.Kind != "Group" || od.Result != "Success" {
		t.Errorf("provision group:Sales = %+v %+v %v", p, od, err)
	}
	if st, err := e.svc.Pause(ctx, e.g, ""); err != nil || st.Code != "Paused" {
		t.Errorf("pause = %+v, %v", st, err)
	}
	if started, err := e.svc.StartProvisioning(ctx, e.g, ""); err != nil || !started {
		t.Errorf("start a paused job = %v, %v", started, err)
	}
	if started, err := e.svc.StartProvisioning(ctx, e.g, ""); err != nil || started {
		t.Errorf("start a running job again = %v, %v (want no second start)", started, err)
	}

	d, err := e.svc.Disconnect(ctx, e.g, "", false)
	if err != nil || !d.Paused || d.AppDeleted || d.RevokedTokenID != res.TokenID {
		t.Fatalf("disconnect = %+v, %v", d, err)
	}
	if n := len(e.activeTokens(t)); n != 0 {
		t.Errorf("%d active tokens after disconnect", n)
	}
	if _, err := e.svc.Connection(ctx, ""); !errors.Is(err, directory.ErrNotConnected) {
		t.Errorf("connection after disconnect: %v", err)
	}
	if len(e.g.deleted) != 0 {
		t.Error("disconnect without deleteApp deleted the app")
	}
	// Connected again (to the same, now unconnected, app: named explicitly),
	// then disconnected deleting the app.
	e.connect(t, ConnectRequest{App: res.App.ServicePrincipalID})
	d, err = e.svc.Disconnect(ctx, e.g, "", true)
	if err != nil || !d.AppDeleted || len(e.g.deleted) != 1 {
		t.Errorf("disconnect --delete-app = %+v, %v", d, err)
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url   string
		reach Reach
		ok    bool
	}{
		{"https://scim.contoso.com", Reach{}, true},
		{"https://scim.contoso.com/scim/default/v2", Reach{}, true},
		{"http://scim.contoso.com", Reach{}, false},
		{"https://127.0.0.1:8443", Reach{}, false},
		{"https://localhost", Reach{}, false},
		{"https://10.1.2.3", Reach{}, false},
		{"https://192.168.1.10", Reach{}, false},
		{"https://[::1]:8443", Reach{}, false},
		{"https://[fd00::1]", Reach{}, false},
		{"https://169.254.1.1", Reach{}, false},
		{"https://100.64.0.1", Reach{}, false},
		{"https://roster.internal", Reach{}, false},
		{"https://20.30.40.50", Reach{}, true},
		{"http://127.0.0.1:8080", Reach{OnPremises: true}, true},
		{"http://127.0.0.1:8080", Reach{AllowPrivateURL: true}, true},
		{"ftp://scim.contoso.com", Reach{AllowPrivateURL: true}, false},
		{"scim.contoso.com", Reach{}, false},
	} {
		err := CheckURL(tc.url, tc.reach)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, %+v) = %v, want ok=%v", tc.url, tc.reach, err, tc.ok)
		}
	}
}
