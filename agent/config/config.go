// Package config is the agent's configuration file: its defaults, loading
// (JSON, with whole-line // comments allowed so the file can document
// itself), ROSTER_* environment overrides, validation that reports every
// problem at once, and an atomic write for the setup wizard.
//
// Precedence, lowest first: Default, the file (Load), the environment
// (ApplyEnv), then the command line (applied by the caller).
//
// Every field, with its key in the file and its environment variable:
//
//	listen                        ROSTER_LISTEN                       address the SCIM API listens on (host:port)
//	public_url                    ROSTER_PUBLIC_URL                   base URL Entra uses; its host is the ACME certificate's name
//	data_dir                      ROSTER_DATA_DIR                     state directory (roster.db)
//	database.url                  ROSTER_DATABASE_URL                 postgres:// URL of a PostgreSQL database; "" keeps roster.db in data_dir
//	log.level                     ROSTER_LOG_LEVEL                    debug, info, warn, error
//	log.format                    ROSTER_LOG_FORMAT                   text, json
//	tls.mode                      ROSTER_TLS_MODE                     acme, files, off
//	tls.cert_file                 ROSTER_TLS_CERT_FILE                PEM certificate chain (mode files)
//	tls.key_file                  ROSTER_TLS_KEY_FILE                 PEM private key (mode files)
//	tls.reload_interval           ROSTER_TLS_RELOAD_INTERVAL          how often the files are checked for changes (mode files)
//	tls.acme.email                ROSTER_ACME_EMAIL                   contact address for the CA's expiry notices
//	tls.acme.directory_url        ROSTER_ACME_DIRECTORY_URL           the CA's ACME directory
//	tls.acme.ca_root              ROSTER_ACME_CA_ROOT                 extra PEM root to trust for the directory (private CA, Pebble)
//	tls.acme.challenges           ROSTER_ACME_CHALLENGES              tls-alpn-01 and/or http-01 (comma-separated in the environment)
//	tls.acme.http_listen          ROSTER_ACME_HTTP_LISTEN             where http-01 challenges are answered (host:port)
//	trusted_proxies               ROSTER_TRUSTED_PROXIES              CIDRs whose X-Forwarded-For is believed (comma-separated)
//	metrics_listen                ROSTER_METRICS_LISTEN               Prometheus /metrics listener; "" disables it
//	rate_limit.failed_auth_per_minute ROSTER_RATE_FAILED_AUTH_PER_MINUTE failed authentications allowed per client address
//	rate_limit.failed_auth_burst      ROSTER_RATE_FAILED_AUTH_BURST      failed authentications allowed at once per address
//	rate_limit.failed_auth_global_per_minute ROSTER_RATE_FAILED_AUTH_GLOBAL_PER_MINUTE failed authentications allowed from all addresses together
//	rate_limit.failed_auth_global_burst      ROSTER_RATE_FAILED_AUTH_GLOBAL_BURST      failed authentications allowed at once from all addresses
//	rate_limit.requests_per_second    ROSTER_RATE_REQUESTS_PER_SECOND    sustained requests allowed per token
//	rate_limit.burst                  ROSTER_RATE_BURST                  requests per token allowed at once above the rate
//	shutdown_timeout              ROSTER_SHUTDOWN_TIMEOUT             how long requests in flight may take at shutdown
//	event_retention_days          ROSTER_EVENT_RETENTION_DAYS         days provisioning events are kept before they are pruned
//	dns.resolver                  ROSTER_DNS_RESOLVER                 recursive resolver for domain checks (host:port)
//	dns.nameserver                ROSTER_DNS_NAMESERVER               ask this DNS server directly for every record
//	webhooks.ca_file              ROSTER_WEBHOOKS_CA_FILE             extra PEM root to trust for webhook receivers (private CA)
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/store"
)

