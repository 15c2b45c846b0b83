package domainproof

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Status is the outcome class of a check.
type Status int

const (
	// Retry means nothing was proven either way: SERVFAIL, REFUSED, a
	// timeout, a network error, a non-authoritative answer or a truncated
	// answer that TCP could not complete. It is the zero value and must never
	// count as "record removed".
	Retry Status = iota
	// Absent means the authoritative servers answered and the challenge value
	// is not there: NXDOMAIN, no TXT record (NODATA), only other TXT values,
	// a dangling CNAME, a CNAME loop or a CNAME chain longer than MaxCNAME.
	Absent
	// Verified means at least one TXT record at the challenge name (after
	// following CNAMEs) equals the challenge value.
	Verified
)

// String returns the lower-case name of s.
func (s Status) String() string {
	switch s {
	case Retry:
		return "retry"
	case Absent:
		return "absent"
	case Verified:
		return "verified"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Result is the outcome of one Checker.Check.
type Result struct {
	Status  Status
	Detail  string   // human-readable explanation, fit to show an admin
	Found   []string // TXT values seen at the final name, strings of each RR joined
	Servers []string // servers (host:port) that answered, in the order asked
}

const (
	// DefaultTimeout bounds each query when Checker.Timeout is zero.
	DefaultTimeout = 2 * time.Second
	// DefaultMaxCNAME is the number of CNAMEs followed when
	// Checker.MaxCNAME is zero.
	DefaultMaxCNAME = 8
	// maxCheck bounds one whole Check in addition to the caller's context.
	maxCheck = 30 * time.Second
	// ednsSize is the EDNS0 UDP buffer size advertised (DNS Flag Day 2020).
	ednsSize = 1232
	// maxNSAddrs bounds how many authoritative addresses are asked per zone.
	maxNSAddrs = 8
)

// Checker checks challenges against DNS. The zero value asks the system's
// resolvers (from /etc/resolv.conf) to find the zone's authoritative servers
// and then asks those directly.
//
// Servers used for a name, first match wins:
//  1. ZoneServers: the longest zone that contains the name;
//  2. Nameservers: for every name;
//  3. discovery: SOA and NS for the name through Resolver (or the system
//     resolvers), then A/AAAA of each name server, port 53.
//
// Without Resolver and without a readable resolv.conf (Windows), the system
// resolver answers through net.DefaultResolver and Detail says so.
//
// Only discovered servers fall back to a recursive lookup when all of them
// are unreachable; explicitly configured servers never do, so a test or a
// split-DNS setup never silently sees another view.
type Checker struct {
	// Resolver is the recursive resolver (host:port) used to find
	// authoritative servers and as the fallback; "" means the system
	// resolver.
	Resolver string
	// Nameservers, when set, are asked directly (host:port) for every name
	// instead of discovering the authoritative servers: for tests and split
	// DNS.
	Nameservers []string
	// ZoneServers maps a zone (e.g. "example.com") to the servers
	// (host:port) that are authoritative for it; it takes precedence over
	// Nameservers and discovery for names inside that zone.
	ZoneServers map[string][]string
	// Timeout bounds each query; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxCNAME is the number of CNAMEs followed before giving up; 0 means
	// DefaultMaxCNAME.
	MaxCNAME int
	// Log receives one record per check (Info) and per query (Debug); nil
	// discards.
	Log *slog.Logger

	// port is the port of discovered name servers; "" means "53". Tests set
	// it to reach a discovered server on loopback.
	port string
	// resolvConf is read for the system resolvers; "" means /etc/resolv.conf.
	resolvConf string
}

// serverSet is where the records for one name are asked.
type serverSet struct {
	zone       string   // FQDN; records outside it are ignored ("." = trust all)
	addrs      []string // host:port
	recursive  bool     // RD=1 and AA not required
	discovered bool     // found by discovery: fallback allowed when unreachable
}

// reply is one server's answer to one query.
type reply struct {
	addr string
	msg  *dns.Msg
	err  error
	net  bool // err is a network error or timeout (server unreachable)
}

// errNoSystemResolvers means Resolver is empty and resolv.conf cannot be
// read, so the authoritative servers cannot be discovered.
var errNoSystemResolvers = errors.New("no system resolvers")

// errTruncated marks an answer that stayed truncated or whose TCP retry
// failed; it is not a network error, so it never triggers the fallback.
var errTruncated = errors.New("truncated answer")

// Check looks up ch.RecordName and reports whether a TXT record there, after
// following CNAMEs, equals ch.Value. It never returns Absent for a temporary
// failure.
func (c *Checker) Check(ctx context.Context, ch Challenge) Result {
	ctx, cancel := context.WithTimeout(ctx, maxCheck)
	defer cancel()
	start := time.Now()
	name := dns.CanonicalName(ch.RecordName)
	var res Result
	if _, ok := dns.IsDomainName(name); !ok || ch.Value == "" || ch.RecordName == "" {
		res = Result{Status: Retry, Detail: fmt.Sprintf("invalid challenge: name %q, value %q", ch.RecordName, ch.Value)}
	} else {
		res = c.check(ctx, name, ch.Value, false)
	}
	c.log().Info("domainproof check", "record", ch.RecordName, "status", res.Status.String(),
		"detail", res.Detail, "found", res.Found, "servers", res.Servers, "duration", time.Since(start))
	return res
}

// check follows name through CNAMEs, asking authoritative servers (or, with
// recursive set, the configured recursive resolver).
func (c *Checker) check(ctx context.Context, name, want string, recursive bool) Result {
	var res Result
	start := name
	chain := []string{name}
	seen := map[string]bool{name: true}
	maxHops := c.MaxCNAME
	if maxHops <= 0 {
		maxHops = DefaultMaxCNAME
	}
	for {
		var set serverSet
		if recursive {
			set = serverSet{zone: ".", addrs: []string{c.Resolver}, recursive: true}
		} else {
			var err error
			set, err = c.serversFor(ctx, name)
			if errors.Is(err, errNoSystemResolvers) {
				// No resolv.conf (Windows, for example): only the system
				// resolver can answer.
				return c.fallback(ctx, start, want, res.Servers, err.Error())
			}
			if err != nil {
				res.Status = Retry
				res.Detail = fmt.Sprintf("cannot find the authoritative servers for %s: %v", trimDot(name), err)
				return res
			}
		}
		replies := c.askAll(ctx, set, name)
		var answers []reply
		var failures []string
		allNet := true
		for _, r := range replies {
			if r.err != nil {
				failures = append(failures, fmt.Sprintf("%s: %v", r.addr, r.err))
				allNet = allNet && r.net
				continue
			}
			res.Servers = appendUnique(res.Servers, r.addr)
			switch {
			case r.msg.Rcode != dns.RcodeSuccess && r.msg.Rcode != dns.RcodeNameError:
				failures = append(failures, fmt.Sprintf("%s: %s", r.addr, dns.RcodeToString[r.msg.Rcode]))
				allNet = false
			case !set.recursive && !r.msg.Authoritative:
				failures = append(failures, fmt.Sprintf("%s: non-authoritative answer (AA=0)", r.addr))
				allNet = false
			default:
				answers = append(answers, r)
			}
		}
		if len(answers) == 0 {
			if allNet && set.discovered && len(failures) > 0 {
				return c.fallback(ctx, start, want, res.Servers, strings.Join(failures, "; "))
			}
			res.Status = Retry
			res.Detail = fmt.Sprintf("no usable answer for %s: %s", trimDot(name), strings.Join(failures, "; "))
			return res
		}

		// A matching value from any authoritative server wins (secondaries
		// may lag); otherwise the first answer decides.
		var chosen outcome
		for i, a := range answers {
			o := interpret(a.msg, name, set.zone, want)
			if i == 0 || o.kind == kindVerified {
				chosen = o
			}
			if o.kind == kindVerified {
				break
			}
		}
		for _, next := range chosen.chain {
			if seen[next] {
				chain = append(chain, next)
				res.Status = Absent
				res.Detail = "CNAME loop: " + joinChain(chain)
				return res
			}
			if len(chain) > maxHops {
				res.Status = Absent
				res.Detail = fmt.Sprintf("CNAME chain longer than %d hops: %s → %s …", maxHops, joinChain(chain), trimDot(next))
				return res
			}
			seen[next] = true
			chain = append(chain, next)
		}
		final := chain[len(chain)-1]
		via := ""
		if len(chain) > 1 {
			via = " (via CNAME " + joinChain(chain) + ")"
		}
		switch chosen.kind {
		case kindFollow:
			name = final
			continue
		case kindVerified:
			res.Status = Verified
			res.Found = chosen.found
			res.Detail = fmt.Sprintf("TXT record with the challenge value found at %s%s", trimDot(final), via)
		case kindMismatch:
			res.Status = Absent
			res.Found = chosen.found
			res.Detail = fmt.Sprintf("TXT records found at %s%s but none matches the challenge value; found: %s",
				trimDot(final), via, quoteList(chosen.found))
		case kindNXDomain:
			res.Status = Absent
			res.Detail = fmt.Sprintf("no record: %s does not exist (NXDOMAIN)%s", trimDot(final), via)
		case kindNoData:
			res.Status = Absent
			res.Detail = fmt.Sprintf("no record: %s exists but has no TXT record (NODATA)%s", trimDot(final), via)
		}
		return res
	}
}

// fallback answers through a recursive resolver after every authoritative
// server was unreachable (outbound DNS blocked, for example).
func (c *Checker) fallback(ctx context.Context, name, want string, servers []string, why string) Result {
	note := func(r Result, via string) Result {
		r.Servers = append(slices.Clone(servers), r.Servers...)
		r.Detail = fmt.Sprintf("answer from recursive resolver %s, which may be cached (authoritative servers unreachable: %s): %s", via, why, r.Detail)
		return r
	}
	if c.Resolver != "" {
		return note(c.check(ctx, name, want, true), c.Resolver)
	}
	var res Result
	vals, err := net.DefaultResolver.LookupTXT(ctx, trimDot(name))
	var de *net.DNSError
	switch {
	case err != nil && errors.As(err, &de) && de.IsNotFound:
		res.Status = Absent
		res.Detail = fmt.Sprintf("no record: no TXT record at %s", trimDot(name))
	case err != nil:
		res.Status = Retry
		res.Detail = fmt.Sprintf("lookup %s: %v", trimDot(name), err)
	case matchAny(vals, want):
		res.Status, res.Found = Verified, vals
		res.Detail = fmt.Sprintf("TXT record with the challenge value found at %s", trimDot(name))
	default:
		res.Status, res.Found = Absent, vals
		res.Detail = fmt.Sprintf("TXT records found at %s but none matches the challenge value; found: %s", trimDot(name), quoteList(vals))
	}
	return note(res, "(system)")
}

type kind int

const (
	kindFollow   kind = iota // the answer ends in a CNAME whose target it does not cover
	kindVerified             // a TXT value matches
	kindMismatch             // TXT values, none matches
	kindNXDomain
	kindNoData
)

// outcome is what one authoritative answer says about a name.
type outcome struct {
	kind  kind
	chain []string // CNAME targets followed inside the answer, in order
	found []string
}

// interpret reads an answer to "name TXT": it follows CNAMEs inside the
// answer, ignores records outside zone, matches owner names
// case-insensitively and joins the character-strings of each TXT record.
func interpret(m *dns.Msg, name, zone, want string) outcome {
	var o outcome
	cur := name
	local := map[string]bool{cur: true}
	for {
		var found []string
		var target string
		for _, rr := range m.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, cur) || !dns.IsSubDomain(zone, h.Name) {
				continue
			}
			switch rr := rr.(type) {
			case *dns.TXT:
				found = append(found, strings.Join(rr.Txt, ""))
			case *dns.CNAME:
				target = dns.CanonicalName(rr.Target)
			}
		}
		if len(found) > 0 {
			o.found = found
			o.kind = kindMismatch
			if matchAny(found, want) {
				o.kind = kindVerified
			}
			return o
		}
		if target == "" {
			break
		}
		o.chain = append(o.chain, target)
		if local[target] { // a loop inside one answer; the caller reports it
			o.kind = kindFollow
			return o
		}
		local[target] = true
		cur = target
	}
	switch {
	case cur != name:
		// The answer stopped at a CNAME target it does not cover (another
		// zone, or a server that does not chase): ask again for the target.
		o.kind = kindFollow
	case m.Rcode == dns.RcodeNameError:
		o.kind = kindNXDomain
	default:
		o.kind = kindNoData
	}
	return o
}

