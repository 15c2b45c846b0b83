package config

import (
	"strings"
	"testing"
	"time"
)

func TestChangeRetention(t *testing.T) {
	c := Default()
	if time.Duration(c.ChangeRetention) != 30*24*time.Hour {
		t.Fatalf("default change_retention %s, want 720h", c.ChangeRetention)
	}
	env := map[string]string{"ROSTER_CHANGE_RETENTION": "168h"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.ChangeRetention) != 7*24*time.Hour {
		t.Fatalf("ROSTER_CHANGE_RETENTION=168h gave %s", c.ChangeRetention)
	}
	c.ChangeRetention = Duration(time.Minute)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "change_retention") {
		t.Fatalf("a one-minute retention validated: %v", err)
	}
}
