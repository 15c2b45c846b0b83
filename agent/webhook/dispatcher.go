package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/store"
)

// Store is where the dispatcher finds endpoints and persists their
// progress; *directory.Service implements it.
type Store interface {
	// Webhooks lists the endpoints of a tenant ("" for all).
	Webhooks(ctx context.Context, tenant string) ([]*store.Webhook, error)
	// SaveWebhookProgress persists an endpoint's cursor and state, and
	// appends attempts to its (pruned) delivery log, in one transaction.
	// It reports false when the endpoint is gone or was replayed since
	// revision.
	SaveWebhookProgress(ctx context.Context, id string, revision int64, p store.WebhookProgress, attempts []store.WebhookDelivery) (bool, error)
	// Webhook returns one endpoint as stored now.
	Webhook(ctx context.Context, id string) (*store.Webhook, error)
	// TryLease takes the named lease (store.DB.TryLease), or returns nil
	// while another agent on the database holds it.
	TryLease(ctx context.Context, name string, ttl time.Duration) (*store.Lease, error)
}

// Clock is the dispatcher's time: back-off waits go through Sleep, so that
// tests can simulate hours of an unreachable receiver.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Delivery schedule (docs/webhooks.md).
const (
	// RetryWindow is how long a change is retried before the endpoint is
	// marked failing.
	RetryWindow = 72 * time.Hour
	// FirstRetry is the back-off after the first failure; it doubles with
	// each failure up to MaxBackoff, and each wait is jittered to between
	// half and all of it.
	FirstRetry = 5 * time.Second
	MaxBackoff = time.Hour
	// MaxRetryAfter caps how long a receiver's Retry-After can defer the
	// next attempt.
	MaxRetryAfter = 24 * time.Hour
)

// Options tunes a Dispatcher. The zero value is usable.
type Options struct {
	// Client sends the deliveries; nil uses NewClient(nil, 0).
	Client *http.Client
	// Clock is the time used for timestamps, back-off and the retry
	// window; nil is the real clock.
	Clock Clock
	// Issuer returns a tenant's SCIM base URL, the iss of scim-set
	// payloads; nil leaves iss out.
	Issuer func(tenant string) string
	Logger *slog.Logger
	// Reload is how often the endpoint list is reread (endpoints are added,
	// removed and replayed by other processes); 0 means 2 s.
	Reload time.Duration
	// Batch is how many changes are read from the Source at once; 0 means 256.
	Batch int
	// FlushEvery and FlushInterval bound how many deliveries, and how much
	// time, may pass before an endpoint's cursor is persisted; 0 means 256
	// and 1 s. A crash replays at most that much (at least once).
	FlushEvery    int
	FlushInterval time.Duration
	// RetryWindow overrides the package's RetryWindow when non-zero.
	RetryWindow time.Duration
	// Jitter returns a number in [0, 1) that spreads back-off waits; nil
	// uses math/rand.
	Jitter func() float64
	// LeaseTTL is how long an endpoint's lease outlives its last extension
	// (see Dispatcher); 0 means store.DefaultLeaseTTL.
	LeaseTTL time.Duration
}

// Dispatcher delivers the change log to every active endpoint: one
// goroutine per endpoint, one delivery in flight each, in seq order.
//
// Several agents on one database each run a Dispatcher; an endpoint is
// delivered by the one that holds its lease ("roster/webhook/" + its id),
// so each change reaches it once per agent that held it, in order. The
// others try to take the lease at every reload. An agent that stops
// persists the endpoint's cursor and releases the lease, and another
// continues from that cursor; the lease of an agent that died expires
// after LeaseTTL, and another continues from the last cursor it persisted
// (FlushEvery, FlushInterval): the receiver may get those changes again,
// as after a restart.
type Dispatcher struct {
	st  Store
	src feed.Source
	opt Options
	log *slog.Logger
}