// matchAny reports whether any value equals want, comparing in constant time
// per value.
func matchAny(values []string, want string) bool {
	ok := 0
	for _, v := range values {
		ok |= subtle.ConstantTimeCompare([]byte(v), []byte(want))
	}
	return ok == 1
}

// askAll asks every server in set for name TXT concurrently and returns the
// replies in the order of set.addrs.
func (c *Checker) askAll(ctx context.Context, set serverSet, name string) []reply {
	out := make([]reply, len(set.addrs))
	var wg sync.WaitGroup
	for i, addr := range set.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := c.exchange(ctx, addr, name, dns.TypeTXT, set.recursive)
			out[i] = reply{addr: addr, msg: m, err: err, net: err != nil && isNetErr(err)}
		}()
	}
	wg.Wait()
	return out
}

// exchange sends one query over UDP and repeats it over TCP when the answer
// is truncated (RFC 7766).
func (c *Checker) exchange(ctx context.Context, addr, name string, qtype uint16, rd bool) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = rd
	q.SetEdns0(ednsSize, false)
	timeout := c.timeout()
	cl := &dns.Client{Net: "udp", Timeout: timeout, UDPSize: ednsSize}

	qctx, cancel := context.WithTimeout(ctx, timeout)
	m, _, err := cl.ExchangeContext(qctx, q, addr)
	cancel()
	if err == nil && m.Truncated {
		cl.Net = "tcp"
		qctx, cancel := context.WithTimeout(ctx, timeout)
		m, _, err = cl.ExchangeContext(qctx, q, addr)
		cancel()
		if err != nil {
			err = fmt.Errorf("%w over UDP and TCP failed: %w", errTruncated, err)
		} else if m.Truncated {
			err = fmt.Errorf("%w even over TCP", errTruncated)
		}
	}
	if err == nil {
		if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, name) || m.Question[0].Qtype != qtype {
			err = fmt.Errorf("answer for a different question")
		}
	}
	l := c.log()
	if err != nil {
		l.Debug("domainproof query", "server", addr, "name", name, "type", dns.TypeToString[qtype], "rd", rd, "err", err)
		return nil, fmt.Errorf("query %s %s: %w", trimDot(name), dns.TypeToString[qtype], err)
	}
	l.Debug("domainproof query", "server", addr, "name", name, "type", dns.TypeToString[qtype], "rd", rd,
		"rcode", dns.RcodeToString[m.Rcode], "aa", m.Authoritative, "answers", len(m.Answer))
	return m, nil
}

