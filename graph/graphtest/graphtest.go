// Package graphtest is a stateful fake of the Microsoft Graph v1.0 endpoints
// that Roster's setup uses to create and configure a non-gallery SCIM
// enterprise application (docs/graph.md#call-sequence): instantiating the
// custom application template, waiting for the service principal, app role
// assignments, the synchronization template, job, secrets and schema, Test
// Connection (validateCredentials), provision on demand, and start, pause and
// restart.
//
// The fake behaves like the real service where it matters to a client: it
// answers over TLS (httptest.NewTLSServer) under /v1.0, demands a bearer
// token, answers Graph-style error bodies, delays the new service principal
// (directory replication), rejects PATCH of the schema with 404 as the real
// service does, and — like Entra's provisioning service — makes real SCIM
// calls to the agent's Tenant URL for validateCredentials and
// provisionOnDemand.
//
// It uses only the standard library, so tests of code that does not import
// msgraph-sdk-go stay fast. Behaviour marked "modelled" in
// docs/graph.md (undocumented by Microsoft) is modelled here.
package graphtest

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// CustomAppTemplateID is the application template id of a non-gallery
// ("Create your own application") app (docs/graph.md#create-the-app).
const CustomAppTemplateID = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"

// OnPremSCIMTemplateName is the display name of the gallery app that
// provisions through Microsoft's on-premises provisioning agent.
const OnPremSCIMTemplateName = "On-premises SCIM app"

// OnPremSCIMTemplateID is the fake's id for the "On-premises SCIM app"
// template (modelled: clients must look it up by name).
const OnPremSCIMTemplateID = "c1ec5b1e-0000-4000-8000-0000000000a1"

// UserRoleID is the id of the "User" app role of an app instantiated from
// CustomAppTemplateID, the role assigned by default (docs/graph.md#assign-users-and-groups).
const UserRoleID = "18d14569-c3bd-439b-9a66-3a2aee01d14f"

// MsiamAccessRoleID is the id of the "msiam_access" app role of an app
// instantiated from CustomAppTemplateID.
const MsiamAccessRoleID = "b9632174-c057-4f7e-951b-be3adc52bfe6"

// DefaultAccessRoleID is the zero GUID that Graph accepts as appRoleId when a
// resource declares no app roles.
const DefaultAccessRoleID = "00000000-0000-0000-0000-000000000000"

// SCIMTemplateID is the synchronization template id of a custom SCIM app
// (docs/graph.md#create-the-job).
const SCIMTemplateID = "scim"

// DefaultRuleID is the id of synchronizationRules[0] in the default schema,
// the ruleId that provisionOnDemand expects.
const DefaultRuleID = "03f7d90d-bf71-41b1-bda6-aaf0ddbee5d8"

// Job status codes (synchronizationStatus.code, docs/graph.md#job-status).
const (
	StatusNotConfigured = "NotConfigured"
	StatusNotRun        = "NotRun"
	StatusActive        = "Active"
	StatusPaused        = "Paused"
	StatusQuarantine    = "Quarantine"
)

// User is a user of the fake tenant's directory. An empty ID is replaced by a
// random GUID in New.
type User struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	Mail              string
	MailNickname      string
	GivenName         string
	Surname           string
	JobTitle          string
	Department        string
	EmployeeID        string
	// AccountDisabled is the negation of Graph's accountEnabled, so that the
	// zero value is an enabled account.
	AccountDisabled bool
}

// Group is a group of the fake tenant's directory. Members holds the ids of
// member users (or groups). An empty ID is replaced by a random GUID in New.
type Group struct {
	ID          string
	DisplayName string
	Description string
	Members     []string
}

// Options configures a fake Graph server.
type Options struct {
	// Token is the bearer token every request must carry (required).
	Token string
	// Users and Groups are the fake tenant's directory.
	Users  []User
	Groups []Group
	// SPReadyAfter is how many GETs of a newly instantiated service
	// principal answer 404 before it answers 200. Until then its
	// appRoleAssignedTo and synchronization endpoints answer 404 too.
	SPReadyAfter int
	// HTTPClient is used to call the agent's SCIM endpoint and token
	// endpoint (validateCredentials, provisionOnDemand, RunCycle); default
	// http.DefaultClient.
	HTTPClient *http.Client
	// TokenAuth is how the provisioning service authenticates to an OAuth
	// token endpoint: ClientSecretBasic (default) or ClientSecretPost.
	TokenAuth string
	// TokenScope, if set, is sent as scope with client credentials.
	TokenScope string
	// Now is the provisioning service's clock for access token expiry
	// (default time.Now).
	Now func() time.Time
}

