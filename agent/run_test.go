package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/domainproof/dnstest"
	"github.com/rosterhq/roster/store"
)

// logLines is a log writer whose lines arrive on a channel, so that a test
// can wait for a line while the agent runs.
type logLines struct {
	w     *io.PipeWriter
	lines chan string
	all   []string // lines seen by next or wait, in order
}

func newLogLines(t *testing.T) *logLines {
	r, w := io.Pipe()
	l := &logLines{w: w, lines: make(chan string, 1000)}
	go func() {
		defer close(l.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { w.Close() })
	return l
}

// wait returns the first line (from now on) containing what.
func (l *logLines) wait(t *testing.T, what string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				t.Fatalf("log ended without %q:\n%s", what, strings.Join(l.all, "\n"))
			}
			l.all = append(l.all, line)
			if strings.Contains(line, what) {
				return line
			}
		case <-timeout:
			t.Fatalf("no %q in the log within 15 s:\n%s", what, strings.Join(l.all, "\n"))
		}
	}
}

// running is an agent started by agent.Start.
type running struct {
	r         *agent.Running
	addr      net.Addr
	publicURL string
}

// startRun starts the agent and waits until it serves.
func startRun(t *testing.T, cfg config.Config, opts agent.RunOptions) *running {
	t.Helper()
	r, err := agent.Start(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	rr := &running{r: r, addr: r.Addr, publicURL: r.PublicURL}
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

// stop stops the agent and checks that Run returned nil.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.r == nil {
		return
	}
	if err := r.r.Stop(); err != nil {
		t.Errorf("Run after Stop = %v, want nil", err)
	}
	r.r = nil
}

