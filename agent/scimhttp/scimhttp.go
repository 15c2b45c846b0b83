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
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feedhttp"
	"github.com/rosterhq/roster/agent/metrics"
	"github.com/rosterhq/roster/agent/oauth"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// MaxBodyBytes is the largest request body accepted (413 above it).
const MaxBodyBytes = 1 << 20

// Limits of the agent's HTTP listener, applied by NewHTTPServer.
const (
	// MaxHeaderBytes bounds the request line and headers (431 above it).
	MaxHeaderBytes = 64 << 10
	// ReadHeaderTimeout is how long a client may take to send its headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout is how long a client may take to send a whole request.
	ReadTimeout = 60 * time.Second
	// WriteTimeout bounds the time from the end of the headers to the end
	// of the response.
	WriteTimeout = 60 * time.Second
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout = 120 * time.Second
)

// NewHTTPServer returns an http.Server for h with the agent's header limit
// and timeouts, logging net/http's own errors to log at warn level, at most
// a few lines a minute. Serve it on NewListener, so that the answers
// net/http writes itself are SCIM JSON too.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          stdlog.New(newLimitedLog(log, time.Now), "", 0),
	}
}

// Options configures the handler.
type Options struct {
	// PublicURL is the externally visible base URL (e.g. https://roster.example.com);
	// "" derives it from each request's Host.
	PublicURL string
	Logger    *slog.Logger
	// Limits are the rate limits; the zero Limits is unlimited, so pass
	// DefaultLimits() unless configured otherwise. SetLimits changes them
	// while the server runs.
	Limits Limits
	// ClientAddr returns the address of the client that sent a request, for
	// the per-address limit on failed authentication and for the logs. nil
	// uses the host of r.RemoteAddr; behind a reverse proxy, pass a function
	// that trusts X-Forwarded-For only from the configured proxies.
	ClientAddr func(*http.Request) string
	// Metrics counts requests, latencies, provisioning events,
	// authentication failures and rate-limited requests; nil counts nothing.
	Metrics *metrics.Metrics
	// OAuth configures the token endpoint, /oauth/{tenant}/token
	// (docs/oauth.md); its failed client authentications count with the
	// SCIM API's (its Failures and Logger are set here).
	OAuth oauth.Options
}

// Server serves the SCIM API of every tenant.
type Server struct {
	dir        *directory.Service
	opt        Options
	log        *slog.Logger
	mux        *http.ServeMux
	met        *metrics.Metrics
	clientAddr func(*http.Request) string
	authLim    *keyedLimiter // failed authentications per client address
	authGlobal *keyedLimiter // failed authentications from all addresses (one key)
	tokenLim   *keyedLimiter // requests per token id
	now        func() time.Time
}

// New returns the HTTP handler of the agent.
func New(dir *directory.Service, opt Options) *Server {
	s := &Server{dir: dir, opt: opt, log: opt.Logger, mux: http.NewServeMux(), met: opt.Metrics,
		clientAddr: opt.ClientAddr, now: time.Now,
		authLim: newKeyedLimiter(0, 0), authGlobal: newKeyedLimiter(0, 0), tokenLim: newKeyedLimiter(0, 0)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clientAddr == nil {
		s.clientAddr = remoteHost
	}
	s.SetLimits(opt.Limits)
	s.opt.PublicURL = strings.TrimRight(opt.PublicURL, "/")
	s.mux.HandleFunc("/healthz", s.healthz)
	s.mux.HandleFunc("/readyz", s.readyz)
	s.mux.Handle("/scim/{tenant}/v2/{rest...}", http.HandlerFunc(s.scim))
	s.mux.Handle("/scim/{tenant}/v2", http.HandlerFunc(s.scim)) // else ServeMux redirects to .../v2/
	s.mux.Handle(feedhttp.Pattern, feedhttp.New(dir, s.log))    // the change feed: docs/change-feed.md
	oopt := opt.OAuth
	oopt.Failures, oopt.Logger = s, s.log
	s.mux.Handle(oauth.Pattern, oauth.New(dir, oopt)) // the token endpoint: docs/oauth.md
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, scim.Errorf(http.StatusNotFound, "", "no such endpoint; SCIM lives under /scim/{tenant}/v2 (see `roster tenant list`)"))
	})
	return s
}

