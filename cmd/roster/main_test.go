package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	_ "net/http/pprof" // ROSTER_BENCH_PPROF: profiles of the benchmarks' agent process
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/tlsserve/pebbletest"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/syncbuf"
	"github.com/rosterhq/roster/store"
)

// TestMain lets the test binary act as the roster binary: with
// ROSTER_TEST_MAIN=1 it runs main() on its arguments. Tests use this to run a
// real agent process (to kill it, or to measure its memory).
func TestMain(m *testing.M) {
	if os.Getenv("ROSTER_TEST_MAIN") == "1" {
		if os.Getenv("ROSTER_BENCH_NO_CHANGE_LOG") == "1" { // BenchmarkChangeFeed's agent without the log
			benchStoreOptions = func(o *store.Options) { o.NoChangeLog = true }
		}
		// ROSTER_BENCH_PPROF=127.0.0.1:6060 serves net/http/pprof from the
		// agent a benchmark starts, for tuning: go tool pprof
		// 'http://127.0.0.1:6060/debug/pprof/profile?seconds=10'.
		if addr := os.Getenv("ROSTER_BENCH_PPROF"); addr != "" {
			go func() { fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, nil)) }()
		}
		main()
		os.Exit(0)
	}
	// Graph sign-ins are remembered in azidentity's token cache under
	// $XDG_CACHE_HOME: keep the tests' away from the user's own.
	cache, err := os.MkdirTemp("", "roster-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", cache) //nolint:errcheck
	// pgtest.Main stops the PostgreSQL cluster a test started (migrate_test.go).
	code := pgtest.Main(m)
	os.RemoveAll(cache) //nolint:errcheck
	os.Exit(code)
}

// runCLI runs a roster command in-process and returns its stdout, stderr and error.
func runCLI(t testing.TB, dataDir string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"--data-dir", dataDir}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// agentProc is a roster agent running as a separate process.
type agentProc struct {
	cmd       *exec.Cmd
	BaseURL   string // http://127.0.0.1:PORT
	TenantURL string // of the default tenant
	Token     string // printed on first start ("" on later starts)
	stderr    *syncbuf.Buffer
	done      chan struct{}
}

var (
	listenRe = regexp.MustCompile(`msg="roster agent started".*listen=(\S+)`)
	tokenRe  = regexp.MustCompile(`Secret Token:\s+(\S+)`)
	urlRe    = regexp.MustCompile(`Tenant URL:\s+(\S+)`)
)

// startAgentProc starts `roster agent --listen 127.0.0.1:0` on dataDir and
// waits until it serves. On a first start (empty data dir) it also waits for
// the banner with the first Secret Token.
func startAgentProc(t testing.TB, dataDir string, firstStart bool, extra ...string) *agentProc {
	t.Helper()
	args := append([]string{"--data-dir", dataDir, "agent", "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1")
	return startProc(t, cmd, firstStart)
}

// startProc starts cmd, a roster agent (the test binary with
// ROSTER_TEST_MAIN=1 in its environment), and waits as startAgentProc does.
func startProc(t testing.TB, cmd *exec.Cmd, firstStart bool) *agentProc {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listen := make(chan string, 1)
	banner := make(chan [2]string, 1)
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n")) //nolint:errcheck
			if m := listenRe.FindStringSubmatch(line); m != nil {
				listen <- m[1]
			}
		}
	}()
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(stdout)
		var url string
		for sc.Scan() {
			if m := urlRe.FindStringSubmatch(sc.Text()); m != nil && url == "" {
				url = m[1]
			}
			if m := tokenRe.FindStringSubmatch(sc.Text()); m != nil {
				banner <- [2]string{url, m[1]}
			}
		}
	}()
	go func() { pipes.Wait(); cmd.Wait(); close(p.done) }() //nolint:errcheck
	t.Cleanup(p.Kill)
	select {
	case addr := <-listen:
		p.BaseURL = "http://" + addr
	case <-p.done:
		t.Fatalf("agent exited before serving:\n%s", p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("agent did not start within 60s:\n%s", p.stderr.String())
	}
	p.TenantURL = p.BaseURL + "/scim/default/v2"
	if firstStart {
		select {
		case b := <-banner:
			p.TenantURL, p.Token = b[0], b[1]
		case <-time.After(10 * time.Second):
			t.Fatalf("no first-start banner with a Secret Token:\n%s", p.stderr.String())
		}
	}
	return p
}

// Kill ends the process with SIGKILL: no chance to flush anything.
func (p *agentProc) Kill() {
	p.cmd.Process.Kill() //nolint:errcheck
	<-p.done
}

// Stop ends the process with SIGTERM and waits for a graceful exit.
func (p *agentProc) Stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt) //nolint:errcheck
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not stop within 30s after SIGINT")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0\n%s", code, p.stderr.String())
	}
}

// rssKB returns the process's resident set size and its anonymous part, in KiB.
func (p *agentProc) rssKB() (rss, anon int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var v int
		if _, e := fmt.Sscanf(line, "VmRSS: %d kB", &v); e == nil {
			rss = v
		}
		if _, e := fmt.Sscanf(line, "RssAnon: %d kB", &v); e == nil {
			anon = v
		}
	}
	return rss, anon, nil
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int { return pebbletest.FreePort(t) }
