// Package feedhttp serves a tenant's change feed over HTTP
// (docs/change-feed.md): the pull API, GET /api/v1/{tenant}/changes, which
// long-polls with wait=, and the snapshot, GET /api/v1/{tenant}/snapshot,
// which streams the whole tenant as NDJSON from one consistent read.
//
// Any of the tenant's tokens may read (read-only tokens are enough); the
// SCIM API's server authenticates them (Admit), so that failed
// authentications count against the same budgets and are recorded alike,
// and a token's request rate is one limit across both APIs. Errors
// are JSON bodies of the SCIM error form (RFC 7644 §3.12) with the statuses
// the SCIM API uses, plus 410 Gone when the asked-for changes have been
// pruned. Handlers never run SQL: they call the directory package.
package feedhttp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/scim"
)

// Pattern is the route under which Handler is mounted.
const Pattern = "/api/v1/{tenant}/{rest...}"

// MaxWait is the longest a request may long-poll: below the listener's
// write timeout (scimhttp.WriteTimeout), so that the empty answer still
// reaches the client.
const MaxWait = 50 * time.Second

// snapshotDeadline is how long each part of a snapshot may take to write
// before the next part extends it; a snapshot as a whole may take longer
// than the listener's write timeout.
const snapshotDeadline = 60 * time.Second

// Admit authenticates a request for a tenant's feed with any of the
// tenant's tokens and applies the API's limits; when it reports false it
// has answered the request (401, 429).
type Admit func(w http.ResponseWriter, r *http.Request, tenant string) bool

// Handler serves the feed API.
type Handler struct {
	dir   *directory.Service
	log   *slog.Logger
	admit Admit
	// snapshots admits one snapshot at a time: each holds one of the
	// store's few reader connections for as long as it streams, and the
	// SCIM API must keep the others for Entra's lookups.
	snapshots chan struct{}
}

// New returns the feed API's handler, which admits requests with admit;
// log may be nil.
func New(dir *directory.Service, log *slog.Logger, admit Admit) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{dir: dir, log: log, admit: admit, snapshots: make(chan struct{}, 1)}
}

// ServeHTTP implements http.Handler for requests routed by Pattern.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	rest := strings.Trim(r.PathValue("rest"), "/")
	var err error
	switch {
	case rest != "changes" && rest != "snapshot":
		err = scim.Errorf(http.StatusNotFound, "", "no such endpoint: %s (the feed API has /api/v1/{tenant}/changes and /api/v1/{tenant}/snapshot)", r.URL.Path)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET")
		err = scim.Errorf(http.StatusMethodNotAllowed, "", "%s is not supported here; allowed: GET", r.Method)
	case !h.admit(w, r, tenant):
		return
	case rest == "changes":
		err = h.changes(w, r, tenant)
	default:
		err = h.snapshot(w, r, tenant)
	}
	if err != nil {
		h.writeErr(w, r, err)
	}
}

// ChangesResponse is the body of GET /api/v1/{tenant}/changes.
type ChangesResponse struct {
	Changes   []feed.Change `json:"changes"`
	NextAfter int64         `json:"next_after"`
	HasMore   bool          `json:"has_more"`
}

func (h *Handler) changes(w http.ResponseWriter, r *http.Request, tenant string) error {
	q := r.URL.Query()
	after, err := intParam(q.Get("after"), "after", 0)
	if err != nil {
		return err
	}
	if after < 0 {
		return scim.BadRequest(scim.InvalidValue, "after must be 0 or a seq from an earlier answer, not %d", after)
	}
	limit, err := intParam(q.Get("limit"), "limit", 100)
	if err != nil {
		return err
	}
	if limit < 1 || limit > directory.MaxChangesPage {
		return scim.BadRequest(scim.InvalidValue, "limit must be between 1 and %d, not %d", directory.MaxChangesPage, limit)
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil {
			if n, aerr := strconv.Atoi(s); aerr == nil {
				wait, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || wait < 0 || wait > MaxWait {
			return scim.BadRequest(scim.InvalidValue, "wait must be a duration between 0s and %s such as 30s, not %q", MaxWait, s)
		}
	}
	f, err := feed.ParseFilter(q.Get("types"))
	if err != nil {
		return scim.BadRequest(scim.InvalidValue, "types: %v", err)
	}
	ctx := r.Context()
	deadline := time.Now().Add(wait)
	for {
		page, err := h.dir.ReadChanges(ctx, tenant, after, int(limit), f)
		if err != nil {
			return err
		}
		if len(page.Changes) > 0 || page.HasMore || !time.Now().Before(deadline) {
			if page.Changes == nil {
				page.Changes = []feed.Change{}
			}
			writeJSON(w, http.StatusOK, ChangesResponse{Changes: page.Changes, NextAfter: page.NextAfter, HasMore: page.HasMore})
			return nil
		}
		after = page.NextAfter
		wctx, cancel := context.WithDeadline(ctx, deadline)
		err = h.dir.Wait(wctx, tenant, after)
		cancel()
		if err != nil && ctx.Err() != nil {
			return nil // the client went away
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

func (h *Handler) snapshot(w http.ResponseWriter, r *http.Request, tenant string) error {
	select {
	case h.snapshots <- struct{}{}:
		defer func() { <-h.snapshots }()
	case <-r.Context().Done():
		return nil // the client went away while waiting its turn
	}
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	started := false
	n := 0
	err := h.dir.Snapshot(r.Context(), tenant, func(head directory.SnapshotHead) error {
		started = true
		rc.SetWriteDeadline(time.Now().Add(snapshotDeadline)) //nolint:errcheck // not every writer has deadlines
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return enc.Encode(head)
	}, func(it directory.SnapshotItem) error {
		if n++; n%1000 == 0 {
			rc.SetWriteDeadline(time.Now().Add(snapshotDeadline)) //nolint:errcheck
		}
		return enc.Encode(it)
	})
	if err != nil && started {
		// The status is sent: all that is left is to cut the stream short,
		// which a reader notices as a missing final newline or a read error.
		h.log.Warn("snapshot cut short", "tenant", tenant, "err", err)
		bw.Flush() //nolint:errcheck
		panic(http.ErrAbortHandler)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

func intParam(s, name string, def int64) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, scim.BadRequest(scim.InvalidValue, "%s must be an integer, not %q", name, s)
	}
	return n, nil
}

// writeErr renders err as a JSON error body; errors that are not the
// client's are logged and answered without internals.
func (h *Handler) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var se *scim.Error
	switch {
	case errors.As(err, &se):
	case errors.Is(err, feed.ErrExpired):
		se = scim.Errorf(http.StatusGone, "", "%v", err)
	case errors.Is(err, directory.ErrNoTenant):
		se = scim.Errorf(http.StatusNotFound, "", "%v", err)
	default:
		h.log.Error("feed request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		se = scim.Errorf(http.StatusInternalServerError, "", "internal error (request id %s); the agent's log has the details", w.Header().Get("X-Request-Id"))
	}
	writeJSON(w, se.Status, se.Body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, fmt.Sprintf("encoding error: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n')) //nolint:errcheck // the client went away
}
