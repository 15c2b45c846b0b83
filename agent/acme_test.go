package agent_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/domainproof/dnstest"
	"github.com/rosterhq/roster/agent/tlsserve/pebbletest"
	"github.com/rosterhq/roster/store"
)

// TestRunACME runs the agent in ACME mode against Pebble on 127.0.0.1
// (Pebble resolves the agent's name through an in-process DNS server): the
// agent obtains a certificate with the tls-alpn-01 challenge on its SCIM
// port, serves SCIM over it (GET Users with the first Secret Token: 200, the
// chain verifies against Pebble's root), refuses TLS 1.0 and 1.1 (this test
// binary re-enables them, see agent_test.go), keeps the certificate in its
// database, and after a restart serves the stored certificate without asking
// the CA again. An upgraded data dir whose certificate is in certmagic's
// files has it imported once and served.
func TestRunACME(t *testing.T) {
	const host = "roster.acme.test"
	dns := dnstest.Start(t)
	dns.AddZone(t, "acme.test", "127.0.0.1")
	dns.Add(t, host+". 60 IN A 127.0.0.1")
	port := pebbletest.FreePort(t)
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: port, HTTPPort: pebbletest.FreePort(t), DNSServer: dns.Addr})

	dataDir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := testConfig(t, dataDir)
	cfg.Listen = listen
	cfg.PublicURL = fmt.Sprintf("https://%s:%d", host, port)
	cfg.TLS.Mode = config.TLSModeACME
	// Pebble on 127.0.0.1 stands in for Let's Encrypt.
	cfg.TLS.ACME.Email, cfg.TLS.ACME.DirectoryURL, cfg.TLS.ACME.CARoot = "admin@acme.test", pebble.DirectoryURL, pebble.APIRootFile
	cfg.TLS.ACME.Challenges = []string{config.ChallengeTLSALPN}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder // written before Listening is called
	logs := newLogLines(t)
	r := startRun(t, cfg, agent.RunOptions{LogOutput: logs.w, Stdout: &stdout})
	tenantURL := cfg.PublicURL + "/scim/default/v2"
	if !strings.Contains(stdout.String(), "Tenant URL:   "+tenantURL+"\n") {
		t.Errorf("banner does not give the Tenant URL %s:\n%s", tenantURL, stdout.String())
	}
	token := regexp.MustCompile(`Secret Token:\s+(\S+)`).FindStringSubmatch(stdout.String())
	if token == nil {
		t.Fatalf("no Secret Token in the banner:\n%s", stdout.String())
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
		req, _ := http.NewRequest("GET", tenantURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token[1])
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
			t.Fatalf("no HTTPS with a certificate from Pebble within 30s: %v", err)
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
	logs.wait(t, "obtaining certificate") // what the restart below must not log
	logs.wait(t, "challenge=tls-alpn-01")
	// Readiness follows the certificate.
	rresp, err := c.Get(cfg.PublicURL + "/readyz")
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
	r.stop(t)

	// The account and certificate are in the database, not in files.
	if _, err := os.Stat(filepath.Join(dataDir, "certmagic")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a certmagic folder in the data dir (%v); want the certificates in the database", err)
	}
	stored := certStorage(t, dataDir)
	if !slices.ContainsFunc(slices.Collect(maps.Keys(stored)), func(k string) bool { return strings.HasSuffix(k, host+".crt") }) {
		t.Fatalf("no certificate for %s in the database; keys %v", host, slices.Collect(maps.Keys(stored)))
	}

	// A restart loads the certificate from the database.
	logs = newLogLines(t)
	r = startRun(t, cfg, agent.RunOptions{LogOutput: logs.w})
	tr.CloseIdleConnections()
	resp, body, err = get("/Users")
	if err != nil || resp.StatusCode != 200 {
		// "tls: internal error" here was a handshake that came before the
		// stored certificate was loaded (see tlsserve.ACME.Manage). The
		// agent's log says what certmagic loaded.
		r.stop(t)
		logs.wait(t, `msg="roster agent stopped"`)
		t.Fatalf("after restart: %v %v %s\nagent log:\n%s", err, resp, body, strings.Join(logs.all, "\n"))
	}
	if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("after restart a new certificate is served; want the stored one")
	}
	r.stop(t)
	logs.wait(t, `msg="roster agent stopped"`)
	for _, line := range logs.all {
		if strings.Contains(line, "obtaining certificate") {
			t.Errorf("the restarted agent asked the CA again instead of loading its stored certificate: %s", line)
		}
	}

	// An upgrade: the data dir of an earlier version has the account and
	// certificate in certmagic's files (<data dir>/certmagic/<key>). The
	// first start imports them into the database, says so once, and serves
	// that certificate without asking the CA.
	oldDir := t.TempDir()
	for k, v := range stored {
		p := filepath.Join(oldDir, "certmagic", filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg.DataDir = oldDir
	for start := range 2 {
		stdout.Reset()
		logs = newLogLines(t)
		r = startRun(t, cfg, agent.RunOptions{LogOutput: logs.w, Stdout: &stdout})
		if start == 0 {
			if token = regexp.MustCompile(`Secret Token:\s+(\S+)`).FindStringSubmatch(stdout.String()); token == nil {
				t.Fatalf("no Secret Token in the banner:\n%s", stdout.String())
			}
		}
		tr.CloseIdleConnections()
		resp, body, err = get("/Users")
		r.stop(t)
		logs.wait(t, `msg="roster agent stopped"`)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("start %d on the upgraded data dir: %v %v %s\nagent log:\n%s", start+1, err, resp, body, strings.Join(logs.all, "\n"))
		}
		if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Errorf("start %d on the upgraded data dir serves a new certificate; want the imported one", start+1)
		}
		imported := 0
		for _, line := range logs.all {
			if strings.Contains(line, "obtaining certificate") {
				t.Errorf("start %d on the upgraded data dir asked the CA again: %s", start+1, line)
			}
			if strings.Contains(line, "imported the ACME account and certificates") {
				imported++
			}
		}
		if want := 1 - start; imported != want {
			t.Errorf("start %d on the upgraded data dir logged the import %d times, want %d:\n%s", start+1, imported, want, strings.Join(logs.all, "\n"))
		}
	}
}

// certStorage returns the certificate storage in the database of dataDir
// (key: value).
func certStorage(t *testing.T, dataDir string) map[string][]byte {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dataDir, agent.DatabaseFile), store.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]byte{}
	err = db.Read(context.Background(), func(tx *store.Tx) error {
		keys, err := tx.CertDataKeys("")
		for _, k := range keys {
			if out[k], _, err = tx.CertData(k); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
