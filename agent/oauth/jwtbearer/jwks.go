package jwtbearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// The JWKS refresh policy (see the package comment).
const (
	// refetchInterval is the least time between two fetches of one URL.
	refetchInterval = time.Minute
	// defaultRefresh applies when the response has no usable max-age.
	defaultRefresh = 24 * time.Hour
	// minRefresh and maxRefresh clamp the response's max-age.
	minRefresh = 5 * time.Minute
	maxRefresh = 24 * time.Hour
)

// testHookWait, when a test sets it, runs just before a caller joins or
// starts a fetch.
var testHookWait func()

// keySet is what is cached for one JWKS URL.
type keySet struct {
	keys        map[string]*jose.JSONWebKey // by kid
	fetchedAt   time.Time                   // of the keys; zero if no fetch succeeded
	refreshAt   time.Time                   // when the keys are due for a refetch
	lastAttempt time.Time                   // of the last fetch, successful or not
	lastErr     error                       // of the last fetch; nil if it succeeded
	fetching    bool                        // a fetch is under way
	used        uint64                      // keyCache.seq when last used, for eviction
}

// keyCache caches the keys of JWKS URLs; see the package comment.
type keyCache struct {
	opt    Options
	client *http.Client
	group  singleflight.Group

	mu   sync.Mutex
	sets map[string]*keySet
	seq  uint64
}

func newKeyCache(opt Options, client *http.Client) *keyCache {
	return &keyCache{opt: opt, client: client, sets: map[string]*keySet{}}
}

// mayFetch reports whether s's URL may be fetched at now.
func mayFetch(s *keySet, now time.Time) bool {
	return s.lastAttempt.IsZero() || now.Sub(s.lastAttempt) >= refetchInterval
}

