package agent_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent"
)

// TestStart: Start returns once the agent serves, Done closes and Stop
// returns nil after a stop; an agent that cannot serve is Run's error, and
// a cancelled context stops waiting.
func TestStart(t *testing.T) {
	dataDir := t.TempDir()
	cfg := testConfig(t, dataDir)
	var listened net.Addr
	r, err := agent.Start(context.Background(), cfg, agent.RunOptions{Listening: func(a net.Addr, _ string) { listened = a }})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if listened == nil || r.Addr.String() != listened.String() || !strings.HasPrefix(r.PublicURL, "http://127.0.0.1:") {
		t.Errorf("Start: Addr %v, PublicURL %q, Listening got %v", r.Addr, r.PublicURL, listened)
	}
	if code, _ := getWithToken(t, r.PublicURL+"/healthz", ""); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	select {
	case <-r.Done():
		t.Fatal("Done closed while the agent serves")
	default:
	}
	if err := r.Stop(); err != nil {
		t.Errorf("Stop = %v, want nil", err)
	}
	<-r.Done()
	if err := r.Stop(); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg.Listen = taken.Addr().String()
	if r, err := agent.Start(context.Background(), cfg, agent.RunOptions{}); r != nil || err == nil || !strings.Contains(err.Error(), "listen on "+cfg.Listen) {
		t.Errorf("Start on a taken port = %v, %v, want the listen error", r, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg = testConfig(t, t.TempDir())
	r, err = agent.Start(ctx, cfg, agent.RunOptions{})
	switch {
	case err == nil: // the agent may serve before the cancelled context is seen
		if err := r.Stop(); err != nil {
			t.Errorf("Stop = %v", err)
		}
	case !errors.Is(err, context.Canceled):
		t.Errorf("Start with a cancelled context = %v, want context.Canceled (or success)", err)
	}
}

// TestLocalProber: the probe finds a running agent at its listen address,
// and through the port of its public URL when the listen address is wrong
// (unless exact); a stopped agent is not reachable.
func TestLocalProber(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	r, err := agent.Start(context.Background(), cfg, agent.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if st := agent.LocalProber(r.Addr.String(), "", true)(ctx); !st.Reachable {
		t.Errorf("probe at %s = %+v, want reachable", r.Addr, st)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wrong := free.Addr().String()
	free.Close()
	if st := agent.LocalProber(wrong, r.PublicURL, false)(ctx); !st.Reachable {
		t.Errorf("probe at %s and the public URL %s = %+v, want reachable", wrong, r.PublicURL, st)
	}
	if st := agent.LocalProber(wrong, r.PublicURL, true)(ctx); st.Reachable {
		t.Errorf("exact probe at %s = %+v, want not reachable", wrong, st)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if st := agent.LocalProber(r.Addr.String(), r.PublicURL, false)(ctx); st.Reachable {
		t.Errorf("probe of a stopped agent = %+v, want not reachable", st)
	}
}