// New returns a Dispatcher over the endpoints in st and the changes in src.
func New(st Store, src feed.Source, opt Options) (*Dispatcher, error) {
	if opt.Client == nil {
		c, err := NewClient(nil, 0)
		if err != nil {
			return nil, err
		}
		opt.Client = c
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	if opt.Issuer == nil {
		opt.Issuer = func(string) string { return "" }
	}
	if opt.Reload <= 0 {
		opt.Reload = 2 * time.Second
	}
	if opt.Batch <= 0 {
		opt.Batch = 256
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = 256
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = time.Second
	}
	if opt.RetryWindow <= 0 {
		opt.RetryWindow = RetryWindow
	}
	if opt.Jitter == nil {
		opt.Jitter = rand.Float64
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{st: st, src: src, opt: opt, log: log}, nil
}

// Backoff returns the wait after the n-th consecutive failure (n >= 1)
// before jitter: FirstRetry doubled n-1 times, at most MaxBackoff.
func Backoff(n int) time.Duration {
	d := FirstRetry
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

type running struct {
	revision int64
	cancel   context.CancelFunc
	done     chan struct{}
}

// Run delivers until ctx ends, then persists every endpoint's progress and
// returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	workers := map[string]*running{}
	stop := func(id string) {
		r := workers[id]
		r.cancel()
		<-r.done
		delete(workers, id)
	}
	defer func() {
		for id := range workers {
			stop(id)
		}
	}()
	t := time.NewTicker(d.opt.Reload)
	defer t.Stop()
	for {
		hooks, err := d.st.Webhooks(ctx, "")
		if err != nil && ctx.Err() == nil {
			d.log.Warn("webhooks: list endpoints", "err", err)
		}
		if err == nil {
			active := map[string]bool{}
			for _, w := range hooks {
				if w.State != store.WebhookActive {
					continue
				}
				active[w.ID] = true
				if r, ok := workers[w.ID]; ok {
					select {
					case <-r.done: // stopped by itself (e.g. a failed save): start again from the stored cursor
					default:
						if r.revision == w.Revision {
							continue
						}
					}
					stop(w.ID)
				}
				if r := d.claim(ctx, w.ID); r != nil {
					workers[w.ID] = r
				}
			}
			for id := range workers {
				if !active[id] {
					stop(id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// claim takes the lease of the endpoint id and starts its worker, from
// the endpoint as stored once the lease is held: the agent that held it
// before may have moved its cursor. It returns nil when another agent
// holds the lease, or when the endpoint is no longer active.
func (d *Dispatcher) claim(ctx context.Context, id string) *running {
	l, err := d.st.TryLease(ctx, "roster/webhook/"+id, d.opt.LeaseTTL)
	if err != nil && ctx.Err() == nil {
		d.log.Warn("webhooks: take the lease of an endpoint", "webhook", id, "err", err)
	}
	if l == nil {
		return nil
	}
	w, err := d.st.Webhook(ctx, id)
	if err != nil || w.State != store.WebhookActive {
		if err != nil && ctx.Err() == nil { // removed meanwhile, or the database failed
			d.log.Warn("webhooks: read an endpoint", "webhook", id, "err", err)
		}
		l.Release() //nolint:errcheck // it expires anyway
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	r := &running{revision: w.Revision, cancel: cancel, done: make(chan struct{})}
	go func() {
		select {
		case <-l.Lost():
			cancel()
		case <-wctx.Done():
		}
	}()
	go func() {
		defer close(r.done)
		d.deliverAll(wctx, w, l.Lost())
		cancel()
		if err := l.Release(); err != nil && ctx.Err() == nil {
			d.log.Warn("webhooks: release the lease of an endpoint", "webhook", id, "err", err)
		}
	}()
	return r
}

// endpoint is a worker's state for one endpoint.
type endpoint struct {
	d        *Dispatcher
	lost     <-chan struct{} // closed when the endpoint's lease may be another agent's
	w        *store.Webhook
	p        store.WebhookProgress
	pending  []store.WebhookDelivery
	unsaved  int // deliveries since the last save
	lastSave time.Time
	stale    bool // the endpoint was removed or replayed: stop
}

// deliverAll is one endpoint's worker: it reads the log after the cursor in
// batches and delivers each selected change until it gets a 2xx.
func (d *Dispatcher) deliverAll(ctx context.Context, w *store.Webhook, lost <-chan struct{}) {
	e := &endpoint{d: d, w: w, lost: lost, lastSave: d.opt.Clock.Now(),
		p: store.WebhookProgress{Cursor: w.Cursor, State: w.State, FailingSince: w.FailingSince, Detail: w.Detail}}
	defer e.save()
	filter, err := feed.ParseFilter(w.Types)
	if err != nil {
		e.park(store.WebhookFailing, fmt.Sprintf("the webhook's types cannot be read: %v", err))
		return
	}
	fromNow := w.Cursor == store.WebhookFromNow
	if fromNow {
		e.p.Cursor = 0
	}
	for ctx.Err() == nil && !e.stale {
		// Read unfiltered and filter here, so that the cursor also moves
		// past changes the endpoint does not want.
		batch, err := d.src.Changes(ctx, w.TenantID, e.p.Cursor, d.opt.Batch, nil)
		if errors.Is(err, feed.ErrExpired) {
			e.park(store.WebhookFailing, "the endpoint fell behind the retained change log; replay it from a snapshot's seq with 'roster webhook replay'")
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("webhooks: read the change log", "webhook", w.ID, "tenant", w.TenantID, "err", err)
				_ = d.opt.Clock.Sleep(ctx, time.Second)
			}
			continue
		}
		if len(batch) == 0 {
			e.save()
			if err := d.src.Wait(ctx, w.TenantID, e.p.Cursor); err != nil && ctx.Err() == nil {
				_ = d.opt.Clock.Sleep(ctx, time.Second)
			}
			continue
		}
		for i := range batch {
			c := &batch[i]
			// A new endpoint skips what was committed before it was added.
			skip := fromNow && c.Time.Before(w.Created)
			if !skip && filter.Match(c.Type) && !e.deliver(ctx, c) {
				return
			}
			e.p.Cursor = c.Seq
			e.unsaved++
			if e.unsaved >= d.opt.FlushEvery || d.opt.Clock.Now().Sub(e.lastSave) >= d.opt.FlushInterval {
				e.save()
			}
			if e.stale || ctx.Err() != nil {
				return
			}
		}
	}
}

// deliver sends c until the receiver acknowledges it. It returns false when
// the worker must stop: ctx ended, the endpoint was parked (failing for the
// whole retry window, or 410 Gone), or it was removed or replayed.
func (e *endpoint) deliver(ctx context.Context, c *feed.Change) bool {
	d := e.d
	req, err := NewRequest(e.w, c, d.opt.Issuer(e.w.TenantID), d.opt.Clock.Now())
	if err != nil {
		e.park(store.WebhookFailing, err.Error())
		return false
	}
	for n := 1; ; n++ {
		now := d.opt.Clock.Now()
		a := Send(ctx, d.opt.Client, req, now)
		if ctx.Err() != nil {
			return false // shutting down: this attempt does not count
		}
		e.pending = append(e.pending, a.Log(e.w.ID, c, n, now))
		if a.OK() {
			if e.p.FailingSince != nil {
				d.log.Info("webhook delivered again", "webhook", e.w.ID, "url", e.w.URL, "seq", c.Seq, "attempts", n)
				e.p.FailingSince, e.p.Detail = nil, ""
				e.save()
			}
			return true
		}
		if e.p.FailingSince == nil {
			e.p.FailingSince = &now
		}
		e.p.Detail = fmt.Sprintf("seq %d, attempt %d: %v", c.Seq, n, a.Err)
		if a.Status == http.StatusGone {
			// Standard Webhooks: 410 means the receiver wants no more.
			e.park(store.WebhookDisabled, e.p.Detail+"; the receiver asked to stop (410 Gone)")
			return false
		}
		if now.Sub(*e.p.FailingSince) >= d.opt.RetryWindow {
			e.park(store.WebhookFailing, fmt.Sprintf("%s; no success for %s", e.p.Detail, d.opt.RetryWindow))
			return false
		}
		wait := Backoff(n)
		wait = wait/2 + time.Duration(d.opt.Jitter()*float64(wait/2))
		if a.RetryAfter > 0 {
			wait = min(a.RetryAfter, MaxRetryAfter)
		}
		d.log.Debug("webhook delivery failed", "webhook", e.w.ID, "seq", c.Seq, "attempt", n, "status", a.Status, "err", a.Err, "retry_in", wait)
		e.save()
		if e.stale || d.opt.Clock.Sleep(ctx, wait) != nil {
			return false
		}
	}
}

// park marks the endpoint failing or disabled: the dispatcher stops
// delivering to it until it is replayed.
func (e *endpoint) park(state store.WebhookState, detail string) {
	e.p.State, e.p.Detail = state, detail
	e.d.log.Warn("webhook endpoint stopped; fix the receiver, then run 'roster webhook replay'", "webhook", e.w.ID, "url", e.w.URL, "state", state, "detail", detail)
	e.save()
}

// save persists the cursor, state and pending log entries. It runs with a
// context of its own, so that progress made before shutdown is kept.
func (e *endpoint) save() {
	select {
	case <-e.lost:
		// Another agent may deliver the endpoint now: its cursor is not
		// this worker's to move, backwards or forwards.
		return
	default:
	}
	if e.stale || (e.unsaved == 0 && len(e.pending) == 0 && e.p.State == e.w.State && e.p.Detail == e.w.Detail) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := e.d.st.SaveWebhookProgress(ctx, e.w.ID, e.w.Revision, e.p, e.pending)
	if err != nil {
		e.d.log.Warn("webhooks: save progress", "webhook", e.w.ID, "err", err)
		return
	}
	if !ok {
		e.stale = true // removed or replayed meanwhile; the dispatcher restarts it if it is still there
		return
	}
	e.w.State, e.w.Detail = e.p.State, e.p.Detail
	e.pending, e.unsaved, e.lastSave = e.pending[:0], 0, e.d.opt.Clock.Now()
}
