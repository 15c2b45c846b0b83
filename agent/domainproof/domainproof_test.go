package domainproof

import (
	"github.com/rosterhq/roster/agent/domainproof/dnstest"

	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: "example.com", want: "example.com"},
		{in: "  Example.COM.  ", want: "example.com"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "BÜCHER.example", want: "xn--bcher-kva.example"},
		{in: "münchen.de", want: "xn--mnchen-3ya.de"},
		{in: "ＥＸＡＭＰＬＥ.com", want: "example.com"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "mail.example.co.uk", want: "mail.example.co.uk"},
		{in: "example.co.uk", want: "example.co.uk"},
		{in: "", wantErr: ErrInvalidDomain},
		{in: "   ", wantErr: ErrInvalidDomain},
		{in: ".", wantErr: ErrInvalidDomain},
		{in: "localhost", wantErr: ErrInvalidDomain},
		{in: "intranet.", wantErr: ErrInvalidDomain},
		{in: "192.0.2.1", wantErr: ErrInvalidDomain},
		{in: "[2001:db8::1]", wantErr: ErrInvalidDomain},
		{in: "2001:db8::1", wantErr: ErrInvalidDomain},
		{in: "１９２.０.２.１", wantErr: ErrInvalidDomain},
		{in: "1.2.3", wantErr: ErrInvalidDomain},
		{in: "*.example.com", wantErr: ErrInvalidDomain},
		{in: "exa mple.com", wantErr: ErrInvalidDomain},
		{in: "a..example.com", wantErr: ErrInvalidDomain},
		{in: "user@example.com", wantErr: ErrInvalidDomain},
		{in: strings.Repeat("a", 64) + ".com", wantErr: ErrInvalidDomain},
		{in: strings.Repeat("abcdefghi.", 24) + "com", wantErr: ErrInvalidDomain},
		{in: "com", wantErr: ErrPublicSuffix},
		{in: "co.uk", wantErr: ErrPublicSuffix},
		{in: "CO.UK.", wantErr: ErrPublicSuffix},
		{in: "github.io", wantErr: ErrPublicSuffix},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeDomain(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NormalizeDomain(%q) = %q, %v; want error %v", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNewChallenge(t *testing.T) {
	tests := []struct {
		in         string
		wantDomain string
		wantErr    error
	}{
		{in: "bücher.example", wantDomain: "xn--bcher-kva.example"},
		{in: "Example.COM.", wantDomain: "example.com"},
		{in: "com", wantErr: ErrPublicSuffix},
		{in: "co.uk", wantErr: ErrPublicSuffix},
		{in: "localhost", wantErr: ErrInvalidDomain},
		{in: "192.0.2.1", wantErr: ErrInvalidDomain},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NewChallenge(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewChallenge(%q) = %+v, %v; want error %v", tt.in, got, err, tt.wantErr)
				}
				if got != (Challenge{}) {
					t.Errorf("got %+v on error, want zero Challenge", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewChallenge(%q): %v", tt.in, err)
			}
			if got.Domain != tt.wantDomain {
				t.Errorf("Domain = %q, want %q", got.Domain, tt.wantDomain)
			}
			if want := "_roster-challenge." + tt.wantDomain; got.RecordName != want {
				t.Errorf("RecordName = %q, want %q", got.RecordName, want)
			}
		})
	}
}

func TestNewChallengeValues(t *testing.T) {
	format := regexp.MustCompile(`^roster-verification=[a-z2-7]{32}$`)
	seen := map[string]bool{}
	for range 1000 {
		ch, err := NewChallenge("example.com")
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(ch.Value) {
			t.Fatalf("Value = %q, want %s", ch.Value, format)
		}
		if seen[ch.Value] {
			t.Fatalf("duplicate value %q", ch.Value)
		}
		seen[ch.Value] = true
	}
}

