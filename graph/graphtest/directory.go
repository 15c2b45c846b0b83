package graphtest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// appRoles are the roles of an app instantiated from CustomAppTemplateID
// (docs/graph.md#create-the-app).
func appRoles() []map[string]any {
	return []map[string]any{
		{"allowedMemberTypes": []string{"User"}, "description": "User", "displayName": "User",
			"id": UserRoleID, "isEnabled": true, "origin": "Application", "value": nil},
		{"allowedMemberTypes": []string{"User"}, "description": "msiam_access", "displayName": "msiam_access",
			"id": MsiamAccessRoleID, "isEnabled": true, "origin": "Application", "value": nil},
	}
}

func (a *application) json() map[string]any {
	return map[string]any{
		"id": a.ID, "appId": a.AppID, "displayName": a.DisplayName,
		"applicationTemplateId": CustomAppTemplateID, "appRoles": appRoles(),
		"createdDateTime": a.Created.Format(time.RFC3339), "signInAudience": "AzureADMyOrg",
	}
}

func (sp *servicePrincipal) json() map[string]any {
	return map[string]any{
		"id": sp.ID, "appId": sp.AppID, "displayName": sp.DisplayName,
		"accountEnabled": true, "appRoleAssignmentRequired": true, "appRoles": appRoles(),
		"servicePrincipalType": "Application", "preferredSingleSignOnMode": nil,
		"applicationTemplateId": CustomAppTemplateID,
		"tags": []string{"WindowsAzureActiveDirectoryCustomSingleSignOnApplication",
			"WindowsAzureActiveDirectoryIntegratedApp"},
	}
}

func (s *Server) findSP(id string) *servicePrincipal {
	for _, sp := range s.sps {
		if sp.ID == id {
			return sp
		}
	}
	return nil
}

func notFound(w http.ResponseWriter, r *http.Request, id string) {
	graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

// readySP returns the service principal named in p["sp"] if it is
// replicated, writing a 404 otherwise. The caller holds s.mu.
func (s *Server) readySP(w http.ResponseWriter, r *http.Request, p map[string]string) *servicePrincipal {
	sp := s.findSP(p["sp"])
	if sp == nil || sp.notReady > 0 {
		notFound(w, r, p["sp"])
		return nil
	}
	return sp
}

// templates are the application templates the fake knows: the non-gallery
// template and the "On-premises SCIM app" gallery template.
var templates = map[string]string{
	CustomAppTemplateID:  "Custom",
	OnPremSCIMTemplateID: OnPremSCIMTemplateName,
}

func templateJSON(id string) map[string]any {
	return map[string]any{
		"id": id, "displayName": templates[id],
		"categories": []string{}, "publisher": "Microsoft Corporation",
		"supportedProvisioningTypes":   []string{"sync"},
		"supportedSingleSignOnModes":   []string{"password", "saml", "external", "notSupported"},
		"homePageUrl":                  nil,
		"description":                  nil,
		"logoUrl":                      nil,
		"informationalUrls":            nil,
		"supportedClaimConfiguration":  nil,
		"configurationUris":            []any{},
		"riskScore":                    nil,
		"endpoints":                    []any{},
		"passwordSingleSignOnSettings": nil,
	}
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	if templates[p["tpl"]] == "" {
		notFound(w, r, p["tpl"])
		return
	}
	o := templateJSON(p["tpl"])
	o["@odata.context"] = s.context("applicationTemplates/$entity")
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request, _ map[string]string, _ []byte) {
	objs := []map[string]any{templateJSON(CustomAppTemplateID), templateJSON(OnPremSCIMTemplateID)}
	s.list(w, r, "applicationTemplates", objs, nil)
}

func (s *Server) instantiate(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	if templates[p["tpl"]] == "" {
		notFound(w, r, p["tpl"])
		return
	}
	var req struct {
		DisplayName string `json:"displayName"`
	}
	if !decodeBody(w, r, body, &req) {
		return
	}
	if strings.TrimSpace(req.DisplayName) == "" {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'displayName' of resource 'Application'.")
		return
	}
	app := &application{ID: newGUID(), AppID: newGUID(), DisplayName: req.DisplayName, Created: time.Now().UTC()}
	sp := &servicePrincipal{ID: newGUID(), AppID: app.AppID, AppObjectID: app.ID,
		DisplayName: req.DisplayName, notReady: s.opt.SPReadyAfter}
	s.mu.Lock()
	s.apps = append(s.apps, app)
	s.sps = append(s.sps, sp)
	appJSON, spJSON := app.json(), sp.json()
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"@odata.context":   s.context("microsoft.graph.applicationServicePrincipal"),
		"application":      appJSON,
		"servicePrincipal": spJSON,
	})
}

