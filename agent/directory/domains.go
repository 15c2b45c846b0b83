package directory

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/domainproof"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// Domain proof schedule (issue 3; docs/domain-proof.md#schedule).
const (
	// PendingWindow is how long a pending domain is re-checked before it fails.
	PendingWindow = 72 * time.Hour
	// VerifiedRecheck is how often a verified (or lapsed) domain is re-checked.
	VerifiedRecheck = 24 * time.Hour
	// LapseGrace is how long a verified domain's record may be missing before it lapses.
	LapseGrace = 7 * 24 * time.Hour
	// RetryAfter is when a check that could not get an answer is tried again.
	RetryAfter = 5 * time.Minute
)

// DomainChecker looks for a domain's TXT record (*domainproof.Checker).
type DomainChecker interface {
	Check(ctx context.Context, ch domainproof.Challenge) domainproof.Result
}

// ErrDomainNotFound is returned for a domain the tenant does not have.
var ErrDomainNotFound = errors.New("no such domain")

// AddDomain starts the proof of an email domain for a tenant and returns the
// record to publish. Adding a domain the tenant has already returns it as it is.
func (s *Service) AddDomain(ctx context.Context, tenantID, name string) (*store.Domain, error) {
	ch, err := domainproof.NewChallenge(name)
	if err != nil {
		return nil, err
	}
	now := s.now()
	d := &store.Domain{TenantID: tenantID, Domain: ch.Domain, RecordName: ch.RecordName, Value: ch.Value,
		Status: store.DomainPending, Created: now, WindowStart: now, NextCheck: &now,
		Detail: "waiting for the TXT record to be published"}
	var existing *store.Domain
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, tenantID); err != nil {
			return err
		}
		if e, err := tx.Domain(tenantID, ch.Domain); err == nil {
			existing = e
			return nil
		}
		return tx.InsertDomain(d)
	})
	if err != nil {
		return nil, err
	}
	s.forgetDomains(tenantID)
	if existing != nil {
		return existing, nil
	}
	return d, nil
}

// Domains lists a tenant's domains ("" for all tenants); ErrNoTenant for a
// tenant that does not exist.
func (s *Service) Domains(ctx context.Context, tenantID string) ([]*store.Domain, error) {
	var out []*store.Domain
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		if err = tenantFilter(tx, tenantID); err == nil {
			out, err = tx.Domains(tenantID)
		}
		return err
	})
	return out, err
}

// DomainCounts returns, per tenant, how many of its domains are in each
// state ("verified", "pending", "failed", "lapsed"); a tenant without
// domains, which accepts users of any domain, is absent.
func (s *Service) DomainCounts(ctx context.Context) (map[string]map[string]int, error) {
	ds, err := s.Domains(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int{}
	for _, d := range ds {
		if out[d.TenantID] == nil {
			out[d.TenantID] = map[string]int{}
		}
		out[d.TenantID][string(d.Status)]++
	}
	return out, nil
}

// RemoveDomain removes a domain. Users of it stay; once the tenant has no
// domain left, it accepts users of any domain again.
func (s *Service) RemoveDomain(ctx context.Context, tenantID, name string) error {
	norm, err := domainproof.NormalizeDomain(name)
	if err != nil {
		return err
	}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, tenantID); err != nil {
			return err
		}
		return tx.DeleteDomain(tenantID, norm)
	})
	s.forgetDomains(tenantID)
	if errors.Is(err, ErrNoTenant) {
		return err
	}
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: tenant %q has no domain %q (see 'roster domain list')", ErrDomainNotFound, tenantID, norm)
	}
	return err
}

// VerifyDomain checks a domain now. A domain that is not verified starts a
// new 72-hour window of automatic checks.
func (s *Service) VerifyDomain(ctx context.Context, tenantID, name string, checker DomainChecker) (*store.Domain, domainproof.Result, error) {
	norm, err := domainproof.NormalizeDomain(name)
	if err != nil {
		return nil, domainproof.Result{}, err
	}
	var d *store.Domain
	err = s.db.Read(ctx, func(tx *store.Tx) (err error) {
		if err := tenantExists(tx, tenantID); err != nil {
			return err
		}
		d, err = tx.Domain(tenantID, norm)
		return err
	})
	if errors.Is(err, ErrNoTenant) {
		return nil, domainproof.Result{}, err
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, domainproof.Result{}, fmt.Errorf("%w: tenant %q has no domain %q; add it with 'roster domain add %s --tenant %s'", ErrDomainNotFound, tenantID, norm, norm, tenantID)
	}
	if err != nil {
		return nil, domainproof.Result{}, err
	}
	if d.Status != store.DomainVerified {
		d.Status, d.WindowStart = store.DomainPending, s.now()
	}
	res := checker.Check(ctx, domainproof.Challenge{Domain: d.Domain, RecordName: d.RecordName, Value: d.Value})
	Advance(d, res, s.now())
	err = s.db.Write(ctx, func(tx *store.Tx) error { return tx.UpdateDomain(d) })
	s.forgetDomains(tenantID)
	return d, res, err
}

