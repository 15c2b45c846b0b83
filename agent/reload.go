package agent

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/agent/tlsserve"
)

// liveConfig is the running agent's configuration and the parts of it a
// reload (SIGHUP) can change without a restart.
type liveConfig struct {
	mu      sync.Mutex
	cfg     config.Config
	log     *slog.Logger
	level   *slog.LevelVar
	scim    *scimhttp.Server
	files   *tlsserve.FilePair
	resolve func() (config.Config, error)
}

// liveSettings are the settings a reload applies at once; changes to any
// other setting are logged as needing a restart.
var liveSettings = []string{"log.level", "rate_limit."}

// reload rereads the configuration (file, environment, flags) and the
// certificate files. An invalid configuration is logged and the running one
// kept. Requests are served throughout: the new limits, log level and
// certificate apply from the next request or handshake.
func (l *liveConfig) reload() {
	l.mu.Lock()
	defer l.mu.Unlock()
	sdNotify(l.log, daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
	defer sdNotify(l.log, daemon.SdNotifyReady)
	l.log.Info("reloading configuration and certificates (SIGHUP)")
	if l.files != nil {
		if err := l.files.Reload(); err != nil {
			l.log.Error("reload TLS certificate failed; still serving the previous certificate", "err", err)
		}
	}
	cfg, err := l.resolve()
	if err != nil {
		l.log.Error("reload: the configuration is invalid; keeping the running one", "err", err.Error())
		return
	}
	if err := l.level.UnmarshalText([]byte(strings.ToLower(cfg.Log.Level))); err == nil && cfg.Log.Level != l.cfg.Log.Level {
		l.log.Info("log level changed", "level", cfg.Log.Level)
	}
	if cfg.RateLimit != l.cfg.RateLimit {
		l.scim.SetLimits(scimLimits(cfg.RateLimit))
		l.log.Info("rate limits changed", "failed_auth_per_minute", cfg.RateLimit.FailedAuthPerMinute, "failed_auth_burst", cfg.RateLimit.FailedAuthBurst,
			"requests_per_second", cfg.RateLimit.RequestsPerSecond, "burst", cfg.RateLimit.Burst)
	}
	if changed := restartNeeded(l.cfg, cfg); len(changed) > 0 {
		l.log.Warn("these settings changed but apply only after a restart (systemctl restart roster)", "settings", changed)
	}
	// Keep the settings that need a restart as they run, so that the next
	// reload reports them again until the restart.
	live := l.cfg
	live.Log.Level, live.RateLimit = cfg.Log.Level, cfg.RateLimit
	l.cfg = live
	l.log.Info("configuration reloaded")
}

// restartNeeded lists the settings (file keys) that differ between a and b
// and that a reload cannot apply.
func restartNeeded(a, b config.Config) []string {
	fa, fb := flatten(a), flatten(b)
	var out []string
	for k, v := range fb {
		if fa[k] == v || slices.ContainsFunc(liveSettings, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		out = append(out, k)
	}
	for k := range fa {
		if _, ok := fb[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// flatten maps each setting's dotted key to its JSON value.
func flatten(c config.Config) map[string]string {
	b, _ := c.Marshal()
	var m map[string]any
	json.Unmarshal(b, &m) //nolint:errcheck // our own JSON
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if obj, ok := v.(map[string]any); ok {
			for k, x := range obj {
				walk(prefix+k+".", x)
			}
			return
		}
		j, _ := json.Marshal(v)
		out[strings.TrimSuffix(prefix, ".")] = string(j)
	}
	walk("", m)
	return out
}