// eqFilter parses "prop eq 'value'".
var eqFilter = regexp.MustCompile(`^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$`)

// startsFilter parses "startswith(prop,'value')".
var startsFilter = regexp.MustCompile(`^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$`)

// filterFunc turns a simple OData $filter into a predicate over a JSON
// object. Supported: "p eq 'v'" (case-insensitive like Graph) and
// "startswith(p,'v')".
func filterFunc(filter string) (func(map[string]any) bool, error) {
	if filter == "" {
		return func(map[string]any) bool { return true }, nil
	}
	if m := eqFilter.FindStringSubmatch(filter); m != nil {
		prop, val := m[1], strings.ReplaceAll(m[2], "''", "'")
		return func(o map[string]any) bool {
			v, _ := o[prop].(string)
			return strings.EqualFold(v, val)
		}, nil
	}
	if m := startsFilter.FindStringSubmatch(filter); m != nil {
		prop, val := m[1], strings.ToLower(strings.ReplaceAll(m[2], "''", "'"))
		return func(o map[string]any) bool {
			v, _ := o[prop].(string)
			return strings.HasPrefix(strings.ToLower(v), val)
		}, nil
	}
	//lint:ignore ST1005 the fake answers with Graph's own error text
	return nil, fmt.Errorf("Invalid filter clause: %s", filter)
}

// searchFunc parses a $search value such as "\"displayName:ad\" OR \"mail:ad\"".
func searchFunc(search string) func(map[string]any) bool {
	var clauses [][2]string
	for _, c := range strings.Split(search, " OR ") {
		c = strings.Trim(strings.TrimSpace(c), `"`)
		prop, val, ok := strings.Cut(c, ":")
		if !ok {
			prop, val = "displayName", c
		}
		clauses = append(clauses, [2]string{prop, strings.ToLower(val)})
	}
	return func(o map[string]any) bool {
		for _, c := range clauses {
			if v, _ := o[c[0]].(string); strings.Contains(strings.ToLower(v), c[1]) {
				return true
			}
		}
		return false
	}
}

