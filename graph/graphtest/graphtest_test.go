package graphtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const token = "graph-token"

var (
	alice = User{ID: "11111111-1111-1111-1111-111111111111", UserPrincipalName: "alice@contoso.com",
		DisplayName: "Alice Smith", Mail: "alice@contoso.com", MailNickname: "alice", GivenName: "Alice",
		Surname: "Smith", JobTitle: "Engineer", Department: "R&D", EmployeeID: "E1"}
	bob = User{ID: "22222222-2222-2222-2222-222222222222", UserPrincipalName: "bob@contoso.com",
		DisplayName: "Bob Jones", GivenName: "Bob", Surname: "Jones"}
	staff = Group{ID: "33333333-3333-3333-3333-333333333333", DisplayName: "Staff", Members: []string{bob.ID}}
)

func newServer(t *testing.T, readyAfter int) *Server {
	return New(t, Options{Token: token, Users: []User{alice, bob}, Groups: []Group{staff}, SPReadyAfter: readyAfter})
}

// call sends a request with the bearer token; body may be nil, []byte or a value to marshal.
func call(t *testing.T, s *Server, method, path string, body any, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

type graphErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func wantStatus(t *testing.T, got, want int, body []byte) {
	t.Helper()
	if got != want {
		t.Fatalf("status = %d, want %d; body %s", got, want, body)
	}
}

type instantiated struct {
	Application      struct{ ID, AppID, DisplayName string }
	ServicePrincipal struct{ ID, AppID, DisplayName string }
}

func instantiate(t *testing.T, s *Server, name string) instantiated {
	t.Helper()
	code, b := call(t, s, "POST", "/applicationTemplates/"+CustomAppTemplateID+"/instantiate", map[string]string{"displayName": name})
	wantStatus(t, code, http.StatusCreated, b)
	return decode[instantiated](t, b)
}

// setup instantiates an app (ready at once) and creates a scim job.
func setup(t *testing.T, s *Server) (spID, jobID string) {
	t.Helper()
	in := instantiate(t, s, "Roster")
	spID = in.ServicePrincipal.ID
	code, b := call(t, s, "POST", "/servicePrincipals/"+spID+"/synchronization/jobs", map[string]string{"templateId": "scim"})
	wantStatus(t, code, http.StatusCreated, b)
	return spID, decode[struct{ ID string }](t, b).ID
}

func putSecrets(t *testing.T, s *Server, spID, base, tok string) {
	t.Helper()
	code, b := call(t, s, "PUT", "/servicePrincipals/"+spID+"/synchronization/secrets", map[string]any{"value": []map[string]string{
		{"key": "BaseAddress", "value": base},
		{"key": "SecretToken", "value": tok},
		{"key": "SyncNotificationSettings", "value": `{"Enabled":true,"Recipients":"ops@contoso.com"}`},
		{"key": "SyncAll", "value": "false"},
	}})
	wantStatus(t, code, http.StatusNoContent, b)
}

func TestInstantiateAndReplicationDelay(t *testing.T) {
	s := newServer(t, 2)
	in := instantiate(t, s, "Roster Agent")
	if in.Application.DisplayName != "Roster Agent" || in.ServicePrincipal.DisplayName != "Roster Agent" {
		t.Errorf("displayNames = %q, %q", in.Application.DisplayName, in.ServicePrincipal.DisplayName)
	}
	if in.Application.AppID == "" || in.ServicePrincipal.AppID != in.Application.AppID || in.ServicePrincipal.ID == "" {
		t.Errorf("ids = %+v", in)
	}
	sp := "/servicePrincipals/" + in.ServicePrincipal.ID
	// Not replicated: synchronization answers 404 without counting as a GET of the SP.
	code, b := call(t, s, "GET", sp+"/synchronization/templates", nil)
	wantStatus(t, code, http.StatusNotFound, b)
	for i := range 2 {
		code, b := call(t, s, "GET", sp, nil)
		wantStatus(t, code, http.StatusNotFound, b)
		if e := decode[graphErr](t, b); e.Error.Code != "Request_ResourceNotFound" {
			t.Errorf("GET %d: code = %q", i, e.Error.Code)
		}
	}
	code, b = call(t, s, "GET", sp, nil)
	wantStatus(t, code, http.StatusOK, b)
	got := decode[struct {
		ID       string
		AppRoles []struct{ ID, DisplayName string }
	}](t, b)
	if got.ID != in.ServicePrincipal.ID || len(got.AppRoles) != 2 || got.AppRoles[0].ID != UserRoleID {
		t.Errorf("service principal = %s", b)
	}
	code, b = call(t, s, "GET", sp+"/synchronization/templates", nil)
	wantStatus(t, code, http.StatusOK, b)
	tpl := decode[struct {
		Value []struct{ ID, FactoryTag string }
	}](t, b)
	if len(tpl.Value) != 1 || tpl.Value[0].ID != "scim" || tpl.Value[0].FactoryTag != "scim" {
		t.Errorf("templates = %+v", tpl)
	}
	code, b = call(t, s, "GET", "/applicationTemplates/"+CustomAppTemplateID, nil)
	wantStatus(t, code, http.StatusOK, b)
}

func TestAdoptByDisplayName(t *testing.T) {
	s := newServer(t, 0)
	in := instantiate(t, s, "Roster")
	instantiate(t, s, "Other")
	instantiate(t, s, "O'Brien app")
	tests := []struct {
		path, filter string
		wantIDs      []string
	}{
		{"/servicePrincipals", "displayName eq 'Roster'", []string{in.ServicePrincipal.ID}},
		{"/applications", "displayName eq 'Roster'", []string{in.Application.ID}},
		{"/servicePrincipals", "appId eq '" + in.Application.AppID + "'", []string{in.ServicePrincipal.ID}},
		{"/applications", "displayName eq 'Missing'", nil},
		{"/applications", "displayName eq 'O''Brien app'", []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.filter, func(t *testing.T) {
			code, b := call(t, s, "GET", tt.path+"?$filter="+url.QueryEscape(tt.filter), nil)
			wantStatus(t, code, http.StatusOK, b)
			got := decode[struct{ Value []struct{ ID string } }](t, b)
			if len(got.Value) != len(tt.wantIDs) {
				t.Fatalf("got %d results, want %d: %s", len(got.Value), len(tt.wantIDs), b)
			}
			for i, id := range tt.wantIDs {
				if id != "*" && got.Value[i].ID != id {
					t.Errorf("id = %q, want %q", got.Value[i].ID, id)
				}
			}
		})
	}
	code, b := call(t, s, "GET", "/applications?$filter="+url.QueryEscape("contains(displayName,'x')"), nil)
	wantStatus(t, code, http.StatusBadRequest, b)
}

func TestAssignments(t *testing.T) {
	s := newServer(t, 0)
	in := instantiate(t, s, "Roster")
	sp := in.ServicePrincipal.ID
	path := "/servicePrincipals/" + sp + "/appRoleAssignedTo"
	tests := []struct {
		name, principal, role string
		want                  int
		wantType              string
	}{
		{"user", alice.ID, UserRoleID, http.StatusCreated, "User"},
		{"group", staff.ID, UserRoleID, http.StatusCreated, "Group"},
		{"duplicate", alice.ID, UserRoleID, http.StatusBadRequest, ""},
		{"unknown role", bob.ID, "99999999-0000-0000-0000-000000000000", http.StatusBadRequest, ""},
		{"unknown principal", "44444444-4444-4444-4444-444444444444", UserRoleID, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := call(t, s, "POST", path, map[string]string{"principalId": tt.principal, "resourceId": sp, "appRoleId": tt.role})
			wantStatus(t, code, tt.want, b)
			if tt.wantType == "" {
				return
			}
			got := decode[struct{ ID, PrincipalID, PrincipalType, ResourceID, AppRoleID string }](t, b)
			if got.ID == "" || got.PrincipalID != tt.principal || got.PrincipalType != tt.wantType || got.ResourceID != sp || got.AppRoleID != tt.role {
				t.Errorf("assignment = %s", b)
			}
		})
	}
	code, b := call(t, s, "GET", path, nil)
	wantStatus(t, code, http.StatusOK, b)
	if got := decode[struct{ Value []any }](t, b); len(got.Value) != 2 {
		t.Errorf("listed %d assignments, want 2", len(got.Value))
	}
	as := s.Assignments(sp)
	if len(as) != 2 || as[1].PrincipalType != "Group" {
		t.Fatalf("Assignments = %+v", as)
	}
	code, b = call(t, s, "DELETE", path+"/"+as[0].ID, nil)
	wantStatus(t, code, http.StatusNoContent, b)
	if n := len(s.Assignments(sp)); n != 1 {
		t.Errorf("after delete %d assignments", n)
	}
}

