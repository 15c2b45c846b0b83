package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/assets"
)

func TestConfigExampleAndCheck(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCLI(t, dir, "config", "example")
	if err != nil {
		t.Fatal(err)
	}
	if out != assets.ExampleConfig {
		t.Errorf("config example printed something else than the embedded example")
	}
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(out), 0o600) //nolint:errcheck
	out, _, err = runCLI(t, dir, "config", "check", good)
	if err != nil || !strings.Contains(out, "OK (tls mode acme") {
		t.Errorf("config check of the example = %q, %v; want OK", out, err)
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{
  // three mistakes
  "listen": "8080",
  "tls": {"mode": "acme", "acme": {"challenges": ["dns-01"]}},
  "rate_limit": {"requests_per_second": 10}
}`), 0o600) //nolint:errcheck
	_, _, err = runCLI(t, dir, "config", "check", bad)
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("config check of a bad file = %v, want a usage error (exit 2)", err)
	}
	for _, want := range []string{"4 invalid setting(s)", "listen: \"8080\": want host:port",
		"public_url: required when tls.mode is acme", `tls.acme.challenges: "dns-01" is not supported`,
		"rate_limit.requests_per_second: 10 is below Entra's 25"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("config check output lacks %q:\n%v", want, err)
		}
	}

	// A typo in a key is a problem too, with its line.
	typo := filepath.Join(dir, "typo.json")
	os.WriteFile(typo, []byte("{\n  \"listen\": \"127.0.0.1:1\",\n  \"metric_listen\": \"\"\n}"), 0o600) //nolint:errcheck
	if _, _, err := runCLI(t, dir, "config", "check", typo); err == nil || !strings.Contains(err.Error(), `line 3: unknown field "metric_listen"`) {
		t.Errorf("config check of a typo = %v", err)
	}

	// No file: an explanation, exit 2.
	t.Setenv("ROSTER_CONFIG", "")
	if _, _, err := runCLI(t, dir, "config", "check"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "ROSTER_CONFIG") {
		t.Errorf("config check without a file = %v", err)
	}
	// The environment applies, and ROSTER_CONFIG names the file.
	t.Setenv("ROSTER_CONFIG", good)
	t.Setenv("ROSTER_LISTEN", "nonsense")
	if _, _, err := runCLI(t, dir, "config", "check"); err == nil || !strings.Contains(err.Error(), `listen: "nonsense"`) {
		t.Errorf("config check with a bad ROSTER_LISTEN = %v", err)
	}
}

// TestConfigCheckExitCode runs the real binary: exit status 2 and every
// problem on stderr for an invalid file, 0 for a valid one.
func TestConfigCheckExitCode(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"log": {"level": "loud", "format": "xml"}}`), 0o600) //nolint:errcheck
	cmd := exec.Command(os.Args[0], "config", "check", bad)
	cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit = %v, want status 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "log.level: \"loud\"") || !strings.Contains(string(out), "log.format: \"xml\"") {
		t.Errorf("output does not list both problems:\n%s", out)
	}
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"listen": "127.0.0.1:9999"}`), 0o600) //nolint:errcheck
	cmd = exec.Command(os.Args[0], "config", "check", good)
	cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("check of a valid file: %v\n%s", err, out)
	}
}

// TestConfigPrecedence: flags override the environment, which overrides
// the file, which overrides the defaults.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "roster.json")
	os.WriteFile(file, []byte(`{
  "listen": "127.0.0.1:1001",
  "public_url": "https://file.example.com",
  "log": {"level": "warn"},
  "metrics_listen": "127.0.0.1:1002",
  "rate_limit": {"burst": 300},
  "event_retention_days": 30
}`), 0o600) //nolint:errcheck
	t.Setenv("ROSTER_CONFIG", file)
	t.Setenv("ROSTER_EVENT_RETENTION_DAYS", "60")
	t.Setenv("ROSTER_PUBLIC_URL", "https://env.example.com")
	t.Setenv("ROSTER_LOG_LEVEL", "error")
	rf := &rootFlags{dataDir: filepath.Join(dir, "data")}
	cmd := newAgentCmd(rf)
	if err := cmd.ParseFlags([]string{"--log-level", "debug", "--event-retention-days", "7"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := agentConfig(cmd.Flags(), rf)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EventRetentionDays != 7 {
		t.Errorf("event_retention_days (flag over env over file) = %d, want 7", cfg.EventRetentionDays)
	}
	for _, c := range []struct{ name, got, want string }{
		{"listen (file)", cfg.Listen, "127.0.0.1:1001"},
		{"public_url (env over file)", cfg.PublicURL, "https://env.example.com"},
		{"log.level (flag over env over file)", cfg.Log.Level, "debug"},
		{"log.format (default)", cfg.Log.Format, "text"},
		{"metrics_listen (file)", cfg.MetricsListen, "127.0.0.1:1002"},
		{"data_dir (--data-dir)", cfg.DataDir, rf.dataDir},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.RateLimit.Burst != 300 || cfg.RateLimit.RequestsPerSecond != 100 {
		t.Errorf("rate_limit = %+v, want burst 300 from the file and the default rate", cfg.RateLimit)
	}
	// An invalid flag value is reported like a file problem.
	cmd = newAgentCmd(rf)
	cmd.ParseFlags([]string{"--tls-mode", "sometimes"}) //nolint:errcheck
	if _, err := agentConfig(cmd.Flags(), rf); err == nil || !strings.Contains(err.Error(), `tls.mode: "sometimes"`) {
		t.Errorf("agentConfig with a bad --tls-mode = %v", err)
	}
}
