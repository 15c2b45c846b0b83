package directory

import (
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/domainproof"
	"github.com/rosterhq/roster/store"
)

func TestAdvance(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	found := domainproof.Result{Status: domainproof.Verified, Detail: "found"}
	absent := domainproof.Result{Status: domainproof.Absent, Detail: "no record"}
	retry := domainproof.Result{Status: domainproof.Retry, Detail: "SERVFAIL"}
	type step struct {
		after      time.Duration // since t0
		res        domainproof.Result
		wantStatus store.DomainStatus
		wantNext   time.Duration // since the check; -1: no next check
		wantDetail string
	}
	tests := []struct {
		name  string
		start store.DomainStatus
		steps []step
	}{
		{"pending, found at once", store.DomainPending, []step{
			{0, found, store.DomainVerified, VerifiedRecheck, "found"},
		}},
		{"pending backs off, then fails after 72 hours", store.DomainPending, []step{
			{time.Minute, absent, store.DomainPending, time.Minute, "not found yet"},
			{2 * time.Hour, absent, store.DomainPending, 30 * time.Minute, "not found yet"},
			{10 * time.Hour, absent, store.DomainPending, time.Hour, "not found yet"},
			{72 * time.Hour, absent, store.DomainFailed, -1, "within 72 hours"},
		}},
		{"no answer is never 'not found'", store.DomainPending, []step{
			{80 * time.Hour, retry, store.DomainPending, RetryAfter, "will retry"},
		}},
		{"verified record missing: warning, then lapsed after 7 days, then back", store.DomainVerified, []step{
			{0, absent, store.DomainVerified, VerifiedRecheck, "warning"},
			{3 * 24 * time.Hour, retry, store.DomainVerified, RetryAfter, "will retry"},
			{6 * 24 * time.Hour, absent, store.DomainVerified, VerifiedRecheck, "lapses on"},
			{7 * 24 * time.Hour, absent, store.DomainLapsed, VerifiedRecheck, "lapsed"},
			{8 * 24 * time.Hour, found, store.DomainVerified, VerifiedRecheck, "found"},
		}},
		{"failed stays failed without a manual verify", store.DomainFailed, []step{
			{0, absent, store.DomainFailed, -1, "not found"},
			{time.Hour, retry, store.DomainFailed, -1, "will retry"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &store.Domain{Domain: "contoso.test", Status: tt.start, WindowStart: t0}
			for i, st := range tt.steps {
				now := t0.Add(st.after)
				Advance(d, st.res, now)
				if d.Status != st.wantStatus {
					t.Fatalf("step %d: status got %s, want %s (%s)", i, d.Status, st.wantStatus, d.Detail)
				}
				switch {
				case st.wantNext < 0 && d.NextCheck != nil:
					t.Errorf("step %d: next check got %v, want none", i, d.NextCheck)
				case st.wantNext >= 0 && (d.NextCheck == nil || d.NextCheck.Sub(now) != st.wantNext):
					t.Errorf("step %d: next check got %v, want +%s", i, d.NextCheck, st.wantNext)
				}
				if !strings.Contains(d.Detail, st.wantDetail) {
					t.Errorf("step %d: detail got %q, want it to mention %q", i, d.Detail, st.wantDetail)
				}
				if d.LastCheck == nil || !d.LastCheck.Equal(now) {
					t.Errorf("step %d: last check got %v, want %v", i, d.LastCheck, now)
				}
			}
		})
	}
}

func TestEmailDomains(t *testing.T) {
	tests := []struct {
		doc  map[string]any
		want string
	}{
		{map[string]any{"userName": "Alice@Contoso.TEST"}, "contoso.test"},
		{map[string]any{"userName": "alice"}, ""},
		{map[string]any{"userName": "a@x.test", "emails": []any{map[string]any{"type": "work", "value": "a@y.test"}, map[string]any{"type": "home", "value": "a@home.test"}}}, "x.test y.test"},
		{map[string]any{"userName": "a@bücher.test"}, "xn--bcher-kva.test"},
		{map[string]any{"userName": "a@"}, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(emailDomains(tt.doc), " "); got != tt.want {
			t.Errorf("emailDomains(%v) = %q, want %q", tt.doc, got, tt.want)
		}
	}
}

func TestOnlyDeactivates(t *testing.T) {
	before := map[string]any{"userName": "a", "active": true, "title": "T"}
	tests := []struct {
		after map[string]any
		want  bool
	}{
		{map[string]any{"userName": "a", "active": false, "title": "T"}, true},
		{map[string]any{"userName": "a", "active": false, "title": "X"}, false},
		{map[string]any{"userName": "a", "active": true, "title": "T"}, false},
		{map[string]any{"userName": "a", "title": "T"}, false},
	}
	for _, tt := range tests {
		if got := onlyDeactivates(before, tt.after); got != tt.want {
			t.Errorf("onlyDeactivates(%v) = %v, want %v", tt.after, got, tt.want)
		}
	}
}
