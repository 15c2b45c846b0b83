// Package agent runs Roster's headless SCIM 2.0 service provider: the HTTP
// server and its background loops, with graceful shutdown.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// Options configures an Agent.
type Options struct {
	// PublicURL is the externally visible base URL used in Tenant URLs and
	// meta.location; "" derives it from each request's Host header.
	PublicURL string
	// EventRetention is how long provisioning events are kept; 0 means 90 days.
	EventRetention time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration
	// DomainChecker checks the TXT records of email domains whose check is
	// due, every DomainInterval (default 1 minute); nil disables the loop.
	DomainChecker  directory.DomainChecker
	DomainInterval time.Duration
	Logger         *slog.Logger
}

// Agent is the SCIM service over one store.
type Agent struct {
	dir *directory.Service
	opt Options
	log *slog.Logger
}

// New returns an Agent.
func New(dir *directory.Service, opt Options) *Agent {
	if opt.EventRetention == 0 {
		opt.EventRetention = 90 * 24 * time.Hour
	}
	if opt.ShutdownTimeout == 0 {
		opt.ShutdownTimeout = 30 * time.Second
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

// Handler returns the agent's HTTP handler.
func (a *Agent) Handler() http.Handler {
	return scimhttp.New(a.dir, scimhttp.Options{PublicURL: a.opt.PublicURL, Logger: a.log})
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish (up to ShutdownTimeout), and stops
// the background loops.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), a.opt.ShutdownTimeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	g.Go(func() error { return a.maintenanceLoop(ctx) })
	if a.opt.DomainChecker != nil {
		g.Go(func() error { return a.domainLoop(ctx) })
	}
	return g.Wait()
}

// maintenanceLoop runs at start and then hourly: it purges users disabled
// for longer than their tenant's retention, and provisioning events older
// than EventRetention.
func (a *Agent) maintenanceLoop(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.dir.PurgeInactive(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("purge disabled users", "err", err)
		} else if n > 0 {
			a.log.Info("purged users disabled for longer than the retention", "removed", n)
		}
		var n int64
		err := a.dir.DB().Write(ctx, func(tx *store.Tx) (err error) {
			n, err = tx.PruneEvents(time.Now().Add(-a.opt.EventRetention))
			return
		})
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("prune events", "err", err)
		case n > 0:
			a.log.Info("pruned provisioning events", "removed", n, "older_than", a.opt.EventRetention)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
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
