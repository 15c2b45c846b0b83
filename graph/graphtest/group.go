package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// provisionGroupOnDemand provisions one group the way Entra does: match by
// displayName, then POST /Groups with the members the agent already has
// (matched by userName), or PATCH the missing members in. Members that are
// not in the agent yet are reported, as Entra reports references it could
// not resolve; provision them first.
func (s *Server) provisionGroupOnDemand(w http.ResponseWriter, r *http.Request, p map[string]string, ruleID, groupID string) {
	s.mu.Lock()
	sp, j := s.readyJob(w, r, p)
	if j == nil {
		s.mu.Unlock()
		return
	}
	if !ruleExists(j.schema, ruleID) {
		s.mu.Unlock()
		graphError(w, r, http.StatusBadRequest, "BadRequest", "The rule with id '"+ruleID+"' was not found in the schema of job '"+j.id+"'.")
		return
	}
	g := s.findGroup(groupID)
	if g == nil {
		s.mu.Unlock()
		notFound(w, r, groupID)
		return
	}
	if !s.hasCredentials(sp) {
		s.mu.Unlock()
		graphError(w, r, http.StatusBadRequest, "BadRequest", "The job is not configured: save the admin credentials (BaseAddress, SecretToken) first.")
		return
	}
	group := *g
	var members []User
	for _, id := range group.Members {
		if u := s.findUser(id); u != nil {
			members = append(members, *u)
		}
	}
	cred := credentialsOf(sp.secrets, sp.federation)
	base := cred.base
	scoped := secret(sp, "SyncAll") == "true"
	for _, a := range sp.assignments {
		scoped = scoped || a.PrincipalID == group.ID
	}
	jobID, spID, spName := j.id, sp.ID, sp.DisplayName
	s.mu.Unlock()

	res := &podResult{start: time.Now().UTC(), user: User{ID: group.ID, UserPrincipalName: group.DisplayName, DisplayName: group.DisplayName},
		action: "Other", status: "Success", group: true}
	name := group.DisplayName
	res.step("EntryImport", "Import", "Success", fmt.Sprintf("Retrieved Group '%s' from %s", name, sourceDirectory), map[string]string{"objectId": group.ID})
	if !scoped {
		res.step("EntrySynchronizationScoping", "Scoping", "Skipped",
			fmt.Sprintf("Group '%s' is not assigned to the application and the scope is 'Sync only assigned users and groups'", name), nil)
		res.status, res.errCode, res.errMsg = "Skipped", "NotEffectivelyEntitled", "The Group is not in scope: it is not assigned to the application."
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return
	}
	res.step("EntrySynchronizationScoping", "Scoping", "Success", fmt.Sprintf("Group '%s' is assigned to the application", name), nil)

	ctx := r.Context()
	token, ok := s.podBearer(ctx, w, res, cred, jobID, spID, spName)
	if !ok {
		return
	}
	// Resolve members: the agent's ids of the member users it already has.
	var memberIDs []string
	var missing []string
	for _, u := range members {
		resp, err := s.scimDo(ctx, http.MethodGet, base, token, userFilter("userName", u.UserPrincipalName), nil)
		var lr listResponse
		if err == nil && resp.status == http.StatusOK && json.Unmarshal(resp.body, &lr) == nil && len(lr.Resources) == 1 {
			if id, _ := lr.Resources[0]["id"].(string); id != "" {
				memberIDs = append(memberIDs, id)
				continue
			}
		}
		missing = append(missing, u.UserPrincipalName)
	}
	if len(missing) > 0 {
		res.step("EntryReferenceResolution", "ReferenceResolution", "Warning",
			fmt.Sprintf("Members not yet provisioned, left out: %v", missing), nil)
	}

	found, err := s.scimDo(ctx, http.MethodGet, base, token, "/Groups?filter="+url.QueryEscape(`displayName eq "`+name+`"`)+"&excludedAttributes=members", nil)
	var lr listResponse
	switch {
	case err != nil:
		res.step("EntryImport", "Matching", "Failure", fmt.Sprintf("Could not connect to %s at %s: %v", targetDirectory, base, err), nil)
		res.fail("SystemForCrossDomainIdentityManagementServiceUnavailable", err.Error())
	case found.status != http.StatusOK || json.Unmarshal(found.body, &lr) != nil || lr.TotalResults == nil:
		res.step("EntryImport", "Matching", "Failure", fmt.Sprintf("Failed to query %s for Group '%s'. %s", targetDirectory, name, found.describe()), nil)
		res.fail(fmt.Sprintf("SystemForCrossDomainIdentityManagementBadResponse%d", found.status), found.describe())
	}
	if res.status == "Failure" {
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return
	}
	memberObjs := make([]map[string]any, 0, len(memberIDs))
	for _, id := range memberIDs {
		memberObjs = append(memberObjs, map[string]any{"value": id})
	}
	if len(lr.Resources) == 0 {
		res.step("EntryImport", "Matching", "Success", fmt.Sprintf("Group '%s' was not found in %s; it will be created", name, targetDirectory),
			map[string]string{"Matching attribute": "displayName", "Matching value": name})
		res.action = "Create"
		created, err := s.scimDo(ctx, http.MethodPost, base, token, "/Groups", map[string]any{
			"schemas": []string{coreGroup}, "displayName": name, "externalId": group.ID, "members": memberObjs,
		})
		switch {
		case err != nil:
			res.step("EntryExportAdd", "Export", "Failure", fmt.Sprintf("Failed to create Group '%s' in %s: %v", name, targetDirectory, err), nil)
			res.fail("SystemForCrossDomainIdentityManagementServiceUnavailable", err.Error())
		case created.status != http.StatusCreated && created.status != http.StatusOK:
			res.step("EntryExportAdd", "Export", "Failure", fmt.Sprintf("Failed to create Group '%s' in %s. %s", name, targetDirectory, created.describe()), nil)
			res.fail(fmt.Sprintf("SystemForCrossDomainIdentityManagementBadResponse%d", created.status), created.describe())
		default:
			var obj map[string]any
			_ = json.Unmarshal(created.body, &obj)
			res.targetID, _ = obj["id"].(string)
			res.step("EntryExportAdd", "Export", "Success", fmt.Sprintf("Group '%s' was created in %s with %d members", name, targetDirectory, len(memberIDs)), nil)
		}
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return
	}
	id, _ := lr.Resources[0]["id"].(string)
	res.targetID = id
	res.step("EntryImport", "Matching", "Success", fmt.Sprintf("Retrieved Group '%s' from %s", name, targetDirectory),
		map[string]string{"Matching attribute": "displayName", "Matching value": name, "id": id})
	if len(memberObjs) == 0 {
		res.step("EntrySynchronizationSkip", "Export", "Skipped", fmt.Sprintf("The state of the Group '%s' in both systems already match", name), nil)
		res.status, res.errCode, res.errMsg = "Skipped", "RedundantExport", "The state of the group in both the source and target systems already match."
		s.finishOnDemand(w, spID, spName, res.pair(jobID))
		return
	}
	res.action = "Update"
	// Adding a member twice is harmless in SCIM (and idempotent in Roster).
	patched, err := s.scimDo(ctx, http.MethodPatch, base, token, "/Groups/"+url.PathEscape(id), map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "Add", "path": "members", "value": memberObjs}},
	})
	switch {
	case err != nil:
		res.step("EntryExportUpdate", "Export", "Failure", fmt.Sprintf("Failed to update Group '%s' in %s: %v", name, targetDirectory, err), nil)
		res.fail("SystemForCrossDomainIdentityManagementServiceUnavailable", err.Error())
	case patched.status != http.StatusOK && patched.status != http.StatusNoContent:
		res.step("EntryExportUpdate", "Export", "Failure", fmt.Sprintf("Failed to update Group '%s' in %s. %s", name, targetDirectory, patched.describe()), nil)
		res.fail(fmt.Sprintf("SystemForCrossDomainIdentityManagementBadResponse%d", patched.status), patched.describe())
	default:
		res.step("EntryExportUpdate", "Export", "Success", fmt.Sprintf("Group '%s' was updated in %s (%d members)", name, targetDirectory, len(memberIDs)), nil)
	}
	s.finishOnDemand(w, spID, spName, res.pair(jobID))
}
