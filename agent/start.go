package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rosterhq/roster/agent/config"
)

// StartTimeout is how long Start waits for the agent to serve.
const StartTimeout = 90 * time.Second

// Running is an agent started in this process by Start.
type Running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
	// Addr is the address the SCIM listener is bound to.
	Addr net.Addr
	// PublicURL is the base URL the agent's Tenant URLs start with.
	PublicURL string
}

// Start runs the agent that cfg describes in the background, as Run does,
// and returns once it serves. It returns Run's error when the agent stops
// before serving, ctx's error when ctx ends first, and an error after
// StartTimeout. The agent keeps running after ctx ends; Stop ends it.
// opts.Listening is called before Start returns.
func Start(ctx context.Context, cfg config.Config, opts RunOptions) (*Running, error) {
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Running{cancel: cancel, done: make(chan struct{})}
	serving := make(chan struct{})
	listening := opts.Listening
	opts.Listening = func(addr net.Addr, publicURL string) {
		r.Addr, r.PublicURL = addr, publicURL
		if listening != nil {
			listening(addr, publicURL)
		}
		close(serving)
	}
	go func() {
		r.err = Run(actx, cfg, opts)
		close(r.done)
	}()
	timeout := time.NewTimer(StartTimeout)
	defer timeout.Stop()
	var err error
	select {
	case <-serving:
		return r, nil
	case <-r.done:
		err = r.err
		if err == nil {
			err = errors.New("the agent stopped")
		}
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout.C:
		err = fmt.Errorf("the agent did not start serving within %s", StartTimeout)
	}
	r.Stop()
	return nil, err
}

// Done is closed when the agent has stopped.
func (r *Running) Done() <-chan struct{} { return r.done }

// Wait waits until the agent stops, and returns Run's error.
func (r *Running) Wait() error {
	<-r.done
	return r.err
}

// Stop stops the agent gracefully and waits for it; it returns Run's
// error. Stop may be called more than once.
func (r *Running) Stop() error {
	r.once.Do(r.cancel)
	return r.Wait()
}
