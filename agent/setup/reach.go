package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Reach says how Entra's provisioning service reaches the agent.
type Reach struct {
	// OnPremises: Microsoft's provisioning agent, installed in the owner's
	// network, calls the Tenant URL; a local URL is then right.
	OnPremises bool
	// AllowPrivateURL accepts a loopback or private Tenant URL outside the
	// on-premises route. Entra's cloud service cannot call such a URL, so
	// this is only for labs and tests where Entra's calls are simulated
	// (`--allow-private-url`).
	AllowPrivateURL bool
}

// ErrPrivateURL is wrapped by CheckURL's error for a URL Entra's cloud
// service cannot call.
var ErrPrivateURL = errors.New("not reachable from Entra")

// CheckURL checks a public or Tenant URL against the reach rules: http(s),
// and, unless on premises or AllowPrivateURL, public HTTPS on a host that is
// neither loopback nor a private address.
func CheckURL(raw string, r Reach) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an http(s) URL such as https://scim.contoso.com", raw)
	}
	if r.OnPremises || r.AllowPrivateURL {
		return nil
	}
	host := u.Hostname()
	if private(host) {
		return fmt.Errorf("the URL %s is a loopback or private address, which Entra's provisioning service cannot call from Microsoft's datacenters: %w. "+
			"Give the agent a public HTTPS name whose DNS points here (or a reverse proxy or tunnel in front of it), "+
			"or use the on-premises route, where Microsoft's provisioning agent in your network calls the agent (--on-premises; \"onprem\" in the wizard). "+
			"For a lab where Entra's calls are simulated, --allow-private-url skips this check", raw, ErrPrivateURL)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("the URL %s must use https: Entra calls it from the internet and accepts only public HTTPS with a publicly trusted certificate: %w", raw, ErrPrivateURL)
	}
	return nil
}

// private reports whether host is a name or address only this machine or
// its network can reach.
func private(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || strings.HasSuffix(h, ".local") ||
		strings.HasSuffix(h, ".internal") || strings.HasSuffix(h, ".lan") || strings.HasSuffix(h, ".home.arpa") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return false // a name: its DNS is the owner's business
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip) // carrier-grade NAT, RFC 6598
}

// Preflight checks, before anything is created in Entra, that the Tenant
// URL obeys the reach rules and that a Roster agent answers at it.
func (s *Service) Preflight(ctx context.Context, tenantURL string, r Reach) error {
	if err := CheckURL(tenantURL, r); err != nil {
		return err
	}
	return s.probe(ctx, tenantURL)
}

// probe asks the Tenant URL for the SCIM service provider configuration
// (RFC 7644 §4): a Roster agent answers 200, or 401 with a SCIM error
// (RFC 7644 §3.12) when asked without a token.
func (s *Service) probe(ctx context.Context, tenantURL string) error {
	u := strings.TrimRight(tenantURL, "/") + "/ServiceProviderConfig"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("check the Tenant URL: %w", err)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		var ne net.Error
		what := "nothing answers"
		if errors.As(err, &ne) && ne.Timeout() {
			what = "no answer in time"
		}
		return fmt.Errorf("check the Tenant URL %s: %s (%v). Start the agent first ('roster agent', or let 'roster setup' start it), "+
			"check that its public URL is %s, and that DNS and any proxy in front of it lead here", tenantURL, what, err, originOf(tenantURL))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK ||
		(resp.StatusCode == http.StatusUnauthorized && strings.Contains(string(body), "urn:ietf:params:scim:api:messages:2.0:Error")) {
		return nil
	}
	return fmt.Errorf("check the Tenant URL %s: it answered HTTP %d, not as a Roster agent does. Check the tenant in the URL ('roster tenant list') "+
		"and that a proxy in front of the agent forwards /scim/ to it", tenantURL, resp.StatusCode)
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}