// TLS modes.
const (
	// TLSModeACME obtains and renews certificates from an ACME CA.
	TLSModeACME = "acme"
	// TLSModeFiles serves a certificate/key file pair, reloaded on change.
	TLSModeFiles = "files"
	// TLSModeOff serves plain HTTP, for running behind a TLS-terminating proxy.
	TLSModeOff = "off"
)

// ACME challenge types.
const (
	// ChallengeTLSALPN is answered on the SCIM listener itself (port 443 for a public CA).
	ChallengeTLSALPN = "tls-alpn-01"
	// ChallengeHTTP is answered on tls.acme.http_listen (port 80 for a public CA).
	ChallengeHTTP = "http-01"
)

// LetsEncryptProduction is Let's Encrypt's production ACME directory.
const LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"

// Config is the agent's configuration. The JSON keys are the file's keys.
type Config struct {
	// Listen is the address the SCIM API listens on, host:port.
	Listen string `json:"listen"`
	// PublicURL is the base URL Entra reaches the agent at ("" derives it
	// from the listen address); in ACME mode its host names the certificate.
	PublicURL string `json:"public_url"`
	// DataDir holds roster.db (and certmagic/ of versions that kept ACME
	// certificates in files); "" means the platform default.
	DataDir string `json:"data_dir"`
	// Database chooses where the store lives.
	Database Database `json:"database"`
	// Log configures logging.
	Log Log `json:"log"`
	// TLS configures how HTTPS is served.
	TLS TLS `json:"tls"`
	// TrustedProxies are CIDRs of reverse proxies whose X-Forwarded-For
	// header gives the client address.
	TrustedProxies []string `json:"trusted_proxies"`
	// MetricsListen is the address of the Prometheus /metrics listener; ""
	// disables it.
	MetricsListen string `json:"metrics_listen"`
	// RateLimit protects the agent from abuse.
	RateLimit RateLimit `json:"rate_limit"`
	// ShutdownTimeout bounds how long requests in flight may take at shutdown.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// EventRetentionDays is how many days provisioning events are kept; the
	// agent prunes older ones every hour.
	EventRetentionDays int `json:"event_retention_days"`
	// DNS configures the lookups of email-domain TXT records.
	DNS DNS `json:"dns"`
	// Webhooks configures the delivery of the change log to webhook endpoints.
	Webhooks Webhooks `json:"webhooks"`
	// ChangeRetention is how long the change feed keeps its records
	// (docs/change-feed.md); a consumer further behind starts again from a
	// snapshot.
	ChangeRetention Duration `json:"change_retention"`
	// OAuth configures the token endpoint (docs/oauth.md).
	OAuth OAuth `json:"oauth"`
}

// OAuth configures the OAuth 2.0 token endpoint, POST /oauth/{tenant}/token.
type OAuth struct {
	// AccessTokenLifetime is how long an issued access token is valid,
	// from MinAccessTokenLifetime to MaxAccessTokenLifetime.
	AccessTokenLifetime Duration `json:"access_token_lifetime"`
}

// Bounds of oauth.access_token_lifetime. Microsoft's gallery rules ask for
// access tokens that live 60 minutes to 6 hours
// (https://learn.microsoft.com/entra/identity/enterprise-apps/app-gallery-user-provisioning-requirements);
// shorter ones are for tests and cautious operators.
const (
	MinAccessTokenLifetime = 5 * time.Minute
	MaxAccessTokenLifetime = 6 * time.Hour
)

// Database chooses the store's database.
type Database struct {
	// URL is a postgres:// (or postgresql://) URL: several agents may then
	// share one PostgreSQL database. "" (the default) keeps the store in
	// SQLite, as roster.db in the data directory.
	URL string `json:"url"`
}

// StoreLocation is what the agent opens with store.Open: Database.URL, or
// else the file named file in DataDir.
func (c *Config) StoreLocation(file string) string {
	if c.Database.URL != "" {
		return c.Database.URL
	}
	return filepath.Join(c.DataDir, file)
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `json:"level"`
	// Format is text or json.
	Format string `json:"format"`
}

