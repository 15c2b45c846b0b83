package scimhttp

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the agent's rate limits. A rate of 0 (the zero Limits) turns
// that limit off: the agent passes DefaultLimits unless its configuration
// says otherwise, and tests that flood the agent on purpose pass nothing.
//
// Failed authentication is limited per client address and, with a larger
// budget, for all addresses together; only failed attempts count: an address that exhausted its allowance gets 429 instead
// of 401 for further wrong tokens, while a request with a valid token from
// the same address is still served. A wrong token therefore never locks out
// the right one (behind a reverse proxy without trusted-proxy settings every
// client shares the proxy's address), and a token cannot be guessed faster
// than the limit; refused attempts are not stored as provisioning events, and
// the others are counted per address and minute in one event each, so a
// flood of bad tokens cannot fill the database either.
//
// Requests are limited per token, whatever their outcome. The default is
// four times Entra's documented 25 requests per second per tenant, with a
// burst of 200, so Entra is never throttled; a runaway script with an app
// token is.
type Limits struct {
	// AuthFailuresPerMinute is the sustained rate of failed authentications
	// allowed per client address (default 10 per minute; 0 = unlimited).
	AuthFailuresPerMinute float64
	// AuthFailureBurst is how many failed authentications an address may
	// make at once before the rate applies (default 20; at least 1).
	AuthFailureBurst int
	// GlobalAuthFailuresPerMinute is the sustained rate of failed
	// authentications allowed from all addresses together (default 120 per
	// minute; 0 = unlimited): many addresses with a few attempts each are
	// refused like one address with many.
	GlobalAuthFailuresPerMinute float64
	// GlobalAuthFailureBurst is how many failed authentications all
	// addresses together may make at once (default 200; at least 1).
	GlobalAuthFailureBurst int
	// TokenRequestsPerSecond is the sustained request rate allowed per
	// token (default 100 per second; 0 = unlimited).
	TokenRequestsPerSecond float64
	// TokenBurst is how many requests a token may make at once before the
	// rate applies (default 200; at least 1).
	TokenBurst int
}

// DefaultLimits returns the rate limits the agent runs with unless
// configured otherwise.
func DefaultLimits() Limits {
	return Limits{AuthFailuresPerMinute: 10, AuthFailureBurst: 20, GlobalAuthFailuresPerMinute: 120, GlobalAuthFailureBurst: 200,
		TokenRequestsPerSecond: 100, TokenBurst: 200}
}

// SetLimits applies new rate limits at once (a configuration reload): the
// allowance each address and token has left is kept, refilling at the new
// rate up to the new burst.
func (s *Server) SetLimits(l Limits) {
	now := s.now()
	s.authLim.set(perSecond(l.AuthFailuresPerMinute/60), max(l.AuthFailureBurst, 1), now)
	s.authGlobal.set(perSecond(l.GlobalAuthFailuresPerMinute/60), max(l.GlobalAuthFailureBurst, 1), now)
	s.tokenLim.set(perSecond(l.TokenRequestsPerSecond), max(l.TokenBurst, 1), now)
}

func perSecond(r float64) rate.Limit {
	if r <= 0 || math.IsInf(r, 1) || math.IsNaN(r) {
		return rate.Inf
	}
	return rate.Limit(r)
}

// keyedLimiter is a token bucket per key (client address or token id).
// Buckets idle long enough to have refilled are evicted: a fresh bucket is
// the same as a full one, so eviction never grants more than the limit.
// Above maxKeys buckets after eviction (a flood from very many addresses),
// all buckets are dropped rather than letting memory grow.
type keyedLimiter struct {
	mu        sync.Mutex
	limit     rate.Limit
	burst     int
	buckets   map[string]*bucket
	lastSweep time.Time
	maxKeys   int
}

type bucket struct {
	lim    *rate.Limiter
	seen   time.Time
	denied bool // refused since last allowed
}

const (
	sweepEvery     = time.Minute
	defaultMaxKeys = 100_000
)

func newKeyedLimiter(limit rate.Limit, burst int) *keyedLimiter {
	return &keyedLimiter{limit: limit, burst: burst, buckets: map[string]*bucket{}, maxKeys: defaultMaxKeys}
}

func (k *keyedLimiter) set(limit rate.Limit, burst int, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.limit, k.burst = limit, burst
	for _, b := range k.buckets {
		b.lim.SetLimitAt(now, limit)
		b.lim.SetBurstAt(now, burst)
	}
	if limit == rate.Inf {
		clear(k.buckets)
	}
}

// allow takes one token from key's bucket. When the bucket is empty it
// returns false, how long until a token is available, and whether this is
// the first refusal since the key was last allowed (to log once, not per
// request).
func (k *keyedLimiter) allow(key string, now time.Time) (ok bool, wait time.Duration, first bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.limit == rate.Inf {
		return true, 0, false
	}
	if now.Sub(k.lastSweep) >= sweepEvery || len(k.buckets) >= k.maxKeys {
		k.sweep(now)
	}
	b := k.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(k.limit, k.burst)}
		k.buckets[key] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		b.denied = false
		return true, 0, false
	}
	first = !b.denied
	b.denied = true
	need := 1 - b.lim.TokensAt(now)
	return false, time.Duration(need / float64(k.limit) * float64(time.Second)), first
}

// limits returns the current rate and burst.
func (k *keyedLimiter) limits() (rate.Limit, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.limit, k.burst
}

// sweep drops buckets idle for longer than a full refill takes.
func (k *keyedLimiter) sweep(now time.Time) {
	k.lastSweep = now
	full := time.Duration(float64(k.burst)/float64(k.limit)*float64(time.Second)) + time.Second
	for key, b := range k.buckets {
		if now.Sub(b.seen) > full {
			delete(k.buckets, key)
		}
	}
	if len(k.buckets) >= k.maxKeys {
		clear(k.buckets)
	}
}

func (k *keyedLimiter) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// retryAfter renders a wait as whole seconds for Retry-After (RFC 9110
// §10.2.3), rounded up and at least 1.
func retryAfter(d time.Duration) string {
	secs := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(secs, 1), 10)
}

// remoteHost is the default client address: the host of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limitKey is the per-address bucket of a client address: IPv4 addresses
// alone, IPv6 addresses by /64 (one host usually holds a whole /64, so a
// bucket per address would be no limit at all).
func limitKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