// isNetErr reports whether err means the server could not be reached:
// timeouts and socket errors, but not truncation.
func isNetErr(err error) bool {
	if errors.Is(err, errTruncated) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF)
}

// serversFor returns where to ask for name: ZoneServers, Nameservers or the
// discovered authoritative servers of name's zone.
func (c *Checker) serversFor(ctx context.Context, name string) (serverSet, error) {
	best := ""
	for zone := range c.ZoneServers {
		z := dns.CanonicalName(zone)
		if dns.IsSubDomain(z, name) && len(z) > len(best) {
			best = z
		}
	}
	if best != "" {
		for zone, addrs := range c.ZoneServers {
			if dns.CanonicalName(zone) == best && len(addrs) > 0 {
				return serverSet{zone: best, addrs: addrs}, nil
			}
		}
	}
	if len(c.Nameservers) > 0 {
		return serverSet{zone: ".", addrs: c.Nameservers}, nil
	}
	return c.discover(ctx, name)
}

// discover finds the zone containing name (SOA through the recursive
// resolvers, walking up one label at a time) and the addresses of its name
// servers.
func (c *Checker) discover(ctx context.Context, name string) (serverSet, error) {
	resolvers, err := c.recursiveServers()
	if err != nil {
		return serverSet{}, err
	}
	zone := ""
	for n := name; zone == ""; {
		m, err := c.askRecursive(ctx, resolvers, n, dns.TypeSOA)
		if err != nil {
			return serverSet{}, err
		}
		for _, rr := range append(slices.Clone(m.Answer), m.Ns...) {
			// The SOA must be for n or an ancestor of n; a CNAME at n makes the
			// resolver return the target's SOA, which is not ours.
			if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, n) {
				zone = dns.CanonicalName(soa.Hdr.Name)
				break
			}
		}
		if zone == "" {
			if n == "." {
				return serverSet{}, fmt.Errorf("no SOA record found for %s or any parent", trimDot(name))
			}
			if i, end := dns.NextLabel(n, 0); !end {
				n = n[i:]
			} else {
				n = "."
			}
		}
	}
	m, err := c.askRecursive(ctx, resolvers, zone, dns.TypeNS)
	if err != nil {
		return serverSet{}, err
	}
	var hosts []string
	for _, rr := range m.Answer {
		if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, zone) {
			hosts = append(hosts, dns.CanonicalName(ns.Ns))
		}
	}
	if len(hosts) == 0 {
		return serverSet{}, fmt.Errorf("no NS records for zone %s", trimDot(zone))
	}
	port := c.port
	if port == "" {
		port = "53"
	}
	var addrs []string
	for _, h := range hosts {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if len(addrs) >= maxNSAddrs {
				break
			}
			m, err := c.askRecursive(ctx, resolvers, h, qt)
			if err != nil {
				c.log().Debug("domainproof name server address", "host", h, "err", err)
				continue
			}
			for _, rr := range m.Answer {
				switch rr := rr.(type) {
				case *dns.A:
					addrs = appendUnique(addrs, net.JoinHostPort(rr.A.String(), port))
				case *dns.AAAA:
					addrs = appendUnique(addrs, net.JoinHostPort(rr.AAAA.String(), port))
				}
			}
		}
	}
	if len(addrs) == 0 {
		return serverSet{}, fmt.Errorf("no addresses for the name servers of %s (%s)", trimDot(zone), strings.Join(hosts, ", "))
	}
	return serverSet{zone: zone, addrs: addrs, discovered: true}, nil
}