// TLS configures how HTTPS is served.
type TLS struct {
	// Mode is acme, files or off.
	Mode string `json:"mode"`
	// CertFile is the PEM certificate chain (mode files).
	CertFile string `json:"cert_file"`
	// KeyFile is the PEM private key (mode files).
	KeyFile string `json:"key_file"`
	// ReloadInterval is how often CertFile and KeyFile are checked for changes.
	ReloadInterval Duration `json:"reload_interval"`
	// ACME configures automatic certificates (mode acme).
	ACME ACME `json:"acme"`
}

// ACME configures automatic certificates.
type ACME struct {
	// Email is the contact address given to the CA (expiry notices).
	Email string `json:"email"`
	// DirectoryURL is the CA's ACME directory URL.
	DirectoryURL string `json:"directory_url"`
	// CARoot is a PEM file of extra roots to trust when talking to the
	// directory (a private CA, or Pebble in tests); "" trusts the system roots.
	CARoot string `json:"ca_root"`
	// Challenges are the challenge types to use: tls-alpn-01, http-01.
	Challenges []string `json:"challenges"`
	// HTTPListen is where http-01 challenges are answered (host:port).
	HTTPListen string `json:"http_listen"`
}

// RateLimit holds the limits the SCIM API enforces.
type RateLimit struct {
	// FailedAuthPerMinute is how many failed authentications one client
	// address may make per minute; 0 disables the limit.
	FailedAuthPerMinute int `json:"failed_auth_per_minute"`
	// FailedAuthBurst is how many failed authentications one client address
	// may make at once before the per-minute rate applies.
	FailedAuthBurst int `json:"failed_auth_burst"`
	// FailedAuthGlobalPerMinute is how many failed authentications all
	// client addresses together may make per minute; 0 disables the limit.
	FailedAuthGlobalPerMinute int `json:"failed_auth_global_per_minute"`
	// FailedAuthGlobalBurst is how many failed authentications all client
	// addresses together may make at once before that rate applies.
	FailedAuthGlobalBurst int `json:"failed_auth_global_burst"`
	// RequestsPerSecond is the sustained request rate allowed per token; 0
	// disables the limit.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Burst is how many requests per token may arrive at once.
	Burst int `json:"burst"`
}

// DNS configures the lookups of email-domain TXT records.
type DNS struct {
	// Resolver is the recursive resolver used to find a domain's
	// authoritative servers; "" uses the system's.
	Resolver string `json:"resolver"`
	// Nameserver, when set, is asked directly for every record.
	Nameserver string `json:"nameserver"`
}

// Webhooks configures webhook delivery (docs/webhooks.md).
type Webhooks struct {
	// CAFile is a PEM file of extra roots to trust for receivers' TLS
	// certificates (a private CA); the system's roots are always trusted.
	CAFile string `json:"ca_file"`
}

// PlainHTTP reports whether the agent serves plain HTTP: tls.mode off, or
// not set (allowed on loopback only, see Validate).
func (c *Config) PlainHTTP() bool { return c.TLS.Mode == TLSModeOff || c.TLS.Mode == "" }

