package scimhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/directory"
)

// LocalAddr returns the address on this machine where the agent published
// at publicURL listens if it serves the URL's port itself: 127.0.0.1 and
// the URL's port (443 for https, 80 for http). Behind a reverse proxy the
// agent listens elsewhere; callers then probe the configured listen address.
func LocalAddr(publicURL string) (string, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("public URL %q is not a URL like https://roster.example.com", publicURL)
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// Probe asks whether a Roster agent answers at one of addrs (host:port, an
// unspecified host such as 0.0.0.0 or "" is asked on 127.0.0.1), each over
// HTTPS (asking for the certificate of serverName, which may be "") and
// then plain HTTP, within timeout in all: GET /healthz must answer
// 200 "ok" (or 503, the agent's answer while its store is unavailable), and
// /readyz 200 for the agent to count as ready. The certificate is not
// checked: the probe sends no secret and reads no data, it only asks
// whether the process serves, and on 127.0.0.1 the certificate's name
// cannot match.
func Probe(ctx context.Context, addrs []string, serverName string, timeout time.Duration) directory.AgentState {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{ServerName: serverName, InsecureSkipVerify: true}, //nolint:gosec // liveness only, see above
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return resp.StatusCode, strings.TrimSpace(string(b)), nil
	}
	st := directory.AgentState{}
	var tried []string
	for _, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		addr = net.JoinHostPort(host, port)
		tried = append(tried, addr)
		for _, scheme := range []string{"https", "http"} {
			base := scheme + "://" + addr
			code, body, err := get(base + "/healthz")
			if err != nil || !(code == http.StatusOK && body == "ok" || code == http.StatusServiceUnavailable) {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					break
				}
				continue
			}
			st.Address, st.Reachable = base, true
			code, body, err = get(base + "/readyz")
			switch {
			case err != nil:
				st.Detail = "/readyz: " + err.Error()
			case code == http.StatusOK:
				st.Ready = true
			default:
				st.Detail = fmt.Sprintf("/readyz answers %d: %s", code, body)
			}
			return st
		}
	}
	if len(tried) == 0 {
		st.Detail = "no address to ask"
	} else {
		st.Detail = "no agent answers at " + strings.Join(tried, " or ")
	}
	return st
}