// Request is one request the fake received, recorded before authentication.
type Request struct {
	Method string
	// Path is the URL path including the /v1.0 prefix.
	Path string
	// Query is the decoded query string.
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Assignment is an app role assignment stored by the fake.
type Assignment struct {
	ID            string
	AppRoleID     string
	PrincipalID   string
	PrincipalType string // "User" or "Group"
	ResourceID    string // the service principal id
	CreatedAt     time.Time
}

// Server is a running fake Graph server. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the base URL of the API, including /v1.0 and no trailing slash.
	URL string
	// TenantID is the fake tenant's id.
	TenantID string

	ts     *httptest.Server
	opt    Options
	agent  *http.Client
	routes []route

	mu       sync.Mutex
	users    []User
	groups   []Group
	apps     []*application
	sps      []*servicePrincipal
	jobs     map[string]*job
	requests []Request
	logs     []logEntry
	// tokens are the access tokens the provisioning service holds, by
	// token endpoint and client; tokenRequests records each exchange.
	tokens        map[string]cachedToken
	tokenRequests []TokenRequest

	throttle   int
	retryAfter time.Duration
	forbidden  [][2]string
}

type application struct {
	ID, AppID, DisplayName string
	Created                time.Time
}

type servicePrincipal struct {
	ID, AppID, AppObjectID, DisplayName string
	notReady                            int
	assignments                         []Assignment
	secrets                             []keyValue  // in insertion order, merged by key
	federation                          *Federation // set in the portal (ConfigureFederation)
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// New starts a fake Graph server over TLS and closes it when t's test ends.
func New(t testing.TB, opt Options) *Server {
	t.Helper()
	if opt.Token == "" {
		t.Fatal("graphtest.New: Options.Token is required")
	}
	s := &Server{
		TenantID: newGUID(),
		opt:      opt,
		agent:    opt.HTTPClient,
		jobs:     map[string]*job{},
		tokens:   map[string]cachedToken{},
	}
	if s.agent == nil {
		s.agent = http.DefaultClient
	}
	for _, u := range opt.Users {
		if u.ID == "" {
			u.ID = newGUID()
		}
		s.users = append(s.users, u)
	}
	for _, g := range opt.Groups {
		if g.ID == "" {
			g.ID = newGUID()
		}
		g.Members = append([]string(nil), g.Members...)
		s.groups = append(s.groups, g)
	}
	s.routes = s.buildRoutes()
	s.ts = httptest.NewTLSServer(s)
	t.Cleanup(s.ts.Close)
	s.URL = s.ts.URL + "/v1.0"
	return s
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Certificate returns the server's self-signed TLS certificate.
func (s *Server) Certificate() *x509.Certificate { return s.ts.Certificate() }

// Close shuts the server down; New already arranges this at test cleanup.
func (s *Server) Close() { s.ts.Close() }

// Users returns the directory's users (with the ids New assigned).
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]User(nil), s.users...)
}

// Groups returns the directory's groups (with the ids New assigned).
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Group(nil), s.groups...)
}

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Schema returns the raw JSON schema of a job, or nil if the job is unknown.
func (s *Server) Schema(jobID string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[jobID]
	if j == nil {
		return nil
	}
	return append([]byte(nil), j.schema...)
}

// Secrets returns the synchronization secrets saved on a service principal,
// by key (keys are case-sensitive), or nil if the service principal is unknown.
func (s *Server) Secrets(spID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.findSP(spID)
	if sp == nil {
		return nil
	}
	m := map[string]string{}
	for _, kv := range sp.secrets {
		m[kv.Key] = kv.Value
	}
	return m
}

// Assignments returns the app role assignments of a service principal.
func (s *Server) Assignments(spID string) []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.findSP(spID)
	if sp == nil {
		return nil
	}
	return append([]Assignment(nil), sp.assignments...)
}

// JobStatus returns a job's status code, or "" if the job is unknown.
func (s *Server) JobStatus(jobID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[jobID]; j != nil {
		return j.code
	}
	return ""
}

// Quarantine puts a job into quarantine with the given reason (for example
// "EncounteredQuarantineException"), as the real service does when the SCIM
// endpoint keeps failing. Start or restart clears it. It reports whether the
// job exists.
func (s *Server) Quarantine(jobID, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[jobID]
	if j == nil {
		return false
	}
	now := time.Now().UTC()
	j.code = StatusQuarantine
	j.quarantine = map[string]any{
		"currentBegan": now, "nextAttempt": now.Add(6 * time.Hour), "reason": reason,
		"seriesBegan": now, "seriesCount": 1,
		"error": map[string]any{"code": "SystemForCrossDomainIdentityManagementUnauthorized",
			"message": "The SCIM endpoint kept failing.", "tenantActionable": true},
	}
	return true
}

// ServeHTTP records the request, checks the bearer token and dispatches it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		// The SDK's compression middleware gzips request bodies
		// (docs/graph.md#sdk-middleware), as Graph accepts.
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "the gzip request body is corrupt")
			return
		}
		defer zr.Close()
		rd = zr
	}
	body, err := io.ReadAll(io.LimitReader(rd, 16<<20))
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "could not read the request body")
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body,
	})
	s.mu.Unlock()

	w.Header().Set("request-id", newGUID())
	if id := r.Header.Get("client-request-id"); id != "" {
		w.Header().Set("client-request-id", id)
	}
	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	case auth != "Bearer "+s.opt.Token:
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return
	}
	if s.limited(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1.0/")
	if !ok {
		graphError(w, r, http.StatusNotFound, "BadRequest", "Invalid version: "+r.URL.Path)
		return
	}
	s.dispatch(w, r, strings.Split(strings.Trim(rest, "/"), "/"), body)
}