// CheckDueDomains checks every domain whose next automatic check is due and
// returns how many it checked.
func (s *Service) CheckDueDomains(ctx context.Context, checker DomainChecker) (int, error) {
	var due []*store.Domain
	if err := s.db.Read(ctx, func(tx *store.Tx) (err error) { due, err = tx.DueDomains(s.now()); return }); err != nil {
		return 0, err
	}
	for i, d := range due {
		if ctx.Err() != nil {
			return i, ctx.Err()
		}
		before := d.Status
		res := checker.Check(ctx, domainproof.Challenge{Domain: d.Domain, RecordName: d.RecordName, Value: d.Value})
		Advance(d, res, s.now())
		if err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.UpdateDomain(d) }); err != nil {
			return i, err
		}
		s.forgetDomains(d.TenantID)
		if d.Status != before {
			s.log.Warn("email domain changed state", "tenant", d.TenantID, "domain", d.Domain, "from", before, "to", d.Status, "detail", d.Detail)
		} else if d.MissingSince != nil {
			s.log.Warn("verified email domain: TXT record missing", "tenant", d.TenantID, "domain", d.Domain, "detail", d.Detail)
		}
	}
	return len(due), nil
}

// Advance applies a check result to a domain's state at now:
//   - found: verified, re-checked daily;
//   - not found: a pending domain is re-checked with back-off until its 72-hour
//     window ends, then fails (only `roster domain verify` restarts it); a
//     verified one gets a warning and lapses after LapseGrace without the record;
//   - no answer (SERVFAIL, REFUSED, timeout): nothing changes but the detail;
//     it is tried again soon — never treated as "not found".
func Advance(d *store.Domain, res domainproof.Result, now time.Time) {
	d.LastCheck = &now
	next := func(after time.Duration) { t := now.Add(after); d.NextCheck = &t }
	switch res.Status {
	case domainproof.Verified:
		if d.Status != store.DomainVerified {
			d.VerifiedAt = &now
		}
		d.Status, d.MissingSince = store.DomainVerified, nil
		d.Detail = "TXT record found"
		next(VerifiedRecheck)
	case domainproof.Absent:
		switch d.Status {
		case store.DomainPending:
			if now.Sub(d.WindowStart) >= PendingWindow {
				d.Status, d.NextCheck = store.DomainFailed, nil
				d.Detail = "TXT record not found within 72 hours (" + res.Detail + "); publish it and run 'roster domain verify " + d.Domain + "'"
				return
			}
			d.Detail = "TXT record not found yet: " + res.Detail
			next(pendingBackoff(now.Sub(d.WindowStart)))
		case store.DomainVerified, store.DomainLapsed:
			if d.MissingSince == nil {
				d.MissingSince = &now
			}
			lapseAt := d.MissingSince.Add(LapseGrace)
			if d.Status == store.DomainVerified && !now.Before(lapseAt) {
				d.Status = store.DomainLapsed
			}
			if d.Status == store.DomainLapsed {
				d.Detail = "lapsed: TXT record missing since " + d.MissingSince.UTC().Format(time.RFC3339) + " (" + res.Detail + "); existing users are kept, changes are refused until it is verified again"
			} else {
				d.Detail = "warning: TXT record missing since " + d.MissingSince.UTC().Format(time.RFC3339) + " (" + res.Detail + "); the domain lapses on " + lapseAt.UTC().Format(time.RFC3339) + " unless it is restored"
			}
			next(VerifiedRecheck)
		default: // failed: only a manual verify checks again
			d.Detail = "TXT record not found: " + res.Detail
			d.NextCheck = nil
		}
	default:
		d.Detail = "could not check, will retry: " + res.Detail
		if d.Status != store.DomainFailed {
			next(RetryAfter)
		}
	}
}

// pendingBackoff spaces the checks of a pending domain: every minute at first,
// then a quarter of the time it has been pending, at most hourly.
func pendingBackoff(pending time.Duration) time.Duration {
	return min(max(pending/4, time.Minute), time.Hour)
}

