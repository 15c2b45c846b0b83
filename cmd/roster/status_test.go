package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runCLIIn is runCLI with stdin, so that no test ever reads the terminal.
func runCLIIn(t testing.TB, dataDir string, stdin io.Reader, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(stdin)
	cmd.SetArgs(append([]string{"--data-dir", dataDir}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

func TestUnknownTenantIsExit1(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCLIIn(t, dir, strings.NewReader(""), "tenant", "add", "acme"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ROSTER_GRAPH_URL", "http://"+closedAddr(t)+"/v1.0") // never leave the machine
	t.Setenv("ROSTER_GRAPH_TOKEN", "test")
	noTenant := `no tenant "nope"`
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"tenant", "set", "nope", "--name", "x"}, noTenant},
		{[]string{"tenant", "remove", "nope", "--yes"}, noTenant},
		{[]string{"token", "issue", "--tenant", "nope"}, noTenant},
		{[]string{"token", "list", "--tenant", "nope"}, noTenant},
		{[]string{"users", "list", "--tenant", "nope"}, noTenant},
		{[]string{"users", "show", "alice", "--tenant", "nope"}, noTenant},
		{[]string{"groups", "list", "--tenant", "nope"}, noTenant},
		{[]string{"groups", "show", "staff", "--tenant", "nope"}, noTenant},
		{[]string{"domain", "add", "contoso.com", "--tenant", "nope"}, noTenant},
		{[]string{"domain", "verify", "contoso.com", "--tenant", "nope"}, noTenant},
		{[]string{"domain", "remove", "contoso.com", "--tenant", "nope"}, noTenant},
		{[]string{"domain", "list", "--tenant", "nope"}, noTenant},
		{[]string{"log", "--tenant", "nope"}, noTenant},
		{[]string{"entra", "connect", "--tenant", "nope", "--tenant-url", "https://roster.example.com/scim/nope/v2"}, noTenant},
		// The Entra commands that read the saved connection say it is missing.
		{[]string{"entra", "status", "--tenant", "nope"}, `"nope"`},
		{[]string{"entra", "logs", "--tenant", "nope"}, `"nope"`},
		{[]string{"entra", "pause", "--tenant", "nope"}, `"nope"`},
		{[]string{"entra", "resume", "--tenant", "nope"}, `"nope"`},
		{[]string{"provision", "alice@contoso.com", "--tenant", "nope"}, `"nope"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := runCLIIn(t, dir, strings.NewReader(""), tt.args...)
			if got := exitCode(err); got != exitError {
				t.Fatalf("exit code %d (err %v), want %d\n%s", got, err, exitError, out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to mention %s", err, tt.want)
			}
		})
	}
}

func TestReadCommandsNeedData(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{
		{"users", "list"}, {"users", "show", "alice"}, {"groups", "list"}, {"groups", "show", "staff"},
		{"token", "list"}, {"tenant", "list"}, {"log"}, {"domain", "list"}, {"status"},
		{"backup", filepath.Join(t.TempDir(), "b.db")}, {"tenant", "remove", "default", "--yes"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, err := runCLIIn(t, typo, strings.NewReader(""), args...)
			if exitCode(err) != exitError || !strings.Contains(err.Error(), "no Roster data in "+typo+"; run `roster agent` or `roster setup` first, or check --data-dir") {
				t.Fatalf("err = %v (exit %d), want exit 1 saying there is no Roster data", err, exitCode(err))
			}
			if _, err := os.Stat(typo); !os.IsNotExist(err) {
				t.Errorf("the mistyped data dir was created: %v", err)
			}
		})
	}
}

func TestTenantRemoveConfirmation(t *testing.T) {
	defer func(f func(io.Reader) bool) { isTerminal = f }(isTerminal)
	tests := []struct {
		name     string
		terminal bool
		stdin    string
		yes      bool
		code     int
		removed  bool
	}{
		{"script without --yes", false, "y\n", false, exitUsage, false},
		{"script with --yes", false, "", true, exitOK, true},
		{"terminal, no", true, "n\n", false, exitError, false},
		{"terminal, just enter", true, "\n", false, exitError, false},
		{"terminal, yes", true, "yes\n", false, exitOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, args := range [][]string{{"tenant", "add", "acme"}, {"token", "issue", "--tenant", "acme"}, {"domain", "add", "acme.example", "--tenant", "acme"}} {
				if _, err := runCLIIn(t, dir, strings.NewReader(""), args...); err != nil {
					t.Fatal(err)
				}
			}
			isTerminal = func(io.Reader) bool { return tt.terminal }
			args := []string{"tenant", "remove", "acme"}
			if tt.yes {
				args = append(args, "--yes")
			}
			out, err := runCLIIn(t, dir, strings.NewReader(tt.stdin), args...)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("exit code %d (%v), want %d\n%s", got, err, tt.code, out)
			}
			if tt.terminal && !strings.Contains(out, `Remove tenant "acme"`) {
				t.Errorf("no question asked:\n%s", out)
			}
			list, err := runCLIIn(t, dir, strings.NewReader(""), "token", "list", "--json")
			if err != nil {
				t.Fatal(err)
			}
			if hasTokens := strings.Contains(list, `"tenant": "acme"`); hasTokens == tt.removed {
				t.Errorf("removed = %v, but the token list is\n%s", tt.removed, list)
			}
			_, err = runCLIIn(t, dir, strings.NewReader(""), "domain", "list", "--tenant", "acme")
			if gone := err != nil; gone != tt.removed {
				t.Errorf("domain list --tenant acme after removal %v: %v", tt.removed, err)
			}
		})
	}
}

func TestStatusCommand(t *testing.T) {
	dir := t.TempDir()
	down := closedAddr(t)
	if _, err := runCLIIn(t, dir, strings.NewReader(""), "tenant", "add", "default"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLIIn(t, dir, strings.NewReader(""), "status", "--listen", down)
	if exitCode(err) != exitAttention || !strings.Contains(out, "Agent: not running here") || !strings.Contains(out, "does not answer") {
		t.Fatalf("status with no agent: exit %d (%v), want 3 and the agent named\n%s", exitCode(err), err, out)
	}

	p := startAgentProc(t, dir, false)
	addr := strings.TrimPrefix(p.BaseURL, "http://")
	if _, err := runCLIIn(t, dir, strings.NewReader(""), "token", "issue", "--name", "soon", "--expires", "10d"); err != nil {
		t.Fatal(err)
	}
	out, err = runCLIIn(t, dir, strings.NewReader(""), "status", "--listen", addr, "--json")
	if exitCode(err) != exitAttention {
		t.Fatalf("status with an expiring token: exit %d (%v), want 3\n%s", exitCode(err), err, out)
	}
	var st struct {
		Agent struct {
			Address          string
			Reachable, Ready bool
		}
		Tenants        []struct{ ID string }
		ExpiringTokens []struct{ Name string } `json:"expiring_tokens"`
		Attention      []string
		Entra          map[string]any
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !st.Agent.Ready || st.Agent.Address != p.BaseURL || len(st.Tenants) != 1 || len(st.ExpiringTokens) != 1 ||
		len(st.Attention) != 1 || !strings.Contains(st.Attention[0], `token "soon"`) {
		t.Errorf("status --json = %+v, want the agent ready at %s, one tenant and the expiring token as the only attention", st, p.BaseURL)
	}
	if _, ok := st.Entra["default"]; !ok {
		t.Errorf("status --json has no entra entry for the tenant: %v", st.Entra)
	}
	// Without --listen the agent is found at the public URL it stored.
	list, _ := runCLIIn(t, dir, strings.NewReader(""), "token", "list", "--json")
	var toks []struct{ ID, Name string }
	json.Unmarshal([]byte(list), &toks) //nolint:errcheck
	for _, k := range toks {
		if k.Name == "soon" {
			if _, err := runCLIIn(t, dir, strings.NewReader(""), "token", "revoke", k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err = runCLIIn(t, dir, strings.NewReader(""), "status")
	if err != nil || !strings.Contains(out, "Agent: serving at "+p.BaseURL) || !strings.Contains(out, "All is well.") {
		t.Errorf("status: exit %d (%v), want 0, the agent found and all well\n%s", exitCode(err), err, out)
	}
	p.Stop(t)
}

// TestBackupWhileServingAndRestore takes a backup from a running agent while
// Entra keeps writing, restores it after the agent stopped, and checks that
// the agent then serves exactly what the backup held.
func TestBackupWhileServingAndRestore(t *testing.T) {
	dir := t.TempDir()
	p := startAgentProc(t, dir, true)
	client := &http.Client{Timeout: 10 * time.Second}
	create := func(name string) int {
		code, err := scimDo(client, "POST", p.TenantURL+"/Users", p.Token, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name}, nil)
		if err != nil {
			t.Errorf("create %s: %v", name, err)
		}
		return code
	}
	for i := range 10 {
		if code := create(fmt.Sprintf("before%d@contoso.com", i)); code != 201 {
			t.Fatalf("create: %d", code)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if code := create(fmt.Sprintf("during%d@contoso.com", i)); code != 201 {
				t.Errorf("create during the backup: %d", code)
				return
			}
		}
	}()
	backup := filepath.Join(t.TempDir(), "roster-backup.db")
	out, err := runCLIIn(t, dir, strings.NewReader(""), "backup", backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if code := create("after@contoso.com"); code != 201 {
		t.Fatalf("create after the backup: %d", code)
	}

	// The agent runs: restore refuses, finding it at the public URL it stored.
	out, err = runCLIIn(t, dir, strings.NewReader(""), "restore", backup)
	if exitCode(err) != exitError || !strings.Contains(err.Error(), "the agent is running at "+p.BaseURL) {
		t.Fatalf("restore while the agent runs: %v (exit %d), want a refusal naming it\n%s", err, exitCode(err), out)
	}
	p.Stop(t)
	out, err = runCLIIn(t, dir, strings.NewReader(""), "restore", backup, "--listen", strings.TrimPrefix(p.BaseURL, "http://"))
	if err != nil || !strings.Contains(out, "The previous database is kept as "+filepath.Join(dir, "roster.db.before-restore-")) {
		t.Fatalf("restore: %v\n%s", err, out)
	}

	p2 := startAgentProc(t, dir, false)
	defer p2.Stop(t)
	count := func(filter string) int {
		var lr struct{ TotalResults int }
		code, err := scimDo(client, "GET", p2.TenantURL+"/Users?count=0&filter="+filter, p.Token, nil, &lr)
		if err != nil || code != 200 {
			t.Fatalf("list: %d %v", code, err)
		}
		return lr.TotalResults
	}
	if n := count(`userName+sw+%22before%22`); n != 10 {
		t.Errorf("restored agent serves %d of the 10 users written before the backup", n)
	}
	if n := count(`userName+eq+%22after@contoso.com%22`); n != 0 {
		t.Errorf("restored agent serves the user created after the backup")
	}
}

// TestExitCodes runs the binary as a process: what a script sees.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCLIIn(t, dir, strings.NewReader(""), "tenant", "add", "default"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"tenant", "list"}, exitOK, ""},
		{[]string{"users", "list", "--tenant", "nope"}, exitError, `roster: no tenant "nope"`},
		{[]string{"--data-dir", filepath.Join(dir, "typo"), "users", "list"}, exitError, "roster: no Roster data in"},
		{[]string{"log", "--since", "yesterday"}, exitUsage, "not a duration"},
		{[]string{"bogus"}, exitUsage, "unknown command"},
		{[]string{"tenant", "remove", "default"}, exitUsage, "add --yes"},
		{[]string{"status", "--listen", closedAddr(t)}, exitAttention, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append([]string{"--data-dir", dir}, tt.args...)...)
			cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Stdin = strings.NewReader("")
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", code, tt.code, stderr.String())
			}
			if tt.stderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.stderr)
			}
		})
	}
}

func TestRestoreOverBrokenStore(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCLIIn(t, dir, strings.NewReader(""), "tenant", "add", "acme"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if _, err := runCLIIn(t, dir, strings.NewReader(""), "backup", backup); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "roster.db"), bytes.Repeat([]byte("broken "), 2000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLIIn(t, dir, strings.NewReader(""), "tenant", "list"); err == nil {
		t.Fatal("tenant list on a broken store: no error")
	}
	out, err := runCLIIn(t, dir, strings.NewReader(""), "restore", backup, "--listen", closedAddr(t))
	if err != nil {
		t.Fatalf("restore over a broken store: %v\n%s", err, out)
	}
	if out, err := runCLIIn(t, dir, strings.NewReader(""), "tenant", "list"); err != nil || !strings.Contains(out, "acme") {
		t.Errorf("after restore, tenant list = %v\n%s", err, out)
	}
	// A backup that is not there is an error, not an empty restore.
	if _, err := runCLIIn(t, dir, strings.NewReader(""), "restore", filepath.Join(dir, "roster.db.before-restore-x"), "--listen", closedAddr(t)); exitCode(err) != exitError {
		t.Errorf("restore of a missing file: %v, want exit 1", err)
	}
}
