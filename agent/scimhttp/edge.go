package scimhttp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/agent/scim"
)

// MaxURLBytes bounds the request-target (path and query); longer ones get
// 414. RFC 9112 §3 recommends accepting request lines of at least 8000
// octets; Entra's lookups are far shorter.
const MaxURLBytes = 8 << 10

// HandshakeTimeout bounds a TLS handshake on the agent's listener.
const HandshakeTimeout = ReadHeaderTimeout

// NewListener wraps the agent's listener so that every answer is SCIM JSON,
// including those net/http writes on its own before any handler runs
// (431 for oversized headers, 400 for a malformed request line or header,
// 501 for an unknown Transfer-Encoding, 505 for an unknown HTTP version,
// 417 for an Expect other than 100-continue): they are rewritten into SCIM
// error messages (RFC 7644 §3.12) on their way out.
//
// With tlsConfig set, the listener terminates TLS itself (TLS 1.2 or later,
// HTTP/1.1 only: an HTTP/2 server answers some errors itself in HTML, which
// could not be rewritten). Failed handshakes are logged to log at warn
// level, at most a few lines a minute with a count of those left out, so a
// scan of the port cannot flood the log. Serve the result with
// http.Server.Serve, not ServeTLS.
func NewListener(ln net.Listener, tlsConfig *tls.Config, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &edgeListener{Listener: ln, log: newLimitedLog(log, time.Now)}
	if tlsConfig != nil {
		c := tlsConfig.Clone()
		if c.MinVersion < tls.VersionTLS12 {
			c.MinVersion = tls.VersionTLS12
		}
		c.NextProtos = slices.DeleteFunc(slices.Clone(c.NextProtos), func(p string) bool { return p == "h2" })
		if !slices.Contains(c.NextProtos, "http/1.1") {
			c.NextProtos = append(c.NextProtos, "http/1.1")
		}
		l.tls = c
	}
	return l
}

type edgeListener struct {
	net.Listener
	tls *tls.Config
	log *limitedLog
}

// Accept implements net.Listener. The TLS handshake is not done here (that
// would let one slow client hold up every other): net/http runs it on the
// connection's own goroutine when it asks for the ConnectionState.
func (l *edgeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.tls == nil {
		return &edgeConn{Conn: c}, nil
	}
	tc := &tlsEdgeConn{raw: c, tls: tls.Server(c, l.tls), log: l.log}
	tc.Conn = tc.tls
	return tc, nil
}

// edgeConn rewrites net/http's own plain-text error answers into SCIM JSON.
// It also notes whether the request line being read has ended, to tell an
// oversized request-target (414) from oversized headers (431).
type edgeConn struct {
	net.Conn
	mu        sync.Mutex
	lineEnded bool // a newline was read since the last answer
	readSome  bool // bytes were read since the last answer
	eof       bool // the connection is finished (failed TLS handshake, other protocol)
}

