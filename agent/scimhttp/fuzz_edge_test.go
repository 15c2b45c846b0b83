package scimhttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

// FuzzEdge sends requests built from a method, a request-target, header
// lines and a body to an agent served as `roster agent` serves it (real
// TCP, the edge listener, a real SQLite file) and checks that the answer is
// never a 500 and that every error is a SCIM JSON error message. It is
// seeded with the hostile edge rows and the requests of the Entra replay
// fixtures. Run it with
//
//	go test -run '^$' -fuzz '^FuzzEdge$' -fuzztime 60s ./agent/scimhttp
func FuzzEdge(f *testing.F) {
	for _, c := range edgeHostile {
		var lines []string
		for k, v := range c.header {
			lines = append(lines, k+": "+v)
		}
		slices.Sort(lines)
		f.Add(c.method, c.target, strings.Join(lines, "\n"), c.body)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "entra", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no Entra fixtures: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var fx entraFixture
		if err := json.Unmarshal(b, &fx); err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		for _, s := range fx.Steps {
			var lines []string
			for k, v := range s.Headers {
				lines = append(lines, k+": "+v)
			}
			slices.Sort(lines)
			body := ""
			if s.RawBody != nil {
				body = *s.RawBody
			} else if s.hasBody() {
				body = string(s.Body)
			}
			f.Add(s.Method, "/scim/fuzz/v2"+s.Path, strings.Join(lines, "\n"), body)
		}
	}

	addr, tok := startFuzzAgent(f)
	f.Fuzz(func(t *testing.T, method, target, headers, body string) {
		req, head := fuzzRequest(addr, tok, method, target, headers, body)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second)) //nolint:errcheck
		go io.WriteString(conn, req)                       //nolint:errcheck
		br := bufio.NewReader(conn)
		var resp *http.Response
		for {
			resp, err = http.ReadResponse(br, &http.Request{Method: head})
			if err != nil {
				t.Fatalf("no answer to %q: %v", trunc(req), err)
			}
			if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
				break
			}
			resp.Body.Close() // 100 Continue
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading the answer to %q: %v", trunc(req), err)
		}
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("500 for %q: %s", trunc(req), b)
		}
		if resp.StatusCode < 400 {
			return
		}
		if ct := resp.Header.Get("Content-Type"); ct != scim.MediaType {
			t.Fatalf("%d with Content-Type %q for %q: %q", resp.StatusCode, ct, trunc(req), b)
		}
		if head == http.MethodHead {
			return // no body to check
		}
		var e scim.ErrorBody
		if err := json.Unmarshal(b, &e); err != nil || len(e.Schemas) != 1 || e.Schemas[0] != scim.MessageError || e.Status != strconv.Itoa(resp.StatusCode) {
			t.Fatalf("%d for %q: the body is not a SCIM error message: %q (%v)", resp.StatusCode, trunc(req), b, err)
		}
	})
}

// fuzzRequest builds the bytes of one HTTP/1.1 request. CR and LF are
// removed from the method and target, and header lines are split on LF:
// the framing stays the fuzzer's to vary through the header lines, but a
// request always ends, so that every request has an answer. The body is
// sent with its Content-Length (fuzzed Content-Length and
// Transfer-Encoding lines are dropped: a length that does not match would
// only make the server wait). It also returns the method as net/http reads
// it, to read a HEAD answer without a body.
func fuzzRequest(addr, tok, method, target, headers, body string) (string, string) {
	clean := strings.NewReplacer("\r", "", "\n", "")
	method, target = clean.Replace(method), clean.Replace(target)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, addr)
	auth := false
	for line := range strings.SplitSeq(headers, "\n") {
		line = strings.ReplaceAll(line, "\r", "")
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "":
			continue
		case "content-length", "transfer-encoding", "connection":
			continue
		case "authorization":
			auth = true
		}
		b.WriteString(line + "\r\n")
	}
	if !auth {
		b.WriteString("Authorization: Bearer " + tok + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	return b.String(), method
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// startEdgeAgent serves a fresh agent the way `roster agent` serves it
// (scimhttp.NewHTTPServer on scimhttp.NewListener, real TCP on 127.0.0.1, a
// real SQLite file) with one tenant, and returns its address, a read-write
// token of the tenant, and the directory behind it.
func startEdgeAgent(tb testing.TB, tenant string) (string, string, *directory.Service) {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(tb.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	dir := directory.New(db, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := scimhttp.NewHTTPServer(scimhttp.New(dir, scimhttp.Options{}), nil)
	go srv.Serve(scimhttp.NewListener(ln, nil, nil)) //nolint:errcheck
	tb.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	if _, err := dir.AddTenant(ctx, tenant, "", store.TenantSettings{}); err != nil {
		tb.Fatal(err)
	}
	issued, err := dir.IssueToken(ctx, tenant, "edge", false, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return ln.Addr().String(), issued.Token.Reveal(), dir
}

// startFuzzAgent starts an edge agent with tenant "fuzz", two users and a
// group, and returns its address and a read-write token.
func startFuzzAgent(tb testing.TB) (string, string) {
	tb.Helper()
	addr, tok, dir := startEdgeAgent(tb, "fuzz")
	ctx := context.Background()
	call := directory.Call{TenantID: "fuzz", BaseURL: "http://x", Method: "POST", Path: "/seed", Start: time.Now()}
	var first string
	for _, u := range []string{"alice@example.com", "bob@example.com"} {
		got, err := dir.Create(ctx, call, store.KindUser, map[string]any{"schemas": []any{scim.SchemaUser}, "userName": u, "active": true})
		if err != nil {
			tb.Fatal(err)
		}
		first = got.Doc["id"].(string)
	}
	if _, err := dir.Create(ctx, call, store.KindGroup, map[string]any{"schemas": []any{scim.SchemaGroup}, "displayName": "Staff", "members": []any{map[string]any{"value": first}}}); err != nil {
		tb.Fatal(err)
	}
	return addr, tok
}
