package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/webhook"
)

func TestWebhookCommands(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCLI(t, dir, "tenant", "add", "contoso"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var secret string
	var verified []string
	var broken bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if broken {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		id, err := webhook.Verify(secret, r.Header, body, time.Now(), webhook.DefaultTolerance)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var c struct{ Type string }
		_ = json.Unmarshal(body, &c)
		verified = append(verified, id+" "+c.Type)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	out, _, err := runCLI(t, dir, "webhook", "add", srv.URL, "--tenant", "contoso", "--types", "user.*,group.deleted", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var added struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(out), &added); err != nil || !strings.HasPrefix(added.ID, "wh_") || !strings.HasPrefix(added.Secret, "whsec_") {
		t.Fatalf("add --json = %s (%v), want keys id and secret", out, err)
	}
	mu.Lock()
	secret = added.Secret
	mu.Unlock()

	list, _, err := runCLI(t, dir, "webhook", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, added.Secret[6:]) || !strings.Contains(list, added.ID) || !strings.Contains(list, `"group.deleted"`) {
		t.Errorf("webhook list leaks the secret or lacks the endpoint:\n%s", list)
	}

	out, _, err = runCLI(t, dir, "webhook", "test", added.ID)
	if err != nil || !strings.Contains(out, "204") {
		t.Fatalf("webhook test = %q, %v; want a delivered test event", out, err)
	}
	mu.Lock()
	got := append([]string(nil), verified...)
	mu.Unlock()
	if len(got) != 1 || !strings.HasSuffix(got[0], " webhook.test") || !strings.HasPrefix(got[0], "test_") {
		t.Errorf("receiver verified %q, want one signed webhook.test event", got)
	}
	out, _, err = runCLI(t, dir, "webhook", "deliveries", added.ID)
	if err != nil || !strings.Contains(out, "test_") || !strings.Contains(out, "204") {
		t.Errorf("deliveries = %q, %v; want the test attempt", out, err)
	}

	mu.Lock()
	broken = true
	mu.Unlock()
	if _, _, err := runCLI(t, dir, "webhook", "test", added.ID); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("webhook test against a failing receiver = %v, want an error naming the 500", err)
	}
	out, _, err = runCLI(t, dir, "webhook", "deliveries", "--failed", "--json")
	if err != nil || !strings.Contains(out, `"status": 500`) || strings.Contains(out, `"status": 204`) {
		t.Errorf("deliveries --failed = %s, %v; want only the 500", out, err)
	}

	out, _, err = runCLI(t, dir, "webhook", "replay", added.ID, "--from", "5", "--json")
	if err != nil || !strings.Contains(out, `"cursor": 4`) {
		t.Errorf("replay --from 5 = %s, %v; want cursor 4", out, err)
	}
	if _, _, err := runCLI(t, dir, "webhook", "remove", added.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, dir, "webhook", "remove", added.ID); err == nil || !strings.Contains(err.Error(), "no such webhook") {
		t.Errorf("removing twice = %v, want 'no such webhook'", err)
	}

	for _, args := range [][]string{
		{"webhook", "add", srv.URL, "--tenant", "contoso", "--types", "users.*"},
		{"webhook", "add", srv.URL, "--tenant", "contoso", "--format", "xml"},
		{"webhook", "replay", "wh_x", "--from", "-1"},
	} {
		var ue usageError
		if _, _, err := runCLI(t, dir, args...); !asUsage(err, &ue) {
			t.Errorf("%v = %v, want a usage error", args, err)
		}
	}
}

// TestStatusShowsAStoppedWebhook: a receiver that answers 410 Gone makes the
// running agent disable its endpoint, and `roster status` lists it (text
// and JSON) with what to do, exiting 3 (needs attention).
func TestStatusShowsAStoppedWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an agent process")
	}
	dir := t.TempDir()
	p := startAgentProc(t, dir, true)
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	out, _, err := runCLI(t, dir, "webhook", "add", gone.URL, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var added struct{ ID string }
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatal(err)
	}
	if code, err := scimDo(http.DefaultClient, "POST", p.TenantURL+"/Users", p.Token, map[string]any{
		"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "ann@contoso.com"}, nil); err != nil || code != 201 {
		t.Fatalf("create user: %d %v", code, err)
	}
	listen := strings.TrimPrefix(p.BaseURL, "http://")
	var st struct {
		Webhooks []struct {
			ID, State, Detail string
		}
		Attention []string
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, err = runCLI(t, dir, "status", "--json", "--listen", listen)
		var ae attentionError
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("status --json: %v", err)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json = %s: %v", out, err)
		}
		if len(st.Webhooks) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status lists no stopped webhook after 30 s:\n%s\n%s", out, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if w := st.Webhooks[0]; len(st.Webhooks) != 1 || w.ID != added.ID || w.State != "disabled" || !strings.Contains(w.Detail, "410") {
		t.Errorf("status webhooks = %+v, want %s disabled by the 410", st.Webhooks, added.ID)
	}
	text, _, err := runCLI(t, dir, "status", "--listen", listen)
	var ae attentionError
	if !errors.As(err, &ae) || !strings.Contains(text, "Needs attention") || !strings.Contains(text, "webhook "+added.ID) ||
		!strings.Contains(text, "roster webhook replay "+added.ID) {
		t.Errorf("status = %v\n%s\nwant exit 3 and the webhook with the replay advice under Needs attention", err, text)
	}
	p.Stop(t)
}
