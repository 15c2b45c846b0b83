package graphtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSchemaDrivenMatchingAndLogs(t *testing.T) {
	stub := newSCIMStub(t, func(c scimCall) (int, string) {
		if c.Method == "POST" {
			return 201, `{"id":"scim-9"}`
		}
		return 200, emptyList
	})
	s := newServer(t, 0)
	spID, jobID := setup(t, s)
	putSecrets(t, s, spID, stub.srv.URL+"/scim", "scim-secret")
	putSecretsAll(t, s, spID)

	// Match on employeeId, as JCV Cloud requires: userName ← employeeId.
	var schema map[string]any
	if err := json.Unmarshal(s.Schema(jobID), &schema); err != nil {
		t.Fatal(err)
	}
	om := schema["synchronizationRules"].([]any)[0].(map[string]any)["objectMappings"].([]any)[0].(map[string]any)
	for _, a := range om["attributeMappings"].([]any) {
		if am := a.(map[string]any); am["targetAttributeName"] == "userName" {
			am["source"] = map[string]any{"name": "employeeId", "type": "Attribute", "expression": "[employeeId]"}
		}
	}
	code, b := call(t, s, "PUT", "/servicePrincipals/"+spID+"/synchronization/jobs/"+jobID+"/schema", schema)
	wantStatus(t, code, http.StatusNoContent, b)

	before := time.Now().UTC().Add(-time.Second)
	key, v := provision(t, s, spID, jobID, alice.ID)
	if key["result"] != "Success" || v.Action != "Create" {
		t.Fatalf("key %v value %+v", key, v)
	}
	calls := stub.Calls()
	if len(calls) != 2 || calls[0].Filter != `userName eq "E1"` {
		t.Fatalf("match query = %+v, want userName eq \"E1\"", calls)
	}
	post, _ := json.Marshal(calls[1].Body)
	if !strings.Contains(string(post), `"userName":"E1"`) {
		t.Errorf("POST body %s: userName should come from employeeId", post)
	}

	filter := url.QueryEscape("jobId eq '" + jobID + "' and activityDateTime ge " + before.Format(time.RFC3339))
	code, b = call(t, s, "GET", "/auditLogs/provisioning?$top=5&$filter="+filter, nil)
	wantStatus(t, code, http.StatusOK, b)
	logs := decode[struct {
		Value []struct {
			JobID                  string `json:"jobId"`
			ProvisioningAction     string `json:"provisioningAction"`
			ProvisioningStatusInfo struct{ Status string }
			ServicePrincipal       struct{ ID string }
		}
	}](t, b)
	if len(logs.Value) != 1 || logs.Value[0].ProvisioningAction != "create" || logs.Value[0].ProvisioningStatusInfo.Status != "success" || logs.Value[0].ServicePrincipal.ID != spID {
		t.Errorf("logs = %+v", logs.Value)
	}
	code, b = call(t, s, "GET", "/auditLogs/provisioning?$filter="+url.QueryEscape("jobId eq 'other'"), nil)
	wantStatus(t, code, http.StatusOK, b)
	if strings.Contains(string(b), jobID) {
		t.Errorf("filter by another job returned %s", b)
	}
	code, b = call(t, s, "GET", "/auditLogs/provisioning?$filter="+url.QueryEscape("userPrincipalName eq 'x'"), nil)
	wantStatus(t, code, http.StatusBadRequest, b)
}

func TestThrottleAndForbid(t *testing.T) {
	s := newServer(t, 0)
	s.Throttle(1, 2*time.Second)
	code, b := call(t, s, "GET", "/users", nil)
	wantStatus(t, code, http.StatusTooManyRequests, b)
	code, b = call(t, s, "GET", "/users", nil)
	wantStatus(t, code, http.StatusOK, b)

	s.Forbid("POST", "/instantiate")
	code, b = call(t, s, "POST", "/applicationTemplates/"+CustomAppTemplateID+"/instantiate", map[string]string{"displayName": "x"})
	wantStatus(t, code, http.StatusForbidden, b)
	if !strings.Contains(string(b), "Authorization_RequestDenied") {
		t.Errorf("body = %s", b)
	}
	code, b = call(t, s, "GET", "/applicationTemplates/"+CustomAppTemplateID, nil)
	wantStatus(t, code, http.StatusOK, b)
}
