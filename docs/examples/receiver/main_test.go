package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/agent/webhook/webhooktest"
	"github.com/rosterhq/roster/store"
)

// TestReceiverAgainstTheDispatcher runs the example against Roster's real
// dispatcher: every change is applied once, in seq order, although the
// application fails once and a replay sends everything again.
func TestReceiverAgainstTheDispatcher(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := directory.New(db, nil, nil)
	if _, err := dir.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var applied []int64
	failOnce := true
	var rc *Receiver
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rc.ServeHTTP(w, r) }))
	defer srv.Close()
	hook, err := dir.AddWebhook(ctx, directory.NewWebhook{Tenant: "acme", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	rc, err = NewReceiver(hook.Secret, func(c Change) error {
		mu.Lock()
		defer mu.Unlock()
		if c.Seq == 3 && failOnce {
			failOnce = false
			return fmt.Errorf("database busy")
		}
		applied = append(applied, c.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	src := webhooktest.NewSource()
	cs := make([]feed.Change, 20)
	for i := range cs {
		cs[i] = feed.Change{Type: feed.UserCreated, Resource: feed.Resource{Type: "User", ID: fmt.Sprint("u", i)}}
	}
	src.Append("acme", time.Now().Add(time.Second), cs...)
	// Retries come at once: the simulated clock moves on when the dispatcher waits.
	clock := webhooktest.NewClock(time.Now())
	rc.now = clock.Now
	d, err := webhook.New(dir, src, webhook.Options{Clock: clock, Reload: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	waitApplied := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := len(applied)
			mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d changes applied, want %d", got, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitApplied(20)
	if _, err := dir.ReplayWebhook(ctx, hook.ID, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if h, _ := dir.Webhook(ctx, hook.ID); h.Revision == 1 && h.Cursor == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replay was not delivered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range applied {
		if seq != int64(i+1) {
			t.Fatalf("applied %v, want seqs 1..20 once each, in order", applied)
		}
	}
	if len(applied) != 20 {
		t.Fatalf("applied %d changes after the replay, want 20", len(applied))
	}
}

func TestReceiverRefusesForgeries(t *testing.T) {
	secret, _ := webhook.NewSecret()
	rc, err := NewReceiver(secret, func(Change) error { t.Error("a forged change was applied"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	key, _ := webhook.DecodeSecret(secret)
	body := []byte(`{"seq":1,"id":"chg_1","type":"user.deleted"}`)
	for _, tc := range []struct {
		name string
		sign func(h http.Header)
	}{
		{"unsigned", func(http.Header) {}},
		{"another body", func(h http.Header) { webhook.SetHeaders(h, key, "chg_1", time.Now(), []byte(`{}`)) }},
		{"another key", func(h http.Header) { webhook.SetHeaders(h, []byte("not the key"), "chg_1", time.Now(), body) }},
		{"an old timestamp", func(h http.Header) { webhook.SetHeaders(h, key, "chg_1", time.Now().Add(-time.Hour), body) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			tc.sign(req.Header)
			w := httptest.NewRecorder()
			rc.ServeHTTP(w, req)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", w.Code)
			}
		})
	}
}

// TestREADMEShowsThisCode: the Go code the README shows under "Consuming
// the changes in your application" is this example's, verbatim, so that
// what readers copy is what the tests build and run.
func TestREADMEShowsThisCode(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Consuming the changes in your application\n")
	if !ok {
		t.Fatal("README.md has no section \"Consuming the changes in your application\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, code, ok := strings.Cut(section, "```go\n")
	if ok {
		code, _, ok = strings.Cut(code, "```")
	}
	if !ok || strings.TrimSpace(code) == "" {
		t.Fatal("the section has no Go code block")
	}
	if !strings.Contains(string(src), code) {
		t.Errorf("README.md's Go code is not in docs/examples/receiver/main.go verbatim:\n%s", code)
	}
}
