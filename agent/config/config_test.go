package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/assets"
)

func fields(err error) []string {
	var ps config.Problems
	if !errors.As(err, &ps) {
		return nil
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	os.WriteFile(certFile, []byte("x"), 0o600) //nolint:errcheck
	tests := []struct {
		name   string
		mod    func(c *config.Config)
		fields []string // every problem, in order
		msg    string   // a substring of the error
	}{
		{"default is valid", func(*config.Config) {}, nil, ""},
		{"acme with its defaults", func(c *config.Config) {
			c.TLS.Mode, c.PublicURL = "acme", "https://roster.example.com"
		}, nil, ""},
		{"files", func(c *config.Config) {
			c.TLS.Mode, c.TLS.CertFile, c.TLS.KeyFile = "files", certFile, certFile
		}, nil, ""},
		{"everything wrong at once", func(c *config.Config) {
			c.Listen = "8080"
			c.PublicURL = "roster.example.com"
			c.Log.Level = "loud"
			c.Log.Format = "xml"
			c.TLS.Mode = "on"
			c.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"}
			c.MetricsListen = "localhost"
			c.RateLimit = config.RateLimit{FailedAuthPerMinute: -1, FailedAuthBurst: 0, RequestsPerSecond: 10, Burst: 5}
			c.ShutdownTimeout = 0
			c.DNS = config.DNS{Resolver: "1.1.1.1", Nameserver: "ns:x"}
		}, []string{"listen", "public_url", "log.level", "log.format", "tls.mode", "trusted_proxies",
			"metrics_listen", "rate_limit.failed_auth_per_minute", "rate_limit.requests_per_second",
			"rate_limit.burst", "shutdown_timeout", "dns.resolver", "dns.nameserver"},
			`tls.mode: "on": use acme (automatic certificates), files`},
		{"global failed-auth budget and event retention", func(c *config.Config) {
			c.RateLimit.FailedAuthGlobalPerMinute = -5
			c.EventRetentionDays = 0
		}, []string{"rate_limit.failed_auth_global_per_minute", "event_retention_days"}, `event_retention_days: 0: use 1 or more`},
		{"global failed-auth burst", func(c *config.Config) {
			c.RateLimit.FailedAuthGlobalBurst = 0
		}, []string{"rate_limit.failed_auth_global_burst"}, `use 1 or more (default 200)`},
		{"acme needs a public DNS name and valid challenges", func(c *config.Config) {
			c.TLS.Mode = "acme"
			c.PublicURL = "http://192.0.2.1"
			c.TLS.ACME = config.ACME{Email: "nobody", DirectoryURL: "http://ca.local/dir",
				Challenges: []string{"dns-01", "http-01", "http-01"}, HTTPListen: "127.0.0.1:8080",
				CARoot: filepath.Join(dir, "missing.pem")}
		}, []string{"public_url", "public_url", "tls.acme.email", "tls.acme.directory_url",
			"tls.acme.challenges", "tls.acme.challenges", "tls.acme.http_listen", "tls.acme.ca_root"},
			`"dns-01" is not supported`},
		{"acme without public URL or challenges", func(c *config.Config) {
			c.TLS.Mode = "acme"
			c.TLS.ACME.Challenges = nil
		}, []string{"public_url", "tls.acme.challenges"}, "required when tls.mode is acme"},
		{"acme host must be qualified", func(c *config.Config) {
			c.TLS.Mode, c.PublicURL = "acme", "https://roster"
		}, []string{"public_url"}, "not a fully qualified DNS name"},
		{"files need both readable files", func(c *config.Config) {
			c.TLS.Mode, c.TLS.CertFile = "files", filepath.Join(dir, "nope.pem")
			c.TLS.ReloadInterval = config.Duration(time.Millisecond)
		}, []string{"tls.cert_file", "tls.key_file", "tls.reload_interval"}, "no such file"},
		{"failed-auth limit without a burst", func(c *config.Config) {
			c.RateLimit.FailedAuthBurst = 0
		}, []string{"rate_limit.failed_auth_burst"}, "use 1 or more"},
		{"metrics on the SCIM port", func(c *config.Config) {
			c.MetricsListen = c.Listen
		}, []string{"metrics_listen"}, "also the SCIM listen address"},
		{"metrics and SCIM both on any free port", func(c *config.Config) {
			c.Listen, c.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
		}, nil, ""},
		{"metrics disabled and limits off", func(c *config.Config) {
			c.MetricsListen = ""
			c.RateLimit = config.RateLimit{}
		}, nil, ""},
		{"plain HTTP on the network must be chosen", func(c *config.Config) {
			c.Listen = "0.0.0.0:8080"
		}, []string{"tls.mode"}, "or off explicitly"},
		{"plain HTTP on the network, chosen", func(c *config.Config) {
			c.Listen, c.TLS.Mode = "0.0.0.0:8080", "off"
		}, nil, ""},
		{"plain HTTP on localhost by default", func(c *config.Config) {
			c.Listen = "localhost:8080"
		}, nil, ""},
		{"public URL with a query", func(c *config.Config) {
			c.PublicURL = "https://roster.example.com/?x=1"
		}, []string{"public_url"}, "must not have a query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.mod(&c)
			err := c.Validate()
			if got := fields(err); !slices.Equal(got, tt.fields) {
				t.Fatalf("problems in %v, want %v\n%v", got, tt.fields, err)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error does not say %q:\n%v", tt.msg, err)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.fields) {
				t.Errorf("error has %d lines, want one per problem (%d):\n%v", n, len(tt.fields), err)
			}
		})
	}
}

