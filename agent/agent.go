// Package agent runs Roster's headless SCIM 2.0 service provider. Run
// assembles a whole agent from its configuration (store, first-start
// bootstrap, TLS, side listeners, reload on SIGHUP, systemd notifications
// and watchdog); `roster agent` and the setup wizard both call it. Agent is
// the server underneath: the HTTP or HTTPS listener, side listeners
// (metrics, ACME http-01 challenges), the background loops, readiness, and
// graceful shutdown.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/store"
)

// Options configures an Agent.
type Options struct {
	// PublicURL is the externally visible base URL used in Tenant URLs and
	// meta.location; "" derives it from each request's Host header.
	PublicURL string
	// EventRetention is how long provisioning events are kept; 0 means 90 days.
	EventRetention time.Duration
	// ChangeRetention is how long change-feed records are kept; 0 means
	// directory.DefaultChangeRetention.
	ChangeRetention time.Duration
	// MaintenanceInterval is how often the retention purges run (at start,
	// then every interval); 0 means an hour.
	MaintenanceInterval time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration
	// DomainChecker checks the TXT records of email domains whose check is
	// due, every DomainInterval (default 1 minute); nil disables the loop.
	DomainChecker  directory.DomainChecker
	DomainInterval time.Duration
	Logger         *slog.Logger

	// TLSConfig, when set, makes Serve speak HTTPS on its listener (see
	// package tlsserve); nil serves plain HTTP, for running behind a
	// TLS-terminating reverse proxy. A config that allows TLS below 1.2 is
	// raised to 1.2, as Entra requires.
	TLSConfig *tls.Config
	// Handler serves the API; nil builds scimhttp.New from PublicURL and
	// Logger. Pass one built with rate limits, client addresses and metrics.
	Handler http.Handler
	// Middleware, when set, wraps the whole handler (outermost), for
	// instance request logging or metrics that must see every request.
	Middleware func(http.Handler) http.Handler
	// Ready is an extra readiness condition for /readyz, e.g. "a TLS
	// certificate has been obtained"; an error answers 503 with its text.
	// /readyz also answers 503 once shutdown has begun.
	Ready func() error
	// Endpoints are side listeners served next to the API and shut down
	// with it: the metrics listener, the ACME http-01 listener.
	Endpoints []Endpoint
	// Webhooks delivers the change log to webhook endpoints while the
	// agent serves; nil delivers nothing.
	Webhooks *webhook.Dispatcher
	// LeaseTTL is how long the lease of an agent's background work
	// (retention purges, domain checks) outlives its last extension: when
	// an agent that runs it dies, another on the same database takes it
	// over within LeaseTTL. 0 means store.DefaultLeaseTTL.
	LeaseTTL time.Duration
}

// Endpoint is a side listener with its handler.
type Endpoint struct {
	// Name says what the endpoint is for in logs and errors, e.g. "metrics".
	Name     string
	Listener net.Listener
	Handler  http.Handler
}

// Agent is the SCIM service over one store.
type Agent struct {
	dir      *directory.Service
	opt      Options
	log      *slog.Logger
	stopping atomic.Bool
}

