package agent_test

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/internal/pgtest"
)

// TestRunTwoAgentsOnPostgres: two agents with database.url set to one
// PostgreSQL database (and data directories of their own) serve one
// directory: the first creates the tenant and token, the second finds
// them; a user created through one is read, patched and read again
// through the other.
func TestRunTwoAgentsOnPostgres(t *testing.T) {
	url := pgtest.New(t)
	var stdout bytes.Buffer
	cfgA := testConfig(t, t.TempDir())
	cfgA.Database.URL = url
	a := startRun(t, cfgA, agent.RunOptions{Stdout: &stdout})
	token := regexp.MustCompile(`Secret Token:\s+(\S+)`).FindStringSubmatch(stdout.String())
	if token == nil {
		t.Fatalf("first-start banner:\n%s", stdout.String())
	}
	stdout.Reset()
	cfgB := testConfig(t, t.TempDir())
	cfgB.Database.URL = url
	b := startRun(t, cfgB, agent.RunOptions{Stdout: &stdout})
	if stdout.Len() != 0 {
		t.Errorf("the second agent printed a first-start banner:\n%s", stdout.String())
	}
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(method, url, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token[1])
		req.Header.Set("Content-Type", "application/scim+json")
		return do(t, client, req)
	}
	usersA, usersB := a.publicURL+"/scim/default/v2/Users", b.publicURL+"/scim/default/v2/Users"
	code, body := call("POST", usersA, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Ada@Example.com","active":true,"externalId":"e1"}`)
	if code != 201 {
		t.Fatalf("POST through agent A = %d %s", code, body)
	}
	id := regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("no id in %s", body)
	}
	if code, body := call("GET", usersB+"/"+id[1], ""); code != 200 || !strings.Contains(body, `"userName":"Ada@Example.com"`) {
		t.Errorf("GET through agent B = %d %s", code, body)
	}
	if code, body := call("GET", usersB+`?filter=userName+eq+"ada@example.com"`, ""); code != 200 || !strings.Contains(body, `"totalResults":1`) {
		t.Errorf("filter through agent B = %d %s", code, body)
	}
	code, body = call("PATCH", usersB+"/"+id[1], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`)
	if code != 200 && code != 204 {
		t.Fatalf("PATCH through agent B = %d %s", code, body)
	}
	if code, body := call("GET", usersA+"/"+id[1], ""); code != 200 || !strings.Contains(body, `"active":false`) {
		t.Errorf("GET through agent A after the PATCH = %d %s", code, body)
	}
	if code, body := call("POST", usersB, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ADA@example.com"}`); code != 409 {
		t.Errorf("POST of a duplicate userName through agent B = %d %s, want 409", code, body)
	}
}
