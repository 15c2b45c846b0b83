package agent_test

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/store"
)

// TestRunDeliversWebhooks: Run delivers the change log to webhook
// endpoints: an endpoint added by another process (the CLI) receives, signed,
// the change of a user created after it, also by another process.
func TestRunDeliversWebhooks(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	dir := openDir(t, dataDir)
	if _, err := dir.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var secret string
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		id, err := webhook.Verify(secret, r.Header, body, time.Now(), webhook.DefaultTolerance)
		if err != nil {
			t.Errorf("delivery does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = append(got, id)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	startRun(t, testConfig(t, dataDir), agent.RunOptions{})
	w, err := dir.AddWebhook(ctx, directory.NewWebhook{Tenant: "acme", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = w.Secret
	mu.Unlock()
	call := directory.Call{TenantID: "acme", BaseURL: "http://x"}
	if _, err := dir.Create(ctx, call, store.KindUser, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "alice@acme.example"}); err != nil {
		t.Fatal(err)
	}
	cs, err := dir.Changes(ctx, "acme", 0, 10, nil)
	if err != nil || len(cs) != 1 || cs[0].Type != feed.UserCreated {
		t.Fatalf("the change log holds %+v, %v; want one user.created", cs, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent delivered nothing within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0] != cs[0].ID {
		t.Errorf("webhook-id = %q, want %q", got[0], cs[0].ID)
	}
}

// TestRunTrustsTheWebhookCAFile: receivers' TLS certificates are verified;
// one from a private CA fails (the delivery log says why) until the agent
// runs with webhooks.ca_file naming that CA.
func TestRunTrustsTheWebhookCAFile(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	dir := openDir(t, dataDir)
	if _, err := dir.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	var delivered atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := dir.AddWebhook(ctx, directory.NewWebhook{Tenant: "acme", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	call := directory.Call{TenantID: "acme", BaseURL: "http://x"}
	if _, err := dir.Create(ctx, call, store.KindUser, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "alice@acme.example"}); err != nil {
		t.Fatal(err)
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 20 s: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Without the CA: the attempt fails on the certificate.
	r := startRun(t, testConfig(t, dataDir), agent.RunOptions{})
	poll("a failed attempt is logged", func() bool {
		log, err := dir.WebhookDeliveries(ctx, store.WebhookDeliveryQuery{WebhookID: w.ID, Failed: true, Limit: 1})
		return err == nil && len(log) == 1 && strings.Contains(log[0].Error, "certificate")
	})
	r.stop(t)
	if n := delivered.Load(); n != 0 {
		t.Fatalf("the receiver got %d requests over an unverified connection", n)
	}

	// With it: delivered.
	cfg := testConfig(t, dataDir)
	cfg.Webhooks.CAFile = caFile
	startRun(t, cfg, agent.RunOptions{})
	poll("the change is delivered", func() bool { return delivered.Load() > 0 })
}
