package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/rosterhq/roster/agent/directory"
)

// sdNotify tells systemd about the agent's state; a no-op unless systemd
// started the agent with Type=notify (NOTIFY_SOCKET set).
func sdNotify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("notify systemd", "state", state, "err", err)
	}
}

// watchdog sends WATCHDOG=1 at half systemd's WatchdogSec while the store
// answers; it returns at once when the unit has no watchdog.
func watchdog(ctx context.Context, log *slog.Logger, dir *directory.Service) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, interval/4)
		err := dir.Ping(rctx)
		cancel()
		if err != nil {
			log.Warn("watchdog: the store did not answer; not telling systemd we are alive", "err", err)
			continue
		}
		sdNotify(log, daemon.SdNotifyWatchdog)
	}
}
