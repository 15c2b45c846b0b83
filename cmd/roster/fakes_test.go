package main

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"os/signal"
	"path/filepath"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/domainproof/dnstest"
	"github.com/rosterhq/roster/graph/graphtest"
)

// TestServeFakes is not a test: with ROSTER_SERVE_FAKES=FILE it starts the
// fake Graph and an in-process DNS server on 127.0.0.1, writes how to reach
// them to FILE as JSON (with a fake sign-in authority for the device code
// flow: unset ROSTER_GRAPH_TOKEN to use it), and serves until interrupted — for trying
// `roster setup` and `roster entra` by hand (in tmux) without Microsoft.
//
//	ROSTER_SERVE_FAKES=/tmp/fakes.json go test -run TestServeFakes -timeout 0 ./cmd/roster
func TestServeFakes(t *testing.T) {
	out := os.Getenv("ROSTER_SERVE_FAKES")
	if out == "" {
		t.Skip("set ROSTER_SERVE_FAKES=FILE to serve the fakes for a manual run")
	}
	fake := fakeGraph(t)
	login := graphtest.NewLogin(t, graphtest.LoginOptions{AccessToken: fakeGraphToken, PendingPolls: 5})
	ca := filepath.Join(t.TempDir(), "cas.pem")
	pems := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fake.Certificate().Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: login.Server().Certificate().Raw})...)
	if err := os.WriteFile(ca, pems, 0o600); err != nil {
		t.Fatal(err)
	}
	dnsSrv := dnstest.Start(t)
	dnsSrv.AddZone(t, "contoso.com", "127.0.0.1")
	b, _ := json.MarshalIndent(map[string]string{
		"ROSTER_GRAPH_URL": fake.URL, "ROSTER_GRAPH_TOKEN": fakeGraphToken,
		"ROSTER_GRAPH_CA_FILE": ca, "ROSTER_DNS_NAMESERVER": dnsSrv.Addr, "ROSTER_LOGIN_URL": login.URL,
	}, "", "  ")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Every line of FILE.txt (a record in zone-file syntax, e.g.
	// `_roster-challenge.contoso.com. 60 IN TXT "roster-verification=…"`)
	// is served as it appears, as if published at a DNS provider.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	done := make(chan struct{})
	defer close(done)
	go func() {
		seen := map[string]bool{}
		for {
			if data, err := os.ReadFile(out + ".txt"); err == nil {
				for _, line := range splitLines(string(data)) {
					if line != "" && !seen[line] {
						seen[line] = true
						dnsSrv.Add(t, line)
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	<-stop
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
