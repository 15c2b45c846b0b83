package directory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/store"
)

func TestWebhookEndpoints(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	s := openService(t, clock)
	if _, err := s.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		n    NewWebhook
		want string // part of the error
	}{
		{"unknown tenant", NewWebhook{Tenant: "nope", URL: "https://hooks.example.com/roster"}, "nope"},
		{"not a URL", NewWebhook{Tenant: "acme", URL: "hooks.example.com"}, "not an absolute http(s) URL"},
		{"plain http elsewhere", NewWebhook{Tenant: "acme", URL: "http://hooks.example.com/"}, "not https"},
		{"credentials in the URL", NewWebhook{Tenant: "acme", URL: "https://u:p@hooks.example.com/"}, "password"},
		{"unknown type", NewWebhook{Tenant: "acme", URL: "https://hooks.example.com/", Types: "user.create"}, "unknown change type"},
		{"unknown format", NewWebhook{Tenant: "acme", URL: "https://hooks.example.com/", Format: "xml"}, "unknown webhook format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.AddWebhook(ctx, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("AddWebhook = %v, want an error about %q", err, tc.want)
			}
		})
	}

	w, err := s.AddWebhook(ctx, NewWebhook{Tenant: "acme", URL: "https://hooks.example.com/roster", Types: "user.*, group.deleted", Format: "scim-set"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.ID, "wh_") || !strings.HasPrefix(w.Secret, "whsec_") || w.Types != "user.*,group.deleted" ||
		w.Format != "scim-set" || w.State != store.WebhookActive || w.Cursor != store.WebhookFromNow || !w.Created.Equal(start) {
		t.Fatalf("added %+v", w)
	}
	clock.Add(time.Minute) // listed oldest first
	local, err := s.AddWebhook(ctx, NewWebhook{Tenant: "acme", URL: "http://127.0.0.1:9000/hook"})
	if err != nil {
		t.Fatalf("http:// to loopback: %v", err)
	}
	if ws, err := s.Webhooks(ctx, "acme"); err != nil || len(ws) != 2 || ws[0].ID != w.ID || ws[0].Secret != w.Secret {
		t.Fatalf("Webhooks = %v, %v", ws, err)
	}

	// Progress is saved with the endpoint's revision; a replay bumps it, so
	// an older dispatcher cannot write its cursor back over the replay.
	attempts := make([]store.WebhookDelivery, WebhookDeliveriesKept+5)
	for i := range attempts {
		attempts[i] = store.WebhookDelivery{WebhookID: w.ID, Seq: int64(i + 1), ChangeID: "c", Attempt: 1, Time: start, Status: 204}
	}
	attempts[len(attempts)-1].Status, attempts[len(attempts)-1].Error = 500, "the receiver answered 500"
	since := start
	ok, err := s.SaveWebhookProgress(ctx, w.ID, w.Revision, store.WebhookProgress{Cursor: 42, State: store.WebhookActive, FailingSince: &since, Detail: "seq 43: 500"}, attempts)
	if err != nil || !ok {
		t.Fatalf("SaveWebhookProgress = %v, %v", ok, err)
	}
	all, _ := s.WebhookDeliveries(ctx, store.WebhookDeliveryQuery{WebhookID: w.ID, Limit: 5000})
	if len(all) != WebhookDeliveriesKept || all[0].Seq != int64(len(attempts)) || all[len(all)-1].Seq != 6 {
		t.Errorf("delivery log holds %d attempts (seq %d..%d), want the newest %d", len(all), all[len(all)-1].Seq, all[0].Seq, WebhookDeliveriesKept)
	}
	failed, _ := s.WebhookDeliveries(ctx, store.WebhookDeliveryQuery{Tenant: "acme", Failed: true})
	if len(failed) != 1 || failed[0].Status != 500 {
		t.Errorf("failed deliveries = %+v, want the one 500", failed)
	}

	st, err := s.Status(ctx, start, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Webhooks) != 1 || st.Webhooks[0].ID != w.ID || !strings.Contains(strings.Join(st.Attention, "\n"), "webhook "+w.ID) {
		t.Errorf("status webhooks = %+v, attention %q; want %s being retried", st.Webhooks, st.Attention, w.ID)
	}

	r, err := s.ReplayWebhook(ctx, w.ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	if r.Cursor != 6 || r.Revision != w.Revision+1 || r.FailingSince != nil || r.State != store.WebhookActive {
		t.Errorf("after replay --from 7: %+v", r)
	}
	if ok, err := s.SaveWebhookProgress(ctx, w.ID, w.Revision, store.WebhookProgress{Cursor: 99, State: store.WebhookActive}, nil); err != nil || ok {
		t.Errorf("SaveWebhookProgress at the old revision = %v, %v; want false", ok, err)
	}
	if got, _ := s.Webhook(ctx, w.ID); got.Cursor != 6 {
		t.Errorf("cursor = %d after a stale save, want 6", got.Cursor)
	}
	if f, _ := s.FailingWebhooks(ctx); len(f) != 0 {
		t.Errorf("FailingWebhooks after replay = %v, want none", f)
	}

	if _, err := s.RemoveWebhook(ctx, local.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveWebhook(ctx, local.ID); !errors.Is(err, ErrWebhookNotFound) {
		t.Errorf("removing twice = %v, want ErrWebhookNotFound", err)
	}
	if _, err := s.ReplayWebhook(ctx, "wh_nope", 0); !errors.Is(err, ErrWebhookNotFound) {
		t.Errorf("replay of an unknown id = %v, want ErrWebhookNotFound", err)
	}
	if _, err := s.RemoveTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if ws, _ := s.Webhooks(ctx, ""); len(ws) != 0 {
		t.Errorf("webhooks after removing the tenant = %v, want none", ws)
	}
}