type jobJSON struct {
	ID       string
	Schedule struct{ State, Interval string }
	Status   struct {
		Code          string
		LastExecution *struct{ State string }
		Quarantine    *struct{ Reason string }
	}
}

func TestJobLifecycle(t *testing.T) {
	s := newServer(t, 0)
	in := instantiate(t, s, "Roster")
	sp := "/servicePrincipals/" + in.ServicePrincipal.ID
	code, b := call(t, s, "POST", sp+"/synchronization/jobs", map[string]string{"templateId": "customappsso"})
	wantStatus(t, code, http.StatusBadRequest, b)
	code, b = call(t, s, "POST", sp+"/synchronization/jobs", map[string]string{"templateId": "scim"})
	wantStatus(t, code, http.StatusCreated, b)
	j := decode[jobJSON](t, b)
	if parts := strings.Split(j.ID, "."); len(parts) != 3 || parts[0] != "scim" {
		t.Errorf("job id = %q", j.ID)
	}
	if j.Status.Code != StatusNotConfigured || j.Schedule.State != "Disabled" {
		t.Errorf("new job = %s", b)
	}
	jp := sp + "/synchronization/jobs/" + j.ID
	getJob := func() jobJSON {
		t.Helper()
		code, b := call(t, s, "GET", jp, nil)
		wantStatus(t, code, http.StatusOK, b)
		return decode[jobJSON](t, b)
	}

	code, b = call(t, s, "POST", jp+"/start", nil)
	wantStatus(t, code, http.StatusBadRequest, b) // no credentials yet

	putSecrets(t, s, in.ServicePrincipal.ID, "https://agent.contoso.com/scim", "scim-secret")
	sec := s.Secrets(in.ServicePrincipal.ID)
	if sec["BaseAddress"] != "https://agent.contoso.com/scim" || sec["SecretToken"] != "scim-secret" || sec["SyncAll"] != "false" {
		t.Errorf("Secrets = %v", sec)
	}
	code, b = call(t, s, "GET", sp+"/synchronization/secrets", nil)
	wantStatus(t, code, http.StatusOK, b)
	if !strings.Contains(string(b), `{"key":"SecretToken","value":"*"}`) {
		t.Errorf("GET secrets does not mask the token: %s", b)
	}
	if got := getJob(); got.Status.Code != StatusPaused {
		t.Errorf("after secrets code = %q", got.Status.Code)
	}

	steps := []struct {
		action, wantCode, wantSchedule string
	}{
		{"start", StatusNotRun, "Active"},
		{"cycle", StatusActive, "Active"},
		{"pause", StatusPaused, "Paused"},
		{"start", StatusActive, "Active"},
		{"quarantine", StatusQuarantine, "Active"},
		{"restart", StatusNotRun, "Active"},
	}
	for _, st := range steps {
		switch st.action {
		case "cycle":
			if !s.RunCycle(j.ID) {
				t.Fatal("RunCycle = false")
			}
		case "quarantine":
			s.Quarantine(j.ID, "EncounteredQuarantineException")
		default:
			var body any
			if st.action == "restart" {
				body = map[string]any{"criteria": map[string]string{"resetScope": "Full"}}
			}
			code, b := call(t, s, "POST", jp+"/"+st.action, body)
			wantStatus(t, code, http.StatusNoContent, b)
		}
		got := getJob()
		if got.Status.Code != st.wantCode || got.Schedule.State != st.wantSchedule {
			t.Errorf("after %s: code %q schedule %q, want %q %q", st.action, got.Status.Code, got.Schedule.State, st.wantCode, st.wantSchedule)
		}
		if (st.action == "quarantine") != (got.Status.Quarantine != nil) {
			t.Errorf("after %s: quarantine = %+v", st.action, got.Status.Quarantine)
		}
		if st.action == "cycle" && (got.Status.LastExecution == nil || got.Status.LastExecution.State != "Succeeded") {
			t.Errorf("after cycle: lastExecution = %+v", got.Status.LastExecution)
		}
	}
	if s.JobStatus(j.ID) != StatusNotRun {
		t.Errorf("JobStatus = %q", s.JobStatus(j.ID))
	}

	code, b = call(t, s, "GET", jp+"/start", nil)
	wantStatus(t, code, http.StatusMethodNotAllowed, b)
	code, b = call(t, s, "GET", sp+"/synchronization/jobs/scim.nope.nope", nil)
	wantStatus(t, code, http.StatusNotFound, b)
	code, b = call(t, s, "GET", sp+"/synchronization/jobs", nil)
	wantStatus(t, code, http.StatusOK, b)
	if got := decode[struct{ Value []jobJSON }](t, b); len(got.Value) != 1 || got.Value[0].ID != j.ID {
		t.Errorf("jobs = %s", b)
	}
	code, b = call(t, s, "GET", "/nothing/here", nil)
	wantStatus(t, code, http.StatusNotFound, b)
}

