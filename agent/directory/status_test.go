package directory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

func openService(t *testing.T, clock *fakeClock) *Service {
	t.Helper()
	return openServiceAt(t, pgtest.Location(t), clock.Now)
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	s := openService(t, clock)
	for _, id := range []string{"quiet", "busy"} {
		if _, err := s.AddTenant(ctx, id, "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	soon, later := start.Add(10*24*time.Hour), start.Add(60*24*time.Hour)
	past := start.Add(-time.Hour)
	for _, tok := range []struct {
		name    string
		app     bool
		expires *time.Time
	}{{"entra", false, &soon}, {"hr-app", true, nil}, {"next-year", false, &later}, {"old", false, &past}} {
		var err error
		if tok.app {
			_, err = s.IssueAppToken(ctx, "busy", tok.name, tok.expires)
		} else {
			_, err = s.IssueToken(ctx, "busy", tok.name, false, tok.expires)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Two days ago a rejected request (outside the 24-hour window); then
	// Entra creates a user, Entra's token is refused once, and the
	// organisation's app is refused last (it is not Entra's request).
	clock.Add(-48 * time.Hour)
	s.Record(ctx, Call{TenantID: "busy", Method: "GET", Path: "/Users", Start: clock.Now()}, 401, errors.New("old failure"))
	clock.Add(47 * time.Hour)
	if _, err := s.Create(ctx, Call{TenantID: "busy", TokenName: "entra", BaseURL: "http://x", Method: "POST", Path: "/Users"}, store.KindUser,
		map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(10 * time.Minute)
	s.Record(ctx, Call{TenantID: "busy", Method: "GET", Path: "/Users"}, 401, &scim.Error{Status: 401, Detail: "invalid or expired Secret Token"})
	clock.Add(10 * time.Minute)
	s.Record(ctx, Call{TenantID: "busy", TokenName: "hr-app", Method: "POST", Path: "/Users"}, 409, errors.New("taken"))
	clock.now = start

	// Domains: one verified, one verified but missing its record, one pending.
	for _, d := range []string{"ok.example", "missing.example", "new.example"} {
		if _, err := s.AddDomain(ctx, "busy", d); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := s.Domains(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	missing := start.Add(-2 * 24 * time.Hour)
	for _, d := range ds {
		switch d.Domain {
		case "ok.example":
			d.Status = store.DomainVerified
		case "missing.example":
			d.Status, d.MissingSince = store.DomainVerified, &missing
		default:
			continue
		}
		if err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.UpdateDomain(d) }); err != nil {
			t.Fatal(err)
		}
	}

	probed := 0
	st, err := s.Status(ctx, start, func(context.Context) AgentState {
		probed++
		return AgentState{Address: "http://127.0.0.1:8080", Reachable: true, Ready: true}
	})
	if err != nil {
		t.Fatal(err)
	}
	if probed != 1 || !st.Agent.Ready {
		t.Errorf("agent = %+v after %d probes, want the probe's answer after one", st.Agent, probed)
	}
	if len(st.Tenants) != 2 {
		t.Fatalf("tenants = %+v, want quiet and busy", st.Tenants)
	}
	busy, quiet := st.Tenants[0], st.Tenants[1] // same creation time: by id
	if quiet.ID != "quiet" || quiet.LastRequest != nil || quiet.Failures != 0 || quiet.Users != 0 {
		t.Errorf("quiet = %+v, want no users and no requests", quiet)
	}
	if busy.Users != 1 || busy.ActiveTokens != 3 {
		t.Errorf("busy: %d users, %d active tokens; want 1 and 3", busy.Users, busy.ActiveTokens)
	}
	if r := busy.LastRequest; r == nil || r.Status != 401 || r.Token != "" || !strings.Contains(r.Outcome, "invalid or expired") {
		t.Errorf("busy.LastRequest = %+v, want the 401 (the app's later 409 is not Entra's)", r)
	}
	if busy.Failures != 2 || busy.LastFailure == nil || busy.LastFailure.Status != 409 {
		t.Errorf("busy: %d failures, last %+v; want 2 in 24 h, the last a 409", busy.Failures, busy.LastFailure)
	}
	if len(st.Expiring) != 1 || st.Expiring[0].Name != "entra" {
		t.Errorf("expiring = %+v, want only the token expiring in 10 days", st.Expiring)
	}
	var domains []string
	for _, d := range st.Domains {
		domains = append(domains, d.Domain+":"+string(d.Status))
		if d.Domain == "missing.example" && (d.LapsesAt == nil || !d.LapsesAt.Equal(missing.Add(LapseGrace))) {
			t.Errorf("missing.example lapses at %v, want %v", d.LapsesAt, missing.Add(LapseGrace))
		}
	}
	if got := strings.Join(domains, " "); got != "missing.example:verified new.example:pending" {
		t.Errorf("domains = %s, want the lapsing and the pending one", got)
	}
	want := []string{`"busy": the last request (GET /Users) was rejected with 401`, `token "entra"`, "TXT record of missing.example is missing", "new.example is not verified yet"}
	if len(st.Attention) != len(want) {
		t.Errorf("attention = %q, want %d items", st.Attention, len(want))
	}
	for i, w := range want {
		if i >= len(st.Attention) || !strings.Contains(st.Attention[i], w) {
			t.Errorf("attention[%d] = %q, want it to contain %q", i, st.Attention, w)
		}
	}

	t.Run("all well", func(t *testing.T) {
		s := openService(t, &fakeClock{now: start})
		if _, err := s.AddTenant(ctx, "t1", "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
		st, err := s.Status(ctx, start, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Attention) != 0 {
			t.Errorf("attention = %q, want none", st.Attention)
		}
	})
	t.Run("agent down", func(t *testing.T) {
		st, err := s.Status(ctx, start, func(context.Context) AgentState { return AgentState{Detail: "no agent answers at 127.0.0.1:1"} })
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Attention) == 0 || !strings.Contains(st.Attention[0], "does not answer (no agent answers at 127.0.0.1:1)") {
			t.Errorf("attention = %q, want the agent first", st.Attention)
		}
	})
}

func TestRemoveTenant(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := openService(t, clock)
	for _, id := range []string{"gone", "kept"} {
		if _, err := s.AddTenant(ctx, id, "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, Call{TenantID: id, BaseURL: "http://x"}, store.KindUser, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "a@" + id + ".example"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddDomain(ctx, id, id+".example"); err != nil {
			t.Fatal(err)
		}
		if err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.SetSetting("entra:"+id, `{"job_id":"j"}`) }); err != nil {
			t.Fatal(err)
		}
	}
	issued, err := s.IssueToken(ctx, "gone", "entra", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "gone", issued.Token.Reveal()); err != nil {
		t.Fatalf("before removal: %v", err)
	}
	removed, err := s.RemoveTenant(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if removed.ID != "gone" || removed.Users != 1 {
		t.Errorf("removed = %+v, want tenant gone with 1 user", removed)
	}
	// The token is refused at once, though it was cached.
	if _, err := s.Authenticate(ctx, "gone", issued.Token.Reveal()); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("token of the removed tenant: %v, want ErrUnauthenticated", err)
	}
	for name, call := range map[string]func() error{
		"Tenant":       func() error { _, err := s.Tenant(ctx, "gone"); return err },
		"Tokens":       func() error { _, err := s.Tokens(ctx, "gone"); return err },
		"Domains":      func() error { _, err := s.Domains(ctx, "gone"); return err },
		"Events":       func() error { _, err := s.Events(ctx, store.EventQuery{TenantID: "gone"}); return err },
		"RemoveTenant": func() error { _, err := s.RemoveTenant(ctx, "gone"); return err },
		"RemoveDomain": func() error { return s.RemoveDomain(ctx, "gone", "gone.example") },
		"AddDomain":    func() error { _, err := s.AddDomain(ctx, "gone", "gone.example"); return err },
		"IssueToken":   func() error { _, err := s.IssueToken(ctx, "gone", "x", false, nil); return err },
	} {
		if err := call(); !errors.Is(err, ErrNoTenant) || !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), `no tenant "gone"`) {
			t.Errorf("%s after removal: %v, want ErrNoTenant naming the tenant", name, err)
		}
	}
	var setting error
	s.db.Read(ctx, func(tx *store.Tx) error { _, setting = tx.Setting("entra:gone"); return nil }) //nolint:errcheck
	if !errors.Is(setting, store.ErrNotFound) {
		t.Errorf("the saved Entra connection survived: %v", setting)
	}
	st, err := s.Status(ctx, clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tenants) != 1 || st.Tenants[0].ID != "kept" || st.Tenants[0].Users != 1 || st.Tenants[0].LastRequest == nil {
		t.Errorf("after removal: tenants %+v, want kept with its user and its events", st.Tenants)
	}
}