func TestExampleIsValidAndComplete(t *testing.T) {
	c := config.Default()
	if err := config.Parse([]byte(assets.ExampleConfig), &c); err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("example is invalid:\n%v", err)
	}
	// Every environment variable (hence every setting) is documented.
	for _, e := range config.EnvVars() {
		if !strings.Contains(assets.ExampleConfig, e[0]) {
			t.Errorf("example does not mention %s (%s)", e[0], e[1])
		}
	}
	// The example's values that differ from the defaults are the ones meant to.
	want := config.Default()
	want.Listen = "0.0.0.0:443"
	want.PublicURL = "https://roster.example.com"
	want.Log.Format = "json"
	want.TLS.Mode = "acme"
	want.TLS.ACME.Email = "admin@example.com"
	want.TrustedProxies = []string{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("example = %+v\nwant      %+v", c, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"unknown key", "{\n  \"listen\": \"127.0.0.1:1\",\n  \"lisen\": \"x\"\n}", `line 3: unknown field "lisen" is not a setting`},
		{"wrong type", "{\n\"rate_limit\": {\"burst\": \"many\"}}", "line 2: rate_limit.burst: want a number, got a JSON string"},
		{"bad duration", `{"shutdown_timeout": "soon"}`, `want a duration such as "30s" or "2m", got "soon"`},
		{"trailing comment", "{\"listen\": \"x:1\" // here\n}", "line 1: invalid JSON"},
		{"empty", "// nothing\n", "the file is empty"},
		{"two objects", "{}\n{}", "unexpected text after the closing }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			err := config.Parse([]byte(tt.file), &c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "roster.json"))
	if err == nil || !strings.Contains(err.Error(), "roster config example") {
		t.Errorf("Load of a missing file = %v, want a hint at `roster config example`", err)
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		"ROSTER_LISTEN":                             "0.0.0.0:8443",
		"ROSTER_TLS_MODE":                           "files",
		"ROSTER_ACME_CHALLENGES":                    "http-01, tls-alpn-01",
		"ROSTER_TRUSTED_PROXIES":                    "10.0.0.0/8,192.0.2.7",
		"ROSTER_METRICS_LISTEN":                     "", // set but empty: disables
		"ROSTER_RATE_REQUESTS_PER_SECOND":           "250.5",
		"ROSTER_RATE_BURST":                         "500",
		"ROSTER_SHUTDOWN_TIMEOUT":                   "45s",
		"ROSTER_DNS_NAMESERVER":                     "10.0.0.53:53",
		"ROSTER_RATE_FAILED_AUTH_PER_MINUTE":        "3",
		"ROSTER_RATE_FAILED_AUTH_GLOBAL_PER_MINUTE": "600",
		"ROSTER_EVENT_RETENTION_DAYS":               "30",
	}
	c := config.Default()
	c.PublicURL = "https://from.file.example" // not in env: kept
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.PublicURL = "https://from.file.example"
	want.Listen = "0.0.0.0:8443"
	want.TLS.Mode = "files"
	want.TLS.ACME.Challenges = []string{"http-01", "tls-alpn-01"}
	want.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7"}
	want.MetricsListen = ""
	want.RateLimit = config.RateLimit{FailedAuthPerMinute: 3, FailedAuthBurst: 20, FailedAuthGlobalPerMinute: 600, FailedAuthGlobalBurst: 200,
		RequestsPerSecond: 250.5, Burst: 500}
	want.EventRetentionDays = 30
	want.ShutdownTimeout = config.Duration(45 * time.Second)
	want.DNS.Nameserver = "10.0.0.53:53"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("after ApplyEnv\n got %+v\nwant %+v", c, want)
	}

	bad := map[string]string{"ROSTER_RATE_BURST": "lots", "ROSTER_SHUTDOWN_TIMEOUT": "30", "ROSTER_LOG_LEVEL": "debug"}
	c = config.Default()
	err := c.ApplyEnv(func(k string) (string, bool) { v, ok := bad[k]; return v, ok })
	if got, want := fields(err), []string{"rate_limit.burst", "shutdown_timeout"}; !slices.Equal(got, want) {
		t.Errorf("problems in %v, want %v (%v)", got, want, err)
	}
	if !strings.Contains(err.Error(), `ROSTER_RATE_BURST="lots": want a whole number`) {
		t.Errorf("error does not name the variable: %v", err)
	}
	if c.Log.Level != "debug" {
		t.Errorf("valid variables are applied even when others fail: log.level = %q", c.Log.Level)
	}
}

func TestWriteRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	path := filepath.Join(dir, "roster.json")
	c := config.Default()
	c.PublicURL = "https://roster.example.com"
	c.TLS.Mode = "acme"
	c.TLS.ACME.Challenges = []string{"tls-alpn-01", "http-01"}
	c.TrustedProxies = []string{"10.1.0.0/16"}
	c.ShutdownTimeout = config.Duration(90 * time.Second)
	c.RateLimit.RequestsPerSecond = 150.5
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, c)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"shutdown_timeout": "1m30s"`) {
		t.Errorf("durations are not written as strings:\n%s", b)
	}

	// A second write replaces the file and leaves no temporary file behind.
	c.Listen = "127.0.0.1:9999"
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only roster.json", names)
	}
	if got, _ := config.Load(path); got.Listen != "127.0.0.1:9999" {
		t.Errorf("after rewrite listen = %q", got.Listen)
	}

	// A write that cannot complete leaves the old file intact.
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700) //nolint:errcheck
	c.Listen = "127.0.0.1:1"
	if err := c.Write(path); err == nil && os.Geteuid() != 0 {
		t.Error("Write into a read-only directory succeeded")
	}
	if os.Geteuid() != 0 {
		if got, _ := config.Load(path); got.Listen != "127.0.0.1:9999" {
			t.Errorf("failed write changed the file: listen = %q", got.Listen)
		}
	}
}

func TestDefaultFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, ""},
		{"ROSTER_CONFIG", map[string]string{"ROSTER_CONFIG": "/srv/r.json", "CONFIGURATION_DIRECTORY": "/etc/roster"}, "/srv/r.json"},
		{"systemd", map[string]string{"CONFIGURATION_DIRECTORY": "/etc/roster"}, "/etc/roster/config.json"},
		{"systemd, several directories", map[string]string{"CONFIGURATION_DIRECTORY": "/etc/roster:/etc/other"}, "/etc/roster/config.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.DefaultFile(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