// key returns the key with kid from the JWKS at jwksURL, fetching the set
// when it is not cached, due for refresh, or lacks kid (at most once per
// refetchInterval; concurrent callers share one fetch).
func (c *keyCache) key(ctx context.Context, jwksURL, kid string) (*jose.JSONWebKey, error) {
	if err := c.checkURL(jwksURL); err != nil {
		return nil, err
	}
	now := c.opt.Now()
	c.mu.Lock()
	if s := c.sets[jwksURL]; s != nil {
		c.seq++
		s.used = c.seq
		k := s.keys[kid]
		switch {
		case k != nil && now.Before(s.refreshAt):
			c.mu.Unlock()
			return k, nil
		case s.fetching:
			// Join the fetch under way below.
		case !mayFetch(s, now) && k != nil:
			// Due for refresh, but the refresh just failed: keep using the key.
			c.mu.Unlock()
			return k, nil
		case !mayFetch(s, now):
			err := unknownKey(s, jwksURL, kid, now)
			c.mu.Unlock()
			return nil, err
		}
	}
	c.mu.Unlock()

	if testHookWait != nil {
		testHookWait()
	}
	// The fetch outlives a caller that gives up: other callers may share it.
	ch := c.group.DoChan(jwksURL, func() (any, error) {
		c.refresh(context.WithoutCancel(ctx), jwksURL)
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for %s: %w", ErrJWKS, jwksURL, ctx.Err())
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sets[jwksURL]
	if s == nil {
		return nil, fmt.Errorf("%w: %s was evicted from the cache while it was fetched; too many JWKS URLs are in use", ErrJWKS, jwksURL)
	}
	if k := s.keys[kid]; k != nil {
		return k, nil
	}
	return nil, unknownKey(s, jwksURL, kid, c.opt.Now())
}

// unknownKey says why kid cannot be had from s.
func unknownKey(s *keySet, jwksURL, kid string, now time.Time) error {
	next := s.lastAttempt.Add(refetchInterval).UTC().Format(time.RFC3339)
	if s.lastErr != nil {
		return fmt.Errorf("%w: kid %q is not cached and the last fetch of %s failed (the next is allowed at %s): %w",
			ErrJWKS, kid, jwksURL, next, s.lastErr)
	}
	return fmt.Errorf("%w: kid %q is not among the %d keys fetched from %s %s ago (an unknown kid refetches at most once a minute; the next at %s)",
		ErrUnknownKey, kid, len(s.keys), jwksURL, now.Sub(s.fetchedAt).Round(time.Second), next)
}

// refresh fetches the JWKS at jwksURL unless it was fetched less than
// refetchInterval ago, and records the result.
func (c *keyCache) refresh(ctx context.Context, jwksURL string) {
	now := c.opt.Now()
	c.mu.Lock()
	s := c.sets[jwksURL]
	if s != nil && !mayFetch(s, now) {
		c.mu.Unlock() // another flight fetched it just now
		return
	}
	if s == nil {
		s = &keySet{}
	}
	s.lastAttempt, s.fetching = now, true
	c.insert(jwksURL, s)
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, c.opt.FetchTimeout)
	defer cancel()
	keys, ttl, err := c.fetch(ctx, jwksURL)

	c.mu.Lock()
	defer c.mu.Unlock()
	s.fetching = false
	if err != nil {
		// The keys already cached, if any, stay in use.
		s.lastErr = fmt.Errorf("fetch JWKS %s: %w", jwksURL, err)
	} else {
		s.keys, s.fetchedAt, s.refreshAt, s.lastErr = keys, now, now.Add(ttl), nil
	}
	if c.sets[jwksURL] != s {
		c.insert(jwksURL, s) // evicted while fetching
	}
}

// insert caches s for jwksURL, evicting the least recently used set when
// MaxJWKSURLs are cached. c.mu is held.
func (c *keyCache) insert(jwksURL string, s *keySet) {
	c.seq++
	s.used = c.seq
	if _, ok := c.sets[jwksURL]; !ok && len(c.sets) >= c.opt.MaxJWKSURLs {
		oldest := ""
		for u, o := range c.sets {
			if oldest == "" || o.used < c.sets[oldest].used {
				oldest = u
			}
		}
		delete(c.sets, oldest)
	}
	c.sets[jwksURL] = s
}

// checkURL refuses JWKS URLs other than https ones, or http ones to a
// loopback address when Options.AllowHTTPLoopback is set.
func (c *keyCache) checkURL(jwksURL string) error {
	u, err := url.Parse(jwksURL)
	if err != nil {
		return fmt.Errorf("%w: the JWKS URL: %w", ErrConfig, err)
	}
	if u.User != nil || u.Host == "" {
		return fmt.Errorf("%w: the JWKS URL %q must be an absolute URL without user information", ErrConfig, jwksURL)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && c.opt.AllowHTTPLoopback && isLoopbackIP(u.Hostname()):
		return nil
	case u.Scheme == "http" && c.opt.AllowHTTPLoopback:
		return fmt.Errorf("%w: the JWKS URL %q must use https; http is allowed only to a loopback address", ErrConfig, jwksURL)
	default:
		return fmt.Errorf("%w: the JWKS URL %q must use https", ErrConfig, jwksURL)
	}
}

// isLoopbackIP reports whether host is a loopback IP address (a name is not,
// whatever it resolves to).
func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fetch gets the JWKS at jwksURL and returns its usable keys by kid and how
// long to keep them.
func (c *keyCache) fetch(ctx context.Context, jwksURL string) (map[string]*jose.JSONWebKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if loc := resp.Header.Get("Location"); loc != "" {
			return nil, 0, fmt.Errorf("the server answered %s with a redirect to %q; redirects are not followed", resp.Status, loc)
		}
		return nil, 0, fmt.Errorf("the server answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.opt.MaxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read the response: %w", err)
	}
	if int64(len(body)) > c.opt.MaxJWKSBytes {
		return nil, 0, fmt.Errorf("the response is longer than %d bytes", c.opt.MaxJWKSBytes)
	}
	// Each key is parsed on its own so that one key of an unknown type (RFC
	// 7517 §5: "implementations SHOULD ignore JWKs within a JWK Set that use
	// kty values that are not understood") does not spoil the set.
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("the response is not a JWK Set: %w", err)
	}
	if doc.Keys == nil {
		return nil, 0, fmt.Errorf("the response is not a JWK Set: it has no \"keys\" member")
	}
	keys := map[string]*jose.JSONWebKey{}
	for _, raw := range doc.Keys {
		if len(keys) == c.opt.MaxKeysPerJWKS {
			break
		}
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil {
			continue
		}
		pub := k.Public() // a set that leaks private keys still verifies with the public halves
		if !usable(&pub) {
			continue
		}
		if _, dup := keys[pub.KeyID]; !dup {
			keys[pub.KeyID] = &pub
		}
	}
	return keys, refreshAfter(resp.Header), nil
}

// usable reports whether k may verify assertions: it has a kid, is meant for
// signatures (RFC 7517 §4.2), and is an RSA or EC public key — never a
// symmetric one (RFC 8725 §3.1).
func usable(k *jose.JSONWebKey) bool {
	if k.KeyID == "" || (k.Use != "" && k.Use != "sig") || !k.Valid() {
		return false
	}
	switch k.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return true
	}
	return false
}

// refreshAfter returns how long to keep a JWKS: the response's Cache-Control
// max-age (RFC 9111 §5.2.2.1) clamped to [minRefresh, maxRefresh], minRefresh
// for no-cache or no-store, else defaultRefresh.
func refreshAfter(h http.Header) time.Duration {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
				return minRefresh
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				return min(max(time.Duration(min(n, int64(maxRefresh/time.Second)))*time.Second, minRefresh), maxRefresh)
			}
		}
	}
	return defaultRefresh
}