// TLSModeName names the TLS mode for people: "off (loopback only)" when
// none was chosen.
func (c *Config) TLSModeName() string {
	if c.TLS.Mode == "" {
		return "off (loopback only)"
	}
	return c.TLS.Mode
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FileName is the name of the configuration file in the service's
// configuration directory (/etc/roster, systemd's ConfigurationDirectory=).
const FileName = "config.json"

// DefaultFile returns the configuration file the agent reads when none is
// named on its command line: $ROSTER_CONFIG, else FileName in the first
// directory of $CONFIGURATION_DIRECTORY, which systemd sets for a unit with
// ConfigurationDirectory= (several directories are joined with ":",
// https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html#RuntimeDirectory=),
// else "" (no file: defaults, environment and flags only). getenv is
// os.Getenv.
func DefaultFile(getenv func(string) string) string {
	if p := getenv("ROSTER_CONFIG"); p != "" {
		return p
	}
	if dirs := getenv("CONFIGURATION_DIRECTORY"); dirs != "" {
		dir, _, _ := strings.Cut(dirs, ":")
		return filepath.Join(dir, FileName)
	}
	return ""
}

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:8080",
		Log:    Log{Level: "info", Format: "text"},
		TLS: TLS{
			Mode: "", // plain HTTP on loopback; elsewhere a mode must be chosen

			ReloadInterval: Duration(5 * time.Second),
			ACME: ACME{
				DirectoryURL: LetsEncryptProduction,
				Challenges:   []string{ChallengeTLSALPN},
				HTTPListen:   ":80",
			},
		},
		MetricsListen: "127.0.0.1:9464",
		RateLimit: RateLimit{FailedAuthPerMinute: 10, FailedAuthBurst: 20, FailedAuthGlobalPerMinute: 120, FailedAuthGlobalBurst: 200,
			RequestsPerSecond: 100, Burst: 200},
		ShutdownTimeout:    Duration(30 * time.Second),
		EventRetentionDays: 90,
		ChangeRetention:    Duration(30 * 24 * time.Hour),
		OAuth:              OAuth{AccessTokenLifetime: Duration(time.Hour)},
	}
}

// Load reads the file at path over Default. Unknown keys are errors, so a
// typo never silently falls back to a default. Load does not validate.
func Load(path string) (Config, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return c, fmt.Errorf("config file %s does not exist; print an example with `roster config example`", path)
		}
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := Parse(b, &c); err != nil {
		return c, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a config file's contents into c, over what c holds. Lines
// whose first non-blank characters are // are comments.
func Parse(data []byte, c *Config) error {
	data = stripComments(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return explainJSON(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected text after the closing }: the file must hold one JSON object")
	}
	return nil
}

// stripComments blanks whole-line // comments, keeping line numbers. A
// JSON string cannot span lines, so such a line is never inside a string.
func stripComments(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		if bytes.HasPrefix(bytes.TrimLeft(l, " \t"), []byte("//")) {
			lines[i] = nil
		}
	}
	return bytes.Join(lines, []byte("\n"))
}

