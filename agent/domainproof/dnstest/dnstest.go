// Package dnstest runs an in-process authoritative DNS server on loopback
// (github.com/miekg/dns) for tests: zones that a test may change while the
// server runs, and modes that make it fail the way real servers do.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is an in-process authoritative DNS server on loopback, serving
// zones from a map that tests may change while it runs. It answers with
// AA=1, chases CNAMEs inside its own zones, puts the zone's SOA in the
// authority section of NXDOMAIN and NODATA answers, truncates UDP answers to
// the client's EDNS0 size (at most udpMax) and answers REFUSED outside its
// zones. Per-zone modes simulate failures.
type Server struct {
	Addr string // host:port, the same port for UDP and TCP

	mu     sync.Mutex
	zones  map[string]bool     // apex FQDN, lower-case
	rrs    map[string][]dns.RR // owner FQDN, lower-case
	modes  map[string]Mode     // by zone apex
	udpMax int
}

// MaxUDP is the largest UDP answer the server sends (the EDNS0 size of DNS
// Flag Day 2020); larger answers are truncated and must be retried over TCP.
const MaxUDP = 1232

// Mode makes a server misbehave for one zone.
type Mode int

const (
	ModeNormal   Mode = iota
	ModeServfail      // answer SERVFAIL
	ModeRefused       // answer REFUSED
	ModeDrop          // never answer
	ModeNoTCP         // answer over UDP only; drop TCP queries
	ModeNoAA          // answer without the AA bit (a lame server)
)

// StartOn starts a server on ip (e.g. "127.0.0.1") and port ("0" for
// any free one). With a fixed port it returns nil if that port is taken
// for UDP or TCP. With port "0" it retries until it finds a port that is
// free for both, since the kernel picks the UDP port without regard to TCP.
func StartOn(t testing.TB, ip, port string) *Server {
	t.Helper()
	pc, l := listenPair(t, ip, port)
	if pc == nil {
		return nil
	}
	addr := pc.LocalAddr().String()
	s := &Server{
		Addr:   addr,
		zones:  map[string]bool{},
		rrs:    map[string][]dns.RR{},
		modes:  map[string]Mode{},
		udpMax: MaxUDP,
	}
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: s},
		{Listener: l, Handler: s},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				t.Logf("dns server %s: %v", addr, err)
			}
		}()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("dns server did not start")
		}
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return s
}

// listenTCP is net.Listen; tests replace it to make TCP refuse a port.
var listenTCP = net.Listen

// pairAttempts bounds the retries for a free UDP+TCP port pair.
const pairAttempts = 100

// listenPair binds UDP and then TCP on the same ip and port. For a fixed
// port it returns nils if either is taken; for port "0" it retries with a
// new UDP port when TCP cannot take the one UDP got, and fails the test
// only after pairAttempts tries.
func listenPair(t testing.TB, ip, port string) (net.PacketConn, net.Listener) {
	t.Helper()
	var lastErr error
	for range pairAttempts {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, port))
		if err != nil {
			if port != "0" {
				return nil, nil
			}
			t.Fatalf("listen udp: %v", err)
		}
		l, err := listenTCP("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
		if port != "0" {
			return nil, nil
		}
		lastErr = err
	}
	t.Fatalf("no port on %s free for both UDP and TCP after %d tries: %v", ip, pairAttempts, lastErr)
	return nil, nil
}

// Start starts a server on 127.0.0.1 with a free port. It never returns nil.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartOn(t, "127.0.0.1", "0")
}

// AddZone adds a zone with its SOA, one NS "ns1.<apex>" and that name
// server's A record nsIP.
func (s *Server) AddZone(t testing.TB, apex, nsIP string) {
	t.Helper()
	apex = dns.CanonicalName(apex)
	s.mu.Lock()
	s.zones[apex] = true
	s.mu.Unlock()
	s.Add(t,
		apex+" 60 IN SOA ns1."+apex+" hostmaster."+apex+" 1 3600 600 604800 60",
		apex+" 60 IN NS ns1."+apex,
		"ns1."+apex+" 60 IN A "+nsIP,
	)
}

// Add parses records in zone-file syntax and adds them.
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range records {
		rr, err := dns.NewRR(rec)
		if err != nil {
			t.Fatalf("parse %q: %v", rec, err)
		}
		owner := dns.CanonicalName(rr.Header().Name)
		s.rrs[owner] = append(s.rrs[owner], rr)
	}
}

// Remove deletes every record of type qtype at name.
func (s *Server) Remove(name string, qtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner := dns.CanonicalName(name)
	var keep []dns.RR
	for _, rr := range s.rrs[owner] {
		if rr.Header().Rrtype != qtype {
			keep = append(keep, rr)
		}
	}
	if len(keep) == 0 {
		delete(s.rrs, owner)
	} else {
		s.rrs[owner] = keep
	}
}

// SetMode makes the server misbehave for names in zone.
func (s *Server) SetMode(zone string, m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[dns.CanonicalName(zone)] = m
}

// zoneOf returns the longest zone containing name, or "".
func (s *Server) zoneOf(name string) string {
	best := ""
	for z := range s.zones {
		if dns.IsSubDomain(z, name) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

// exists reports whether name owns records or is an empty non-terminal.
func (s *Server) exists(name string) bool {
	if len(s.rrs[name]) > 0 {
		return true
	}
	for owner := range s.rrs {
		if strings.HasSuffix(owner, "."+name) {
			return true
		}
	}
	return false
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	if len(r.Question) != 1 {
		m.SetRcode(r, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	qname := dns.CanonicalName(q.Name)
	_, udp := w.RemoteAddr().(*net.UDPAddr)

	s.mu.Lock()
	zone := s.zoneOf(qname)
	mode := s.modes[zone]
	switch {
	case zone == "":
		m.SetRcode(r, dns.RcodeRefused)
	case mode == ModeDrop, mode == ModeNoTCP && !udp:
		s.mu.Unlock()
		return
	case mode == ModeServfail:
		m.SetRcode(r, dns.RcodeServerFailure)
	case mode == ModeRefused:
		m.SetRcode(r, dns.RcodeRefused)
	default:
		m.SetReply(r)
		m.Authoritative = mode != ModeNoAA
		s.answer(m, zone, qname, q.Qtype)
	}
	udpMax := s.udpMax
	s.mu.Unlock()

	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(MaxUDP, false)
	}
	if udp {
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = min(int(opt.UDPSize()), udpMax)
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// answer fills m for qname/qtype in zone; s.mu is held.
func (s *Server) answer(m *dns.Msg, zone, qname string, qtype uint16) {
	name := qname
	for range 16 {
		var cname *dns.CNAME
		matched := false
		for _, rr := range s.rrs[name] {
			switch {
			case rr.Header().Rrtype == qtype:
				m.Answer = append(m.Answer, dns.Copy(rr))
				matched = true
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if matched {
			return
		}
		if cname != nil && qtype != dns.TypeCNAME {
			m.Answer = append(m.Answer, dns.Copy(cname))
			target := dns.CanonicalName(cname.Target)
			if !dns.IsSubDomain(zone, target) {
				return // out of zone: the client must ask elsewhere
			}
			name = target
			continue
		}
		if !s.exists(name) {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, dns.Copy(s.rrs[zone][0])) // the SOA, added first by addZone
		return
	}
}

// Dead returns the address of a UDP socket that never answers.
func Dead(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}