// askRecursive asks the recursive resolvers in order until one answers with
// NOERROR or NXDOMAIN.
func (c *Checker) askRecursive(ctx context.Context, resolvers []string, name string, qtype uint16) (*dns.Msg, error) {
	var errs []error
	for _, r := range resolvers {
		m, err := c.exchange(ctx, r, name, qtype, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
			errs = append(errs, fmt.Errorf("%s %s from %s: %s", trimDot(name), dns.TypeToString[qtype], r, dns.RcodeToString[m.Rcode]))
			continue
		}
		return m, nil
	}
	return nil, errors.Join(errs...)
}

// recursiveServers returns Resolver, or the system's resolvers from
// resolv.conf.
func (c *Checker) recursiveServers() ([]string, error) {
	if c.Resolver != "" {
		return []string{c.Resolver}, nil
	}
	path := c.resolvConf
	if path == "" {
		path = "/etc/resolv.conf"
	}
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoSystemResolvers, err)
	}
	var out []string
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: none in %s", errNoSystemResolvers, path)
	}
	return out, nil
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Checker) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func trimDot(s string) string {
	if s == "." {
		return s
	}
	return strings.TrimSuffix(s, ".")
}

func joinChain(chain []string) string {
	parts := make([]string, len(chain))
	for i, n := range chain {
		parts[i] = trimDot(n)
	}
	return strings.Join(parts, " → ")
}

// quoteList quotes up to five values, each cut to 80 bytes, for a Detail.
func quoteList(vals []string) string {
	var parts []string
	for i, v := range vals {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(vals)-5))
			break
		}
		if len(v) > 80 {
			v = v[:80] + "…"
		}
		parts = append(parts, fmt.Sprintf("%q", v))
	}
	return strings.Join(parts, ", ")
}
