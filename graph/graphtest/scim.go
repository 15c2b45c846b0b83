package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// scimTimeout bounds each call the fake makes to the agent.
const scimTimeout = 10 * time.Second

// scimResponse is what the agent answered.
type scimResponse struct {
	status int
	body   []byte
}

func (r scimResponse) snippet() string {
	b := bytes.TrimSpace(r.body)
	if len(b) > 300 {
		b = append(b[:300:300], "…"...)
	}
	return string(b)
}

func (r scimResponse) describe() string {
	return fmt.Sprintf("StatusCode: %d %s. Response: %s", r.status, http.StatusText(r.status), r.snippet())
}

// scimDo sends one request to the agent as Entra does (docs/entra.md#request-conventions):
// bearer token, application/scim+json bodies, no Content-Type on GET.
func (s *Server) scimDo(ctx context.Context, method, base, token, pathAndQuery string, body any) (scimResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, scimTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return scimResponse{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+pathAndQuery, rd)
	if err != nil {
		return scimResponse{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	resp, err := s.agent.Do(req)
	if err != nil {
		return scimResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return scimResponse{}, err
	}
	return scimResponse{status: resp.StatusCode, body: b}, nil
}

// listResponse is the part of a SCIM ListResponse the fake reads.
type listResponse struct {
	TotalResults *int             `json:"totalResults"`
	Resources    []map[string]any `json:"Resources"`
}

func userFilter(attr, value string) string {
	return "/Users?filter=" + url.QueryEscape(attr+` eq "`+value+`"`)
}

const credentialsMessage = "You appear to have entered invalid credentials. Please confirm you are using the correct information for an administrative account.\r\n"

// testConnection runs Entra's Test Connection (docs/entra.md#test-connection):
// with OAuth or federated credentials it first obtains an access token
// (a new one if fresh, else the one held while it is current), then
// queries for a random GUID, which must answer 200 with an empty
// ListResponse. The returned message is empty on success.
func (s *Server) testConnection(ctx context.Context, c credentials, fresh bool) string {
	base := c.base
	if base == "" {
		return credentialsMessage + "Error code: SystemForCrossDomainIdentityManagementCredentialValidationUnavailable\r\nDetails: the Tenant URL (BaseAddress) is empty."
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return credentialsMessage + "Error code: SystemForCrossDomainIdentityManagementCredentialValidationUnavailable\r\nDetails: the Tenant URL '" + base + "' is not a valid absolute URL."
	}
	token, msg := s.bearer(ctx, c, fresh)
	if msg != "" {
		return msg
	}
	resp, err := s.scimDo(ctx, http.MethodGet, base, token, userFilter("userName", newGUID()), nil)
	if err != nil {
		return "An error occurred while validating the credentials.\r\nError code: SystemForCrossDomainIdentityManagementCredentialValidationUnavailable\r\nDetails: could not connect to " + base + ": " + err.Error()
	}
	if resp.status == http.StatusUnauthorized || resp.status == http.StatusForbidden {
		return credentialsMessage + "Error code: SystemForCrossDomainIdentityManagementCredentialValidationUnauthorized\r\nDetails: We received this unexpected response from your application: " + resp.describe()
	}
	if resp.status != http.StatusOK {
		return "Error code: SystemForCrossDomainIdentityManagementCredentialValidationUnavailable\r\nDetails: We received this unexpected response from your application: " + resp.describe()
	}
	var lr listResponse
	if err := json.Unmarshal(resp.body, &lr); err != nil || lr.TotalResults == nil {
		return "Error code: SystemForCrossDomainIdentityManagementServiceIncompatible\r\nDetails: the response to a query for a user that does not exist is not a SCIM ListResponse: " + resp.describe()
	}
	if *lr.TotalResults != 0 {
		return fmt.Sprintf("Error code: SystemForCrossDomainIdentityManagementServiceIncompatible\r\nDetails: a query for a user that does not exist returned totalResults %d; expected 0. Response: %s", *lr.TotalResults, resp.snippet())
	}
	return ""
}

// validateCredentials serves both …/jobs/validateCredentials and
// …/jobs/{job}/validateCredentials (docs/graph.md#test-connection).
func (s *Server) validateCredentials(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	var req struct {
		UseSavedCredentials bool       `json:"useSavedCredentials"`
		Credentials         []keyValue `json:"credentials"`
		TemplateID          string     `json:"templateId"`
	}
	if len(bytes.TrimSpace(body)) > 0 && !decodeBody(w, r, body, &req) {
		return
	}
	s.mu.Lock()
	sp := s.readySP(w, r, p)
	if sp == nil {
		s.mu.Unlock()
		return
	}
	if p["job"] != "" {
		if _, j := s.readyJob(w, r, p); j == nil {
			s.mu.Unlock()
			return
		}
	}
	var c credentials
	if req.UseSavedCredentials || len(req.Credentials) == 0 {
		c = credentialsOf(sp.secrets, sp.federation)
	} else {
		c = credentialsOf(req.Credentials, nil)
	}
	s.mu.Unlock()
	if msg := s.testConnection(r.Context(), c, true); msg != "" {
		graphError(w, r, http.StatusBadRequest, "BadRequest", msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// podResult accumulates a provisionOnDemand result (docs/graph.md#provision-on-demand).
type podResult struct {
	start    time.Time
	user     User
	steps    []map[string]any
	modified []map[string]any
	action   string
	status   string // Success, Failure, Skipped
	errCode  string
	errMsg   string
	targetID string
	group    bool // the subject is a group (user then holds its id and name)
}

func (p *podResult) step(name, typ, status, desc string, details map[string]string) {
	if details == nil {
		details = map[string]string{}
	}
	p.steps = append(p.steps, map[string]any{
		"name": name, "type": typ, "status": status, "description": desc,
		"details": details, "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
	})
}

func (p *podResult) sourceType() string {
	if p.group {
		return "Group"
	}
	return "User"
}

func (p *podResult) targetType() string {
	if p.group {
		return coreGroup
	}
	return enterpriseUser
}

func (p *podResult) fail(code, msg string) {
	p.status, p.errCode, p.errMsg = "Failure", code, msg
}

// pair renders the result as a stringKeyStringValuePair whose key and
// value are JSON encoded as strings.
func (p *podResult) pair(jobID string) map[string]any {
	details := map[string]any{}
	var errCode any
	if p.errCode != "" {
		details = map[string]any{"errorCode": p.errCode, "errorMessage": p.errMsg}
		errCode = p.errCode
	}
	key, _ := json.Marshal(map[string]any{"result": p.status, "details": details})
	var target any
	if p.targetID != "" {
		target = p.targetID
	}
	value, _ := json.Marshal(map[string]any{
		"action": p.action, "changeId": newGUID(), "cycleId": newGUID(), "jobId": jobID,
		"startTime": p.start.Format(time.RFC3339Nano), "endTime": time.Now().UTC().Format(time.RFC3339Nano),
		"modifiedProperties": p.modified, "provisioningSteps": p.steps,
		"reportableIdentifier": p.user.UserPrincipalName,
		"statusInfo": map[string]any{"status": p.status, "errorCode": errCode, "reason": p.errMsg,
			"additionalDetails": nil, "errorCategory": nil, "recommendedAction": nil},
		"sourceIdentity": map[string]any{"id": p.user.ID, "type": p.sourceType(), "displayName": p.user.DisplayName, "details": map[string]any{}},
		"sourceSystem":   map[string]any{"name": sourceDirectory, "details": map[string]any{}},
		"targetIdentity": map[string]any{"id": target, "type": p.targetType(), "displayName": p.user.DisplayName, "details": map[string]any{}},
		"targetSystem":   map[string]any{"name": targetDirectory, "details": map[string]any{}},
	})
	return map[string]any{"key": string(key), "value": string(value)}
}

// scimAttr is one mapped attribute with its SCIM path and value.
type scimAttr struct {
	path  string
	value any // string or bool
}

// userValues is what a mapping's Attribute source reads from a user.
func userValues(u User) map[string]string {
	return map[string]string{
		"objectId": u.ID, "userPrincipalName": u.UserPrincipalName, "displayName": u.DisplayName,
		"mail": u.Mail, "mailNickname": u.MailNickname, "givenName": u.GivenName, "surname": u.Surname,
		"jobTitle": u.JobTitle, "department": u.Department, "employeeId": u.EmployeeID,
	}
}

// desiredAttrs applies the job's user mapping (its schema, as the owner
// last saved it) to u, skipping empty values as Entra does not flow nulls.
// It also returns the matching attribute: the mapping with the lowest
// non-zero matchingPriority (docs/graph.md#attribute-mappings). A schema that
// does not parse falls back to the default mapping of docs/entra.md#default-attribute-mappings.
func desiredAttrs(u User, schema []byte) (attrs []scimAttr, match scimAttr) {
	var doc struct {
		Rules []struct {
			ObjectMappings []struct {
				SourceObjectName  string `json:"sourceObjectName"`
				AttributeMappings []struct {
					Target   string  `json:"targetAttributeName"`
					Priority float64 `json:"matchingPriority"`
					Source   struct {
						Name string `json:"name"`
						Type string `json:"type"`
					} `json:"source"`
				} `json:"attributeMappings"`
			} `json:"objectMappings"`
		} `json:"synchronizationRules"`
	}
	vals := userValues(u)
	if json.Unmarshal(schema, &doc) == nil {
		best := 0.0
		for _, r := range doc.Rules {
			for _, om := range r.ObjectMappings {
				if !strings.EqualFold(om.SourceObjectName, "User") {
					continue
				}
				for _, am := range om.AttributeMappings {
					var a scimAttr
					switch {
					case am.Target == "active":
						a = scimAttr{"active", !u.AccountDisabled}
					case am.Source.Type == "Attribute" && vals[am.Source.Name] != "":
						a = scimAttr{am.Target, vals[am.Source.Name]}
					default:
						continue
					}
					attrs = append(attrs, a)
					if am.Priority > 0 && (best == 0 || am.Priority < best) {
						best, match = am.Priority, a
					}
				}
				if len(attrs) > 0 {
					if match.path == "" {
						match = scimAttr{"userName", u.UserPrincipalName}
					}
					return attrs, match
				}
			}
		}
	}
	ext := u.MailNickname
	if ext == "" {
		ext = u.ID
	}
	all := []scimAttr{
		{"userName", u.UserPrincipalName},
		{"active", !u.AccountDisabled},
		{"displayName", u.DisplayName},
		{"title", u.JobTitle},
		{`emails[type eq "work"].value`, u.Mail},
		{"name.givenName", u.GivenName},
		{"name.familyName", u.Surname},
		{"externalId", ext},
		{enterpriseUser + ":employeeNumber", u.EmployeeID},
		{enterpriseUser + ":department", u.Department},
	}
	for _, a := range all {
		if s, ok := a.value.(string); ok && s == "" {
			continue
		}
		attrs = append(attrs, a)
	}
	return attrs, scimAttr{"userName", u.UserPrincipalName}
}

// createBody is the POST /Users body Entra sends (docs/entra.md#user-create).
func createBody(attrs []scimAttr) map[string]any {
	b := map[string]any{
		"schemas": []string{coreUser, enterpriseUser},
		"meta":    map[string]any{"resourceType": "User"},
	}
	sub := func(key string) map[string]any {
		m, ok := b[key].(map[string]any)
		if !ok {
			m = map[string]any{}
			b[key] = m
		}
		return m
	}
	for _, a := range attrs {
		switch {
		case a.path == `emails[type eq "work"].value`:
			b["emails"] = []map[string]any{{"primary": true, "type": "work", "value": a.value}}
		case strings.HasPrefix(a.path, "name."):
			sub("name")[strings.TrimPrefix(a.path, "name.")] = a.value
		case strings.HasPrefix(a.path, enterpriseUser+":"):
			sub(enterpriseUser)[strings.TrimPrefix(a.path, enterpriseUser+":")] = a.value
		default:
			b[a.path] = a.value
		}
	}
	return b
}

// currentValue reads a mapped attribute from a SCIM resource.
func currentValue(res map[string]any, path string) (any, bool) {
	sub := func(key, attr string) (any, bool) {
		m, _ := res[key].(map[string]any)
		v, ok := m[attr]
		return v, ok && v != nil
	}
	switch {
	case path == `emails[type eq "work"].value`:
		emails, _ := res["emails"].([]any)
		for _, e := range emails {
			if m, _ := e.(map[string]any); m != nil && m["type"] == "work" {
				v, ok := m["value"]
				return v, ok && v != nil
			}
		}
		return nil, false
	case strings.HasPrefix(path, "name."):
		return sub("name", strings.TrimPrefix(path, "name."))
	case strings.HasPrefix(path, enterpriseUser+":"):
		return sub(enterpriseUser, strings.TrimPrefix(path, enterpriseUser+":"))
	}
	v, ok := res[path]
	return v, ok && v != nil
}

// patchOps diffs the desired attributes against the target resource and
// returns Entra's legacy capitalised operations (docs/entra.md#capitalised-op-names).
func patchOps(res map[string]any, attrs []scimAttr) []map[string]any {
	var ops []map[string]any
	for _, a := range attrs {
		cur, ok := currentValue(res, a.path)
		want := a.value
		if b, isBool := want.(bool); isBool {
			// active flows through Switch(), so it is compared and sent as "True"/"False".
			want = map[bool]string{true: "True", false: "False"}[b]
			if cb, isBool := cur.(bool); isBool {
				cur = map[bool]string{true: "True", false: "False"}[cb]
			}
			if cs, isStr := cur.(string); isStr && strings.EqualFold(cs, want.(string)) {
				continue
			}
		} else if ok && fmt.Sprint(cur) == want {
			continue
		}
		op := "Replace"
		if !ok {
			op = "Add"
		}
		ops = append(ops, map[string]any{"op": op, "path": a.path, "value": want})
	}
	return ops
}

// provisionOnDemand provisions one user of Options.Users to the agent the
// way Entra does: match by userName, then POST or PATCH.
func (s *Server) provisionOnDemand(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	var req struct {
		Parameters []struct {
			RuleID   string `json:"ruleId"`
			Subjects []struct {
				ObjectID       string `json:"objectId"`
				ObjectTypeName string `json:"objectTypeName"`
			} `json:"subjects"`
		} `json:"parameters"`
	}
	if !decodeBody(w, r, body, &req) {
		return
	}
	bad := func(msg string) { graphError(w, r, http.StatusBadRequest, "BadRequest", msg) }
	if len(req.Parameters) != 1 || len(req.Parameters[0].Subjects) != 1 {
		bad("provisionOnDemand expects exactly one parameter with one subject (the fake does not support more).")
		return
	}
	param := req.Parameters[0]
	subj := param.Subjects[0]
	if strings.EqualFold(subj.ObjectTypeName, "Group") {
		s.provisionGroupOnDemand(w, r, p, param.RuleID, subj.ObjectID)
		return
	}
	if !strings.EqualFold(subj.ObjectTypeName, "User") {
		bad("objectTypeName '" + subj.ObjectTypeName + "' is not supported: use User or Group.")
		return
	}

	s.mu.Lock()
	sp, j := s.readyJob(w, r, p)
	if j == nil {
		s.mu.Unlock()
		return
	}
	if !ruleExists(j.schema, param.RuleID) {
		s.mu.Unlock()
		bad("The rule with id '" + param.RuleID + "' was not found in the schema of job '" + j.id + "'.")
		return
	}
	u := s.findUser(subj.ObjectID)
	if u == nil {
		s.mu.Unlock()
		notFound(w, r, subj.ObjectID)
		return
	}
	if !s.hasCredentials(sp) {
		s.mu.Unlock()
		bad("The job is not configured: save the admin credentials (BaseAddress, SecretToken) first.")
		return
	}
	user := *u
	cred := credentialsOf(sp.secrets, sp.federation)
	base := cred.base
	scoped := secret(sp, "SyncAll") == "true" || s.inScope(sp, user.ID)
	jobID := j.id
	attrs, matchAttr := desiredAttrs(*u, j.schema)
	spID, spName := sp.ID, sp.DisplayName
	s.mu.Unlock()
	matchValue := fmt.Sprint(matchAttr.value)

	res := &podResult{start: time.Now().UTC(), user: user, action: "Other", status: "Success"}
	upn := user.UserPrincipalName
	res.step("EntryImport", "Import", "Success",
		fmt.Sprintf("Retrieved User '%s' from %s", upn, sourceDirectory), map[string]string{"objectId": user.ID})
	if !scoped {
		res.step("EntrySynchronizationScoping", "Scoping", "Skipped",
			fmt.Sprintf("User '%s' is not assigned to the application and the scope is 'Sync only assigned users and groups'", upn), nil)
		res.status, res.errCode, res.errMsg = "Skipped", "NotEffectivelyEntitled",
			"The User is not in scope: it is not assigned to the application."
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return
	}
	res.step("EntrySynchronizationScoping", "Scoping", "Success",
		fmt.Sprintf("Determine if User '%s' is in scope by evaluating against each scoping filter", upn),
		map[string]string{"Active in the source system": fmt.Sprint(!user.AccountDisabled), "Assigned to the application": "True"})

	ctx := r.Context()
	token, ok := s.podBearer(ctx, w, res, cred, jobID, spID, spName)
	if !ok {
		return
	}
	found, err := s.scimDo(ctx, http.MethodGet, base, token, userFilter(matchAttr.path, matchValue), nil)
	var lr listResponse
	switch {
	case err != nil:
		res.step("EntryImport", "Matching", "Failure",
			fmt.Sprintf("Could not connect to %s at %s: %v", targetDirectory, base, err), nil)
		res.fail("SystemForCrossDomainIdentityManagementServiceUnavailable", err.Error())
	case found.status != http.StatusOK:
		res.step("EntryImport", "Matching", "Failure",
			fmt.Sprintf("Failed to query %s for User '%s'. %s", targetDirectory, upn, found.describe()), nil)
		res.fail(fmt.Sprintf("SystemForCrossDomainIdentityManagementBadResponse%d", found.status), found.describe())
	case json.Unmarshal(found.body, &lr) != nil || lr.TotalResults == nil:
		res.step("EntryImport", "Matching", "Failure",
			fmt.Sprintf("The response of %s is not a SCIM ListResponse. %s", targetDirectory, found.describe()), nil)
		res.fail("SystemForCrossDomainIdentityManagementServiceIncompatible", found.describe())
	case *lr.TotalResults > 1 || len(lr.Resources) > 1:
		res.step("EntryImport", "Matching", "Failure",
			fmt.Sprintf("Multiple entries in %s match %s '%s'", targetDirectory, matchAttr.path, matchValue), nil)
		res.fail("DuplicateTargetEntries", "More than one target entry matches the source entry.")
	}
	if res.status == "Failure" {
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return
	}

	if *lr.TotalResults == 0 || len(lr.Resources) == 0 {
		res.step("EntryImport", "Matching", "Success",
			fmt.Sprintf("User '%s' was not found in %s; it will be created", upn, targetDirectory),
			map[string]string{"Matching attribute": matchAttr.path, "Matching value": matchValue})
		res.action = "Create"
		for _, a := range attrs {
			res.modified = append(res.modified, map[string]any{"displayName": a.path, "oldValue": nil, "newValue": fmt.Sprint(a.value)})
		}
		created, err := s.scimDo(ctx, http.MethodPost, base, token, "/Users", createBody(attrs))
		switch {
		case err != nil:
			res.step("EntryExportAdd", "Export", "Failure", fmt.Sprintf("Failed to create User '%s' in %s: %v", upn, targetDirectory, err), nil)
			res.fail("SystemForCrossDomainIdentityManagementServiceUnavailable", err.Error())
		case created.status != http.StatusCreated && created.status != http.StatusOK:
			res.step("EntryExportAdd", "Export", "Failure", fmt.Sprintf("Failed to create User '%s' in %s. %s", upn, targetDirectory, created.describe()), nil)
			res.fail(fmt.Sprintf("SystemForCrossDomainIdentityManagementBadResponse%d", created.status), created.describe())
		default:
			var obj map[string]any
			_ = json.Unmarshal(created.body, &obj)
			id, _ := obj["id"].(string)
			if id == "" {
				res.step("EntryExportAdd", "Export", "Failure", fmt.Sprintf("The response of %s to the create of User '%s' has no id. %s", targetDirectory, upn, created.describe()), nil)
				res.fail("SystemForCrossDomainIdentityManagementServiceIncompatible", created.describe())
				break
			}
			res.targetID = id
			res.step("EntryExportAdd", "Export", "Success", fmt.Sprintf("User '%s' was created in %s", upn, targetDirectory),
				map[string]string{"ReportableIdentifier": upn, "id": id})
		}
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return
	}

	target := lr.Resources[0]
	id, _ := target["id"].(string)
	res.targetID = id
	res.step("EntryImport", "Matching", "Success", fmt.Sprintf("Retrieved '%s' from %s", upn, targetDirectory),
		map[string]string{"Matching attribute": matchAttr.path, "Matching value": matchValue, "id": id})
	ops := patchOps(target, attrs)
	if len(ops) == 0 {
		res.step("EntrySynchronizationSkip", "Export", "Skipped",
			fmt.Sprintf("The state of the User '%s' in both the source and target systems already match", upn), nil)
		res.status, res.errCode, res.errMsg = "Skipped", "RedundantExport", "The state of the user in both the source and target systems already match."
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return
	}
	res.action = "Update"
	for _, op := range ops {
		old, _ := currentValue(target, op["path"].(string))
		var oldV any
		if old != nil {
			oldV = fmt.Sprint(old)
		}
		res.modified = append(res.modified, map[string]any{"displayName": op["path"], "oldValue": oldV, "newValue": fmt.Sprint(op["value"])})
	}
	patched, err := s.scimDo(ctx, http.MethodPatch, base, token, "/Users/"+url.PathEscape(id), map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": ops,
	})
	switch {
	case err != nil:
		res.step("EntryExportUpdate", "Export", "Failure", fmt.Sprintf("Failed to update User '%s' in %s: %v", upn, targetDirectory, err), nil)
		res.fail("SystemForCrossDomainIdentityManagementServiceUnavailable", err.Error())
	case patched.status != http.StatusOK && patched.status != http.StatusNoContent:
		res.step("EntryExportUpdate", "Export", "Failure", fmt.Sprintf("Failed to update User '%s' in %s. %s", upn, targetDirectory, patched.describe()), nil)
		res.fail(fmt.Sprintf("SystemForCrossDomainIdentityManagementBadResponse%d", patched.status), patched.describe())
	default:
		res.step("EntryExportUpdate", "Export", "Success", fmt.Sprintf("User '%s' was updated in %s", upn, targetDirectory),
			map[string]string{"ReportableIdentifier": upn, "id": id})
	}
	s.finishOnDemand(w, spID, spName, res.pair(jobID))
}

// ruleExists reports whether the schema has a synchronization rule with id;
// a schema that does not parse accepts any rule.
func ruleExists(schema []byte, id string) bool {
	var sc struct {
		Rules []struct {
			ID string `json:"id"`
		} `json:"synchronizationRules"`
	}
	if json.Unmarshal(schema, &sc) != nil || sc.Rules == nil {
		return true
	}
	for _, r := range sc.Rules {
		if r.ID == id {
			return true
		}
	}
	return false
}