// TenantURL returns the Tenant URL to give Entra for a tenant.
func TenantURL(publicURL, tenantID string) string {
	return strings.TrimRight(publicURL, "/") + "/scim/" + tenantID + "/v2"
}

// ServeHTTP implements http.Handler. Every request gets an X-Request-Id
// header, a log line carrying request_id (debug for successes, info for
// client errors, warn for server errors), and, with Metrics, its count and
// latency by route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// A Tenant URL configured with a trailing slash makes clients send "//Users".
	if strings.Contains(r.URL.Path, "//") {
		r2 := r.Clone(r.Context())
		for strings.Contains(r2.URL.Path, "//") {
			r2.URL.Path = strings.ReplaceAll(r2.URL.Path, "//", "/")
		}
		r2.URL.RawPath = ""
		r = r2
	}
	reqID := newRequestID()
	w.Header().Set("X-Request-Id", reqID)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "panic", p)
			if !sw.wrote {
				writeError(sw, scim.Errorf(http.StatusInternalServerError, "", "internal error (request id %s); the agent's log has the details", reqID))
			}
		}
		s.finish(sw, r, reqID, start)
	}()
	switch {
	case len(r.RequestURI) > MaxURLBytes:
		writeError(sw, scim.Errorf(http.StatusRequestURITooLong, "", "the request-target is longer than %d bytes", MaxURLBytes))
	case !strings.HasPrefix(r.URL.Path, "/") || hasDotSegment(r.URL.Path):
		// ServeMux would answer these itself: a redirect to the cleaned
		// path, or a plain-text 404.
		writeError(sw, scim.Errorf(http.StatusNotFound, "", "no such endpoint: %q is not an absolute path without \".\" or \"..\" segments", r.URL.Path))
	default:
		s.mux.ServeHTTP(sw, r)
	}
}

// hasDotSegment reports whether a path has a "." or ".." segment (RFC 3986
// §3.3).
func hasDotSegment(p string) bool {
	if !strings.Contains(p, "/.") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// finish records a served request in the metrics and the log.
func (s *Server) finish(sw *statusWriter, r *http.Request, reqID string, start time.Time) {
	d := time.Since(start)
	status := sw.status
	if status == 0 {
		status = http.StatusOK // the handler wrote nothing
	}
	if s.met != nil {
		route := routeOf(r.URL.Path)
		s.met.ObserveRequest(route, status, d)
		if sw.principal != nil && status != directory.StatusClientClosed {
			if res, ok := provisioningResource(route, r.Method); ok {
				s.met.ProvisioningEvent(res, r.Method, status)
			}
		}
	}
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status >= 400 && status != http.StatusTooManyRequests:
		level = slog.LevelInfo
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", reqID), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Duration("duration", d), slog.String("client", s.clientAddr(r)),
	}
	if sw.principal != nil {
		attrs = append(attrs, slog.String("tenant", sw.principal.Tenant.ID), slog.String("token", sw.principal.TokenName))
	}
	s.log.LogAttrs(ctx, level, "http request", attrs...)
}