func TestSchema(t *testing.T) {
	s := newServer(t, 0)
	spID, jobID := setup(t, s)
	path := "/servicePrincipals/" + spID + "/synchronization/jobs/" + jobID + "/schema"
	code, b := call(t, s, "GET", path, nil)
	wantStatus(t, code, http.StatusOK, b)
	type attrMapping struct {
		TargetAttributeName string
		MatchingPriority    int
		Source              struct{ Name, Type string }
	}
	sc := decode[struct {
		SynchronizationRules []struct {
			ID             string
			ObjectMappings []struct {
				Enabled                            bool
				SourceObjectName, TargetObjectName string
				AttributeMappings                  []attrMapping
			}
		}
	}](t, b)
	if len(sc.SynchronizationRules) != 1 || sc.SynchronizationRules[0].ID != DefaultRuleID {
		t.Fatalf("rules = %+v", sc.SynchronizationRules)
	}
	om := sc.SynchronizationRules[0].ObjectMappings
	if len(om) != 2 || om[0].SourceObjectName != "User" || om[1].SourceObjectName != "Group" || !om[1].Enabled {
		t.Fatalf("object mappings = %+v", om)
	}
	want := map[string]string{
		"userName": "userPrincipalName", "active": "Switch", "name.givenName": "givenName",
		`emails[type eq "work"].value`: "mail", "externalId": "mailNickname",
		enterpriseUser + ":department": "department", enterpriseUser + ":employeeNumber": "employeeId",
	}
	for _, am := range om[0].AttributeMappings {
		if src, ok := want[am.TargetAttributeName]; ok {
			if am.Source.Name != src {
				t.Errorf("%s <- %s, want %s", am.TargetAttributeName, am.Source.Name, src)
			}
			if (am.TargetAttributeName == "userName") != (am.MatchingPriority == 1) {
				t.Errorf("%s matchingPriority = %d", am.TargetAttributeName, am.MatchingPriority)
			}
			delete(want, am.TargetAttributeName)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing user mappings: %v", want)
	}

	code, b = call(t, s, "PATCH", path, []byte(`{}`))
	wantStatus(t, code, http.StatusNotFound, b) // as the real service
	code, b = call(t, s, "PUT", path, []byte(`not json`))
	wantStatus(t, code, http.StatusBadRequest, b)

	custom := []byte("{\"id\":\"x\",  \"synchronizationRules\":[{\"id\":\"r\",\"unknownField\":[1,2]}]}\n")
	code, b = call(t, s, "PUT", path, custom)
	wantStatus(t, code, http.StatusNoContent, b)
	code, b = call(t, s, "GET", path, nil)
	wantStatus(t, code, http.StatusOK, b)
	if !bytes.Equal(b, custom) || !bytes.Equal(s.Schema(jobID), custom) {
		t.Errorf("GET after PUT = %q, Schema = %q, want %q", b, s.Schema(jobID), custom)
	}
}

// scimCall is one request a stub SCIM agent received.
type scimCall struct {
	Method, Path, RawQuery, Filter, Auth, ContentType string
	Body                                              map[string]any
}

// scimStub is a tiny SCIM endpoint under /scim that records calls and
// answers with respond.
type scimStub struct {
	mu    sync.Mutex
	calls []scimCall
	srv   *httptest.Server
}

func newSCIMStub(t *testing.T, respond func(c scimCall) (int, string)) *scimStub {
	st := &scimStub{}
	st.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := scimCall{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Filter: r.URL.Query().Get("filter"),
			Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &c.Body); err != nil {
				t.Errorf("agent got a body that is not JSON: %s", b)
			}
		}
		st.mu.Lock()
		st.calls = append(st.calls, c)
		st.mu.Unlock()
		code, body := respond(c)
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(st.srv.Close)
	return st
}

