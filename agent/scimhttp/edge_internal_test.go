package scimhttp

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLimitedLog: at most logBurst lines a window; the next window starts
// with a line saying how many were left out.
func TestLimitedLog(t *testing.T) {
	var b strings.Builder
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l := newLimitedLog(slog.New(slog.NewTextHandler(&b, nil)), func() time.Time { return now })
	for range 100 {
		l.warn("TLS handshake failed", "client", "192.0.2.1")
	}
	if got := strings.Count(b.String(), "TLS handshake failed"); got != logBurst {
		t.Fatalf("got %d lines for 100 messages in a minute, want %d:\n%s", got, logBurst, b.String())
	}
	now = now.Add(logWindow)
	b.Reset()
	l.warn("TLS handshake failed", "client", "192.0.2.1")
	if got := b.String(); !strings.Contains(got, "left_out=95") || strings.Count(got, "\n") != 2 {
		t.Errorf("a minute later: got\n%s\nwant a line saying 95 were left out, then the message", got)
	}
}

// TestRewriteCanned: the answers net/http writes itself become SCIM JSON;
// the agent's own answers pass untouched.
func TestRewriteCanned(t *testing.T) {
	tests := []struct {
		in        string
		lineEnded bool
		want      string // "" = not rewritten
	}{
		{"HTTP/1.1 431 Request Header Fields Too Large" + cannedHeaders + "431 Request Header Fields Too Large", true, `HTTP/1.1 431 Request Header Fields Too Large`},
		{"HTTP/1.1 431 Request Header Fields Too Large" + cannedHeaders + "431 Request Header Fields Too Large", false, `HTTP/1.1 414 Request URI Too Long`},
		{"HTTP/1.1 400 Bad Request: missing required Host header" + cannedHeaders + "400 Bad Request: missing required Host header", true, `"detail":"the request is not valid HTTP/1.1: missing required Host header"`},
		{"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + cannedHeaders + "x", true, `"status":"505"`},
		{"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", true, `"status":"417"`},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/scim+json\r\n\r\n{}", true, ""},
		{"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Other: 1\r\n\r\n", true, ""},
		{`{"userName":"HTTP/1.1 431 x"}`, true, ""},
	}
	for _, tt := range tests {
		got, ok := rewriteCanned([]byte(tt.in), tt.lineEnded)
		switch {
		case tt.want == "" && ok:
			t.Errorf("%q was rewritten to %q", tt.in, got)
		case tt.want != "" && (!ok || !strings.Contains(string(got), tt.want) || !strings.Contains(string(got), "Content-Type: application/scim+json")):
			t.Errorf("%q: got %q, want a SCIM answer with %s", tt.in, got, tt.want)
		}
	}
}
