package tui

import (
	"context"
	"errors"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// op is one long operation of a step: it runs in a tea.Cmd with its own
// cancellable context, and the router draws its spinner, its error and its
// hint (the gum spin pattern: the work reports back as a typed message).
type op struct {
	seq    int
	label  string // what the spinner says it waits for
	hint   string // what to do when it fails
	cancel context.CancelFunc
	err    error
	again  func() tea.Cmd // runs the same operation again (r)
	start  time.Time
}

// opDone reports the end of an operation.
type opDone struct {
	seq int
	val any
	err error
}

// busy reports whether the operation runs.
func (o *op) busy() bool { return o.cancel != nil }

// failed reports whether the last run failed (or was cancelled).
func (o *op) failed() bool { return o.err != nil && !o.busy() }

// run starts fn with a context the owner can cancel.
func (o *op) run(s *session, label, hint string, fn func(ctx context.Context) (any, error)) tea.Cmd {
	if o.cancel != nil {
		o.cancel()
	}
	s.seq++
	seq := s.seq
	ctx, cancel := context.WithCancel(s.ctx)
	o.seq, o.label, o.hint, o.cancel, o.err, o.start = seq, label, hint, cancel, nil, time.Now()
	o.again = func() tea.Cmd { return o.run(s, label, hint, fn) }
	s.log.Info("operation started", "op", label)
	return func() tea.Msg {
		v, err := fn(ctx)
		return opDone{seq: seq, val: v, err: err}
	}
}

// finish matches msg with the running operation; ok is false for any other
// message (or a stale one from a cancelled run). err is set on failure.
func (o *op) finish(s *session, msg tea.Msg) (val any, ok bool) {
	d, isDone := msg.(opDone)
	if !isDone || d.seq != o.seq || o.cancel == nil {
		return nil, false
	}
	o.cancel()
	o.cancel = nil
	o.err = d.err
	if d.err != nil {
		s.log.Warn("operation failed", "op", o.label, "err", d.err, "took", time.Since(o.start))
	} else {
		s.log.Info("operation done", "op", o.label, "took", time.Since(o.start))
	}
	return d.val, true
}

// stop cancels a running operation (esc, ctrl+c, leaving the step).
func (o *op) stop() {
	if o.cancel != nil {
		o.cancel()
		o.cancel = nil
		o.err = context.Canceled
	}
}

// cancelled reports whether the last run was cancelled by the owner.
func (o *op) cancelled() bool { return errors.Is(o.err, context.Canceled) }