// fixture is two in-process authoritative servers: A serves example.test
// and a few misbehaving zones, B serves other.test.
type fixture struct {
	a, b  *dnstest.Server
	value string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ch, err := NewChallenge("example.test")
	if err != nil {
		t.Fatal(err)
	}
	v := ch.Value
	f := &fixture{a: dnstest.Start(t), b: dnstest.Start(t), value: v}
	a, b := f.a, f.b
	a.AddZone(t, "example.test", "127.0.0.1")
	b.AddZone(t, "other.test", "127.0.0.1")

	txt := func(owner string, strs ...string) string {
		q := make([]string, len(strs))
		for i, s := range strs {
			q[i] = fmt.Sprintf("%q", s)
		}
		return owner + " 60 IN TXT " + strings.Join(q, " ")
	}
	a.Add(t,
		txt("_roster-challenge.good.example.test.", v),
		txt("_roster-challenge.split.example.test.", v[:25], v[25:]),
		txt("_roster-challenge.multi.example.test.", "v=spf1 -all"),
		txt("_roster-challenge.multi.example.test.", v),
		txt("_roster-challenge.multi.example.test.", "google-site-verification=abc"),
		txt("_roster-challenge.wrong.example.test.", "roster-verification=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
		txt("_roster-challenge.wrong.example.test.", v[:25], " ", v[25:]),
		"_roster-challenge.nodata.example.test. 60 IN A 192.0.2.1",
		"_roster-challenge.alias.example.test. 60 IN CNAME _roster-challenge.good.example.test.",
		"_roster-challenge.ext.example.test. 60 IN CNAME tok.dcv.other.test.",
		"_roster-challenge.dangling.example.test. 60 IN CNAME gone.other.test.",
		"_roster-challenge.loop.example.test. 60 IN CNAME l2.example.test.",
		"l2.example.test. 60 IN CNAME _roster-challenge.loop.example.test.",
		"_roster-challenge.xloop.example.test. 60 IN CNAME x.other.test.",
		txt("_Roster-Challenge.MiXeD.Example.TEST.", v),
	)
	b.Add(t,
		txt("tok.dcv.other.test.", v),
		"x.other.test. 60 IN CNAME _roster-challenge.xloop.example.test.",
	)
	// Chains of CNAMEs: long8 has 8 hops (the default limit), long9 has 9.
	for _, n := range []int{8, 9} {
		prev := fmt.Sprintf("_roster-challenge.long%d.example.test.", n)
		for i := 1; i <= n; i++ {
			next := fmt.Sprintf("c%d.long%d.example.test.", i, n)
			a.Add(t, prev+" 60 IN CNAME "+next)
			prev = next
		}
		a.Add(t, txt(prev, v))
	}
	// A large RRset: more than 1232 bytes over UDP, so TC=1 and TCP.
	var big []string
	for i := range 30 {
		big = append(big, txt("_roster-challenge.big.example.test.", fmt.Sprintf("filler-%02d-%s", i, strings.Repeat("x", 50))))
	}
	big = append(big, txt("_roster-challenge.big.example.test.", v))
	a.Add(t, big...)

	for zone, mode := range map[string]dnstest.Mode{
		"broken.test": dnstest.ModeServfail, "refusing.test": dnstest.ModeRefused,
		"lame.test": dnstest.ModeNoAA, "notcp.test": dnstest.ModeNoTCP,
	} {
		a.AddZone(t, zone, "127.0.0.1")
		a.SetMode(zone, mode)
	}
	for i := range 30 {
		a.Add(t, txt("_roster-challenge.big.notcp.test.", fmt.Sprintf("filler-%02d-%s", i, strings.Repeat("x", 50))))
	}
	a.Add(t, txt("_roster-challenge.big.notcp.test.", v), txt("_roster-challenge.x.lame.test.", v))
	return f
}

// checker asks A for everything except other.test, which is on B.
func (f *fixture) checker() *Checker {
	return &Checker{
		Nameservers: []string{f.a.Addr},
		ZoneServers: map[string][]string{"other.test": {f.b.Addr}},
		Timeout:     time.Second,
	}
}

func (f *fixture) challenge(name string) Challenge {
	return Challenge{RecordName: name, Value: f.value}
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		record     string
		setup      func(c *Checker)
		want       Status
		wantDetail string   // substring of Detail
		wantFound  []string // nil: not checked
	}{
		{name: "verified single record", record: "_roster-challenge.good.example.test",
			want: Verified, wantDetail: "found at _roster-challenge.good.example.test", wantFound: []string{f.value}},
		{name: "split strings joined", record: "_roster-challenge.split.example.test",
			want: Verified, wantFound: []string{f.value}},
		{name: "several RRs one matching", record: "_roster-challenge.multi.example.test",
			want: Verified, wantFound: []string{"v=spf1 -all", f.value, "google-site-verification=abc"}},
		{name: "wrong value", record: "_roster-challenge.wrong.example.test",
			want: Absent, wantDetail: `none matches the challenge value; found: "roster-verification=aaaa`,
			wantFound: []string{"roster-verification=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", f.value[:25] + " " + f.value[25:]}},
		{name: "NXDOMAIN", record: "_roster-challenge.missing.example.test",
			want: Absent, wantDetail: "no record: _roster-challenge.missing.example.test does not exist (NXDOMAIN)"},
		{name: "NODATA", record: "_roster-challenge.nodata.example.test",
			want: Absent, wantDetail: "no record: _roster-challenge.nodata.example.test exists but has no TXT record (NODATA)"},
		{name: "CNAME in zone", record: "_roster-challenge.alias.example.test",
			want: Verified, wantDetail: "via CNAME _roster-challenge.alias.example.test → _roster-challenge.good.example.test"},
		{name: "CNAME to another zone on another server", record: "_roster-challenge.ext.example.test",
			want: Verified, wantDetail: "found at tok.dcv.other.test"},
		{name: "CNAME to another zone, other server not configured", record: "_roster-challenge.ext.example.test",
			setup: func(c *Checker) { c.ZoneServers = nil },
			want:  Retry, wantDetail: "REFUSED"},
		{name: "dangling CNAME", record: "_roster-challenge.dangling.example.test",
			want: Absent, wantDetail: "gone.other.test does not exist (NXDOMAIN)"},
		{name: "CNAME loop in zone", record: "_roster-challenge.loop.example.test",
			want: Absent, wantDetail: "CNAME loop: _roster-challenge.loop.example.test → l2.example.test → _roster-challenge.loop.example.test"},
		{name: "CNAME loop across zones", record: "_roster-challenge.xloop.example.test",
			want: Absent, wantDetail: "CNAME loop: _roster-challenge.xloop.example.test → x.other.test → _roster-challenge.xloop.example.test"},
		{name: "CNAME chain of 8 hops", record: "_roster-challenge.long8.example.test",
			want: Verified, wantDetail: "found at c8.long8.example.test"},
		{name: "CNAME chain longer than MaxCNAME", record: "_roster-challenge.long9.example.test",
			want: Absent, wantDetail: "CNAME chain longer than 8 hops"},
		{name: "MaxCNAME 1 allows one hop", record: "_roster-challenge.alias.example.test",
			setup: func(c *Checker) { c.MaxCNAME = 1 },
			want:  Verified},
		{name: "MaxCNAME 1 refuses two hops", record: "_roster-challenge.long8.example.test",
			setup: func(c *Checker) { c.MaxCNAME = 1 },
			want:  Absent, wantDetail: "CNAME chain longer than 1 hops"},
		{name: "SERVFAIL", record: "_roster-challenge.x.broken.test",
			want: Retry, wantDetail: "SERVFAIL"},
		{name: "REFUSED", record: "_roster-challenge.x.refusing.test",
			want: Retry, wantDetail: "REFUSED"},
		{name: "non-authoritative answer", record: "_roster-challenge.x.lame.test",
			want: Retry, wantDetail: "non-authoritative"},
		{name: "timeout", record: "_roster-challenge.good.example.test",
			setup: func(c *Checker) {
				c.Nameservers, c.ZoneServers, c.Timeout = []string{dnstest.Dead(t)}, nil, 150*time.Millisecond
			},
			want: Retry, wantDetail: "timeout"},
		{name: "one server times out, the other answers", record: "_roster-challenge.good.example.test",
			setup: func(c *Checker) {
				c.Nameservers, c.Timeout = []string{dnstest.Dead(t), f.a.Addr}, 150*time.Millisecond
			},
			want: Verified},
		{name: "large RRset needs TCP", record: "_roster-challenge.big.example.test",
			want: Verified},
		{name: "truncated and TCP fails", record: "_roster-challenge.big.notcp.test",
			setup: func(c *Checker) { c.Timeout = 200 * time.Millisecond },
			want:  Retry, wantDetail: "truncated answer over UDP and TCP failed"},
		{name: "mixed-case owner in answer", record: "_roster-challenge.mixed.example.test",
			want: Verified},
		{name: "mixed-case record name asked", record: "_ROSTER-challenge.MIXED.example.TEST.",
			want: Verified},
		{name: "empty challenge", record: "",
			want: Retry, wantDetail: "invalid challenge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.checker()
			if tt.setup != nil {
				tt.setup(c)
			}
			got := c.Check(context.Background(), f.challenge(tt.record))
			if got.Status != tt.want {
				t.Fatalf("Status = %v (%s), want %v", got.Status, got.Detail, tt.want)
			}
			if !strings.Contains(got.Detail, tt.wantDetail) {
				t.Errorf("Detail = %q, want it to contain %q", got.Detail, tt.wantDetail)
			}
			if tt.wantFound != nil && !slices.Equal(got.Found, tt.wantFound) {
				t.Errorf("Found = %q, want %q", got.Found, tt.wantFound)
			}
			if got.Status != Retry && len(got.Servers) == 0 {
				t.Errorf("Servers is empty, want the servers that answered")
			}
		})
	}
}