// statusWriter remembers the status code a handler answered, and who it
// served, for the request's log line and metrics.
type statusWriter struct {
	http.ResponseWriter
	status    int
	wrote     bool
	principal *directory.Principal
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routeOf classifies a path into the fixed set of metric route labels;
// it never allocates.
func routeOf(path string) metrics.Route {
	switch path {
	case "/healthz", "/readyz":
		return metrics.RouteHealthz
	}
	rest, ok := strings.CutPrefix(path, "/scim/")
	if !ok {
		return metrics.RouteOther
	}
	i := strings.Index(rest, "/v2/")
	if i < 0 {
		return metrics.RouteOther
	}
	rest = strings.TrimRight(rest[i+len("/v2/"):], "/")
	first, second, hasSecond := strings.Cut(rest, "/")
	users := strings.EqualFold(first, "Users")
	switch {
	case first == ".search" && !hasSecond:
		return metrics.RouteSearch
	case users || strings.EqualFold(first, "Groups"):
		switch {
		case !hasSecond:
			if users {
				return metrics.RouteUsers
			}
			return metrics.RouteGroups
		case strings.EqualFold(second, ".search"):
			return metrics.RouteSearch
		case strings.Contains(second, "/"):
			return metrics.RouteOther
		case users:
			return metrics.RouteUser
		default:
			return metrics.RouteGroup
		}
	case strings.EqualFold(first, "Schemas") || strings.EqualFold(first, "ResourceTypes") || strings.EqualFold(first, "ServiceProviderConfig"):
		return metrics.RouteDiscovery
	}
	return metrics.RouteOther
}

// provisioningResource says whether a request is a provisioning write (a
// create, replace, update or delete of a user or group) and of what.
func provisioningResource(route metrics.Route, method string) (metrics.Resource, bool) {
	switch {
	case route == metrics.RouteUsers && method == http.MethodPost:
		return metrics.ResourceUser, true
	case route == metrics.RouteGroups && method == http.MethodPost:
		return metrics.ResourceGroup, true
	case method != http.MethodPut && method != http.MethodPatch && method != http.MethodDelete:
		return 0, false
	case route == metrics.RouteUser:
		return metrics.ResourceUser, true
	case route == metrics.RouteGroup:
		return metrics.ResourceGroup, true
	}
	return 0, false
}

// healthz answers 200 while the process serves HTTP and its store answers.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.dir.Ping(ctx); err != nil {
		writeError(w, scim.Errorf(http.StatusServiceUnavailable, "", "the store does not answer"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n") //nolint:errcheck
}

// readyz answers 200 when the store answers a read of its schema version
// and can be written, 503 otherwise (closed, locked beyond 2 seconds,
// unreadable, or full or read-only since a write failed so: then readyz
// tries a small write of its own, and stays 503 until a write succeeds).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Cache-Control", "no-store")
	if err := s.dir.Ready(ctx); err != nil {
		s.log.Warn("readiness check: the store did not answer", "request_id", w.Header().Get("X-Request-Id"), "err", err)
		writeError(w, scim.Errorf(http.StatusServiceUnavailable, "", "not ready: the store did not answer a read"))
		return
	}
	if err := s.dir.Writable(ctx); err != nil {
		s.log.Warn("readiness check: the store cannot be written", "request_id", w.Header().Get("X-Request-Id"), "err", err)
		msg := "the store cannot be written"
		if se := directory.Unavailable(err); se != nil {
			msg = err.Error()
		}
		writeError(w, scim.Errorf(http.StatusServiceUnavailable, "", "not ready: %s", msg))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ready\n") //nolint:errcheck
}

// request is what a handler gets.
type request struct {
	*http.Request
	p    *directory.Principal
	call directory.Call
	rest []string // path segments after /v2/
	q    query    // the SCIM parameters of the query, parsed strictly (parseQuery)
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
	reqID := w.Header().Get("X-Request-Id")
	tenant := r.PathValue("tenant")
	call := directory.Call{TenantID: tenant, BaseURL: s.baseURL(r, tenant), Method: r.Method, Path: r.URL.Path, Start: start}
	rest := strings.Split(strings.Trim(r.PathValue("rest"), "/"), "/")

	p, reason, err := s.authenticate(r, tenant)
	if err != nil {
		addr := ""
		if statusOf(err) == http.StatusUnauthorized {
			var wait time.Duration
			var global, limited bool
			if addr, wait, global, limited = s.limitAuthFailure(r, reqID, tenant, reason); limited {
				from := " from " + addr
				if global {
					from = ""
				}
				s.tooMany(w, wait, fmt.Sprintf("too many failed authentications%s: the Secret Token is not valid for this Tenant URL; "+
					"check the token configured in Entra, then retry after %s seconds", from, retryAfter(wait)))
				return
			}
		}
		s.reject(w, r, call, addr, err)
		return
	}
	if sw, ok := w.(*statusWriter); ok {
		sw.principal = p
	}
	if ok, wait, first := s.tokenLim.allow(p.TokenID, s.now()); !ok {
		s.met.RateLimited(metrics.LimitToken)
		lim, burst := s.tokenLim.limits()
		if first {
			s.log.Warn("token over its request rate: answering 429", "request_id", reqID, "tenant", tenant,
				"token", p.TokenName, "limit_per_second", float64(lim), "burst", burst)
		}
		s.tooMany(w, wait, fmt.Sprintf("too many requests with this Secret Token (the agent allows %g per second, bursts of %d); retry after %s seconds",
			float64(lim), burst, retryAfter(wait)))
		return
	}
	call.TokenName, call.App, call.Extensions = p.TokenName, p.App, p.Tenant.Settings.Extensions
	req := &request{Request: r, p: p, call: call, rest: rest}
	if err = parseQuery(r.URL.RawQuery, &req.q); err == nil {
		err = s.route(w, req)
	}
	if err != nil {
		var rec *directory.Recorded
		recorded := errors.As(err, &rec)
		if s.clientGone(w, r, call, reqID, err, recorded) {
			return
		}
		if !recorded {
			s.dir.Record(context.WithoutCancel(r.Context()), call, statusOf(err), err)
		}
		s.renderErr(w, r, reqID, err)
	}
}

// limitAuthFailure counts a failed authentication of r's client (request
// reqID, for tenant, because of reason) against the per-address and the
// global limit and returns the client's address. limited says the client is
// over one of them (global: the one of all addresses together) and must
// wait wait; the first refusal of a streak is logged.
func (s *Server) limitAuthFailure(r *http.Request, reqID, tenant string, reason metrics.AuthFailure) (addr string, wait time.Duration, global, limited bool) {
	s.met.AuthFailed(reason)
	addr = s.clientAddr(r)
	now := s.now()
	if ok, wait, first := s.authLim.allow(limitKey(addr), now); !ok {
		s.met.RateLimited(metrics.LimitAuthFailures)
		if first {
			s.log.Warn("too many failed authentications: answering 429 to further failures from this address",
				"request_id", reqID, "client", addr, "tenant", tenant, "retry_after", wait.Round(time.Second))
		}
		return addr, wait, false, true
	}
	if ok, wait, first := s.authGlobal.allow("", now); !ok {
		s.met.RateLimited(metrics.LimitAuthFailures)
		if first {
			s.log.Warn("too many failed authentications from all addresses together: answering 429 to further failures",
				"request_id", reqID, "client", addr, "tenant", tenant, "retry_after", wait.Round(time.Second))
		}
		return addr, wait, true, true
	}
	return addr, 0, false, false
}

var _ oauth.FailureLimiter = (*Server)(nil)

// ClientAuthFailed implements oauth.FailureLimiter: the token endpoint's
// failed client authentications count against the same limits as the SCIM
// API's failed bearer tokens, and are recorded the same way, one event per
// tenant, address and minute.
func (s *Server) ClientAuthFailed(r *http.Request, reqID string, call directory.Call, err error) (time.Duration, bool) {
	addr, wait, _, limited := s.limitAuthFailure(r, reqID, call.TenantID, metrics.AuthInvalid)
	if limited {
		return wait, true
	}
	s.dir.RecordAuthFailure(context.WithoutCancel(r.Context()), call, limitKey(addr), err)
	return 0, false
}

// clientGone handles a request that failed because its client went away
// (its context ended): not an error of the agent, so it is neither logged
// as one nor answered 500, and its provisioning event is recorded as
// cancelled (unless the use case did already). It reports whether err was
// such a failure.
func (s *Server) clientGone(w http.ResponseWriter, r *http.Request, call directory.Call, reqID string, err error, recorded bool) bool {
	gone := errors.Is(err, errClientGone) ||
		(r.Context().Err() != nil && statusOf(err) == http.StatusInternalServerError && directory.Unavailable(err) == nil)
	if !gone {
		return false
	}
	if !recorded {
		s.dir.Record(context.WithoutCancel(r.Context()), call, directory.StatusClientClosed, err)
	}
	s.log.Debug("the client went away before the answer", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
	// No one reads this; it keeps the status in the request's log line.
	writeError(w, scim.Errorf(directory.StatusClientClosed, "", "cancelled: the client went away before the answer"))
	return true
}

// tooMany answers 429 with Retry-After (RFC 6585 §4) and a SCIM error body.
// It is not recorded as a provisioning event: a flood must not turn into
// database writes.
func (s *Server) tooMany(w http.ResponseWriter, wait time.Duration, detail string) {
	w.Header().Set("Retry-After", retryAfter(wait))
	writeError(w, scim.Errorf(http.StatusTooManyRequests, "", "%s", detail))
}

// reject answers and records a request refused before routing; addr is
// the client address of a failed authentication, whose events are counted
// per address and minute.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, call directory.Call, addr string, err error) {
	if s.clientGone(w, r, call, w.Header().Get("X-Request-Id"), err, false) {
		return
	}
	if statusOf(err) == http.StatusUnauthorized {
		s.dir.RecordAuthFailure(context.WithoutCancel(r.Context()), call, limitKey(addr), err)
	} else {
		s.dir.Record(context.WithoutCancel(r.Context()), call, statusOf(err), err)
	}
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

// authenticate checks the bearer token; for a 401 it also says why.
func (s *Server) authenticate(r *http.Request, tenant string) (*directory.Principal, metrics.AuthFailure, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if h == "" {
		return nil, metrics.AuthMissing, scim.Errorf(http.StatusUnauthorized, "", "missing Authorization: Bearer <Secret Token> header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, metrics.AuthMalformed, scim.Errorf(http.StatusUnauthorized, "", "the Authorization header must be \"Bearer <Secret Token>\"")
	}
	p, err := s.dir.Authenticate(r.Context(), tenant, strings.TrimSpace(tok))
	if errors.Is(err, directory.ErrUnauthenticated) {
		return nil, metrics.AuthInvalid, scim.Errorf(http.StatusUnauthorized, "", "the Secret Token is not valid for this Tenant URL (unknown, revoked, expired, or issued for another tenant)")
	}
	return p, 0, err
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
		if se = directory.Unavailable(err); se != nil {
			s.log.Warn("request refused: the store cannot be written", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
		} else {
			s.log.Error("request failed", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
			se = scim.Errorf(http.StatusInternalServerError, "", "internal error (request id %s); the agent's log has the details", reqID)
		}
	}
	writeError(w, se)
}

// unavailableRetry is the Retry-After of a 503 (RFC 9110 §10.2.3): when the
// store cannot be written, an operator has to act; Entra retries anyway.
const unavailableRetry = "60"

// WriteError writes se as a SCIM error message (RFC 7644 §3.12); a 503
// carries Retry-After.
func WriteError(w http.ResponseWriter, se *scim.Error) { writeError(w, se) }

func writeError(w http.ResponseWriter, se *scim.Error) {
	if se.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", unavailableRetry)
	}
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
	// Resource segments are matched case-insensitively, as Microsoft's
	// reference server does (https://github.com/AzureAD/SCIMReferenceCode).
	first := ""
	if len(seg) > 0 {
		first = seg[0]
	}
	switch {
	case len(seg) == 1 && first == ".search":
		// A search across every resource type (RFC 7644 §3.4.3).
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, r.Request, "POST")
		}
		return s.search(w, r, "")
	case strings.EqualFold(first, "Users") || strings.EqualFold(first, "Groups"):
		kind := store.KindUser
		if strings.EqualFold(first, "Groups") {
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
		case len(seg) == 2 && strings.EqualFold(seg[1], ".search"):
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
	case strings.EqualFold(first, "Schemas") || strings.EqualFold(first, "ResourceTypes") || strings.EqualFold(first, "ServiceProviderConfig"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, r.Request, "GET")
		}
		return s.discovery(w, r, seg)
	case len(seg) == 1 && strings.EqualFold(first, "Bulk"):
		return scim.Errorf(http.StatusNotImplemented, "", "bulk operations are not supported (see /ServiceProviderConfig)")
	case len(seg) == 1 && strings.EqualFold(first, "Me"):
		return scim.Errorf(http.StatusNotImplemented, "", "/Me is not supported: Secret Tokens are not bound to a user")
	}
	return scim.Errorf(http.StatusNotFound, "", "no such endpoint: %s", r.URL.Path)
}
