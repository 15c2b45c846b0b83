package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/tui"
)

// TestSetupStartsAgentInProcess: the wizard's backend starts the agent in
// this process through agent.Run with the configuration it wrote, the
// issued token works against it, StopAgent stops it, and a taken port is
// reported at once as the agent's own error.
func TestSetupStartsAgentInProcess(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var agentLog bytes.Buffer // read only after the agent stopped
	b, err := newSetupBackend(ctx, &rootFlags{dataDir: dir}, &graphFlags{}, &dnsFlags{}, &agentLog, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.allowPrivate = true // the agent listens on loopback: Entra's calls are simulated
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	reach := tui.Reach{TLS: tui.TLSProxy, PublicURL: "http://" + listen + "/", Listen: listen}
	if err := b.SetReach(ctx, reach); err != nil {
		t.Fatal(err)
	}
	issued, err := b.IssueToken(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.StartAgent(ctx, tui.AgentOptions{Mode: tui.AgentForeground, Reach: reach})
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://" + listen + "/scim/default/v2"; info.TenantURL != want || issued.TenantURL != want {
		t.Errorf("Tenant URL: agent %q, issued %q; want %q", info.TenantURL, issued.TenantURL, want)
	}
	req, _ := http.NewRequest("GET", info.TenantURL+"/Users", nil)
	req.Header.Set("Authorization", "Bearer "+issued.Token.String())
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET Users with the issued token = %d", resp.StatusCode)
	}
	b.StopAgent()
	if c, err := net.Dial("tcp", listen); err == nil {
		c.Close()
		t.Error("the agent still listens after StopAgent")
	}
	if logs := agentLog.String(); !strings.Contains(logs, `"msg":"roster agent started"`) || strings.Contains(logs, "serving metrics") {
		t.Errorf("the agent's log is not JSON, or it serves metrics (the wizard runs it without):\n%s", logs)
	}

	taken, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if _, err := b.StartAgent(ctx, tui.AgentOptions{Mode: tui.AgentForeground, Reach: reach}); err == nil || !strings.Contains(err.Error(), "listen on "+listen) {
		t.Errorf("StartAgent on a taken port = %v, want the agent's listen error", err)
	}
}