func TestCheckRecordLifecycle(t *testing.T) {
	f := newFixture(t)
	c := f.checker()
	ch := f.challenge("_roster-challenge.late.example.test")
	rec := fmt.Sprintf("_roster-challenge.late.example.test. 60 IN TXT %q", f.value)

	steps := []struct {
		name   string
		change func()
		want   Status
	}{
		{name: "before the admin adds it", change: func() {}, want: Absent},
		{name: "after it is added", change: func() { f.a.Add(t, rec) }, want: Verified},
		{name: "still there", change: func() {}, want: Verified},
		{name: "after it is removed", change: func() { f.a.Remove("_roster-challenge.late.example.test", 16) }, want: Absent},
		{name: "server broken meanwhile", change: func() { f.a.SetMode("example.test", dnstest.ModeServfail) }, want: Retry},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			got := c.Check(context.Background(), ch)
			if got.Status != s.want {
				t.Fatalf("Status = %v (%s), want %v", got.Status, got.Detail, s.want)
			}
		})
	}
}

// TestCheckDiscovery exercises the default path: SOA and NS through a
// recursive resolver, then direct queries to the discovered servers. Server
// A is the "resolver" and also authoritative for example.test; other.test
// is delegated to server B on 127.0.0.2 with the same port, so that the
// discovered address (with Checker.port) reaches it.
func TestCheckDiscovery(t *testing.T) {
	var a, b *dnstest.Server
	for range 20 {
		a = dnstest.Start(t)
		_, port, _ := net.SplitHostPort(a.Addr)
		if b = dnstest.StartOn(t, "127.0.0.2", port); b != nil {
			break
		}
	}
	if b == nil {
		t.Skip("could not bind 127.0.0.2 on the same port as 127.0.0.1")
	}
	_, port, _ := net.SplitHostPort(a.Addr)
	v := "roster-verification=abcdefghijklmnopqrstuvwxyz234567"
	a.AddZone(t, "example.test", "127.0.0.1")
	// A knows other.test's apex (as a resolver would) but not its records.
	a.AddZone(t, "other.test", "127.0.0.2")
	b.AddZone(t, "other.test", "127.0.0.2")
	// dead.test's only name server is 127.0.0.3, where nothing listens.
	a.AddZone(t, "dead.test", "127.0.0.3")
	a.Add(t,
		fmt.Sprintf("_roster-challenge.good.example.test. 60 IN TXT %q", v),
		"_roster-challenge.ext.example.test. 60 IN CNAME tok.other.test.",
		fmt.Sprintf("_roster-challenge.x.dead.test. 60 IN TXT %q", v),
	)
	b.Add(t, fmt.Sprintf("tok.other.test. 60 IN TXT %q", v))

	var logs bytes.Buffer
	tests := []struct {
		name        string
		record      string
		resolver    string
		want        Status
		wantDetail  string
		wantServers []string
	}{
		{name: "discovered zone", record: "_roster-challenge.good.example.test", resolver: a.Addr,
			want: Verified, wantServers: []string{a.Addr}},
		{name: "discovered NXDOMAIN", record: "_roster-challenge.nope.example.test", resolver: a.Addr,
			want: Absent, wantDetail: "NXDOMAIN"},
		{name: "CNAME re-resolved at the other zone's servers", record: "_roster-challenge.ext.example.test", resolver: a.Addr,
			want: Verified, wantDetail: "found at tok.other.test", wantServers: []string{a.Addr, "127.0.0.2:" + port}},
		{name: "authoritative unreachable, recursive fallback", record: "_roster-challenge.x.dead.test", resolver: a.Addr,
			want: Verified, wantDetail: "answer from recursive resolver " + a.Addr + ", which may be cached"},
		{name: "resolver unreachable", record: "_roster-challenge.good.example.test", resolver: dnstest.Dead(t),
			want: Retry, wantDetail: "cannot find the authoritative servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Checker{Resolver: tt.resolver, Timeout: 300 * time.Millisecond, port: port,
				Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			got := c.Check(context.Background(), Challenge{RecordName: tt.record, Value: v})
			if got.Status != tt.want {
				t.Fatalf("Status = %v (%s), want %v", got.Status, got.Detail, tt.want)
			}
			if !strings.Contains(got.Detail, tt.wantDetail) {
				t.Errorf("Detail = %q, want it to contain %q", got.Detail, tt.wantDetail)
			}
			if tt.wantServers != nil && !slices.Equal(got.Servers, tt.wantServers) {
				t.Errorf("Servers = %q, want %q", got.Servers, tt.wantServers)
			}
		})
	}
	if !strings.Contains(logs.String(), "domainproof check") {
		t.Errorf("log = %q, want a domainproof check record", logs.String())
	}
}