// emailDomains returns the domains of a user's userName (when it is an
// address) and work emails, normalised.
func emailDomains(doc map[string]any) []string {
	var out []string
	add := func(addr string) {
		at := strings.LastIndexByte(addr, '@')
		if at < 0 || at == len(addr)-1 {
			return
		}
		d, err := domainproof.NormalizeDomain(addr[at+1:])
		if err != nil {
			d = strings.ToLower(addr[at+1:]) // still checked: an invalid domain is never verified
		}
		for _, e := range out {
			if e == d {
				return
			}
		}
		out = append(out, d)
	}
	if u, ok := doc["userName"].(string); ok {
		add(u)
	}
	emails, _ := doc["emails"].([]any)
	for _, e := range emails {
		m, _ := e.(map[string]any)
		if t, _ := m["type"].(string); strings.EqualFold(t, "work") {
			if v, ok := m["value"].(string); ok {
				add(v)
			}
		}
	}
	return out
}

// domainCacheTTL bounds how long a running agent may use a tenant's domain
// list after another process (`roster domain verify` in a shell) changed it.
// Changes made through this Service take effect at once.
const domainCacheTTL = 2 * time.Second

type cachedDomains struct {
	domains []*store.Domain
	fetched time.Time
}

// tenantDomains returns the tenant's domains, from a short-lived cache: every
// user write needs them, inside the single writer's transaction.
func (s *Service) tenantDomains(tx *store.Tx, tenantID string) ([]*store.Domain, error) {
	now := s.now()
	s.domMu.Lock()
	c, ok := s.domCache[tenantID]
	s.domMu.Unlock()
	if ok && now.Sub(c.fetched) < domainCacheTTL && !now.Before(c.fetched) {
		return c.domains, nil
	}
	ds, err := tx.Domains(tenantID)
	if err != nil {
		return nil, err
	}
	s.domMu.Lock()
	s.domCache[tenantID] = cachedDomains{domains: ds, fetched: now}
	s.domMu.Unlock()
	return ds, nil
}

// forgetDomains drops the cached domain list of a tenant after a change.
func (s *Service) forgetDomains(tenantID string) {
	s.domMu.Lock()
	delete(s.domCache, tenantID)
	s.domMu.Unlock()
}

// checkDomains refuses a user whose userName or work email is in a domain the
// tenant has not verified. A tenant with no domains accepts every domain. A
// subdomain of a verified domain is covered by it.
func (s *Service) checkDomains(tx *store.Tx, tenantID string, doc map[string]any) error {
	ds, err := s.tenantDomains(tx, tenantID)
	if err != nil || len(ds) == 0 {
		return err
	}
	for _, name := range emailDomains(doc) {
		var best *store.Domain
		for _, d := range ds {
			if name == d.Domain || strings.HasSuffix(name, "."+d.Domain) {
				if d.Status == store.DomainVerified {
					best = d
					break
				}
				if best == nil {
					best = d
				}
			}
		}
		switch {
		case best == nil:
			return scim.BadRequest(scim.InvalidValue, "the email domain %q is not one of this tenant's domains; add and verify it with 'roster domain add %s --tenant %s'", name, name, tenantID)
		case best.Status != store.DomainVerified:
			return scim.BadRequest(scim.InvalidValue, "the email domain %q is not verified for this tenant (status: %s); publish its TXT record and run 'roster domain verify %s --tenant %s'", best.Domain, best.Status, best.Domain, tenantID)
		}
	}
	return nil
}

// onlyDeactivates reports whether after differs from before only by active
// becoming false: disabling a leaver is always allowed, whatever the domain's state.
func onlyDeactivates(before, after map[string]any) bool {
	if after["active"] != false {
		return false
	}
	strip := func(m map[string]any) map[string]any {
		c := make(map[string]any, len(m))
		for k, v := range m {
			if k != "active" {
				c[k] = v
			}
		}
		return c
	}
	return reflect.DeepEqual(strip(before), strip(after))
}

// OpenTenants lists the tenants that have no email domain and therefore
// accept users of any domain.
func (s *Service) OpenTenants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		ts, err := tx.Tenants(s.now())
		if err != nil {
			return err
		}
		ds, err := tx.Domains("")
		if err != nil {
			return err
		}
		has := map[string]bool{}
		for _, d := range ds {
			has[d.TenantID] = true
		}
		for _, t := range ts {
			if !has[t.ID] {
				out = append(out, t.ID)
			}
		}
		return nil
	})
	return out, err
}
