package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tokenRequest asks tokenURL for an access token with client_secret_basic
// and returns the status and the decoded answer.
func tokenRequest(t *testing.T, tokenURL, id, secret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials&scope=scim"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func bearerGet(t *testing.T, u, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	return resp.StatusCode
}

func jsonOut(t *testing.T, out string, err error) map[string]any {
	t.Helper()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return m
}

// TestOAuthCLI: against a running agent, `roster oauth client add` prints a
// client whose secret the token endpoint at the printed token_url accepts;
// rotate keeps the old secret until `revoke --secret`; `revoke` makes the
// agent refuse the client's access tokens; `oauth federation add` fills the
// issuer and JWKS URL from the Entra tenant.
func TestOAuthCLI(t *testing.T) {
	dir := t.TempDir()
	a := startAgentProc(t, dir, true)

	out, _, err := runCLI(t, dir, "oauth", "client", "add", "--name", "entra", "--json")
	added := jsonOut(t, out, err)
	id, secret, tokenURL := added["client_id"].(string), added["client_secret"].(string), added["token_url"].(string)
	if tokenURL != a.BaseURL+"/oauth/default/token" || added["tenant_url"] != a.TenantURL {
		t.Fatalf("token_url %s, tenant_url %v; the agent serves %s", tokenURL, added["tenant_url"], a.BaseURL)
	}
	st, body := tokenRequest(t, tokenURL, id, secret)
	if st != http.StatusOK || body["expires_in"] != float64(3600) || body["scope"] != "scim" {
		t.Fatalf("token: %d %v", st, body)
	}
	tok := body["access_token"].(string)
	if st := bearerGet(t, a.TenantURL+"/Users", tok); st != http.StatusOK {
		t.Fatalf("SCIM with the access token: %d", st)
	}

	out, _, err = runCLI(t, dir, "oauth", "client", "rotate", id, "--expires", "30d", "--json")
	rotated := jsonOut(t, out, err)
	for _, s := range []string{secret, rotated["client_secret"].(string)} {
		if st, body := tokenRequest(t, tokenURL, id, s); st != http.StatusOK {
			t.Errorf("after rotate: %d %v", st, body)
		}
	}
	out, _, err = runCLI(t, dir, "oauth", "client", "revoke", id, "--secret", added["secret_id"].(string))
	if err != nil || !strings.Contains(out, "Revoked secret") {
		t.Fatalf("revoke --secret: %v\n%s", err, out)
	}
	if st, body := tokenRequest(t, tokenURL, id, secret); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("old secret after revoke --secret: %d %v", st, body)
	}

	out, _, err = runCLI(t, dir, "oauth", "client", "revoke", id)
	if err != nil || !strings.Contains(out, "Revoked OAuth client "+id) {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for bearerGet(t, a.TenantURL+"/Users", tok) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the agent still accepts the revoked client's access token")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, _, err = runCLI(t, dir, "oauth", "client", "list")
	if err != nil || !strings.Contains(out, "revoked") {
		t.Errorf("list: %v\n%s", err, out)
	}

	out, _, err = runCLI(t, dir, "oauth", "federation", "add", "--entra-tenant", "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
		"--subject", "sync-fabric", "--audience", "api://b5ba7a93", "--cloud", "china", "--json")
	fed := jsonOut(t, out, err)
	if fed["token_url"] != tokenURL || fed["issuer"] != "https://login.partner.microsoftonline.cn/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0" ||
		fed["jwks_url"] != "https://login.partner.microsoftonline.cn/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2.0/keys" {
		t.Errorf("federation: %v", fed)
	}
}

// TestOAuthCLIUsage: bad values are usage errors in whole sentences, and
// nothing is stored.
func TestOAuthCLIUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"oauth", "client", "add", "--expires", "4y"},
		{"oauth", "client", "add", "--expires", "12h"},
		{"oauth", "client", "add", "--expires", "soon"},
		{"oauth", "federation", "add", "--subject", "s", "--audience", "a"},
		{"oauth", "federation", "add", "--entra-tenant", "contoso.com", "--subject", "s", "--audience", "a"},
		{"oauth", "federation", "add", "--entra-tenant", "72f988bf-86f1-41af-91ab-2d7cd011db47", "--audience", "a"},
		{"oauth", "federation", "add", "--entra-tenant", "72f988bf-86f1-41af-91ab-2d7cd011db47", "--subject", "s", "--audience", "a", "--jwks-url", "http://127.0.0.1:1/keys"},
		{"oauth", "federation", "add", "--entra-tenant", "72f988bf-86f1-41af-91ab-2d7cd011db47", "--subject", "s", "--audience", "a", "--cloud", "moon"},
	} {
		_, _, err := runCLI(t, dir, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, _, err := runCLI(t, dir, "oauth", "client", "rotate", "oc_nope"); err == nil || !strings.Contains(err.Error(), "no such OAuth client") {
		t.Errorf("rotate of an unknown client: %v", err)
	}
}
