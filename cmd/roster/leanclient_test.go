package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// leanClient is the benchmark's load generator: HTTP/1.1 GETs over
// keep-alive connections, one connection per concurrent caller, with just
// enough parsing to check the status and read the body. net/http's client
// costs more CPU per request than the agent's handler; on a 2-core machine
// that would measure the client, not the agent (wrk shows the same).
type leanClient struct {
	host, auth string
	idle       chan *leanConn // kept across GCs, unlike a sync.Pool
}

type leanConn struct {
	c  net.Conn
	rd *bufio.Reader
}

func newLeanClient(base, token string) *leanClient {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	return &leanClient{host: u.Host, auth: "Bearer " + token, idle: make(chan *leanConn, 256)}
}

// get requests path (absolute, with query) and returns status and body.
func (lc *leanClient) get(path string) (int, []byte, error) {
	var c *leanConn
	select {
	case c = <-lc.idle:
	default:
	}
	if c == nil {
		nc, err := net.Dial("tcp", lc.host)
		if err != nil {
			return 0, nil, err
		}
		c = &leanConn{c: nc, rd: bufio.NewReaderSize(nc, 16<<10)}
	}
	code, body, err := c.roundTrip(lc.host, lc.auth, path)
	if err != nil {
		c.c.Close()
		return 0, nil, err
	}
	select {
	case lc.idle <- c:
	default:
		c.c.Close()
	}
	return code, body, nil
}

func (c *leanConn) roundTrip(host, auth, path string) (int, []byte, error) {
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n\r\n", path, host, auth)
	if _, err := c.c.Write(req.Bytes()); err != nil {
		return 0, nil, err
	}
	status, err := c.rd.ReadString('\n')
	if err != nil {
		return 0, nil, err
	}
	parts := strings.SplitN(status, " ", 3)
	if len(parts) < 2 {
		return 0, nil, fmt.Errorf("bad status line %q", status)
	}
	code, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, nil, err
	}
	length := -1
	for {
		line, err := c.rd.ReadString('\n')
		if err != nil {
			return 0, nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if length < 0 {
		return 0, nil, fmt.Errorf("response without Content-Length")
	}
	body := make([]byte, length)
	_, err = io.ReadFull(c.rd, body)
	return code, body, err
}
