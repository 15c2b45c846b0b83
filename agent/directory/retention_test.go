package directory

import (
	"context"
	"github.com/rosterhq/roster/agent/scim"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestPurgeInactive(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.Location(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(db, nil, clock.Now)
	zero, seven := 0, 7
	for id, days := range map[string]*int{"std": nil, "keep": &zero, "short": &seven} {
		if _, err := s.AddTenant(ctx, id, "", store.TenantSettings{RetentionDays: days}); err != nil {
			t.Fatal(err)
		}
	}
	create := func(tenant, name string, active bool) string {
		t.Helper()
		got, err := s.Create(ctx, Call{TenantID: tenant, BaseURL: "http://x"}, store.KindUser, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": name, "active": active})
		if err != nil {
			t.Fatal(err)
		}
		return got.Doc["id"].(string)
	}
	patchActive := func(tenant, id, value string) {
		t.Helper()
		body := `{"Operations":[{"op":"Replace","path":"active","value":"` + value + `"}]}`
		if _, err := s.Patch(ctx, Call{TenantID: tenant, BaseURL: "http://x"}, store.KindUser, id, []byte(body), ""); err != nil {
			t.Fatal(err)
		}
	}
	leaver := create("std", "leaver@x.test", true)
	stayer := create("std", "stayer@x.test", true)
	back := create("std", "back@x.test", true)
	createdOff := create("std", "created-off@x.test", false)
	kept := create("keep", "kept@x.test", true)
	short := create("short", "short@x.test", true)
	for _, u := range [][2]string{{"std", leaver}, {"std", back}, {"keep", kept}, {"short", short}} {
		patchActive(u[0], u[1], "False")
	}

	exists := func(tenant, id string) bool {
		t.Helper()
		err := db.Read(ctx, func(tx *store.Tx) error { _, err := tx.Resource(tenant, store.KindUser, id); return err })
		return err == nil
	}
	steps := []struct {
		after  time.Duration
		action func()
		purged int
		gone   [][2]string
		there  [][2]string
	}{
		{after: 6 * 24 * time.Hour, purged: 0, there: [][2]string{{"std", leaver}, {"short", short}}},
		{after: 2 * 24 * time.Hour, purged: 1, gone: [][2]string{{"short", short}}, there: [][2]string{{"std", leaver}}},
		{after: 10 * 24 * time.Hour, action: func() { patchActive("std", back, "True") }, purged: 0},
		{after: 13 * 24 * time.Hour, purged: 2, gone: [][2]string{{"std", leaver}, {"std", createdOff}},
			there: [][2]string{{"std", stayer}, {"std", back}, {"keep", kept}}},
		{after: 365 * 24 * time.Hour, purged: 0, there: [][2]string{{"keep", kept}, {"std", back}}},
	}
	for i, st := range steps {
		clock.Add(st.after)
		if st.action != nil {
			st.action()
		}
		n, err := s.PurgeInactive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != st.purged {
			t.Errorf("step %d: purged %d, want %d", i, n, st.purged)
		}
		for _, g := range st.gone {
			if exists(g[0], g[1]) {
				t.Errorf("step %d: %s/%s still there", i, g[0], g[1])
			}
		}
		for _, g := range st.there {
			if !exists(g[0], g[1]) {
				t.Errorf("step %d: %s/%s was purged", i, g[0], g[1])
			}
		}
	}
	evs, err := s.Events(ctx, store.EventQuery{TenantID: "std"})
	if err != nil {
		t.Fatal(err)
	}
	var purges []string
	for _, e := range evs {
		if e.Method == "PURGE" {
			purges = append(purges, e.Name)
			if !strings.Contains(e.Detail, "30 days") || e.TokenName != "retention" {
				t.Errorf("purge event = %+v", e)
			}
		}
	}
	if strings.Join(purges, " ") != "leaver@x.test created-off@x.test" && strings.Join(purges, " ") != "created-off@x.test leaver@x.test" {
		t.Errorf("purge events for %v, want leaver and created-off", purges)
	}
}