func TestCheckContextCanceled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := f.checker().Check(ctx, f.challenge("_roster-challenge.good.example.test"))
	if got.Status != Retry {
		t.Fatalf("Status = %v (%s), want %v", got.Status, got.Detail, Retry)
	}
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{Retry, "retry"}, {Absent, "absent"}, {Verified, "verified"}, {Status(9), "status(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFixture checks that the test server really produces what the Check
// scenarios rely on: truncation over UDP, the full RRset over TCP, and an
// owner name whose case differs from the question.
func TestFixture(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name      string
		net       string
		qname     string
		wantTC    bool
		wantOwner string // "" = not checked
		wantRRs   int
	}{
		{name: "big over UDP is truncated", net: "udp", qname: "_roster-challenge.big.example.test.", wantTC: true},
		{name: "big over TCP is complete", net: "tcp", qname: "_roster-challenge.big.example.test.", wantRRs: 31},
		{name: "mixed-case owner", net: "udp", qname: "_roster-challenge.mixed.example.test.",
			wantOwner: "_Roster-Challenge.MiXeD.Example.TEST.", wantRRs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion(tt.qname, dns.TypeTXT)
			q.SetEdns0(ednsSize, false)
			m, _, err := (&dns.Client{Net: tt.net, UDPSize: ednsSize}).Exchange(q, f.a.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if m.Truncated != tt.wantTC {
				t.Errorf("TC = %v, want %v", m.Truncated, tt.wantTC)
			}
			if tt.wantRRs > 0 && len(m.Answer) != tt.wantRRs {
				t.Errorf("answers = %d, want %d", len(m.Answer), tt.wantRRs)
			}
			if tt.wantOwner != "" && (len(m.Answer) == 0 || m.Answer[0].Header().Name != tt.wantOwner) {
				t.Errorf("answer = %v, want owner %q", m.Answer, tt.wantOwner)
			}
		})
	}
}

