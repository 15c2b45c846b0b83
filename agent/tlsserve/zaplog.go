package tlsserve

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog returns a zap logger (what certmagic logs to) that writes to
// log, so that certificate events appear in the agent's own log stream.
func zapToSlog(log *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{log: log})
}

// slogCore is a zapcore.Core over a *slog.Logger.
type slogCore struct {
	log   *slog.Logger
	attrs []any
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.log.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, attrs: append(slices.Clip(c.attrs), fieldAttrs(fs)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	args := append(slices.Clip(c.attrs), fieldAttrs(fs)...)
	if name := strings.TrimLeft(e.LoggerName, "."); name != "" {
		args = append(args, "component", "certmagic."+strings.ReplaceAll(name, "..", "."))
	} else {
		args = append(args, "component", "certmagic")
	}
	c.log.Log(context.Background(), slogLevel(e.Level), e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// fieldAttrs turns zap fields into slog key/value pairs, sorted by key.
func fieldAttrs(fs []zapcore.Field) []any {
	if len(fs) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, k, enc.Fields[k])
	}
	return out
}