// explainJSON adds the line number to a decoding error and says what to do.
func explainJSON(data []byte, dec *json.Decoder, err error) error {
	line := func(off int64) int {
		if off > int64(len(data)) {
			off = int64(len(data))
		}
		return 1 + bytes.Count(data[:off], []byte("\n"))
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("line %d: invalid JSON: %v (comments must be on lines of their own, starting with //)", line(se.Offset), se)
	case errors.As(err, &te):
		return fmt.Errorf("line %d: %s: want a %s, got a JSON %s", line(te.Offset), te.Field, typeName(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.EOF):
		return errors.New("the file is empty: it must hold one JSON object, e.g. {\"listen\": \"127.0.0.1:8080\"}")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ") // quoted
		off := dec.InputOffset()
		if i := bytes.Index(data, []byte(name)); i >= 0 {
			off = int64(i)
		}
		return fmt.Errorf("line %d: unknown field %s is not a setting; see `roster config example` for the keys", line(off), name)
	}
	return fmt.Errorf("line %d: %w", line(dec.InputOffset()), err)
}

func typeName(kind string) string {
	switch kind {
	case "int", "int64", "float64":
		return "number"
	case "slice":
		return "list"
	case "struct":
		return "object"
	}
	return kind
}

// Duration is a time.Duration written as a string such as "30s" or "2m".
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration in quotes such as \"30s\" or \"2m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\" or \"2m\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// String returns the duration in time.Duration notation.
func (d Duration) String() string { return time.Duration(d).String() }

// Problem is one invalid setting.
type Problem struct {
	// Field is the setting's key in the file, e.g. "tls.acme.email".
	Field string
	// Message says what is wrong and what is allowed.
	Message string
}

// Problems lists every invalid setting of a Config.
type Problems []Problem

// Error implements error: one problem per line.
func (p Problems) Error() string {
	lines := make([]string, len(p))
	for i, x := range p {
		lines[i] = x.Field + ": " + x.Message
	}
	return strings.Join(lines, "\n")
}

// Validate checks every setting and returns all problems at once as
// Problems, or nil.
func (c *Config) Validate() error {
	var ps Problems
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{field, fmt.Sprintf(format, args...)})
	}
	if err := checkHostPort(c.Listen); err != nil {
		add("listen", "%v", err)
	}
	var publicHost string
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			add("public_url", "%q is not a URL: want https://host[:port], e.g. https://roster.example.com", c.PublicURL)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			add("public_url", "%q must not have a query, fragment or user info", c.PublicURL)
		default:
			publicHost = u.Hostname()
			if c.TLS.Mode == TLSModeACME && u.Scheme != "https" {
				add("public_url", "%q must start with https:// when tls.mode is acme", c.PublicURL)
			}
		}
	}
	if u := c.Database.URL; u != "" && !store.IsPostgresURL(u) {
		add("database.url", "must be a PostgreSQL URL such as postgres://roster@db.example.com/roster, or empty for SQLite in the data directory")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Log.Level)) {
		add("log.level", "%q: use debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", "%q: use text or json", c.Log.Format)
	}
	switch c.TLS.Mode {
	case TLSModeACME:
		a := c.TLS.ACME
		switch {
		case c.PublicURL == "":
			add("public_url", "required when tls.mode is acme: the certificate is issued for its host name, e.g. https://roster.example.com")
		case publicHost != "" && net.ParseIP(publicHost) != nil:
			add("public_url", "host %q is an IP address; public ACME CAs issue certificates for DNS names only", publicHost)
		case publicHost != "" && !strings.Contains(publicHost, "."):
			add("public_url", "host %q is not a fully qualified DNS name; ACME needs one such as roster.example.com", publicHost)
		}
		if a.Email != "" && !strings.Contains(a.Email, "@") {
			add("tls.acme.email", "%q is not an email address", a.Email)
		}
		if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
			add("tls.acme.directory_url", "%q: want the CA's https:// directory URL, e.g. %s", a.DirectoryURL, LetsEncryptProduction)
		}
		if len(a.Challenges) == 0 {
			add("tls.acme.challenges", "empty: list at least one of %q, %q", ChallengeTLSALPN, ChallengeHTTP)
		}
		seen := map[string]bool{}
		for _, ch := range a.Challenges {
			if ch != ChallengeTLSALPN && ch != ChallengeHTTP {
				add("tls.acme.challenges", "%q is not supported: use %q and/or %q", ch, ChallengeTLSALPN, ChallengeHTTP)
			} else if seen[ch] {
				add("tls.acme.challenges", "%q is listed twice", ch)
			}
			seen[ch] = true
		}
		if seen[ChallengeHTTP] {
			if err := checkHostPort(a.HTTPListen); err != nil {
				add("tls.acme.http_listen", "%v (needed for %s)", err, ChallengeHTTP)
			} else if sameFixedAddress(a.HTTPListen, c.Listen) {
				add("tls.acme.http_listen", "%q is also the SCIM listen address; use another port (80 for a public CA)", a.HTTPListen)
			}
		}
		if a.CARoot != "" {
			if _, err := os.Stat(a.CARoot); err != nil {
				add("tls.acme.ca_root", "cannot read %q: %v", a.CARoot, unwrapPath(err))
			}
		}
	case TLSModeFiles:
		for _, f := range []struct{ name, path string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}} {
			if f.path == "" {
				add(f.name, "required when tls.mode is files: the path of a PEM file")
			} else if _, err := os.Stat(f.path); err != nil {
				add(f.name, "cannot read %q: %v", f.path, unwrapPath(err))
			}
		}
		if c.TLS.ReloadInterval < Duration(time.Second) {
			add("tls.reload_interval", "%s is too short: use 1s or more, e.g. \"5s\"", c.TLS.ReloadInterval)
		}
	case TLSModeOff:
	case "":
		// Plain HTTP only when chosen: the default serves it on loopback only.
		if host, _, err := net.SplitHostPort(c.Listen); err == nil && !isLoopbackHost(host) {
			add("tls.mode", "not set, and listen %q is not a loopback address: choose acme (automatic certificates), files (your own certificate and key), or off explicitly (plain HTTP behind a TLS-terminating proxy)", c.Listen)
		}
	default:
		add("tls.mode", "%q: use acme (automatic certificates), files (your own certificate and key) or off (plain HTTP behind a TLS-terminating proxy)", c.TLS.Mode)
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			add("trusted_proxies", "%q is not an IP address or CIDR, e.g. 10.0.0.0/8 or 192.0.2.7", p)
		}
	}
	if c.MetricsListen != "" {
		if err := checkHostPort(c.MetricsListen); err != nil {
			add("metrics_listen", "%v, or \"\" to disable metrics", err)
		} else if sameFixedAddress(c.MetricsListen, c.Listen) {
			add("metrics_listen", "%q is also the SCIM listen address; use another port, e.g. 127.0.0.1:9464", c.MetricsListen)
		}
	}
	if c.RateLimit.FailedAuthPerMinute < 0 {
		add("rate_limit.failed_auth_per_minute", "%d: use 0 (no limit) or more", c.RateLimit.FailedAuthPerMinute)
	}
	if c.RateLimit.FailedAuthPerMinute > 0 && c.RateLimit.FailedAuthBurst < 1 {
		add("rate_limit.failed_auth_burst", "%d: use 1 or more (default 20)", c.RateLimit.FailedAuthBurst)
	}
	if c.RateLimit.FailedAuthGlobalPerMinute < 0 {
		add("rate_limit.failed_auth_global_per_minute", "%d: use 0 (no limit) or more", c.RateLimit.FailedAuthGlobalPerMinute)
	}
	if c.RateLimit.FailedAuthGlobalPerMinute > 0 && c.RateLimit.FailedAuthGlobalBurst < 1 {
		add("rate_limit.failed_auth_global_burst", "%d: use 1 or more (default 200)", c.RateLimit.FailedAuthGlobalBurst)
	}
	if c.RateLimit.RequestsPerSecond < 0 {
		add("rate_limit.requests_per_second", "%g: use 0 (no limit) or more; Entra sends up to 25 per second per tenant", c.RateLimit.RequestsPerSecond)
	} else if c.RateLimit.RequestsPerSecond > 0 && c.RateLimit.RequestsPerSecond < 25 {
		add("rate_limit.requests_per_second", "%g is below Entra's 25 requests per second per tenant and would slow provisioning; use 25 or more (default 100)", c.RateLimit.RequestsPerSecond)
	}
	if c.RateLimit.RequestsPerSecond > 0 && float64(c.RateLimit.Burst) < c.RateLimit.RequestsPerSecond {
		add("rate_limit.burst", "%d is below requests_per_second (%g): use at least that many (default 200)", c.RateLimit.Burst, c.RateLimit.RequestsPerSecond)
	}
	if c.ShutdownTimeout < Duration(time.Second) {
		add("shutdown_timeout", "%s is too short: use 1s or more, e.g. \"30s\"", c.ShutdownTimeout)
	}
	if c.EventRetentionDays < 1 {
		add("event_retention_days", "%d: use 1 or more (default 90)", c.EventRetentionDays)
	}
	if c.ChangeRetention < Duration(time.Hour) {
		add("change_retention", "%s is too short: use 1h or more, e.g. \"720h\" (30 days, the default)", c.ChangeRetention)
	}
	if l := c.OAuth.AccessTokenLifetime; l < Duration(MinAccessTokenLifetime) || l > Duration(MaxAccessTokenLifetime) {
		add("oauth.access_token_lifetime", "%s: use 5m to 6h, e.g. \"1h\" (the default); Microsoft's gallery rules ask for 1h to 6h", l)
	}
	if c.DNS.Resolver != "" {
		if err := checkHostPort(c.DNS.Resolver); err != nil {
			add("dns.resolver", "%v, e.g. 1.1.1.1:53", err)
		}
	}
	if c.DNS.Nameserver != "" {
		if err := checkHostPort(c.DNS.Nameserver); err != nil {
			add("dns.nameserver", "%v, e.g. 10.0.0.53:53", err)
		}
	}
	if c.Webhooks.CAFile != "" {
		if _, err := os.Stat(c.Webhooks.CAFile); err != nil {
			add("webhooks.ca_file", "cannot read %q: %v", c.Webhooks.CAFile, unwrapPath(err))
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// sameFixedAddress reports whether two listen addresses are the same one;
// port 0 asks for any free port, so two of those never collide.
func sameFixedAddress(a, b string) bool {
	if a != b {
		return false
	}
	_, port, err := net.SplitHostPort(a)
	return err != nil || port != "0"
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:443", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ParsePrefix parses a trusted proxy: a CIDR, or a single IP address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Prefixes returns TrustedProxies parsed; call it after Validate.
func (c *Config) Prefixes() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := ParsePrefix(s); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// envVar maps an environment variable onto a setting.
type envVar struct {
	name, field string
	set         func(c *Config, v string) error
}

func str(f func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

func list(f func(c *Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		var l []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				l = append(l, s)
			}
		}
		*f(c) = l
		return nil
	}
}

func integer(f func(c *Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("want a whole number")
		}
		*f(c) = n
		return nil
	}
}

func duration(f func(c *Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return errors.New("want a duration such as 30s or 2m")
		}
		*f(c) = Duration(d)
		return nil
	}
}

