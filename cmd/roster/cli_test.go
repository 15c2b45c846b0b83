package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

func TestTokenIssueJSON(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCLI(t, dir, "tenant", "add", "contoso", "--name", "Contoso Ltd"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, dir, "token", "issue", "--tenant", "contoso", "--name", "entra", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if url, _ := got["tenant_url"].(string); url != "http://127.0.0.1:8080/scim/contoso/v2" {
		t.Errorf("tenant_url = %q, want http://127.0.0.1:8080/scim/contoso/v2", url)
	}
	tok, _ := got["token"].(string)
	if !strings.HasPrefix(tok, "roster_") || len(tok) != 64 {
		t.Errorf("token = %q, want a 64-character roster_ token", tok)
	}
	// The list never shows the secret.
	list, _, err := runCLI(t, dir, "token", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, tok) || strings.Contains(list, tok[15:40]) {
		t.Errorf("token list leaks the secret:\n%s", list)
	}
	if !strings.Contains(list, `"name": "entra"`) {
		t.Errorf("token list lacks the token:\n%s", list)
	}
	// Revoke by id, then it is listed as revoked.
	id, _ := got["id"].(string)
	if _, _, err := runCLI(t, dir, "token", "revoke", id); err != nil {
		t.Fatal(err)
	}
	list, _, _ = runCLI(t, dir, "token", "list", "--tenant", "contoso")
	if !strings.Contains(list, "revoked") {
		t.Errorf("after revoke, list = \n%s", list)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		usage   bool
		message string
	}{
		{"unknown tenant", []string{"token", "issue", "--tenant", "nope"}, false, `no tenant "nope"`},
		{"bad expiry", []string{"token", "issue", "--expires", "5x"}, true, "not a duration"},
		{"bad tenant id", []string{"tenant", "add", "Bad_ID"}, false, "lower-case letters"},
		{"missing argument", []string{"tenant", "add"}, true, "expects a tenant id"},
		{"bad patch response", []string{"tenant", "add", "x", "--patch-response", "201"}, true, "200 or 204"},
		{"unknown flag", []string{"log", "--bogus"}, true, "unknown flag"},
		{"revoke unknown", []string{"token", "revoke", "nope"}, false, "no token with id"},
		{"bad since", []string{"log", "--since", "yesterday"}, true, "not a duration"},
		{"app and read-only", []string{"token", "issue", "--app", "--read-only"}, true, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, dir, tt.args...)
			if err == nil {
				t.Fatal("got no error")
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error = %q, want it to mention %q", err, tt.message)
			}
			var ue usageError
			if isUsage := asUsage(err, &ue); isUsage != tt.usage {
				t.Errorf("usage error = %v, want %v (exit code 2 vs 1)", isUsage, tt.usage)
			}
		})
	}
}

func asUsage(err error, ue *usageError) bool { return errors.As(err, ue) }

// TestAgentFirstStart runs the README's command as a process: the first start
// prints a Tenant URL and token that work, Test Connection answers as Entra
// expects, and the log, tenant and token commands see what happened.
func TestAgentFirstStart(t *testing.T) {
	dir := t.TempDir()
	p := startAgentProc(t, dir, true)
	if !strings.HasSuffix(p.TenantURL, "/scim/default/v2") {
		t.Errorf("Tenant URL = %q", p.TenantURL)
	}
	client := &http.Client{}
	var lr struct {
		Schemas      []string
		TotalResults int
		Resources    []any
	}
	code, err := scimDo(client, "GET", p.TenantURL+`/Users?filter=userName+eq+%227d420df3-9995-4831-a406-ecf8166f5f6a%22`, p.Token, nil, &lr)
	if err != nil || code != 200 || lr.TotalResults != 0 || lr.Resources == nil {
		t.Fatalf("Test Connection: %d %v %+v", code, err, lr)
	}
	if code, _ := scimDo(client, "POST", p.TenantURL+"/Users", p.Token, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice@contoso.com"}, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code, _ := scimDo(client, "POST", p.TenantURL+"/Users", p.Token, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "ALICE@contoso.com"}, nil); code != 409 {
		t.Fatalf("duplicate: %d, want 409", code)
	}
	resp, err := http.Get(p.BaseURL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	p.Stop(t)

	out, _, err := runCLI(t, dir, "log", "--failed")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "409") || !strings.Contains(out, "uniqueness") || strings.Contains(out, " 201 ") {
		t.Errorf("log --failed:\n%s", out)
	}
	out, _, _ = runCLI(t, dir, "tenant", "list")
	if !strings.Contains(out, "default") || !strings.Contains(out, p.TenantURL) {
		t.Errorf("tenant list:\n%s", out)
	}
	// A second start prints no token.
	p2 := startAgentProc(t, dir, false)
	p2.Stop(t)
	if strings.Contains(p2.stderr.String(), "roster_") {
		t.Errorf("a later start logged a token:\n%s", p2.stderr.String())
	}
}

func TestTenantSet(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCLI(t, dir, "tenant", "add", "acme", "--retention", "60d"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // in `tenant list --json`
	}{
		{nil, `"retention_days": 60`},
		{[]string{"--retention", "0"}, `"retention_days": 0`},
		{[]string{"--retention", "2w", "--patch-response", "204"}, `"patch_user_response": 204`},
		{[]string{"--name", "Acme Ltd"}, `"retention_days": 14`},
	}
	for _, tt := range tests {
		if tt.args != nil {
			if _, _, err := runCLI(t, dir, append([]string{"tenant", "set", "acme"}, tt.args...)...); err != nil {
				t.Fatalf("tenant set %v: %v", tt.args, err)
			}
		}
		out, _, err := runCLI(t, dir, "tenant", "list", "--json")
		if err != nil || !strings.Contains(out, tt.want) {
			t.Errorf("after tenant set %v: got %s, want it to contain %s (%v)", tt.args, out, tt.want, err)
		}
	}
	if _, _, err := runCLI(t, dir, "tenant", "set", "nope", "--retention", "1d"); err == nil || !strings.Contains(err.Error(), "roster tenant list") {
		t.Errorf("unknown tenant: %v", err)
	}
}

func TestUsersShowMarksManagedAttributesAndDomains(t *testing.T) {
	dataDir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dataDir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(db, nil, nil)
	if _, err := dir.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	c := directory.Call{TenantID: "acme", BaseURL: "http://x"}
	if _, err := dir.Create(ctx, c, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice@contoso.test", "title": "Engineer"}); err != nil {
		t.Fatal(err)
	}
	c.App = true
	if _, err := dir.Create(ctx, c, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "bot@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDomain(ctx, "acme", "contoso.test"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tests := []struct{ user, want string }{
		{"alice@contoso.test", "managed by Entra: title, userName"},
		{"alice@contoso.test", "email domains: contoso.test (pending)"},
		{"bot@contoso.test", "managed by Entra: nothing (not provisioned by Entra)"},
	}
	for _, tt := range tests {
		out, _, err := runCLI(t, dataDir, "users", "show", tt.user, "--tenant", "acme")
		if err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), tt.want) {
			t.Errorf("users show %s: got\n%s\nwant a line %q (%v)", tt.user, out, tt.want, err)
		}
	}
}