// list applies $filter, $search, $top and $select to objects and writes a
// collection response.
func (s *Server) list(w http.ResponseWriter, r *http.Request, entitySet string, objs []map[string]any, defaultProps []string) {
	q := r.URL.Query()
	keep, err := filterFunc(q.Get("$filter"))
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if search := q.Get("$search"); search != "" {
		if !strings.EqualFold(r.Header.Get("ConsistencyLevel"), "eventual") {
			graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery",
				"Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
			return
		}
		match := searchFunc(search)
		prev := keep
		keep = func(o map[string]any) bool { return prev(o) && match(o) }
	}
	top := -1
	if t := q.Get("$top"); t != "" {
		if top, err = strconv.Atoi(t); err != nil || top < 1 || top > 999 {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
			return
		}
	}
	out := []map[string]any{}
	for _, o := range objs {
		if keep(o) && (top < 0 || len(out) < top) {
			out = append(out, project(o, q.Get("$select"), defaultProps))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": s.context(entitySet), "value": out})
}

// project keeps the $select properties (id always), or defaultProps when
// $select is empty and defaultProps is not nil.
func project(o map[string]any, sel string, defaultProps []string) map[string]any {
	props := defaultProps
	if sel != "" {
		props = strings.Split(sel, ",")
	}
	if props == nil {
		return o
	}
	out := map[string]any{"id": o["id"]}
	for _, p := range props {
		p = strings.TrimSpace(p)
		if v, ok := o[p]; ok {
			out[p] = v
		}
	}
	return out
}

func (s *Server) listApplications(w http.ResponseWriter, r *http.Request, _ map[string]string, _ []byte) {
	s.mu.Lock()
	objs := make([]map[string]any, len(s.apps))
	for i, a := range s.apps {
		objs[i] = a.json()
	}
	s.mu.Unlock()
	s.list(w, r, "applications", objs, nil)
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		if a.ID == p["id"] {
			o := a.json()
			o["@odata.context"] = s.context("applications/$entity")
			writeJSON(w, http.StatusOK, o)
			return
		}
	}
	notFound(w, r, p["id"])
}

// deleteApplication deletes an application with its service principal and jobs.
func (s *Server) deleteApplication(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.apps, func(a *application) bool { return a.ID == p["id"] })
	if i < 0 {
		notFound(w, r, p["id"])
		return
	}
	appID := s.apps[i].AppID
	s.apps = slices.Delete(s.apps, i, i+1)
	s.sps = slices.DeleteFunc(s.sps, func(sp *servicePrincipal) bool {
		if sp.AppID != appID {
			return false
		}
		for id, j := range s.jobs {
			if j.spID == sp.ID {
				delete(s.jobs, id)
			}
		}
		return true
	})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listServicePrincipals(w http.ResponseWriter, r *http.Request, _ map[string]string, _ []byte) {
	s.mu.Lock()
	objs := make([]map[string]any, len(s.sps))
	for i, sp := range s.sps {
		objs[i] = sp.json()
	}
	s.mu.Unlock()
	s.list(w, r, "servicePrincipals", objs, nil)
}

func (s *Server) getServicePrincipal(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.findSP(p["sp"])
	if sp == nil {
		notFound(w, r, p["sp"])
		return
	}
	if sp.notReady > 0 {
		sp.notReady--
		notFound(w, r, p["sp"])
		return
	}
	o := project(sp.json(), r.URL.Query().Get("$select"), nil)
	o["@odata.context"] = s.context("servicePrincipals/$entity")
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) assignmentJSON(sp *servicePrincipal, a Assignment) map[string]any {
	name := ""
	if u := s.findUser(a.PrincipalID); u != nil {
		name = u.DisplayName
	} else if g := s.findGroup(a.PrincipalID); g != nil {
		name = g.DisplayName
	}
	return map[string]any{
		"id": a.ID, "appRoleId": a.AppRoleID, "principalId": a.PrincipalID,
		"principalType": a.PrincipalType, "principalDisplayName": name,
		"resourceId": a.ResourceID, "resourceDisplayName": sp.DisplayName,
		"createdDateTime": a.CreatedAt.Format(time.RFC3339), "deletedDateTime": nil,
	}
}

func (s *Server) listAssignments(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.readySP(w, r, p)
	if sp == nil {
		return
	}
	out := []map[string]any{}
	for _, a := range sp.assignments {
		out = append(out, s.assignmentJSON(sp, a))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": s.context("servicePrincipals('" + sp.ID + "')/appRoleAssignedTo"), "value": out})
}

func (s *Server) addAssignment(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	var req struct {
		PrincipalID string `json:"principalId"`
		ResourceID  string `json:"resourceId"`
		AppRoleID   string `json:"appRoleId"`
	}
	if !decodeBody(w, r, body, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.readySP(w, r, p)
	if sp == nil {
		return
	}
	bad := func(msg string) { graphError(w, r, http.StatusBadRequest, "Request_BadRequest", msg) }
	var typ string
	switch {
	case s.findUser(req.PrincipalID) != nil:
		typ = "User"
	case s.findGroup(req.PrincipalID) != nil:
		typ = "Group"
	default:
		notFound(w, r, req.PrincipalID)
		return
	}
	if req.ResourceID != sp.ID {
		bad("Invalid value specified for property 'resourceId' of resource 'AppRoleAssignment'.")
		return
	}
	if req.AppRoleID != UserRoleID && req.AppRoleID != MsiamAccessRoleID && req.AppRoleID != DefaultAccessRoleID {
		bad("Permission being assigned was not found on application '" + sp.AppID + "'.")
		return
	}
	for _, a := range sp.assignments {
		if a.PrincipalID == req.PrincipalID && a.AppRoleID == req.AppRoleID {
			bad("Permission being assigned already exists on the object")
			return
		}
	}
	a := Assignment{ID: newHex()[:22], AppRoleID: req.AppRoleID, PrincipalID: req.PrincipalID,
		PrincipalType: typ, ResourceID: sp.ID, CreatedAt: time.Now().UTC()}
	sp.assignments = append(sp.assignments, a)
	o := s.assignmentJSON(sp, a)
	o["@odata.context"] = s.context("servicePrincipals('" + sp.ID + "')/appRoleAssignedTo/$entity")
	writeJSON(w, http.StatusCreated, o)
}

func (s *Server) deleteAssignment(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.readySP(w, r, p)
	if sp == nil {
		return
	}
	i := slices.IndexFunc(sp.assignments, func(a Assignment) bool { return a.ID == p["id"] })
	if i < 0 {
		notFound(w, r, p["id"])
		return
	}
	sp.assignments = slices.Delete(sp.assignments, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// inScope reports whether a user is assigned to sp directly or through a
// group ("Sync only assigned users and groups"). The caller holds s.mu.
func (s *Server) inScope(sp *servicePrincipal, userID string) bool {
	for _, a := range sp.assignments {
		if a.PrincipalID == userID {
			return true
		}
		if g := s.findGroup(a.PrincipalID); g != nil && slices.Contains(g.Members, userID) {
			return true
		}
	}
	return false
}

func (s *Server) findUser(id string) *User {
	for i := range s.users {
		if s.users[i].ID == id {
			return &s.users[i]
		}
	}
	return nil
}

func (s *Server) findGroup(id string) *Group {
	for i := range s.groups {
		if s.groups[i].ID == id {
			return &s.groups[i]
		}
	}
	return nil
}

func userJSON(u User) map[string]any {
	return map[string]any{
		"id": u.ID, "userPrincipalName": u.UserPrincipalName, "displayName": u.DisplayName,
		"mail": u.Mail, "mailNickname": u.MailNickname, "givenName": u.GivenName,
		"surname": u.Surname, "jobTitle": u.JobTitle, "department": u.Department,
		"employeeId": u.EmployeeID, "accountEnabled": !u.AccountDisabled,
	}
}

// defaultUserProps are the properties Graph returns for a user without $select.
var defaultUserProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail",
	"mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}

func groupJSON(g Group) map[string]any {
	return map[string]any{"id": g.ID, "displayName": g.DisplayName, "description": g.Description,
		"securityEnabled": true, "mailEnabled": false, "groupTypes": []string{}}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ map[string]string, _ []byte) {
	s.mu.Lock()
	objs := make([]map[string]any, len(s.users))
	for i, u := range s.users {
		objs[i] = userJSON(u)
	}
	s.mu.Unlock()
	s.list(w, r, "users", objs, defaultUserProps)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.ID == p["id"] || strings.EqualFold(u.UserPrincipalName, p["id"]) {
			o := project(userJSON(u), r.URL.Query().Get("$select"), defaultUserProps)
			o["@odata.context"] = s.context("users/$entity")
			writeJSON(w, http.StatusOK, o)
			return
		}
	}
	notFound(w, r, p["id"])
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, _ map[string]string, _ []byte) {
	s.mu.Lock()
	objs := make([]map[string]any, len(s.groups))
	for i, g := range s.groups {
		objs[i] = groupJSON(g)
	}
	s.mu.Unlock()
	s.list(w, r, "groups", objs, nil)
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.findGroup(p["id"])
	if g == nil {
		notFound(w, r, p["id"])
		return
	}
	o := project(groupJSON(*g), r.URL.Query().Get("$select"), nil)
	o["@odata.context"] = s.context("groups/$entity")
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) listGroupMembers(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	g := s.findGroup(p["id"])
	if g == nil {
		s.mu.Unlock()
		notFound(w, r, p["id"])
		return
	}
	var objs []map[string]any
	for _, id := range g.Members {
		if u := s.findUser(id); u != nil {
			o := userJSON(*u)
			o["@odata.type"] = "#microsoft.graph.user"
			objs = append(objs, o)
		} else if m := s.findGroup(id); m != nil {
			o := groupJSON(*m)
			o["@odata.type"] = "#microsoft.graph.group"
			objs = append(objs, o)
		}
	}
	s.mu.Unlock()
	s.list(w, r, "directoryObjects", objs, nil)
}
