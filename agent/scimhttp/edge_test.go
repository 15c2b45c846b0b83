package scimhttp_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"github.com/rosterhq/roster/internal/syncbuf"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// selfSigned returns a TLS certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestEdgeTLS serves the API over TLS on the edge listener: requests see
// Request.TLS, HTTP/2 is not offered, net/http's own errors and plain HTTP
// sent to the HTTPS port are answered in SCIM JSON, and failed handshakes
// are logged a few times a minute, not once each.
func TestEdgeTLS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	tok := seedAcme(t, path)
	dir := directory.New(openStore(t, path, store.Options{}), nil, nil)
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cert, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := scimhttp.NewHTTPServer(scimhttp.New(dir, scimhttp.Options{Logger: log}), log)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	go srv.Serve(scimhttp.NewListener(ln, cfg, log)) //nolint:errcheck
	defer srv.Close()
	addr := ln.Addr().String()
	clientTLS := &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}}

	t.Run("a request over TLS is served as HTTPS, over HTTP/1.1", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS, ForceAttemptHTTP2: true}}
		body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"tls@acme.test"}`
		req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/scim/acme/v2/Users", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", scim.MediaType)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || resp.Proto != "HTTP/1.1" {
			t.Fatalf("got %d over %s, want 201 over HTTP/1.1", resp.StatusCode, resp.Proto)
		}
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://"+addr+"/scim/acme/v2/Users/") {
			t.Errorf("Location %q: want https:// (the handler sees Request.TLS)", loc)
		}
	})

	t.Run("oversized headers over TLS get a SCIM 431", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go io.WriteString(conn, "GET /scim/acme/v2/Users HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 70<<10)+"\r\n\r\n") //nolint:errcheck
		wantWireError(t, conn, 431, "")
	})

	t.Run("HTTP version 3.0 gets a SCIM 505", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /scim/acme/v2/Users HTTP/3.0\r\nHost: x\r\n\r\n") //nolint:errcheck
		wantWireError(t, conn, 505, "")
	})

	t.Run("plain HTTP to the HTTPS port gets a SCIM 400", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /scim/acme/v2/Users HTTP/1.1\r\nHost: x\r\n\r\n") //nolint:errcheck
		wantWireError(t, conn, 400, scim.InvalidSyntax)
	})

	t.Run("failed handshakes are logged a few times a minute", func(t *testing.T) {
		for range 40 {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(conn, "\x16\x03\x01\x00\x05hello")      //nolint:errcheck // a broken ClientHello
			conn.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
			io.Copy(io.Discard, conn)                              //nolint:errcheck // until the server hangs up
			conn.Close()
		}
		if n := strings.Count(logs.String(), "TLS handshake failed"); n < 1 || n > 6 {
			t.Errorf("got %d handshake log lines for 41 failed handshakes, want at most 6 (5 a minute, and the plain-HTTP one)\n%s", n, logs.String())
		}
	})
}

// wantWireError reads one HTTP answer from conn and checks it is a SCIM
// error message with status (and scimType).
func wantWireError(t *testing.T, conn net.Conn, status int, scimType string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != scim.MediaType {
		t.Fatalf("got %d %q %s, want %d %s", resp.StatusCode, resp.Header.Get("Content-Type"), b, status, scim.MediaType)
	}
	var e scim.ErrorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	if len(e.Schemas) != 1 || e.Schemas[0] != scim.MessageError || e.Status != resp.Status[:3] || e.ScimType != scimType {
		t.Errorf("body %+v, want a SCIM error with status %d and scimType %q", e, status, scimType)
	}
}
