package config

import (
	"strings"
	"testing"
	"time"
)

func TestAccessTokenLifetime(t *testing.T) {
	c := Default()
	if time.Duration(c.OAuth.AccessTokenLifetime) != time.Hour {
		t.Fatalf("default oauth.access_token_lifetime %s, want 1h", c.OAuth.AccessTokenLifetime)
	}
	env := map[string]string{"ROSTER_OAUTH_ACCESS_TOKEN_LIFETIME": "6h"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.OAuth.AccessTokenLifetime) != 6*time.Hour {
		t.Fatalf("ROSTER_OAUTH_ACCESS_TOKEN_LIFETIME=6h gave %s", c.OAuth.AccessTokenLifetime)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("6h refused: %v", err)
	}
	for _, d := range []time.Duration{0, 4 * time.Minute, 6*time.Hour + time.Second} {
		c.OAuth.AccessTokenLifetime = Duration(d)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "oauth.access_token_lifetime") || !strings.Contains(err.Error(), "5m to 6h") {
			t.Errorf("%s: %v", d, err)
		}
	}
}
