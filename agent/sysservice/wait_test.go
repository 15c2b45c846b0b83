package sysservice

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestWaitListening: a listening port is found (also through an
// unspecified host), a closed one is an error after the timeout, and a
// cancelled context stops the wait.
func TestWaitListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx := context.Background()
	for _, addr := range []string{ln.Addr().String(), ":" + port, "0.0.0.0:" + port} {
		if err := WaitListening(ctx, addr, 5*time.Second); err != nil {
			t.Errorf("WaitListening(%s) = %v, want nil", addr, err)
		}
	}
	ln.Close()
	if err := WaitListening(ctx, "127.0.0.1:"+port, 0); err == nil || !strings.Contains(err.Error(), "nothing listens on") {
		t.Errorf("WaitListening on a closed port = %v, want nothing listens", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := WaitListening(cctx, "127.0.0.1:"+port, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitListening with a cancelled context = %v, want context.Canceled", err)
	}
	if err := WaitListening(ctx, "no-port", time.Second); err == nil {
		t.Error("WaitListening on an address without a port = nil, want an error")
	}
}