func testConfig(t *testing.T, dataDir string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen, cfg.MetricsListen, cfg.DataDir = "127.0.0.1:0", "", dataDir
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openDir(t *testing.T, dataDir string) *directory.Service {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dataDir, agent.DatabaseFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return directory.New(db, nil, nil)
}

func getWithToken(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return do(t, &http.Client{Timeout: 10 * time.Second}, req)
}

// TestRunFirstStartAndRestart: on an empty data dir Run creates the tenant
// "default" and a first Secret Token, prints both once, reports where it
// serves and records its public URL; the token works; a second Run on the
// same data dir prints nothing and serves the same tenant.
func TestRunFirstStartAndRestart(t *testing.T) {
	dataDir := t.TempDir()
	cfg := testConfig(t, dataDir)
	var stdout bytes.Buffer // written before Listening is called
	logs := newLogLines(t)
	r := startRun(t, cfg, agent.RunOptions{LogOutput: logs.w, Stdout: &stdout, Version: "v-test"})

	if want := "http://" + r.addr.String(); r.publicURL != want {
		t.Errorf("public URL = %q, want %q (from the bound address)", r.publicURL, want)
	}
	tenantURL := regexp.MustCompile(`Tenant URL:\s+(\S+)`).FindStringSubmatch(stdout.String())
	token := regexp.MustCompile(`Secret Token:\s+(\S+)`).FindStringSubmatch(stdout.String())
	if tenantURL == nil || token == nil || !strings.Contains(stdout.String(), `First start: created tenant "default"`) {
		t.Fatalf("first-start banner:\n%s", stdout.String())
	}
	if want := r.publicURL + "/scim/default/v2"; tenantURL[1] != want {
		t.Errorf("Tenant URL = %q, want %q", tenantURL[1], want)
	}
	if line := logs.wait(t, `msg="roster agent started"`); !strings.Contains(line, "version=v-test") || !strings.Contains(line, "listen="+r.addr.String()) {
		t.Errorf("start-up line = %s", line)
	}
	logs.wait(t, "no configuration file given")
	if code, body := getWithToken(t, tenantURL[1]+"/Users?count=1", token[1]); code != 200 || !strings.Contains(body, `"totalResults":0`) {
		t.Errorf("GET Users with the first token = %d %s", code, body)
	}
	if code, body := getWithToken(t, r.publicURL+"/readyz", ""); code != 200 {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if code, _ := getWithToken(t, tenantURL[1]+"/Users", "wrong"); code != 401 {
		t.Errorf("GET Users with a wrong token = %d, want 401", code)
	}
	r.stop(t)
	logs.wait(t, `msg="roster agent stopped"`)

	dir := openDir(t, dataDir)
	if got, err := dir.PublicURL(context.Background()); err != nil || got != r.publicURL {
		t.Errorf("stored public URL = %q, %v; want %q", got, err, r.publicURL)
	}

	stdout.Reset()
	logs = newLogLines(t)
	r2 := startRun(t, cfg, agent.RunOptions{LogOutput: logs.w, Stdout: &stdout})
	if stdout.Len() != 0 {
		t.Errorf("second start printed:\n%s", stdout.String())
	}
	if line := logs.wait(t, `msg="serving tenant"`); !strings.Contains(line, "tenant=default") || !strings.Contains(line, "active_tokens=1") {
		t.Errorf("serving line = %s", line)
	}
	if code, _ := getWithToken(t, r2.publicURL+"/scim/default/v2/Users", token[1]); code != 200 {
		t.Errorf("GET Users after restart = %d", code)
	}
}

// TestRunVerifiesDomainsThroughConfiguredDNS: without RunOptions.DomainChecker
// the agent checks pending domains through cfg.DNS, here a DNS server on
// 127.0.0.1 that has the TXT record.
func TestRunVerifiesDomainsThroughConfiguredDNS(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	dns := dnstest.Start(t)
	dns.AddZone(t, "contoso.test.", "127.0.0.1")
	dir := openDir(t, dataDir)
	if _, err := dir.AddTenant(ctx, "acme", "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	d, err := dir.AddDomain(ctx, "acme", "contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	dns.Add(t, d.RecordName+` 300 IN TXT "`+d.Value+`"`)
	cfg := testConfig(t, dataDir)
	cfg.DNS.Nameserver = dns.Addr
	startRun(t, cfg, agent.RunOptions{})
	deadline := time.Now().Add(15 * time.Second)
	for {
		doms, err := dir.Domains(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if len(doms) == 1 && doms[0].Status == store.DomainVerified {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not verify the domain within 15 s: %+v", doms[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunReload: SIGHUP calls RunOptions.Reload and applies the new rate
// limits and log level; an invalid configuration keeps the running one.
func TestRunReload(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGHUP on Windows")
	}
	cfg := testConfig(t, t.TempDir())
	next := make(chan error, 1)
	reloaded := cfg
	reloaded.RateLimit.Burst++
	reloaded.Log.Level = "debug"
	reloaded.TrustedProxies = []string{"10.0.0.0/8"}
	logs := newLogLines(t)
	startRun(t, cfg, agent.RunOptions{LogOutput: logs.w, Reload: func() (config.Config, error) {
		if err := <-next; err != nil {
			return config.Config{}, err
		}
		return reloaded, nil
	}})
	hup := func() {
		t.Helper()
		self, err := os.FindProcess(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if err := self.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	next <- nil
	hup()
	logs.wait(t, `msg="rate limits changed"`)
	if line := logs.wait(t, "apply only after a restart"); !strings.Contains(line, "settings=[trusted_proxies]") {
		t.Errorf("restart line = %s", line)
	}
	logs.wait(t, `msg="configuration reloaded"`)
	next <- errors.New("log.level: \"loud\"")
	hup()
	logs.wait(t, "the configuration is invalid; keeping the running one")
}

// TestRunErrors: an invalid configuration and a certificate that cannot be
// loaded are ConfigErrors; a
// taken port is not; a taken metrics port only disables metrics.
func TestRunErrors(t *testing.T) {
	dataDir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	cfg := testConfig(t, dataDir)
	cfg.Log.Level = "loud"
	err = agent.Run(context.Background(), cfg, agent.RunOptions{})
	var ps config.Problems
	if ce := (*agent.ConfigError)(nil); !errors.As(err, &ce) || !errors.As(err, &ps) || ps[0].Field != "log.level" {
		t.Errorf("Run with an invalid configuration = %v, want a ConfigError with the problems", err)
	}

	cfg = testConfig(t, dataDir)
	cfg.TLS.Mode = config.TLSModeFiles
	cfg.TLS.CertFile, cfg.TLS.KeyFile = filepath.Join(dataDir, "cert.pem"), filepath.Join(dataDir, "key.pem")
	for _, f := range []string{cfg.TLS.CertFile, cfg.TLS.KeyFile} {
		if err := os.WriteFile(f, []byte("not PEM\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	err = agent.Run(context.Background(), cfg, agent.RunOptions{})
	if ce := (*agent.ConfigError)(nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), "fix tls.cert_file and tls.key_file") {
		t.Errorf("Run with files that hold no certificate = %v, want a ConfigError naming the settings", err)
	}

	cfg = testConfig(t, dataDir)
	cfg.Listen = taken.Addr().String()
	err = agent.Run(context.Background(), cfg, agent.RunOptions{})
	if ce := (*agent.ConfigError)(nil); err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "listen on "+cfg.Listen) {
		t.Errorf("Run on a taken port = %v, want a listen error", err)
	}

	cfg = testConfig(t, dataDir)
	cfg.MetricsListen = taken.Addr().String()
	logs := newLogLines(t)
	r := startRun(t, cfg, agent.RunOptions{LogOutput: logs.w})
	logs.wait(t, "metrics disabled: cannot listen on metrics_listen")
	if code, _ := getWithToken(t, r.publicURL+"/healthz", ""); code != 200 {
		t.Errorf("/healthz with metrics disabled = %d", code)
	}
}