func (c *edgeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	eof := c.eof
	c.mu.Unlock()
	if eof {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.readSome = true
		if !c.lineEnded && bytes.IndexByte(p[:n], '\n') >= 0 {
			c.lineEnded = true
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *edgeConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	lineEnded := c.lineEnded || !c.readSome
	c.lineEnded, c.readSome = false, false
	c.mu.Unlock()
	if out, ok := rewriteCanned(b, lineEnded); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// cannedHeaders follow the status line of the answers net/http writes
// itself, straight to the connection, when it cannot read a request (see
// conn.serve in net/http's server.go): exactly these two headers in this
// order, which its response writer never produces, since it sorts headers.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// rewriteCanned returns the SCIM JSON form of an answer net/http wrote on
// its own, and false for every other write. lineEnded says whether the
// request line had ended when net/http gave up reading.
func rewriteCanned(b []byte, lineEnded bool) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.")) || len(b) < len("HTTP/1.1 417 ") {
		return nil, false
	}
	// 417: net/http refuses an Expect other than 100-continue before any
	// handler runs; the handlers never answer 417 themselves.
	if string(b[len("HTTP/1.x"):len("HTTP/1.1 417 ")]) == " 417 " {
		return scimAnswer(scim.Errorf(http.StatusExpectationFailed, "", "the Expect header is not supported except for \"Expect: 100-continue\" (RFC 9110 §10.1.1)")), true
	}
	statusLine, _, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(b[len(statusLine):], []byte(cannedHeaders)) {
		return nil, false
	}
	// "HTTP/1.1 431 Request Header Fields Too Large", "HTTP/1.1 400 Bad Request: missing required Host header"
	status := string(statusLine[len("HTTP/1.1 "):])
	code, err := strconv.Atoi(status[:3])
	if err != nil {
		return nil, false
	}
	_, text, _ := strings.Cut(status, ": ")
	var se *scim.Error
	switch code {
	case http.StatusRequestHeaderFieldsTooLarge:
		if !lineEnded {
			se = scim.Errorf(http.StatusRequestURITooLong, "", "the request-target is longer than %d bytes", MaxURLBytes)
		} else {
			se = scim.Errorf(code, "", "the request line and headers are larger than %d bytes", MaxHeaderBytes)
		}
	case http.StatusBadRequest:
		detail := "the request is not valid HTTP/1.1"
		if text != "" {
			detail += ": " + text
		}
		se = scim.BadRequest(scim.InvalidSyntax, "%s", detail)
	case http.StatusNotImplemented:
		se = scim.Errorf(code, "", "unsupported Transfer-Encoding: send the body with Content-Length or chunked")
	case http.StatusHTTPVersionNotSupported:
		se = scim.Errorf(code, "", "unsupported HTTP version: use HTTP/1.1")
	default:
		if text == "" {
			text = strings.TrimSpace(status[3:])
		}
		se = scim.Errorf(code, "", "%s", text)
	}
	return scimAnswer(se), true
}

// scimAnswer renders a whole HTTP/1.1 answer carrying se, closing the
// connection as net/http does after its own error answers.
func scimAnswer(se *scim.Error) []byte {
	body, err := marshal(se.Body())
	if err != nil { // a scim.ErrorBody always encodes
		body = []byte(`{"schemas":["` + scim.MessageError + `"],"status":"` + strconv.Itoa(se.Status) + `"}`)
	}
	body = append(body, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		se.Status, statusText(se.Status), scim.MediaType, len(body), body)
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error"
}

// tlsEdgeConn is an edgeConn over TLS. It implements ConnectionState, which
// net/http calls first on a connection that is not a *tls.Conn (and uses for
// Request.TLS): the handshake runs there.
type tlsEdgeConn struct {
	edgeConn
	raw   net.Conn
	tls   *tls.Conn
	log   *limitedLog
	once  sync.Once
	state tls.ConnectionState
}

// ConnectionState runs the handshake (once) and returns its outcome. A
// failed handshake, or one that chose another protocol than HTTP/1.1 (an
// ACME tls-alpn-01 challenge, answered by the handshake itself), ends the
// connection: its next Read returns io.EOF.
func (c *tlsEdgeConn) ConnectionState() tls.ConnectionState {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
		defer cancel()
		err := c.tls.HandshakeContext(ctx)
		if err != nil {
			c.handshakeFailed(err)
			return
		}
		c.state = c.tls.ConnectionState()
		if p := c.state.NegotiatedProtocol; p != "" && p != "http/1.1" {
			c.mu.Lock()
			c.eof = true
			c.mu.Unlock()
		}
	})
	return c.state
}

func (c *tlsEdgeConn) handshakeFailed(err error) {
	c.mu.Lock()
	c.eof = true
	c.mu.Unlock()
	reason := err.Error()
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
		// Plain HTTP sent to the HTTPS port: say so, in plain text on the
		// wire but as a SCIM error message.
		re.Conn.SetWriteDeadline(time.Now().Add(time.Second))                                                                //nolint:errcheck
		re.Conn.Write(scimAnswer(scim.BadRequest(scim.InvalidSyntax, "this port speaks HTTPS: the client sent plain HTTP"))) //nolint:errcheck
		re.Conn.Close()
		reason = "client sent an HTTP request to an HTTPS server"
	}
	c.log.warn("TLS handshake failed", "client", c.raw.RemoteAddr().String(), "err", reason)
}

// looksLikeHTTP reports whether a TLS record header is the start of an
// HTTP/1 request line instead.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "PATCH", "DELET":
		return true
	}
	return false
}

// limitedLog writes at most logBurst lines per logWindow; at the start of
// the next window it says how many it left out.
type limitedLog struct {
	log     *slog.Logger
	now     func() time.Time
	mu      sync.Mutex
	start   time.Time
	n       int
	dropped int
}

const (
	logWindow = time.Minute
	logBurst  = 5
)

func newLimitedLog(log *slog.Logger, now func() time.Time) *limitedLog {
	return &limitedLog{log: log, now: now}
}

func (l *limitedLog) warn(msg string, args ...any) {
	now := l.now()
	l.mu.Lock()
	dropped := 0
	if now.Sub(l.start) >= logWindow {
		dropped, l.dropped = l.dropped, 0
		l.start, l.n = now, 0
	}
	ok := l.n < logBurst
	if ok {
		l.n++
	} else {
		l.dropped++
	}
	l.mu.Unlock()
	if dropped > 0 {
		l.log.Warn("similar messages left out of the log", "message", msg, "left_out", dropped, "window", logWindow)
	}
	if ok {
		l.log.Warn(msg, args...)
	}
}

// Write implements io.Writer for a log.Logger (http.Server.ErrorLog): each
// line is a warning, limited like the others.
func (l *limitedLog) Write(p []byte) (int, error) {
	l.warn(strings.TrimSpace(string(p)))
	return len(p), nil
}
