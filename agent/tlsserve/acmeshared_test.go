package tlsserve_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/domainproof/dnstest"
	"github.com/rosterhq/roster/agent/tlsserve"
	"github.com/rosterhq/roster/agent/tlsserve/dbstorage"
	"github.com/rosterhq/roster/agent/tlsserve/pebbletest"
	"github.com/rosterhq/roster/store"
)

// openStore opens the store in dir (roster.db) for the test; two calls on
// one dir are two agents on one database.
func openStore(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// balancer forwards each connection to its port to the next of backends in
// turn, as a TCP load balancer in front of several agents does.
func balancer(t *testing.T, ln net.Listener, backends ...string) {
	var next atomic.Uint64
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backends[next.Add(1)%uint64(len(backends))])
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				io.Copy(dst, src) //nolint:errcheck
				dst.Close()
			}
			go pipe(b, c)
			go pipe(c, b)
		}
	}()
}

// TestACMESharedStorage runs two agents' certificate managers, each with its
// own store.DB on one database file and its own TLS listener, behind a
// round-robin balancer that Pebble validates through (tls-alpn-01): the
// certificate is obtained once, by whichever agent takes the lock, and both
// agents serve it.
func TestACMESharedStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("ACME against Pebble takes a few seconds")
	}
	const host = "shared.roster.test"
	dns := dnstest.Start(t)
	dns.AddZone(t, "roster.test", "127.0.0.1")
	dns.Add(t, host+". 60 IN A 127.0.0.1")
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pebble := pebbletest.Start(t, pebbletest.Options{
		TLSPort: front.Addr().(*net.TCPAddr).Port, HTTPPort: pebbletest.FreePort(t), DNSServer: dns.Addr,
	})
	roots, err := tlsserve.LoadRoots(pebble.APIRootFile)
	if err != nil {
		t.Fatal(err)
	}
	dbDir := t.TempDir()
	type agent struct {
		acme *tlsserve.ACME
		addr string
		logs interface{ String() string }
	}
	var agents []agent
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		log, logs := newLog(t)
		a, err := tlsserve.NewACME(tlsserve.ACMEOptions{
			Domains: []string{host}, Email: "admin@roster.test", DirectoryURL: pebble.DirectoryURL, Roots: roots,
			TLSALPN: true, ListenAddr: ln.Addr().String(),
			Storage: dbstorage.New(openStore(t, dbDir), dbstorage.Options{Logger: log}), Logger: log,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Stop()
		agents = append(agents, agent{acme: a, addr: serve(t, ln, a.TLSConfig()), logs: logs})
	}
	balancer(t, front, agents[0].addr, agents[1].addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, a := range agents {
		if err := a.acme.Manage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for _, a := range agents {
		for a.acme.Ready() != nil {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("no certificate after 60 s: %v", a.acme.Ready())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("both agents have the certificate after %v", time.Since(start).Round(time.Millisecond))
	var serials []string
	for i, a := range agents {
		leaf, _, err := handshake(a.addr, host, pebble.IssuerRoots(), tls.VersionTLS12, 0)
		if err != nil {
			t.Fatalf("agent %d: handshake verifying against Pebble's root: %v", i, err)
		}
		serials = append(serials, leaf.SerialNumber.String())
	}
	if serials[0] != serials[1] {
		t.Errorf("the agents serve different certificates: serials %v", serials)
	}
	// One issuance in all (an attempt that failed and was retried would
	// log "obtaining certificate" again, but not this).
	obtained := 0
	for _, a := range agents {
		obtained += strings.Count(a.logs.String(), `msg="certificate obtained successfully"`)
	}
	if obtained != 1 {
		t.Errorf("the certificate was obtained %d times, want once", obtained)
	}

	// A third agent starts on the database (as after a restart) and must
	// serve the stored certificate from its first handshake on, even when
	// reading storage is slow: its loads of the certificate are held back
	// until Manage has returned (or for a second, if Manage waits for them).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	returned := make(chan struct{})
	log, _ := newLog(t)
	slow := &slowLoads{Storage: dbstorage.New(openStore(t, dbDir), dbstorage.Options{Logger: log}), until: returned}
	a, err := tlsserve.NewACME(tlsserve.ACMEOptions{
		Domains: []string{host}, Email: "admin@roster.test", DirectoryURL: pebble.DirectoryURL, Roots: roots,
		TLSALPN: true, ListenAddr: ln.Addr().String(), Storage: slow, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	addr := serve(t, ln, a.TLSConfig())
	err = a.Manage(ctx)
	close(returned)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Ready(); err != nil {
		t.Errorf("Manage returned before the stored certificate was loaded: %v", err)
	}
	leaf, _, err := handshake(addr, host, pebble.IssuerRoots(), tls.VersionTLS12, 0)
	if err != nil {
		t.Fatalf("first handshake after Manage returned: %v", err)
	}
	if leaf.SerialNumber.String() != serials[0] {
		t.Errorf("the restarted agent serves serial %s, want the stored %s", leaf.SerialNumber, serials[0])
	}
}

// slowLoads holds back each load of a certificate (.crt) until the channel
// until is closed, for at most a second: storage that is slow to read.
type slowLoads struct {
	*dbstorage.Storage
	until chan struct{}
}

func (s *slowLoads) Load(ctx context.Context, key string) ([]byte, error) {
	if strings.HasSuffix(key, ".crt") {
		t := time.NewTimer(time.Second)
		select {
		case <-s.until:
		case <-t.C:
		}
		t.Stop()
	}
	return s.Storage.Load(ctx, key)
}
