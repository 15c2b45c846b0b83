package agent

import (
	"context"
	"net/url"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
)

// ProbeTimeout bounds how long LocalProber's probe asks.
const ProbeTimeout = 2 * time.Second

// LocalProber returns the probe of an agent on this machine (for `roster
// status`): it asks at listen and, unless exact, also at the local address
// of publicURL ("" when unknown), whose host name is the TLS server name.
func LocalProber(listen, publicURL string, exact bool) directory.AgentProber {
	addrs := []string{listen}
	serverName := ""
	if publicURL != "" {
		if u, err := url.Parse(publicURL); err == nil {
			serverName = u.Hostname()
		}
		if a, err := scimhttp.LocalAddr(publicURL); err == nil && !exact && a != listen {
			addrs = append(addrs, a)
		}
	}
	return func(ctx context.Context) directory.AgentState {
		return scimhttp.Probe(ctx, addrs, serverName, ProbeTimeout)
	}
}