// envVars lists every ROSTER_* variable that overrides a setting.
var envVars = []envVar{
	{"ROSTER_LISTEN", "listen", str(func(c *Config) *string { return &c.Listen })},
	{"ROSTER_PUBLIC_URL", "public_url", str(func(c *Config) *string { return &c.PublicURL })},
	{"ROSTER_DATA_DIR", "data_dir", str(func(c *Config) *string { return &c.DataDir })},
	{"ROSTER_DATABASE_URL", "database.url", str(func(c *Config) *string { return &c.Database.URL })},
	{"ROSTER_LOG_LEVEL", "log.level", str(func(c *Config) *string { return &c.Log.Level })},
	{"ROSTER_LOG_FORMAT", "log.format", str(func(c *Config) *string { return &c.Log.Format })},
	{"ROSTER_TLS_MODE", "tls.mode", str(func(c *Config) *string { return &c.TLS.Mode })},
	{"ROSTER_TLS_CERT_FILE", "tls.cert_file", str(func(c *Config) *string { return &c.TLS.CertFile })},
	{"ROSTER_TLS_KEY_FILE", "tls.key_file", str(func(c *Config) *string { return &c.TLS.KeyFile })},
	{"ROSTER_TLS_RELOAD_INTERVAL", "tls.reload_interval", duration(func(c *Config) *Duration { return &c.TLS.ReloadInterval })},
	{"ROSTER_ACME_EMAIL", "tls.acme.email", str(func(c *Config) *string { return &c.TLS.ACME.Email })},
	{"ROSTER_ACME_DIRECTORY_URL", "tls.acme.directory_url", str(func(c *Config) *string { return &c.TLS.ACME.DirectoryURL })},
	{"ROSTER_ACME_CA_ROOT", "tls.acme.ca_root", str(func(c *Config) *string { return &c.TLS.ACME.CARoot })},
	{"ROSTER_ACME_CHALLENGES", "tls.acme.challenges", list(func(c *Config) *[]string { return &c.TLS.ACME.Challenges })},
	{"ROSTER_ACME_HTTP_LISTEN", "tls.acme.http_listen", str(func(c *Config) *string { return &c.TLS.ACME.HTTPListen })},
	{"ROSTER_TRUSTED_PROXIES", "trusted_proxies", list(func(c *Config) *[]string { return &c.TrustedProxies })},
	{"ROSTER_METRICS_LISTEN", "metrics_listen", str(func(c *Config) *string { return &c.MetricsListen })},
	{"ROSTER_RATE_FAILED_AUTH_PER_MINUTE", "rate_limit.failed_auth_per_minute", integer(func(c *Config) *int { return &c.RateLimit.FailedAuthPerMinute })},
	{"ROSTER_RATE_FAILED_AUTH_BURST", "rate_limit.failed_auth_burst", integer(func(c *Config) *int { return &c.RateLimit.FailedAuthBurst })},
	{"ROSTER_RATE_FAILED_AUTH_GLOBAL_PER_MINUTE", "rate_limit.failed_auth_global_per_minute", integer(func(c *Config) *int { return &c.RateLimit.FailedAuthGlobalPerMinute })},
	{"ROSTER_RATE_FAILED_AUTH_GLOBAL_BURST", "rate_limit.failed_auth_global_burst", integer(func(c *Config) *int { return &c.RateLimit.FailedAuthGlobalBurst })},
	{"ROSTER_RATE_REQUESTS_PER_SECOND", "rate_limit.requests_per_second", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return errors.New("want a number")
		}
		c.RateLimit.RequestsPerSecond = f
		return nil
	}},
	{"ROSTER_RATE_BURST", "rate_limit.burst", integer(func(c *Config) *int { return &c.RateLimit.Burst })},
	{"ROSTER_SHUTDOWN_TIMEOUT", "shutdown_timeout", duration(func(c *Config) *Duration { return &c.ShutdownTimeout })},
	{"ROSTER_EVENT_RETENTION_DAYS", "event_retention_days", integer(func(c *Config) *int { return &c.EventRetentionDays })},
	{"ROSTER_CHANGE_RETENTION", "change_retention", duration(func(c *Config) *Duration { return &c.ChangeRetention })},
	{"ROSTER_DNS_RESOLVER", "dns.resolver", str(func(c *Config) *string { return &c.DNS.Resolver })},
	{"ROSTER_DNS_NAMESERVER", "dns.nameserver", str(func(c *Config) *string { return &c.DNS.Nameserver })},
	{"ROSTER_WEBHOOKS_CA_FILE", "webhooks.ca_file", str(func(c *Config) *string { return &c.Webhooks.CAFile })},
	{"ROSTER_OAUTH_ACCESS_TOKEN_LIFETIME", "oauth.access_token_lifetime", duration(func(c *Config) *Duration { return &c.OAuth.AccessTokenLifetime })},
}

