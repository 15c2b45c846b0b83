// Package scimhttp is the agent's HTTP edge: SCIM 2.0 routes per tenant
// (/scim/{tenant}/v2/...), bearer authentication, body limits, and rendering
// of every error as a SCIM Error message (RFC 7644 §3.12).
//
// Handlers return errors; one adapter renders them. Handlers never run SQL:
// they call the directory package.
package scimhttp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// MaxBodyBytes is the largest request body accepted (413 above it).
const MaxBodyBytes = 1 << 20

// Options configures the handler.
type Options struct {
	// PublicURL is the externally visible base URL (e.g. https://roster.example.com);
	// "" derives it from each request's Host.
	PublicURL string
	Logger    *slog.Logger
}

// Server serves the SCIM API of every tenant.
type Server struct {
	dir *directory.Service
	opt Options
	log *slog.Logger
	mux *http.ServeMux
}

// New returns the HTTP handler of the agent.
func New(dir *directory.Service, opt Options) *Server {
	s := &Server{dir: dir, opt: opt, log: opt.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.opt.PublicURL = strings.TrimRight(opt.PublicURL, "/")
	s.mux.HandleFunc("/healthz", s.healthz)
	s.mux.Handle("/scim/{tenant}/v2/{rest...}", http.HandlerFunc(s.scim))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, scim.Errorf(http.StatusNotFound, "", "no such endpoint; SCIM lives under /scim/{tenant}/v2 (see `roster tenant list`)"))
	})
	return s
}

