package graphtest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// job is a synchronization job (docs/graph.md#create-the-job, docs/graph.md#job-status).
type job struct {
	id, spID      string
	code          string
	scheduleState string
	interval      string
	lastExecution map[string]any
	steadyState   time.Time
	quarantine    map[string]any
	schema        []byte
}

const neverInterval = "P10675199DT2H48M5.4775807S"

var zeroTime = time.Time{}.Format(time.RFC3339)

func (j *job) json() map[string]any {
	steady := zeroTime
	if !j.steadyState.IsZero() {
		steady = j.steadyState.Format(time.RFC3339)
	}
	var q any
	if j.quarantine != nil {
		q = j.quarantine
	}
	var last any
	if j.lastExecution != nil {
		last = j.lastExecution
	}
	return map[string]any{
		"id": j.id, "templateId": SCIMTemplateID,
		"schedule": map[string]any{"expiration": nil, "interval": j.interval, "state": j.scheduleState},
		"status": map[string]any{
			"code": j.code, "countSuccessiveCompleteFailures": 0, "escrowsPruned": false,
			"synchronizedEntryCountByType": []any{}, "lastExecution": last,
			"lastSuccessfulExecution": nil, "lastSuccessfulExecutionWithExports": nil,
			"progress": []any{}, "quarantine": q,
			"steadyStateFirstAchievedTime": steady, "steadyStateLastAchievedTime": steady,
			"troubleshootingUrl": nil,
		},
		"synchronizationJobSettings": []map[string]any{
			{"name": "QuarantineTooManyDeletesThreshold", "value": "500"},
		},
	}
}

// readyJob returns the job named in p["job"] on a replicated service
// principal, writing a 404 otherwise. The caller holds s.mu.
func (s *Server) readyJob(w http.ResponseWriter, r *http.Request, p map[string]string) (*servicePrincipal, *job) {
	sp := s.readySP(w, r, p)
	if sp == nil {
		return nil, nil
	}
	j := s.jobs[p["job"]]
	if j == nil || j.spID != sp.ID {
		graphError(w, r, http.StatusNotFound, "NotFound",
			"The job with id '"+p["job"]+"' was not found on service principal '"+sp.ID+"'.")
		return nil, nil
	}
	return sp, j
}

func (s *Server) listSyncTemplates(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.readySP(w, r, p)
	if sp == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": s.context("servicePrincipals('" + sp.ID + "')/synchronization/templates"),
		"value": []map[string]any{{
			"id": SCIMTemplateID, "applicationId": sp.AppID, "default": true,
			"description": "SCIM 2.0 provisioning", "discoverable": true, "factoryTag": SCIMTemplateID,
			"metadata": []any{}, "schema": json.RawMessage(defaultSchema("")),
		}},
	})
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.readySP(w, r, p)
	if sp == nil {
		return
	}
	out := []map[string]any{}
	for _, j := range s.jobs {
		if j.spID == sp.ID {
			out = append(out, j.json())
		}
	}
	slices.SortFunc(out, func(a, b map[string]any) int {
		if a["id"].(string) < b["id"].(string) {
			return -1
		}
		return 1
	})
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": s.context("servicePrincipals('" + sp.ID + "')/synchronization/jobs"), "value": out})
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	var req struct {
		TemplateID string `json:"templateId"`
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
	if req.TemplateID != SCIMTemplateID {
		graphError(w, r, http.StatusBadRequest, "BadRequest",
			"The template with id '"+req.TemplateID+"' was not found for application '"+sp.AppID+"'.")
		return
	}
	id := SCIMTemplateID + "." + newHex() + "." + newHex()
	code := StatusNotConfigured
	if s.hasCredentials(sp) {
		code = StatusPaused
	}
	j := &job{id: id, spID: sp.ID, code: code, scheduleState: "Disabled", interval: neverInterval,
		schema: defaultSchema(id)}
	s.jobs[id] = j
	o := j.json()
	o["@odata.context"] = s.context("servicePrincipals('" + sp.ID + "')/synchronization/jobs/$entity")
	writeJSON(w, http.StatusCreated, o)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, j := s.readyJob(w, r, p)
	if j == nil {
		return
	}
	o := j.json()
	o["@odata.context"] = s.context("servicePrincipals('" + sp.ID + "')/synchronization/jobs/$entity")
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, j := s.readyJob(w, r, p); j != nil {
		delete(s.jobs, j.id)
		w.WriteHeader(http.StatusNoContent)
	}
}

