// Go servers refuse TLS 1.0/1.1 by default; re-enable them for this test
// binary (which is also the agent process the tests start) so that the
// tests prove the agent's own TLS 1.2 floor.
//
//go:debug tls10server=1

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/domainproof/dnstest"
	"github.com/rosterhq/roster/agent/tlsserve/pebbletest"
)

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestACMEAgent runs `roster agent` in ACME mode against Pebble on
// 127.0.0.1 (Pebble resolves the agent's name through an in-process DNS
// server): the agent obtains a certificate with the tls-alpn-01 challenge
// on its SCIM port, serves SCIM over it (GET Users with the first Secret
// Token: 200, the chain verifies against Pebble's root), refuses TLS 1.0
// and 1.1, and after a restart serves the stored certificate without
// asking the CA again.
func TestACMEAgent(t *testing.T) {
	const host = "roster.acme.test"
	dns := dnstest.Start(t)
	dns.AddZone(t, "acme.test", "127.0.0.1")
	dns.Add(t, host+". 60 IN A 127.0.0.1")
	port := freePort(t)
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: port, HTTPPort: freePort(t), DNSServer: dns.Addr})

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "roster.json")
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`{
  // Pebble on 127.0.0.1 stands in for Let's Encrypt.
  "public_url": "https://%s:%d",
  "metrics_listen": "",
  "tls": {"mode": "acme", "acme": {"email": "admin@acme.test", "directory_url": %q, "ca_root": %q, "challenges": ["tls-alpn-01"]}}
}`, host, port, pebble.DirectoryURL, pebble.APIRootFile)), 0o600) //nolint:errcheck
	dataDir := filepath.Join(dir, "data")
	p := startAgentProc(t, dataDir, true, "--config", cfgFile, "--listen", listen)
	if want := fmt.Sprintf("https://%s:%d/scim/default/v2", host, port); p.TenantURL != want {
		t.Errorf("Tenant URL = %q, want %q", p.TenantURL, want)
	}

	roots := pebble.IssuerRoots()
	// The name resolves to the agent on 127.0.0.1 without the system resolver.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, listen)
	}
	tr := &http.Transport{
		DialContext:     dial,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	get := func(path string) (*http.Response, string, error) {
		req, _ := http.NewRequest("GET", p.TenantURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+p.Token)
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}

	start := time.Now()
	var resp *http.Response
	var body string
	var err error
	for {
		if resp, body, err = get("/Users?filter=userName+eq+%22nobody%40acme.test%22"); err == nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no HTTPS with a certificate from Pebble within 30s: %v\n%s", err, p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("certificate obtained and served after %v", time.Since(start).Round(time.Millisecond))
	if resp.StatusCode != 200 || !strings.Contains(body, `"totalResults":0`) {
		t.Fatalf("GET Users over HTTPS = %d %s", resp.StatusCode, body)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble") || leaf.DNSNames[0] != host {
		t.Errorf("served certificate: issuer %q, names %v", leaf.Issuer.CommonName, leaf.DNSNames)
	}
	if resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("negotiated TLS version %x", resp.TLS.Version)
	}
	if !strings.Contains(p.stderr.String(), `challenge=tls-alpn-01`) {
		t.Errorf("the agent's log does not show the tls-alpn-01 challenge answered")
	}
	// Readiness follows the certificate.
	rresp, err := c.Get(fmt.Sprintf("https://%s:%d/readyz", host, port))
	if err != nil {
		t.Fatal(err)
	}
	rresp.Body.Close()
	if rresp.StatusCode != 200 {
		t.Errorf("/readyz with a certificate = %d", rresp.StatusCode)
	}

	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: roots, ServerName: host, MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("TLS version %x accepted, want it refused", v)
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("TLS version %x refused with %v, want a protocol version alert", v, err)
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		conn, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: roots, ServerName: host, MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Errorf("TLS version %x refused: %v", v, err)
		} else {
			conn.Close()
		}
	}
	p.Stop(t)

	// A restart loads the certificate from <data dir>/certmagic.
	if _, err := os.Stat(filepath.Join(dataDir, "certmagic")); err != nil {
		t.Fatalf("no certificate storage in the data dir: %v", err)
	}
	p2 := startAgentProc(t, dataDir, false, "--config", cfgFile, "--listen", listen)
	p2.Token = p.Token
	p2.TenantURL = p.TenantURL
	p = p2
	tr.CloseIdleConnections()
	resp, body, err = get("/Users")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after restart: %v %v %s", err, resp, body)
	}
	if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("after restart a new certificate is served; want the stored one")
	}
	if strings.Contains(p2.stderr.String(), "obtaining certificate") {
		t.Errorf("the restarted agent asked the CA again instead of loading its stored certificate")
	}
	p2.Stop(t)
}