// TenantURL returns the Tenant URL to give Entra for a tenant.
func TenantURL(publicURL, tenantID string) string {
	return strings.TrimRight(publicURL, "/") + "/scim/" + tenantID + "/v2"
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A Tenant URL configured with a trailing slash makes clients send "//Users".
	if strings.Contains(r.URL.Path, "//") {
		r2 := r.Clone(r.Context())
		for strings.Contains(r2.URL.Path, "//") {
			r2.URL.Path = strings.ReplaceAll(r2.URL.Path, "//", "/")
		}
		r2.URL.RawPath = ""
		r = r2
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
			writeError(w, scim.Errorf(http.StatusInternalServerError, "", "internal error"))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.dir.DB().Read(ctx, func(*store.Tx) error { return nil }); err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n") //nolint:errcheck
}

// request is what a handler gets.
type request struct {
	*http.Request
	p    *directory.Principal
	call directory.Call
	rest []string // path segments after /v2/
}

func (s *Server) baseURL(r *http.Request, tenant string) string {
	if s.opt.PublicURL != "" {
		return TenantURL(s.opt.PublicURL, tenant)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return TenantURL(scheme+"://"+r.Host, tenant)
}

// requestIDs are a random per-process prefix and a counter: unique, cheap
// (no system call per request), and they sort in arrival order.
var (
	requestPrefix = func() string {
		var b [4]byte
		rand.Read(b[:]) //nolint:errcheck
		return hex.EncodeToString(b[:])
	}()
	requestSeq atomic.Uint64
)

func newRequestID() string {
	return requestPrefix + "-" + strconv.FormatUint(requestSeq.Add(1), 36)
}

func (s *Server) scim(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("X-Request-Id", reqID)
	tenant := r.PathValue("tenant")
	call := directory.Call{TenantID: tenant, BaseURL: s.baseURL(r, tenant), Method: r.Method, Path: r.URL.Path, Start: start}
	rest := strings.Split(strings.Trim(r.PathValue("rest"), "/"), "/")

	p, err := s.authenticate(r, tenant)
	if err != nil {
		s.reject(w, r, call, err)
		return
	}
	call.TokenName, call.App = p.TokenName, p.App
	req := &request{Request: r, p: p, call: call, rest: rest}
	if err := s.route(w, req); err != nil {
		var rec *directory.Recorded
		if !errors.As(err, &rec) {
			s.dir.Record(context.WithoutCancel(r.Context()), call, statusOf(err), err)
		}
		s.renderErr(w, r, reqID, err)
	}
	s.log.Debug("scim request", "request_id", reqID, "tenant", tenant, "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
}

// reject answers and records a request refused before routing.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, call directory.Call, err error) {
	s.dir.Record(context.WithoutCancel(r.Context()), call, statusOf(err), err)
	var se *scim.Error
	if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="roster"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="roster", error="invalid_token"`)
		}
	}
	s.renderErr(w, r, w.Header().Get("X-Request-Id"), err)
}

func (s *Server) authenticate(r *http.Request, tenant string) (*directory.Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if h == "" {
		return nil, scim.Errorf(http.StatusUnauthorized, "", "missing Authorization: Bearer <Secret Token> header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, scim.Errorf(http.StatusUnauthorized, "", "the Authorization header must be \"Bearer <Secret Token>\"")
	}
	p, err := s.dir.Authenticate(r.Context(), tenant, strings.TrimSpace(tok))
	if errors.Is(err, directory.ErrUnauthenticated) {
		return nil, scim.Errorf(http.StatusUnauthorized, "", "the Secret Token is not valid for this Tenant URL (unknown, revoked, expired, or issued for another tenant)")
	}
	return p, err
}

func statusOf(err error) int {
	var se *scim.Error
	if errors.As(err, &se) {
		return se.Status
	}
	return http.StatusInternalServerError
}

// renderErr writes err as a SCIM error body; internal errors are logged with
// the request id and answered without internals.
func (s *Server) renderErr(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	var se *scim.Error
	if !errors.As(err, &se) {
		s.log.Error("request failed", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
		se = scim.Errorf(http.StatusInternalServerError, "", "internal error (request id %s); the agent's log has the details", reqID)
	}
	writeError(w, se)
}

func writeError(w http.ResponseWriter, se *scim.Error) {
	writeJSON(w, se.Status, se.Body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encoding error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", scim.MediaType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck
}

// methodNotAllowed answers 405 with the Allow header RFC 9110 §15.5.6 requires.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed ...string) error {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return scim.Errorf(http.StatusMethodNotAllowed, "", "%s is not supported here; allowed: %s", r.Method, strings.Join(allowed, ", "))
}

// route dispatches /v2/{rest...}.
func (s *Server) route(w http.ResponseWriter, r *request) error {
	seg := r.rest
	switch {
	case len(seg) >= 1 && (seg[0] == "Users" || seg[0] == "Groups"):
		kind := store.KindUser
		if seg[0] == "Groups" {
			kind = store.KindGroup
		}
		switch {
		case len(seg) == 1:
			switch r.Method {
			case http.MethodGet:
				return s.list(w, r, kind)
			case http.MethodPost:
				return s.create(w, r, kind)
			}
			return methodNotAllowed(w, r.Request, "GET", "POST")
		case len(seg) == 2 && seg[1] == ".search":
			if r.Method != http.MethodPost {
				return methodNotAllowed(w, r.Request, "POST")
			}
			return s.search(w, r, kind)
		case len(seg) == 2:
			id := seg[1]
			switch r.Method {
			case http.MethodGet:
				return s.get(w, r, kind, id)
			case http.MethodPut:
				return s.replace(w, r, kind, id)
			case http.MethodPatch:
				return s.patch(w, r, kind, id)
			case http.MethodDelete:
				return s.delete(w, r, kind, id)
			}
			return methodNotAllowed(w, r.Request, "GET", "PUT", "PATCH", "DELETE")
		}
	case len(seg) >= 1 && (seg[0] == "Schemas" || seg[0] == "ResourceTypes" || seg[0] == "ServiceProviderConfig"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, r.Request, "GET")
		}
		return s.discovery(w, r, seg)
	case len(seg) == 1 && seg[0] == "Bulk":
		return scim.Errorf(http.StatusNotImplemented, "", "bulk operations are not supported (see /ServiceProviderConfig)")
	case len(seg) == 1 && seg[0] == "Me":
		return scim.Errorf(http.StatusNotImplemented, "", "/Me is not supported: Secret Tokens are not bound to a user")
	}
	return scim.Errorf(http.StatusNotFound, "", "no such endpoint: %s", r.URL.Path)
}