func (st *scimStub) Calls() []scimCall {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]scimCall(nil), st.calls...)
}

const emptyList = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[],"startIndex":1,"itemsPerPage":20}`

func closedAddress(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/scim"
}

func TestValidateCredentials(t *testing.T) {
	okStub := newSCIMStub(t, func(scimCall) (int, string) { return 200, emptyList })
	denyStub := newSCIMStub(t, func(scimCall) (int, string) {
		return 401, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"bad token"}`
	})
	tests := []struct {
		name        string
		base        string
		stub        *scimStub
		want        int
		wantMessage []string
	}{
		{"ok", okStub.srv.URL + "/scim/", okStub, http.StatusNoContent, nil},
		{"unauthorized", denyStub.srv.URL + "/scim", denyStub, http.StatusBadRequest, []string{"401", "bad token"}},
		{"unreachable", closedAddress(t), nil, http.StatusBadRequest, []string{"could not connect"}},
	}
	s := newServer(t, 0)
	spID, jobID := setup(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := call(t, s, "POST", "/servicePrincipals/"+spID+"/synchronization/jobs/"+jobID+"/validateCredentials",
				map[string]any{"useSavedCredentials": false, "credentials": []map[string]string{
					{"key": "BaseAddress", "value": tt.base}, {"key": "SecretToken", "value": "scim-secret"}}})
			wantStatus(t, code, tt.want, b)
			if tt.want != http.StatusNoContent {
				msg := decode[graphErr](t, b).Error.Message
				for _, w := range tt.wantMessage {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q does not contain %q", msg, w)
					}
				}
			}
			if tt.stub == nil {
				return
			}
			calls := tt.stub.Calls()
			if len(calls) != 1 {
				t.Fatalf("agent got %d calls, want 1", len(calls))
			}
			c := calls[0]
			if c.Method != "GET" || c.Path != "/scim/Users" || c.Auth != "Bearer scim-secret" || c.ContentType != "" {
				t.Errorf("agent call = %+v", c)
			}
			if !strings.HasPrefix(c.RawQuery, "filter=userName+eq+%22") || !strings.HasPrefix(c.Filter, `userName eq "`) {
				t.Errorf("query = %q", c.RawQuery)
			}
		})
	}
	t.Run("saved credentials", func(t *testing.T) {
		putSecrets(t, s, spID, okStub.srv.URL+"/scim", "scim-secret")
		code, b := call(t, s, "POST", "/servicePrincipals/"+spID+"/synchronization/jobs/validateCredentials",
			map[string]any{"useSavedCredentials": true, "templateId": "scim"})
		wantStatus(t, code, http.StatusNoContent, b)
	})
}

