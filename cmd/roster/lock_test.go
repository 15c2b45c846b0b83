package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestOneAgentPerDataDir: a second agent on the same data directory refuses
// to start and names the PID of the first; CLI commands, reading and
// writing, work while the agent runs; a killed agent does not block the
// next one.
func TestOneAgentPerDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := startAgentProc(t, dir, true)

	_, _, err := runCLI(t, dir, "agent", "--listen", "127.0.0.1:0", "--metrics-listen", "")
	if err == nil {
		t.Fatal("a second agent on the same data directory started")
	}
	if want := "PID " + strconv.Itoa(first.cmd.Process.Pid); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second agent: got %q, want it to say another agent (%s) is already running", err, want)
	}

	if _, stderr, err := runCLI(t, dir, "users", "list"); err != nil {
		t.Errorf("users list while the agent runs: %v\n%s", err, stderr)
	}
	out, stderr, err := runCLI(t, dir, "token", "issue", "--name", "from-cli")
	if err != nil {
		t.Fatalf("token issue while the agent runs: %v\n%s", err, stderr)
	}
	tok := regexp.MustCompile(`roster_\S+`).FindString(out)
	req, _ := http.NewRequest(http.MethodGet, first.TenantURL+"/Users", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the running agent with the token the CLI issued: got %d, want 200 (output %q)", resp.StatusCode, out)
	}

	first.Kill()
	startAgentProc(t, dir, false).Stop(t)
}
