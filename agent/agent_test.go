// Go servers refuse TLS 1.0/1.1 by default; re-enable them for the test
// binary so that TestServeTLSMinVersion proves Serve's own floor.
//
//go:debug tls10server=1

package agent_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client, no header", "198.51.100.7:5555", nil, "198.51.100.7"},
		{"direct client forging the header", "198.51.100.7:5555", []string{"203.0.113.9"}, "198.51.100.7"},
		{"proxy with client", "10.1.2.3:443", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client forges, proxy appends", "10.1.2.3:443", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"two proxies", "10.1.2.3:443", []string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"header on two lines", "10.1.2.3:443", []string{"203.0.113.9", "10.9.9.9"}, "203.0.113.9"},
		{"only proxies", "10.1.2.3:443", []string{"10.2.2.2"}, "10.2.2.2"},
		{"proxy without header", "10.1.2.3:443", nil, "10.1.2.3"},
		{"malformed entry", "10.1.2.3:443", []string{"203.0.113.9, not-an-ip"}, "10.1.2.3"},
		{"IPv6 proxy and client", "[2001:db8::1]:443", []string{"2001:db8:ffff::1, 2a00:1450::5"}, "2a00:1450::5"},
		{"IPv4-mapped proxy", "[::ffff:10.1.2.3]:443", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	addr := agent.ClientAddr(trusted)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := addr(r); got != tt.want {
				t.Errorf("ClientAddr = %q, want %q", got, tt.want)
			}
		})
	}
	// Without trusted proxies the header is never believed.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:443"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := agent.ClientAddr(nil)(r); got != "10.1.2.3" {
		t.Errorf("ClientAddr(nil) = %q, want the connection's address", got)
	}
}

func newDir(t *testing.T) *directory.Service {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return directory.New(db, nil, nil)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// do sends req and returns the response's status and body.
func do(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeEndpointsReadinessMiddleware checks the hooks other packages
// plug into: side endpoints, the readiness condition and the middleware.
func TestServeEndpointsReadinessMiddleware(t *testing.T) {
	ln, side := listen(t), listen(t)
	var notReady error = errors.New("no TLS certificate yet")
	ready := make(chan error, 1)
	ready <- notReady
	a := agent.New(newDir(t), agent.Options{
		ShutdownTimeout: 5 * time.Second,
		Ready: func() error {
			err := <-ready
			ready <- err
			return err
		},
		Middleware: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Wrapped", "yes")
				h.ServeHTTP(w, r)
			})
		},
		Endpoints: []agent.Endpoint{{Name: "metrics", Listener: side, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "side") //nolint:errcheck
		})}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	c := &http.Client{Timeout: 5 * time.Second}

	if code, body := get(t, c, base+"/readyz"); code != 503 || !strings.Contains(body, "no TLS certificate yet") {
		t.Errorf("/readyz while not ready = %d %q, want 503 with the reason", code, body)
	}
	<-ready
	ready <- nil
	if code, body := get(t, c, base+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d %q, want 200", code, body)
	}
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Wrapped") != "yes" {
		t.Errorf("/healthz = %d, X-Wrapped %q: want 200 through the middleware", resp.StatusCode, resp.Header.Get("X-Wrapped"))
	}
	if code, body := get(t, c, "http://"+side.Addr().String()+"/metrics"); code != 200 || body != "side" {
		t.Errorf("side endpoint = %d %q", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := c.Get("http://" + side.Addr().String() + "/metrics"); err == nil {
		t.Error("side endpoint still serves after shutdown")
	}
}

// TestServeTLSMinVersion: a TLS config that allows TLS 1.0 is raised to 1.2.
func TestServeTLSMinVersion(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil) // only for its certificate
	ts.StartTLS()
	cert := ts.TLS.Certificates[0]
	ts.Close()
	ln := listen(t)
	a := agent.New(newDir(t), agent.Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Serve(ctx, ln) //nolint:errcheck
	for _, v := range []struct {
		ver uint16
		ok  bool
	}{{tls.VersionTLS10, false}, {tls.VersionTLS11, false}, {tls.VersionTLS12, true}, {tls.VersionTLS13, true}} {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: v.ver, MaxVersion: v.ver}) //nolint:gosec // versions only
		if err == nil {
			conn.Close()
		}
		if (err == nil) != v.ok {
			t.Errorf("TLS version %x: handshake error %v, want success %v", v.ver, err, v.ok)
		}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	if code, _ := get(t, c, "https://"+ln.Addr().String()+"/healthz"); code != 200 {
		t.Errorf("GET /healthz over TLS = %d", code)
	}
}
