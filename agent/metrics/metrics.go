// Package metrics exposes the agent's Prometheus metrics: SCIM requests by
// route and status code, latency histograms by route, provisioning events by
// outcome, authentication failures, rate-limited requests, email-domain
// states, the size of the SQLite store, and the Go runtime and process
// collectors.
//
// A Metrics lives on its own prometheus.Registry, never the global one, so
// two agents in one process (tests) do not share counters. Its recording
// methods are safe on a nil *Metrics, which records nothing.
//
// Labels come from small fixed sets (Route, the HTTP methods Entra uses,
// success/failure): never raw paths, tenant ids or resource ids, so the
// number of series stays bounded whatever clients send.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rosterhq/roster/store"
)

// DefaultAddr is the default listen address of the /metrics endpoint:
// loopback only, so nothing outside the host can read it unless the owner
// chooses another address.
const DefaultAddr = "127.0.0.1:9464"

// Route is the route label of an HTTP request: one of a small fixed set.
type Route uint8

// Routes. Probes (/healthz and /readyz) share RouteHealthz.
const (
	RouteOther     Route = iota // anything else, including unknown paths
	RouteUsers                  // /Users (list, create)
	RouteGroups                 // /Groups (list, create)
	RouteUser                   // /Users/{id}
	RouteGroup                  // /Groups/{id}
	RouteSearch                 // /Users/.search, /Groups/.search
	RouteDiscovery              // /Schemas, /ResourceTypes, /ServiceProviderConfig
	RouteHealthz                // /healthz, /readyz
	numRoutes
)

var routeNames = [numRoutes]string{"other", "users", "groups", "user", "group", "search", "discovery", "healthz"}

// String returns the label value of r.
func (r Route) String() string {
	if r >= numRoutes {
		return "other"
	}
	return routeNames[r]
}

// Resource is the resource label of a provisioning event.
type Resource uint8

// Resources.
const (
	ResourceUser Resource = iota
	ResourceGroup
	numResources
)

var resourceNames = [numResources]string{"user", "group"}

// provisioning methods: the writes Entra sends.
var eventMethods = [...]string{"POST", "PUT", "PATCH", "DELETE"}

func eventMethodIndex(m string) int {
	for i, x := range eventMethods {
		if x == m {
			return i
		}
	}
	return -1
}

// AuthFailure is the reason label of an authentication failure.
type AuthFailure uint8

// Authentication failure reasons.
const (
	AuthMissing   AuthFailure = iota // no Authorization header
	AuthMalformed                    // not "Bearer <token>"
	AuthInvalid                      // unknown, revoked, expired, or another tenant's token
	numAuthFailures
)

var authFailureNames = [numAuthFailures]string{"missing", "malformed", "invalid"}

// Limit is the limit label of a rate-limited request.
type Limit uint8

// Rate limits.
const (
	LimitAuthFailures Limit = iota // failed authentications per client address
	LimitToken                     // requests per token
	numLimits
)

var limitNames = [numLimits]string{"auth_failures", "token"}

// DomainLister lists email domains; *directory.Service implements it.
type DomainLister interface {
	// Domains lists a tenant's domains, "" for all tenants.
	Domains(ctx context.Context, tenantID string) ([]*store.Domain, error)
}

// Options configures New.
type Options struct {
	// Domains is queried at every scrape for the roster_domains gauge;
	// nil leaves the gauge out.
	Domains DomainLister
	// DBPath is the SQLite database file (store.DB.Path()); its size plus
	// its write-ahead log's is roster_store_size_bytes. "" leaves it out.
	DBPath string
	// Logger receives scrape errors; nil discards them.
	Logger *slog.Logger
}

// Metrics holds the agent's collectors on their own registry.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	requests *prometheus.CounterVec
	latency  [numRoutes]prometheus.Observer
	// byCode caches the request counter of each route and status code, so
	// the hot path does no label hashing or allocation.
	byCode [numRoutes][maxCode - minCode]atomic.Pointer[counter]

	events       [numResources][len(eventMethods)][2]prometheus.Counter
	authFailures [numAuthFailures]prometheus.Counter
	rateLimited  [numLimits]prometheus.Counter
}

type counter struct{ prometheus.Counter }

const minCode, maxCode = 100, 600

