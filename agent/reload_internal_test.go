package agent

import (
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/config"
)

func TestRestartNeeded(t *testing.T) {
	a := config.Default()
	a.DataDir = t.TempDir()
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Log.Level = "debug"
	b.RateLimit.Burst = 999
	if got := restartNeeded(a, b); len(got) != 0 {
		t.Errorf("live settings reported as needing a restart: %v", got)
	}
	b.Listen = "127.0.0.1:1"
	b.TrustedProxies = []string{"10.0.0.0/8"}
	b.TLS.ACME.Challenges = []string{"http-01"}
	got := strings.Join(restartNeeded(a, b), ",")
	if got != "listen,tls.acme.challenges,trusted_proxies" {
		t.Errorf("restartNeeded = %s", got)
	}
}