// handler serves one route; p holds the {name} segments of its pattern.
type handler func(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte)

type route struct {
	segs    []string
	methods map[string]handler
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, segs []string, body []byte) {
	for _, rt := range s.routes {
		p, ok := match(rt.segs, segs)
		if !ok {
			continue
		}
		h := rt.methods[r.Method]
		if h == nil {
			allow := make([]string, 0, len(rt.methods))
			for m := range rt.methods {
				allow = append(allow, m)
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			graphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest",
				"Specified HTTP method is not allowed for the request target.")
			return
		}
		h(w, r, p, body)
		return
	}
	graphError(w, r, http.StatusNotFound, "BadRequest",
		fmt.Sprintf("Resource not found for the segment '%s'.", segs[len(segs)-1]))
}

// match compares a pattern with request path segments; literal segments
// compare case-insensitively, as Graph does.
func match(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	p := map[string]string{}
	for i, ps := range pattern {
		if strings.HasPrefix(ps, "{") {
			if segs[i] == "" {
				return nil, false
			}
			p[strings.Trim(ps, "{}")] = segs[i]
			continue
		}
		if !strings.EqualFold(ps, segs[i]) {
			return nil, false
		}
	}
	return p, true
}

func (s *Server) buildRoutes() []route {
	const sync = "servicePrincipals/{sp}/synchronization/"
	table := []struct {
		pattern string
		methods map[string]handler
	}{
		{"applicationTemplates", map[string]handler{"GET": s.listTemplates}},
		{"applicationTemplates/{tpl}", map[string]handler{"GET": s.getTemplate}},
		{"applicationTemplates/{tpl}/instantiate", map[string]handler{"POST": s.instantiate}},
		{"applications", map[string]handler{"GET": s.listApplications}},
		{"applications/{id}", map[string]handler{"GET": s.getApplication, "DELETE": s.deleteApplication}},
		{"servicePrincipals", map[string]handler{"GET": s.listServicePrincipals}},
		{"servicePrincipals/{sp}", map[string]handler{"GET": s.getServicePrincipal}},
		{"servicePrincipals/{sp}/appRoleAssignedTo", map[string]handler{"GET": s.listAssignments, "POST": s.addAssignment}},
		{"servicePrincipals/{sp}/appRoleAssignedTo/{id}", map[string]handler{"DELETE": s.deleteAssignment}},
		{sync + "templates", map[string]handler{"GET": s.listSyncTemplates}},
		{sync + "secrets", map[string]handler{"GET": s.getSecrets, "PUT": s.putSecrets}},
		{sync + "jobs", map[string]handler{"GET": s.listJobs, "POST": s.createJob}},
		{sync + "jobs/validateCredentials", map[string]handler{"POST": s.validateCredentials}},
		{sync + "jobs/{job}", map[string]handler{"GET": s.getJob, "DELETE": s.deleteJob}},
		{sync + "jobs/{job}/schema", map[string]handler{"GET": s.getSchema, "PUT": s.putSchema, "PATCH": s.patchSchema}},
		{sync + "jobs/{job}/validateCredentials", map[string]handler{"POST": s.validateCredentials}},
		{sync + "jobs/{job}/provisionOnDemand", map[string]handler{"POST": s.provisionOnDemand}},
		{sync + "jobs/{job}/start", map[string]handler{"POST": s.startJob}},
		{sync + "jobs/{job}/pause", map[string]handler{"POST": s.pauseJob}},
		{sync + "jobs/{job}/restart", map[string]handler{"POST": s.restartJob}},
		{"auditLogs/provisioning", map[string]handler{"GET": s.listProvisioningLogs}},
		{"users", map[string]handler{"GET": s.listUsers}},
		{"users/{id}", map[string]handler{"GET": s.getUser}},
		{"groups", map[string]handler{"GET": s.listGroups}},
		{"groups/{id}", map[string]handler{"GET": s.getGroup}},
		{"groups/{id}/members", map[string]handler{"GET": s.listGroupMembers}},
	}
	routes := make([]route, len(table))
	for i, e := range table {
		routes[i] = route{segs: strings.Split(e.pattern, "/"), methods: e.methods}
	}
	return routes
}

// graphError writes a Graph error body (docs/graph.md#errors).
func graphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]any{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        w.Header().Get("request-id"),
			"client-request-id": r.Header.Get("client-request-id"),
		},
	}})
}

const jsonContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeBody decodes a JSON request body, writing a 400 on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, body []byte, v any) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Empty Payload. JSON content expected.")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: "+err.Error())
		return false
	}
	return true
}

func (s *Server) context(entitySet string) string {
	return s.URL + "/$metadata#" + entitySet
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newHex() string { return strings.ReplaceAll(newGUID(), "-", "") }