// hasCredentials reports whether a BaseAddress is saved. The caller holds s.mu.
func (s *Server) hasCredentials(sp *servicePrincipal) bool {
	for _, kv := range sp.secrets {
		if kv.Key == "BaseAddress" && kv.Value != "" {
			return true
		}
	}
	return false
}

func secret(sp *servicePrincipal, key string) string {
	for _, kv := range sp.secrets {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// putSecrets saves the given keys (modelled, docs/graph.md#save-credentials-and-settings):
// admin credentials replace the saved ones as a whole, other keys merge by
// key. Saving a BaseAddress moves NotConfigured jobs to Paused (configured,
// not started). Like Graph, it answers 500 to a payload that mixes bearer
// and OAuth keys, and 204 while dropping an OAuth payload that lacks
// SyncNotificationSettings or SyncAll
// (https://github.com/AzureAD/SCIMReferenceCode/blob/master/Microsoft.SCIM.LogicAppValidationTemplate/StandardLogicApp/scim-onboarding.agent.md).
func (s *Server) putSecrets(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	var req struct {
		Value []keyValue `json:"value"`
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
	for _, kv := range req.Value {
		if kv.Key == "" {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "A secret key must not be empty.")
			return
		}
	}
	oauth := hasOAuthKeys(req.Value)
	if oauth && hasKey(req.Value, "SecretToken") {
		graphError(w, r, http.StatusInternalServerError, "InternalError",
			"An internal error occurred while saving the secrets: Requested value 'SecretToken' was not found.")
		return
	}
	if oauth && (!hasKey(req.Value, "SyncNotificationSettings") || !hasKey(req.Value, "SyncAll")) {
		w.WriteHeader(http.StatusNoContent) // dropped, silently
		return
	}
	for _, kv := range req.Value {
		if credentialKeys[kv.Key] {
			sp.federation = nil // the portal's authentication method is replaced
		}
	}
	sp.secrets = mergeSecrets(sp.secrets, req.Value, false)
	s.configured(sp)
	w.WriteHeader(http.StatusNoContent)
}

// configured moves the service principal's NotConfigured jobs to Paused
// once a BaseAddress is saved. The caller holds s.mu.
func (s *Server) configured(sp *servicePrincipal) {
	if s.hasCredentials(sp) {
		for _, j := range s.jobs {
			if j.spID == sp.ID && j.code == StatusNotConfigured {
				j.code = StatusPaused
			}
		}
	}
}

// getSecrets lists the saved secrets; SecretToken and Oauth2ClientSecret come back as "*" as the
// real service masks sensitive values.
func (s *Server) getSecrets(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.readySP(w, r, p)
	if sp == nil {
		return
	}
	out := []keyValue{}
	for _, kv := range sp.secrets {
		if kv.Key == "SecretToken" || kv.Key == "Password" || kv.Key == "ClientSecret" || kv.Key == "Oauth2ClientSecret" {
			kv.Value = "*"
		}
		out = append(out, kv)
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (s *Server) getSchema(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, j := s.readyJob(w, r, p); j != nil {
		writeRaw(w, http.StatusOK, j.schema)
	}
}

// putSchema replaces the schema with the request body, verbatim.
func (s *Server) putSchema(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	var probe map[string]json.RawMessage
	if !decodeBody(w, r, body, &probe) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, j := s.readyJob(w, r, p); j != nil {
		j.schema = append([]byte(nil), body...)
		w.WriteHeader(http.StatusNoContent)
	}
}

// patchSchema answers like the real service, which has no PATCH on the
// schema (docs/graph.md#schema-put).
func (s *Server) patchSchema(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	graphError(w, r, http.StatusNotFound, "BadRequest",
		"No HTTP resource was found that matches the request URI 'https://syncfabric.windowsazure.com/api/servicePrincipals/"+
			p["sp"]+"/synchronization/jobs/"+p["job"]+"/schema?api-version=2.0'.")
}

func notConfigured(w http.ResponseWriter, r *http.Request) {
	graphError(w, r, http.StatusBadRequest, "BadRequest",
		"The job cannot be started because the credentials are not configured. Save the admin credentials first.")
}

// startJob starts (or resumes) a job: NotRun until RunCycle, quarantine cleared.
func (s *Server) startJob(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, j := s.readyJob(w, r, p)
	if j == nil {
		return
	}
	if !s.hasCredentials(sp) {
		notConfigured(w, r)
		return
	}
	j.quarantine = nil
	j.scheduleState, j.interval = "Active", "PT40M"
	if j.steadyState.IsZero() {
		j.code = StatusNotRun
		// A real "just started" job reports a failed zero execution
		// (docs/graph.md#job-status).
		j.lastExecution = map[string]any{
			"activityIdentifier": nil, "countEntitled": 0, "countExported": 0, "countImported": 0,
			"error": map[string]any{"code": "None", "message": nil, "tenantActionable": false},
			"state": "Failed", "timeBegan": zeroTime, "timeEnded": zeroTime,
		}
	} else {
		j.code = StatusActive
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pauseJob(w http.ResponseWriter, r *http.Request, p map[string]string, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, j := s.readyJob(w, r, p); j != nil {
		j.code, j.scheduleState = StatusPaused, "Paused"
		w.WriteHeader(http.StatusNoContent)
	}
}

// restartJob accepts an optional {"criteria":{"resetScope":…}}; it clears
// quarantine and starts the job again from scratch.
func (s *Server) restartJob(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	if len(body) > 0 {
		var req struct {
			Criteria *struct {
				ResetScope string `json:"resetScope"`
			} `json:"criteria"`
		}
		if !decodeBody(w, r, body, &req) {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, j := s.readyJob(w, r, p)
	if j == nil {
		return
	}
	if !s.hasCredentials(sp) {
		notConfigured(w, r)
		return
	}
	j.quarantine, j.lastExecution, j.steadyState = nil, nil, time.Time{}
	j.code, j.scheduleState, j.interval = StatusNotRun, "Active", "PT40M"
	w.WriteHeader(http.StatusNoContent)
}

// RunCycle simulates the completion of a provisioning cycle of a started
// job: status Active, a succeeded lastExecution and steady state reached.
// With Secret Token credentials it sends no SCIM traffic. With OAuth or
// federated credentials the cycle first obtains an access token (or reuses
// the one it holds until shortly before it expires) and runs Test
// Connection's query with it; a failure fails the cycle, with Entra's
// message in lastExecution.error. It reports whether the job exists and is
// started.
func (s *Server) RunCycle(jobID string) bool {
	s.mu.Lock()
	j := s.jobs[jobID]
	if j == nil || j.scheduleState != "Active" {
		s.mu.Unlock()
		return false
	}
	var c credentials
	if sp := s.findSP(j.spID); sp != nil {
		c = credentialsOf(sp.secrets, sp.federation)
	}
	s.mu.Unlock()
	var msg string
	if c.federation != nil || c.authType == OAuth2ClientCredentialsGrant {
		msg = s.testConnection(context.Background(), c, false)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	exec := map[string]any{
		"activityIdentifier": newGUID(), "countEntitled": 0, "countExported": 0, "countImported": 0,
		"error": nil, "state": "Succeeded",
		"timeBegan": now.Add(-time.Second).Format(time.RFC3339), "timeEnded": now.Format(time.RFC3339),
	}
	if msg != "" {
		exec["state"] = "Failed"
		exec["error"] = map[string]any{"code": "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable",
			"message": msg, "tenantActionable": true}
		j.lastExecution = exec
		return true
	}
	j.code, j.steadyState, j.quarantine = StatusActive, now, nil
	j.lastExecution = exec
	return true
}
