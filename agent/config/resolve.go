package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// InvalidError is a configuration from Source that has Problems.
type InvalidError struct {
	Source   string // a file name, "the environment" or "configuration"
	Problems Problems
}

// Error lists the problems, one per line.
func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: %d invalid setting(s):\n  %s", e.Source, len(e.Problems), strings.ReplaceAll(e.Problems.Error(), "\n", "\n  "))
}

// Unwrap returns the problems.
func (e *InvalidError) Unwrap() error { return e.Problems }

// Invalid names source in err when err holds Problems that no source names
// yet (an *InvalidError); other errors are returned as they are.
func Invalid(source string, err error) error {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return err
	}
	var ps Problems
	if errors.As(err, &ps) {
		return &InvalidError{Source: source, Problems: ps}
	}
	return err
}

// LoadEnv returns the defaults overlaid with the file at path (if not "")
// and then the ROSTER_* environment (lookupEnv is os.LookupEnv). It does
// not validate; an invalid environment is an *InvalidError.
func LoadEnv(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if path != "" {
		var err error
		if cfg, err = Load(path); err != nil {
			return cfg, err
		}
	}
	if err := cfg.ApplyEnv(lookupEnv); err != nil {
		return cfg, Invalid("the environment", err)
	}
	return cfg, nil
}

// overrides maps the names Resolve accepts (those of `roster agent`'s
// flags) to the settings they set.
var overrides = map[string]func(*Config) *string{
	"listen":             func(c *Config) *string { return &c.Listen },
	"public-url":         func(c *Config) *string { return &c.PublicURL },
	"log-level":          func(c *Config) *string { return &c.Log.Level },
	"log-format":         func(c *Config) *string { return &c.Log.Format },
	"tls-mode":           func(c *Config) *string { return &c.TLS.Mode },
	"tls-cert-file":      func(c *Config) *string { return &c.TLS.CertFile },
	"tls-key-file":       func(c *Config) *string { return &c.TLS.KeyFile },
	"acme-email":         func(c *Config) *string { return &c.TLS.ACME.Email },
	"acme-directory-url": func(c *Config) *string { return &c.TLS.ACME.DirectoryURL },
	"acme-ca-root":       func(c *Config) *string { return &c.TLS.ACME.CARoot },
	"metrics-listen":     func(c *Config) *string { return &c.MetricsListen },
	"dns-resolver":       func(c *Config) *string { return &c.DNS.Resolver },
	"dns-nameserver":     func(c *Config) *string { return &c.DNS.Nameserver },
	"data-dir":           func(c *Config) *string { return &c.DataDir },
	"database":           func(c *Config) *string { return &c.Database.URL },
}

// RetentionOverride is the override name of EventRetentionDays, a number.
const RetentionOverride = "event-retention-days"

// OverrideNames returns the names Resolve accepts besides
// RetentionOverride: those of `roster agent`'s string flags.
func OverrideNames() []string {
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	return names
}

// Resolve returns the defaults overlaid with the file at path (if not ""),
// the ROSTER_* environment and then the overrides (by the names of
// OverrideNames and RetentionOverride), with dataDir when none of them
// names a data directory, and validates it. Problems are an *InvalidError
// naming path (or "configuration").
func Resolve(path string, given map[string]string, dataDir string, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg, err := LoadEnv(path, lookupEnv)
	if err != nil {
		return cfg, err
	}
	for name, v := range given {
		if name == RetentionOverride {
			n, err := strconv.Atoi(v)
			if err != nil {
				return cfg, fmt.Errorf("%s %q: want a number of days", name, v)
			}
			cfg.EventRetentionDays = n
			continue
		}
		set, ok := overrides[name]
		if !ok {
			return cfg, fmt.Errorf("unknown setting %q", name)
		}
		*set(&cfg) = v
	}
	if cfg.DataDir == "" {
		cfg.DataDir = dataDir
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	source := "configuration"
	if path != "" {
		source = path
	}
	if err := cfg.Validate(); err != nil {
		return cfg, Invalid(source, err)
	}
	return cfg, nil
}