type podValue struct {
	Action            string
	ProvisioningSteps []struct{ Name, Type, Status, Description string }
	StatusInfo        struct{ Status string }
	TargetIdentity    struct{ ID string }
}

func provision(t *testing.T, s *Server, spID, jobID, userID string) (key map[string]any, v podValue) {
	t.Helper()
	code, b := call(t, s, "POST", "/servicePrincipals/"+spID+"/synchronization/jobs/"+jobID+"/provisionOnDemand",
		map[string]any{"parameters": []map[string]any{{"ruleId": DefaultRuleID,
			"subjects": []map[string]string{{"objectId": userID, "objectTypeName": "User"}}}}})
	wantStatus(t, code, http.StatusOK, b)
	pair := decode[struct{ Key, Value string }](t, b)
	return decode[map[string]any](t, []byte(pair.Key)), decode[podValue](t, []byte(pair.Value))
}

func stepNames(v podValue) string {
	var s []string
	for _, st := range v.ProvisioningSteps {
		s = append(s, st.Type+":"+st.Name+":"+st.Status)
	}
	return strings.Join(s, " ")
}

func TestProvisionOnDemand(t *testing.T) {
	t.Run("create", func(t *testing.T) {
		stub := newSCIMStub(t, func(c scimCall) (int, string) {
			if c.Method == "POST" {
				return 201, `{"id":"scim-1","userName":"alice@contoso.com"}`
			}
			return 200, emptyList
		})
		s := newServer(t, 0)
		spID, jobID := setup(t, s)
		putSecrets(t, s, spID, stub.srv.URL+"/scim", "scim-secret")
		code, b := call(t, s, "POST", "/servicePrincipals/"+spID+"/appRoleAssignedTo",
			map[string]string{"principalId": alice.ID, "resourceId": spID, "appRoleId": UserRoleID})
		wantStatus(t, code, http.StatusCreated, b)

		key, v := provision(t, s, spID, jobID, alice.ID)
		if key["result"] != "Success" || v.Action != "Create" || v.TargetIdentity.ID != "scim-1" {
			t.Errorf("key %v, value %+v", key, v)
		}
		if got, want := stepNames(v), "Import:EntryImport:Success Scoping:EntrySynchronizationScoping:Success Matching:EntryImport:Success Export:EntryExportAdd:Success"; got != want {
			t.Errorf("steps = %s\nwant    %s", got, want)
		}
		calls := stub.Calls()
		if len(calls) != 2 || calls[0].Method != "GET" || calls[1].Method != "POST" {
			t.Fatalf("agent calls = %+v", calls)
		}
		if calls[0].Filter != `userName eq "alice@contoso.com"` || calls[0].RawQuery != "filter=userName+eq+%22alice%40contoso.com%22" {
			t.Errorf("match query = %q", calls[0].RawQuery)
		}
		post := calls[1]
		if post.Path != "/scim/Users" || post.Auth != "Bearer scim-secret" || !strings.HasPrefix(post.ContentType, "application/scim+json") {
			t.Errorf("POST = %+v", post)
		}
		body, _ := json.Marshal(post.Body)
		for _, want := range []string{
			`"userName":"alice@contoso.com"`, `"active":true`, `"externalId":"alice"`, `"displayName":"Alice Smith"`,
			`"name":{"familyName":"Smith","givenName":"Alice"}`, `"emails":[{"primary":true,"type":"work","value":"alice@contoso.com"}]`,
			`"title":"Engineer"`, `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R\u0026D","employeeNumber":"E1"}`,
			`"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("POST body %s lacks %s", body, want)
			}
		}
	})

	t.Run("update via group", func(t *testing.T) {
		existing := `{"totalResults":1,"Resources":[{"id":"scim-2","userName":"bob@contoso.com","active":true,` +
			`"displayName":"Robert Jones","name":{"givenName":"Bob","familyName":"Jones"},"externalId":"22222222-2222-2222-2222-222222222222"}]}`
		stub := newSCIMStub(t, func(c scimCall) (int, string) {
			if c.Method == "PATCH" {
				return 204, ""
			}
			return 200, existing
		})
		s := newServer(t, 0)
		spID, jobID := setup(t, s)
		putSecrets(t, s, spID, stub.srv.URL+"/scim", "scim-secret")
		code, b := call(t, s, "POST", "/servicePrincipals/"+spID+"/appRoleAssignedTo",
			map[string]string{"principalId": staff.ID, "resourceId": spID, "appRoleId": UserRoleID})
		wantStatus(t, code, http.StatusCreated, b)

		key, v := provision(t, s, spID, jobID, bob.ID)
		if key["result"] != "Success" || v.Action != "Update" || !strings.HasSuffix(stepNames(v), "Export:EntryExportUpdate:Success") {
			t.Errorf("key %v, steps %s", key, stepNames(v))
		}
		calls := stub.Calls()
		if len(calls) != 2 || calls[1].Method != "PATCH" || calls[1].Path != "/scim/Users/scim-2" {
			t.Fatalf("agent calls = %+v", calls)
		}
		ops, _ := json.Marshal(calls[1].Body["Operations"])
		if want := `[{"op":"Replace","path":"displayName","value":"Bob Jones"}]`; string(ops) != want {
			t.Errorf("Operations = %s, want %s", ops, want)
		}
	})

	t.Run("not assigned", func(t *testing.T) {
		stub := newSCIMStub(t, func(scimCall) (int, string) { return 200, emptyList })
		s := newServer(t, 0)
		spID, jobID := setup(t, s)
		putSecrets(t, s, spID, stub.srv.URL+"/scim", "scim-secret")
		key, v := provision(t, s, spID, jobID, alice.ID)
		if key["result"] != "Skipped" || v.StatusInfo.Status != "Skipped" || len(stub.Calls()) != 0 {
			t.Errorf("key %v, value %+v, calls %d", key, v, len(stub.Calls()))
		}
	})

	t.Run("agent fails", func(t *testing.T) {
		stub := newSCIMStub(t, func(scimCall) (int, string) { return 500, `{"detail":"boom"}` })
		s := newServer(t, 0)
		spID, jobID := setup(t, s)
		putSecrets(t, s, spID, stub.srv.URL+"/scim", "scim-secret")
		putSecretsAll(t, s, spID)
		key, v := provision(t, s, spID, jobID, alice.ID)
		if key["result"] != "Failure" || !strings.Contains(stepNames(v), "Matching:EntryImport:Failure") {
			t.Errorf("key %v, steps %s", key, stepNames(v))
		}
	})
}

// putSecretsAll sets SyncAll=true so every user is in scope.
func putSecretsAll(t *testing.T, s *Server, spID string) {
	t.Helper()
	code, b := call(t, s, "PUT", "/servicePrincipals/"+spID+"/synchronization/secrets",
		map[string]any{"value": []map[string]string{{"key": "SyncAll", "value": "true"}}})
	wantStatus(t, code, http.StatusNoContent, b)
}

func TestAuthAndRecording(t *testing.T) {
	s := newServer(t, 0)
	for _, auth := range []string{"", "Bearer wrong"} {
		req, _ := http.NewRequest("GET", s.URL+"/users", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantStatus(t, resp.StatusCode, http.StatusUnauthorized, b)
		if e := decode[graphErr](t, b); e.Error.Code != "InvalidAuthenticationToken" || e.Error.Message == "" {
			t.Errorf("auth %q: error = %+v", auth, e)
		}
	}
	instantiate(t, s, "Roster")
	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("recorded %d requests, want 3", len(reqs))
	}
	last := reqs[2]
	if last.Method != "POST" || last.Path != "/v1.0/applicationTemplates/"+CustomAppTemplateID+"/instantiate" ||
		string(last.Body) != `{"displayName":"Roster"}` || last.Header.Get("Authorization") != "Bearer "+token {
		t.Errorf("recorded %+v", last)
	}
	if reqs[0].Header.Get("Authorization") != "" {
		t.Errorf("first request had a token")
	}
	if s.Certificate() == nil || !strings.HasPrefix(s.URL, "https://127.0.0.1:") || !strings.HasSuffix(s.URL, "/v1.0") {
		t.Errorf("URL %q", s.URL)
	}
}

func TestUsersAndGroups(t *testing.T) {
	s := newServer(t, 0)
	tests := []struct {
		name, query string
		hdr         []string
		want        int
		wantUPNs    string
	}{
		{"all", "", nil, 200, "alice@contoso.com bob@contoso.com"},
		{"startswith", "$filter=" + url.QueryEscape("startswith(displayName,'ali')"), nil, 200, "alice@contoso.com"},
		{"eq upn", "$filter=" + url.QueryEscape("userPrincipalName eq 'BOB@contoso.com'"), nil, 200, "bob@contoso.com"},
		{"search", "$search=" + url.QueryEscape(`"displayName:jones"`), []string{"ConsistencyLevel", "eventual"}, 200, "bob@contoso.com"},
		{"search without header", "$search=" + url.QueryEscape(`"displayName:jones"`), nil, 400, ""},
		{"top", "$top=1", nil, 200, "alice@contoso.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := call(t, s, "GET", "/users?"+tt.query, nil, tt.hdr...)
			wantStatus(t, code, tt.want, b)
			if tt.want != 200 {
				return
			}
			var upns []string
			for _, u := range decode[struct{ Value []map[string]any }](t, b).Value {
				upns = append(upns, u["userPrincipalName"].(string))
				if _, ok := u["department"]; ok {
					t.Errorf("department returned without $select")
				}
			}
			if got := strings.Join(upns, " "); got != tt.wantUPNs {
				t.Errorf("users = %q, want %q", got, tt.wantUPNs)
			}
		})
	}
	code, b := call(t, s, "GET", "/users/"+alice.ID+"?$select=id,department,accountEnabled,employeeId", nil)
	wantStatus(t, code, http.StatusOK, b)
	if u := decode[map[string]any](t, b); u["department"] != "R&D" || u["accountEnabled"] != true || u["employeeId"] != "E1" {
		t.Errorf("user = %s", b)
	}
	code, b = call(t, s, "GET", "/groups/"+staff.ID+"/members", nil)
	wantStatus(t, code, http.StatusOK, b)
	if m := decode[struct{ Value []struct{ ID string } }](t, b); len(m.Value) != 1 || m.Value[0].ID != bob.ID {
		t.Errorf("members = %s", b)
	}
}