// New returns an Agent.
func New(dir *directory.Service, opt Options) *Agent {
	if opt.EventRetention == 0 {
		opt.EventRetention = 90 * 24 * time.Hour
	}
	if opt.ChangeRetention == 0 {
		opt.ChangeRetention = directory.DefaultChangeRetention
	}
	if opt.ShutdownTimeout == 0 {
		opt.ShutdownTimeout = 30 * time.Second
	}
	if opt.MaintenanceInterval == 0 {
		opt.MaintenanceInterval = time.Hour
	}
	if opt.DomainInterval == 0 {
		opt.DomainInterval = time.Minute
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{dir: dir, opt: opt, log: log}
}

// Handler returns the agent's HTTP handler: Options.Handler (or the SCIM
// API) behind /readyz's extra conditions, wrapped in Options.Middleware.
func (a *Agent) Handler() http.Handler {
	h := a.opt.Handler
	if h == nil {
		h = scimhttp.New(a.dir, scimhttp.Options{PublicURL: a.opt.PublicURL, Logger: a.log})
	}
	h = a.readiness(h)
	if a.opt.Middleware != nil {
		h = a.opt.Middleware(h)
	}
	return h
}

// readiness answers /readyz with 503 while shutting down or while
// Options.Ready fails, and passes every other request (and /readyz when
// ready, so the API's own store check runs) to next.
func (a *Agent) readiness(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			msg := ""
			if a.stopping.Load() {
				msg = "shutting down"
			} else if a.opt.Ready != nil {
				if err := a.opt.Ready(); err != nil {
					msg = err.Error()
				}
			}
			if msg != "" {
				w.Header().Set("Cache-Control", "no-store")
				scimhttp.WriteError(w, scim.Errorf(http.StatusServiceUnavailable, "", "not ready: %s", msg))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Serve serves on ln (HTTPS when Options.TLSConfig is set) and on the side
// Endpoints until ctx ends, then shuts down gracefully: /readyz turns 503,
// the listeners stop accepting, in-flight requests finish (up to
// ShutdownTimeout), and the background loops stop.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	newServer := func(h http.Handler) *http.Server { return scimhttp.NewHTTPServer(h, a.log) }
	srv := newServer(a.Handler())
	servers := []*http.Server{srv}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// The edge listener terminates TLS itself (TLS 1.2 or later) and
		// makes net/http's own error answers SCIM JSON.
		err := srv.Serve(scimhttp.NewListener(ln, a.opt.TLSConfig, a.log))
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	for _, e := range a.opt.Endpoints {
		s := newServer(e.Handler)
		servers = append(servers, s)
		g.Go(func() error {
			if err := s.Serve(e.Listener); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s on %s: %w", e.Name, e.Listener.Addr(), err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-ctx.Done()
		a.stopping.Store(true)
		sctx, cancel := context.WithTimeout(context.Background(), a.opt.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})
	// Several agents on one database run these once, not once each.
	g.Go(func() error { return a.lead(ctx, leaseMaintenance, a.maintenanceLoop) })
	if a.opt.DomainChecker != nil {
		g.Go(func() error { return a.lead(ctx, leaseDomains, a.domainLoop) })
	}
	if a.opt.Webhooks != nil {
		g.Go(func() error { return a.opt.Webhooks.Run(ctx) })
	}
	return g.Wait()
}

// The leases of the agent's background work (docs/postgresql.md).
const (
	leaseMaintenance = "roster/maintenance"
	leaseDomains     = "roster/domain-checks"
)

// lead runs loop while this agent holds the lease name, until ctx ends:
// of all the agents on one database, one runs it at a time. An agent that
// does not hold the lease tries to take it every LeaseTTL/3, so when the
// agent that runs the loop stops (it releases the lease) or dies (the lease
// expires after LeaseTTL), another takes it over and starts the loop
// afresh. Loop stops when the lease is lost.
func (a *Agent) lead(ctx context.Context, name string, loop func(context.Context) error) error {
	ttl := a.opt.LeaseTTL
	if ttl <= 0 {
		ttl = store.DefaultLeaseTTL
	}
	for {
		l, err := a.dir.TryLease(ctx, name, ttl)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("cannot take the lease of background work; trying again", "work", name, "err", err)
		}
		if l != nil {
			a.log.Info("this agent runs the background work", "work", name)
			lctx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-l.Lost():
					cancel()
				case <-lctx.Done():
				}
			}()
			err := loop(lctx)
			cancel()
			rerr := l.Release()
			if ctx.Err() != nil {
				return err
			}
			a.log.Warn("stopped the background work: another agent may run it now", "work", name, "err", errors.Join(err, rerr))
		}
		t := time.NewTimer(ttl / 3)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// maintenanceLoop runs at start and then every MaintenanceInterval: it purges users disabled
// for longer than their tenant's retention, OAuth access tokens expired or
// revoked for a day, provisioning events older than EventRetention, and
// change-feed records older than ChangeRetention.
func (a *Agent) maintenanceLoop(ctx context.Context) error {
	t := time.NewTicker(a.opt.MaintenanceInterval)
	defer t.Stop()
	for {
		if n, err := a.dir.PurgeInactive(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("purge disabled users", "err", err)
		} else if n > 0 {
			a.log.Info("purged users disabled for longer than the retention", "removed", n)
		}
		if n, err := a.dir.PurgeAccessTokens(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("purge expired OAuth access tokens", "err", err)
		} else if n > 0 {
			a.log.Info("purged expired OAuth access tokens", "removed", n)
		}
		n, err := a.dir.PruneEvents(ctx, time.Now().Add(-a.opt.EventRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("prune events", "err", err)
		case n > 0:
			a.log.Info("pruned provisioning events", "removed", n, "older_than", a.opt.EventRetention)
		}
		a.pruneChanges(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pruneChanges deletes the change-feed records older than ChangeRetention.
func (a *Agent) pruneChanges(ctx context.Context) {
	n, err := a.dir.PruneChanges(ctx, time.Now().Add(-a.opt.ChangeRetention))
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("prune the change feed", "err", err)
	case n > 0:
		a.log.Info("pruned change-feed records", "removed", n, "older_than", a.opt.ChangeRetention)
	}
}

// domainLoop checks due email domains at start and then every DomainInterval.
// A failing check is logged and tried again on the next tick.
func (a *Agent) domainLoop(ctx context.Context) error {
	t := time.NewTicker(a.opt.DomainInterval)
	defer t.Stop()
	for {
		n, err := a.dir.CheckDueDomains(ctx, a.opt.DomainChecker)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("check email domains", "err", err)
		case n > 0:
			a.log.Debug("checked email domains", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ClientAddr returns the client address of requests for scimhttp (rate
// limits on failed authentication, logs). A request from an address in
// trusted (a reverse proxy) is attributed to the address its proxies
// recorded in X-Forwarded-For: the rightmost entry that is not itself a
// trusted proxy, so a client cannot pick its address by sending the header
// itself. Any other request, or one with a malformed header, is attributed
// to the connection's address.
func ClientAddr(trusted []netip.Prefix) func(*http.Request) string {
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		peer, err := netip.ParseAddr(host)
		if err != nil || len(trusted) == 0 || !isTrusted(peer) {
			return host
		}
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for _, h := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(h))
			}
		}
		client := peer
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(hops[i])
			if err != nil {
				return host // a malformed chain: believe only the connection
			}
			client = a.Unmap()
			if !isTrusted(client) {
				break
			}
		}
		return client.String()
	}
}
