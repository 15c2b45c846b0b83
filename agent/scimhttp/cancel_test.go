package scimhttp_test

import (
	"context"
	"fmt"
	"github.com/rosterhq/roster/internal/syncbuf"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// TestClientGoneIsCancelled: a client that disconnects while its request
// waits is neither logged as an error nor answered 500, and its event is
// recorded as cancelled, not as a failure.
func TestClientGoneIsCancelled(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")
	tok := seedAcme(t, path)
	db := openStore(t, path, store.Options{Readers: 2})
	// A second handle on the same file reads the events while every reader
	// of the first is held.
	observer := openStore(t, path, store.Options{})
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := directory.New(db, log, nil)
	h := scimhttp.New(dir, scimhttp.Options{Logger: log})
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := scimhttp.TenantURL(srv.URL, "acme")
	c := newClient(base, tok)
	c.do(t, http.MethodGet, "/Users", nil, nil).list(t) // the token is cached from here on

	cancelled := func() []*store.Event {
		var evs []*store.Event
		err := observer.Read(ctx, func(tx *store.Tx) (err error) {
			evs, err = tx.Events(store.EventQuery{TenantID: "acme"})
			return
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []*store.Event
		for _, e := range evs {
			if e.Outcome == store.OutcomeCancelled {
				out = append(out, e)
			}
		}
		return out
	}

	t.Run("a list whose client hangs up", func(t *testing.T) {
		// Hold every reader: the list waits for one.
		release := make(chan struct{})
		held := make(chan struct{})
		done := make(chan struct{})
		for range 2 {
			go func() {
				db.Read(ctx, func(*store.Tx) error { held <- struct{}{}; <-release; return nil }) //nolint:errcheck
				done <- struct{}{}
			}()
		}
		<-held
		<-held
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /scim/acme/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", tok)
		conn.Close()
		deadline := time.Now().Add(20 * time.Second)
		for len(cancelled()) == 0 {
			if time.Now().After(deadline) {
				close(release)
				t.Fatalf("no cancelled event recorded; log:\n%s", logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(release)
		<-done
		<-done
		e := cancelled()[0]
		if e.Status != directory.StatusClientClosed || e.Method != "GET" || e.TokenName != "entra" || e.Failed() {
			t.Errorf("cancelled event: got %+v, want status 499, GET by entra, not failed", e)
		}
	})

	t.Run("a create whose client is gone", func(t *testing.T) {
		rctx, cancel := context.WithCancel(ctx)
		cancel() // as net/http does when the connection closes
		body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"gone@acme.test"}`
		req := httptest.NewRequestWithContext(rctx, http.MethodPost, "/scim/acme/v2/Users", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusInternalServerError || rec.Code == http.StatusCreated {
			t.Errorf("got %d, want neither 500 nor 201", rec.Code)
		}
		evs := cancelled()
		if len(evs) != 2 || evs[1].Method != "POST" || evs[1].Name != "gone@acme.test" {
			t.Errorf("cancelled events: got %d (%+v); want 2, the last the POST of gone@acme.test", len(evs), evs)
		}
		lr := c.do(t, http.MethodGet, "/Users", nil, nil).list(t)
		if lr.TotalResults != 0 {
			t.Errorf("the cancelled create stored a user: %v", lr.names("userName"))
		}
	})

	t.Run("a create whose client hangs up halfway through the body", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /scim/acme/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{\"userName\":", tok)
		conn.Close()
		deadline := time.Now().Add(20 * time.Second)
		for len(cancelled()) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("no cancelled event for the truncated body; log:\n%s", logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if e := cancelled()[2]; e.Method != "POST" || e.Status != directory.StatusClientClosed {
			t.Errorf("cancelled event: got %+v, want the POST", e)
		}
	})

	var failed []*store.Event
	observer.Read(ctx, func(tx *store.Tx) (err error) { //nolint:errcheck
		failed, err = tx.Events(store.EventQuery{TenantID: "acme", Failed: true})
		return
	})
	if len(failed) != 0 {
		t.Errorf("failed events: got %+v, want none", failed[0])
	}
	if l := logs.String(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "status=500") {
		t.Errorf("the log has an error or a 500:\n%s", l)
	}
}
