package dnstest

import (
	"errors"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// TestStartRetriesPortPair makes TCP refuse the first ports UDP gets, as
// when another process holds the TCP side, and checks that Start finds a
// pair and serves on both transports.
func TestStartRetriesPortPair(t *testing.T) {
	refused := 0
	listenTCP = func(network, addr string) (net.Listener, error) {
		if refused < 3 {
			refused++
			return nil, errors.New("address already in use (simulated)")
		}
		return net.Listen(network, addr)
	}
	t.Cleanup(func() { listenTCP = net.Listen })

	s := Start(t)
	if s == nil {
		t.Fatal("Start returned nil")
	}
	if refused != 3 {
		t.Fatalf("TCP refused %d times, want 3", refused)
	}
	s.AddZone(t, "example.test", "127.0.0.1")
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network}
		m := new(dns.Msg).SetQuestion("example.test.", dns.TypeSOA)
		r, _, err := c.Exchange(m, s.Addr)
		if err != nil {
			t.Fatalf("%s query: %v", network, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s answer: %v", network, r)
		}
	}
}

// TestStartOnFixedPortTaken checks that a fixed port whose TCP side is
// taken gives nil, and that the UDP side is released again.
func TestStartOnFixedPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	pc, err := net.ListenPacket("udp", "127.0.0.1:"+port)
	if err != nil {
		t.Skipf("UDP port %s is taken too: %v", port, err)
	}
	pc.Close()

	if s := StartOn(t, "127.0.0.1", port); s != nil {
		t.Fatalf("StartOn on a taken TCP port = %v, want nil", s.Addr)
	}
	pc, err = net.ListenPacket("udp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("UDP port %s not released: %v", port, err)
	}
	pc.Close()
}