// LatencyBuckets are the upper bounds, in seconds, of the request latency
// histogram: SCIM requests take from a fraction of a millisecond (cached
// lookups) to tens of milliseconds (writes waiting for the group commit).
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns a Metrics with every collector registered.
func New(opt Options) *Metrics {
	reg := prometheus.NewRegistry()
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: reg, log: log}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "roster", Name: "http_requests_total",
		Help: "HTTP requests served, by route and status code.",
	}, []string{"route", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "roster", Name: "http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route.",
		Buckets: LatencyBuckets,
	}, []string{"route"})
	for r := range numRoutes {
		m.latency[r] = latency.WithLabelValues(r.String())
	}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "roster", Name: "provisioning_events_total",
		Help: "Authenticated writes to users and groups (POST, PUT, PATCH, DELETE), by resource, method and outcome (success: 2xx, failure: anything else).",
	}, []string{"resource", "method", "outcome"})
	for res := range numResources {
		for i, meth := range eventMethods {
			m.events[res][i][0] = events.WithLabelValues(resourceNames[res], meth, "success")
			m.events[res][i][1] = events.WithLabelValues(resourceNames[res], meth, "failure")
		}
	}
	auth := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "roster", Name: "auth_failures_total",
		Help: "SCIM requests refused for their credentials: missing header, malformed header, or invalid token.",
	}, []string{"reason"})
	for r := range numAuthFailures {
		m.authFailures[r] = auth.WithLabelValues(authFailureNames[r])
	}
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "roster", Name: "rate_limited_requests_total",
		Help: "Requests answered 429, by limit: failed authentications per client address, or requests per token.",
	}, []string{"limit"})
	for l := range numLimits {
		m.rateLimited[l] = limited.WithLabelValues(limitNames[l])
	}
	reg.MustRegister(m.requests, latency, events, auth, limited,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opt.Domains != nil {
		reg.MustRegister(&domainCollector{list: opt.Domains, log: log})
	}
	if opt.DBPath != "" {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "roster", Name: "store_size_bytes",
			Help: "Size of the SQLite database file plus its write-ahead log.",
		}, func() float64 { return float64(fileSize(opt.DBPath) + fileSize(opt.DBPath+"-wal")) }))
	}
	return m
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Registry returns the registry, for collectors the caller adds (for
// example certificate expiry).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the /metrics handler (Prometheus text or protobuf format,
// gzip when asked). A collector that fails is reported in the scrape and
// logged; the other metrics are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Serve serves /metrics on ln until ctx ends, then closes the listener.
// Give it a loopback listener (DefaultAddr) unless the owner chose otherwise:
// metrics name tenants' activity and are not authenticated.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: metrics are at /metrics", http.StatusNotFound)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx) //nolint:errcheck // Serve returns ErrServerClosed either way
		case <-done:
		}
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	}
	return nil
}

// ObserveRequest records one served HTTP request.
func (m *Metrics) ObserveRequest(r Route, status int, d time.Duration) {
	if m == nil {
		return
	}
	if r >= numRoutes {
		r = RouteOther
	}
	m.latency[r].Observe(d.Seconds())
	if status < minCode || status >= maxCode {
		m.requests.WithLabelValues(r.String(), strconv.Itoa(status)).Inc()
		return
	}
	p := &m.byCode[r][status-minCode]
	c := p.Load()
	if c == nil {
		c = &counter{m.requests.WithLabelValues(r.String(), strconv.Itoa(status))}
		p.Store(c) // a race stores the same child twice: harmless
	}
	c.Inc()
}

// ProvisioningEvent records an authenticated write to a user or group;
// methods other than POST, PUT, PATCH and DELETE are not provisioning
// events and are ignored. Success means a 2xx answer.
func (m *Metrics) ProvisioningEvent(res Resource, method string, status int) {
	if m == nil || res >= numResources {
		return
	}
	i := eventMethodIndex(method)
	if i < 0 {
		return
	}
	outcome := 1
	if status >= 200 && status < 300 {
		outcome = 0
	}
	m.events[res][i][outcome].Inc()
}

// AuthFailed records a request refused for its credentials.
func (m *Metrics) AuthFailed(reason AuthFailure) {
	if m == nil || reason >= numAuthFailures {
		return
	}
	m.authFailures[reason].Inc()
}

// RateLimited records a request answered 429.
func (m *Metrics) RateLimited(l Limit) {
	if m == nil || l >= numLimits {
		return
	}
	m.rateLimited[l].Inc()
}

// domainCollector reports the number of email domains in each state,
// queried from the store at scrape time.
type domainCollector struct {
	list DomainLister
	log  *slog.Logger
}

var domainsDesc = prometheus.NewDesc("roster_domains",
	"Email domains by verification state (pending, verified, failed, lapsed), across all tenants.",
	[]string{"state"}, nil)

// domainStates are always reported, at 0 when no domain is in them, so
// alerts on "lapsed > 0" see a series.
var domainStates = []store.DomainStatus{store.DomainPending, store.DomainVerified, store.DomainFailed, store.DomainLapsed}

func (c *domainCollector) Describe(ch chan<- *prometheus.Desc) { ch <- domainsDesc }

func (c *domainCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := c.list.Domains(ctx, "")
	if err != nil {
		c.log.Warn("metrics: list email domains", "err", err)
		ch <- prometheus.NewInvalidMetric(domainsDesc, fmt.Errorf("list email domains: %w", err))
		return
	}
	counts := make(map[store.DomainStatus]int, len(domainStates))
	for _, d := range ds {
		counts[d.Status]++
	}
	for _, s := range domainStates {
		ch <- prometheus.MustNewConstMetric(domainsDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
		delete(counts, s)
	}
	for s, n := range counts { // a state added later still shows
		ch <- prometheus.MustNewConstMetric(domainsDesc, prometheus.GaugeValue, float64(n), string(s))
	}
}