// EnvVars returns the names of the environment variables ApplyEnv reads, in
// the order of the settings, each with its key in the file.
func EnvVars() [][2]string {
	out := make([][2]string, len(envVars))
	for i, e := range envVars {
		out[i] = [2]string{e.name, e.field}
	}
	return out
}

// ApplyEnv overrides settings with the ROSTER_* variables that lookup finds
// set (os.LookupEnv in production). A variable set to "" overrides too
// (e.g. ROSTER_METRICS_LISTEN= disables metrics). It returns Problems naming
// the variables it could not parse; the others are applied.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	var ps Problems
	for _, e := range envVars {
		v, ok := lookup(e.name)
		if !ok {
			continue
		}
		if err := e.set(c, v); err != nil {
			ps = append(ps, Problem{e.field, fmt.Sprintf("%s=%q: %v", e.name, v, err)})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Marshal returns the configuration as indented JSON, as Write stores it.
func (c *Config) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Write stores the configuration at path atomically: it writes a temporary
// file in the same directory (mode 0600), syncs it, renames it over path and
// syncs the directory, so a crash leaves the old file or the new one, never
// a mix. Comments in an existing file are not kept.
func (c *Config) Write(path string) error {
	b, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write config %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write config: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() //nolint:errcheck // best effort: not every platform syncs directories
		d.Close()
	}
	return nil
}
