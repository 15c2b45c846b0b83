// Package webhooktest provides an in-memory feed.Source and a simulated
// clock for testing webhook delivery without the change log's storage.
package webhooktest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rosterhq/roster/agent/feed"
)

// Source is an in-memory feed.Source: per tenant, a slice of changes with
// increasing seqs. The zero value is not usable; call NewSource.
type Source struct {
	mu      sync.Mutex
	changes map[string][]feed.Change
	pruned  map[string]int64 // seqs up to this one were pruned
	notify  chan struct{}    // closed and replaced on every Append
}

// NewSource returns an empty Source.
func NewSource() *Source {
	return &Source{changes: map[string][]feed.Change{}, pruned: map[string]int64{}, notify: make(chan struct{})}
}

// Append adds changes to a tenant's log, assigning the next seqs and, where
// empty, an id ("chg_<tenant>_<seq>"), the tenant and the time at. It
// returns the changes as stored.
func (s *Source) Append(tenant string, at time.Time, cs ...feed.Change) []feed.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.changes[tenant]
	next := s.pruned[tenant] + 1
	if n := len(log); n > 0 {
		next = log[n-1].Seq + 1
	}
	for i := range cs {
		c := &cs[i]
		c.Seq, c.Tenant = next, tenant
		if c.ID == "" {
			c.ID = fmt.Sprintf("chg_%s_%d", tenant, next)
		}
		if c.Time.IsZero() {
			c.Time = at
		}
		next++
	}
	s.changes[tenant] = append(log, cs...)
	close(s.notify)
	s.notify = make(chan struct{})
	return cs
}

// Prune drops a tenant's changes up to and including seq, as retention does.
func (s *Source) Prune(tenant string, seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.changes[tenant]
	i := 0
	for i < len(log) && log[i].Seq <= seq {
		i++
	}
	s.changes[tenant] = log[i:]
	s.pruned[tenant] = max(s.pruned[tenant], seq)
}

// Changes implements feed.Source.
func (s *Source) Changes(_ context.Context, tenant string, after int64, limit int, f feed.Filter) ([]feed.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if after < s.pruned[tenant] {
		return nil, feed.ErrExpired
	}
	var out []feed.Change
	for _, c := range s.changes[tenant] {
		if c.Seq > after && f.Match(c.Type) {
			out = append(out, c)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Wait implements feed.Source.
func (s *Source) Wait(ctx context.Context, tenant string, after int64) error {
	for {
		s.mu.Lock()
		log, ch := s.changes[tenant], s.notify
		s.mu.Unlock()
		if n := len(log); n > 0 && log[n-1].Seq > after {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Clock is a simulated clock (webhook.Clock): Sleep returns at once after
// moving the time forward, and records how long it was asked to wait.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// NewClock returns a Clock set to now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the time forward by d, unless ctx has ended.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

// Sleeps returns the waits asked for so far.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