// TestInterpretBailiwick checks that records outside the queried zone are
// ignored: a server for example.test cannot vouch for other.test.
func TestInterpretBailiwick(t *testing.T) {
	v := "roster-verification=abcdefghijklmnopqrstuvwxyz234567"
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	m := new(dns.Msg)
	m.Answer = []dns.RR{
		rr("_roster-challenge.example.test. 60 IN CNAME tok.other.test."),
		rr(fmt.Sprintf("tok.other.test. 60 IN TXT %q", v)),
	}
	tests := []struct {
		zone      string
		wantKind  kind
		wantChain []string
	}{
		{zone: "example.test.", wantKind: kindFollow, wantChain: []string{"tok.other.test."}},
		{zone: ".", wantKind: kindVerified, wantChain: []string{"tok.other.test."}},
		{zone: "other.test.", wantKind: kindNoData},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			got := interpret(m, "_roster-challenge.example.test.", tt.zone, v)
			if got.kind != tt.wantKind || !slices.Equal(got.chain, tt.wantChain) {
				t.Errorf("interpret = %+v, want kind %v chain %q", got, tt.wantKind, tt.wantChain)
			}
		})
	}
}

// TestCheckNoSystemResolvers checks the path taken when resolv.conf cannot
// be read: the system resolver answers. The context is already cancelled so
// that the test never reaches the machine's real resolver.
func TestCheckNoSystemResolvers(t *testing.T) {
	c := &Checker{resolvConf: filepath.Join(t.TempDir(), "missing.conf")}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := c.Check(ctx, Challenge{RecordName: "_roster-challenge.example.test", Value: "roster-verification=x"})
	if got.Status != Retry {
		t.Fatalf("Status = %v (%s), want %v", got.Status, got.Detail, Retry)
	}
	if want := "answer from recursive resolver (system)"; !strings.Contains(got.Detail, want) {
		t.Errorf("Detail = %q, want it to contain %q", got.Detail, want)
	}
}
