package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a self-signed ECDSA certificate for localhost and
// 127.0.0.1 and its key to certFile and keyFile, each through a temporary
// file and a rename (as a deployment should), and returns the serial.
func writeCert(t *testing.T, certFile, keyFile string) *big.Int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	put := func(path string, b *pem.Block) {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	put(keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	put(certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	return serial
}

// notifySocket listens as systemd's NOTIFY_SOCKET and collects messages.
type notifySocket struct {
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	n := &notifySocket{}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return n
}

func (n *notifySocket) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

func waitLog(t *testing.T, p *agentProc, what string, count int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(p.stderr.String(), what) < count {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (x%d) in the agent's log within 15s:\n%s", what, count, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadSIGHUP runs the agent over a certificate file pair, keeps
// clients busy with new TLS connections, swaps the files and sends SIGHUP:
// the served serial changes and no request fails. A bad pair and an invalid
// configuration on later reloads keep the agent serving what it had; a
// changed rate limit applies; changed trusted proxies are reported as
// needing a restart. systemd hears READY, RELOADING with MONOTONIC_USEC,
// READY and STOPPING.
func TestReloadSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	serialA := writeCert(t, certFile, keyFile)
	cfgFile := filepath.Join(dir, "roster.json")
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	writeCfg := func(extra string) {
		body := fmt.Sprintf(`{
  "listen": "127.0.0.1:0",
  "metrics_listen": %q,
  "tls": {"mode": "files", "cert_file": %q, "key_file": %q, "reload_interval": "1h"}%s
}`, metricsAddr, certFile, keyFile, extra)
		if err := os.WriteFile(cfgFile+".new", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Rename(cfgFile+".new", cfgFile) //nolint:errcheck
	}
	// The clients below send as fast as they can: the rate limits, before
	// and after the reload, are set above what they can reach on any
	// machine, so a 429 is never mistaken for a failed reload.
	writeCfg(`, "rate_limit": {"requests_per_second": 20000, "burst": 40000}`)
	notify := listenNotify(t)
	p := startAgentProc(t, filepath.Join(dir, "data"), true, "--config", cfgFile)
	base := strings.Replace(p.BaseURL, "http://", "https://", 1)
	if !strings.HasPrefix(p.TenantURL, "https://") {
		t.Fatalf("Tenant URL %q is not https", p.TenantURL)
	}

	var (
		mu      sync.Mutex
		serials = map[string]int{}
		fails   []string
		ok      atomic.Int64
	)
	client := func() *http.Client {
		// A new connection per request: every request sees the current certificate.
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // the test checks serials
		}}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", base+"/scim/default/v2/Users?count=1", nil)
				req.Header.Set("Authorization", "Bearer "+p.Token)
				resp, err := c.Do(req)
				mu.Lock()
				switch {
				case err != nil:
					fails = append(fails, err.Error())
				case resp.StatusCode != 200:
					b, _ := io.ReadAll(resp.Body)
					fails = append(fails, fmt.Sprintf("%d %s", resp.StatusCode, b))
				default:
					serials[resp.TLS.PeerCertificates[0].SerialNumber.String()]++
					ok.Add(1)
				}
				mu.Unlock()
				if resp != nil {
					io.Copy(io.Discard, resp.Body) //nolint:errcheck
					resp.Body.Close()
				}
			}
		}()
	}
	waitOK := func(n int64) {
		t.Helper()
		target := ok.Load() + n
		deadline := time.Now().Add(15 * time.Second)
		for ok.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("clients made no progress")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitOK(20)

	serialB := writeCert(t, certFile, keyFile)
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	if serials[serialB.String()] > 0 {
		t.Error("new certificate served before SIGHUP (reload_interval is 1h)")
	}
	mu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, `msg="configuration reloaded"`, 1)
	waitOK(40)

	// A bad pair (this key with another certificate) is refused.
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o700) //nolint:errcheck
	writeCert(t, filepath.Join(other, "cert.pem"), filepath.Join(other, "key.pem"))
	os.Rename(filepath.Join(other, "cert.pem"), certFile) //nolint:errcheck
	// and the rate limit changes, and the trusted proxies, which need a
	// restart (a changed --listen flag would not count: flags win).
	writeCfg(`, "trusted_proxies": ["10.0.0.0/8"], "rate_limit": {"requests_per_second": 30000, "burst": 60000}`)
	p.cmd.Process.Signal(syscall.SIGHUP) //nolint:errcheck
	waitLog(t, p, `msg="configuration reloaded"`, 2)
	waitOK(40)

	// An invalid configuration is refused as a whole.
	writeCfg(`, "log": {"level": "loud"}`)
	p.cmd.Process.Signal(syscall.SIGHUP) //nolint:errcheck
	waitLog(t, p, "the configuration is invalid; keeping the running one", 1)
	waitOK(40)

	close(stop)
	wg.Wait()

	// The metrics listener counts the SCIM requests (the wiring into scimhttp).
	mresp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mbody, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mbody), `roster_http_requests_total{code="200",route="users"}`) {
		t.Errorf("/metrics does not count the Users requests:\n%.2000s", mbody)
	}
	p.Stop(t)

	mu.Lock()
	defer mu.Unlock()
	if len(fails) > 0 {
		t.Errorf("%d of %d requests failed during reloads; first: %s", len(fails), int(ok.Load())+len(fails), fails[0])
	}
	if serials[serialA.String()] == 0 || serials[serialB.String()] == 0 {
		t.Errorf("served serials %v, want both %s (before) and %s (after SIGHUP)", serials, serialA, serialB)
	}
	if len(serials) != 2 {
		t.Errorf("served %d different certificates, want 2 (the bad pair must not be served): %v", len(serials), serials)
	}
	logs := p.stderr.String()
	for _, want := range []string{
		"private key does not match public key",
		`msg="rate limits changed"`,
		`apply only after a restart`,
		`settings=[trusted_proxies]`,
		`log.level: \"loud\"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("agent log lacks %q", want)
		}
	}
	t.Logf("%d requests, serials %v", ok.Load(), serials)

	msgs := strings.Join(notify.messages(), "|")
	if !strings.HasPrefix(msgs, "READY=1|RELOADING=1\nMONOTONIC_USEC=") || !strings.HasSuffix(msgs, "|READY=1|STOPPING=1") ||
		strings.Count(msgs, "RELOADING=1\nMONOTONIC_USEC=") != 3 {
		t.Errorf("sd_notify messages = %q, want READY, then RELOADING+MONOTONIC_USEC and READY per reload (3), then STOPPING", msgs)
	}
}
