package graph_test

import (
	"context"
	"crypto/x509"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/graph"
	"github.com/rosterhq/roster/graph/graphtest"
)

// signInEnv is a fake Graph and a fake authority, with a private cache
// directory and a sign-in record file.
type signInEnv struct {
	e      *env
	login  *graphtest.Login
	tr     *http.Transport
	record string
	cache  string

	mu      sync.Mutex
	prompts int
	notices []string
}

// trustingTransport is an HTTP transport that trusts only certs (the fakes'
// self-signed certificates).
func trustingTransport(certs ...*x509.Certificate) *http.Transport {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	return tr
}

func newSignInEnv(t *testing.T) *signInEnv {
	e := newEnv(t, graphtest.Options{})
	login := graphtest.NewLogin(t, graphtest.LoginOptions{AccessToken: graphToken, PendingPolls: 1})
	tr := trustingTransport(e.fake.Certificate(), login.Server().Certificate())
	s := &signInEnv{e: e, login: login, tr: tr, record: filepath.Join(t.TempDir(), "graph-signin.json"), cache: t.TempDir()}
	t.Setenv("XDG_CACHE_HOME", s.cache)
	return s
}

// client is a new Client, as a new roster command would build it.
func (s *signInEnv) client(t *testing.T, clientID string) *graph.Client {
	t.Helper()
	c, err := graph.New(graph.Config{
		Auth: graph.AuthDeviceCode, TenantID: "contoso.onmicrosoft.com", ClientID: clientID,
		LoginURL: s.login.URL, BaseURL: s.e.fake.URL, Transport: s.tr, SignInRecord: s.record,
		DeviceCodePrompt: func(context.Context, graph.DeviceCode) error {
			s.mu.Lock()
			s.prompts++
			s.mu.Unlock()
			return nil
		},
		Notice: func(msg string) {
			s.mu.Lock()
			s.notices = append(s.notices, msg)
			s.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// use signs in and makes one Graph call.
func (s *signInEnv) use(t *testing.T, c *graph.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindApps(ctx, "Roster"); err != nil {
		t.Fatal(err)
	}
}

func (s *signInEnv) counts() (prompts int, notices []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prompts, append([]string(nil), s.notices...)
}

// TestSignInRemembered: a second Client (a second command) with the saved
// record signs in from the persistent cache without a device code; nothing
// on disk holds a token in plaintext; ForgetSignIn makes the next one ask
// again, and so does a record made for another client id.
func TestSignInRemembered(t *testing.T) {
	if err := graph.TokenCacheAvailable(); err != nil {
		t.Skipf("no secret storage for the token cache on this machine (%v); TestSignInNotRememberedWithoutSecretStorage covers the fallback", err)
	}
	s := newSignInEnv(t)
	s.use(t, s.client(t, ""))
	if p, n := s.counts(); p != 1 || len(n) != 0 {
		t.Fatalf("first sign-in: %d prompts, notices %q; want 1 prompt, no notice", p, n)
	}
	if _, err := os.Stat(s.record); err != nil {
		t.Fatalf("no sign-in record saved: %v", err)
	}

	s.use(t, s.client(t, ""))
	if p, _ := s.counts(); p != 1 {
		t.Fatalf("second command prompted for a device code (%d prompts in all), want a silent sign-in", p)
	}
	if g := s.login.DeviceCodeGrants(); g != 1 {
		t.Errorf("device code sign-ins at the authority = %d, want 1", g)
	}

	// Neither the record nor the cache files hold a token in plaintext.
	for _, dir := range []string{filepath.Dir(s.record), s.cache} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error { //nolint:errcheck
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), graphToken) || strings.Contains(string(b), "fake-refresh-token") {
				t.Errorf("%s holds a token in plaintext", p)
			}
			return nil
		})
	}
	cached, _ := filepath.Glob(filepath.Join(s.cache, ".IdentityService", "roster-graph*"))
	if len(cached) == 0 {
		t.Errorf("no persistent cache file under %s", s.cache)
	}

	// A record made for another app registration is not used.
	s.use(t, s.client(t, "11111111-2222-3333-4444-555555555555"))
	if p, _ := s.counts(); p != 2 {
		t.Fatalf("another client id: %d prompts in all, want 2", p)
	}

	removed, err := graph.ForgetSignIn(s.record)
	if err != nil || !removed {
		t.Fatalf("ForgetSignIn = %v, %v", removed, err)
	}
	if left, _ := filepath.Glob(filepath.Join(s.cache, ".IdentityService", "roster-graph*")); len(left) != 0 {
		t.Errorf("cache files left after ForgetSignIn: %q", left)
	}
	s.use(t, s.client(t, "11111111-2222-3333-4444-555555555555"))
	if p, _ := s.counts(); p != 3 {
		t.Fatalf("after ForgetSignIn: %d prompts in all, want 3", p)
	}
	if removed, err := graph.ForgetSignIn(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Errorf("ForgetSignIn with nothing to remove: %v, %v", removed, err)
	}
}

// TestSignInNotRememberedWithoutSecretStorage: without a keyring nothing is
// cached or saved, every command asks again, and each says why once.
func TestSignInNotRememberedWithoutSecretStorage(t *testing.T) {
	graph.SimulateNoSecretStorage(t)
	s := newSignInEnv(t)
	for cmd := 1; cmd <= 2; cmd++ {
		s.use(t, s.client(t, ""))
		p, n := s.counts()
		if p != cmd {
			t.Errorf("command %d: %d prompts in all, want %d (one per command)", cmd, p, cmd)
		}
		if len(n) != cmd || !strings.Contains(n[cmd-1], "will not be remembered") || !strings.Contains(n[cmd-1], "simulated") {
			t.Errorf("command %d: notices = %q, want one per command saying the sign-in is not remembered and why", cmd, n)
		}
	}
	if _, err := os.Stat(s.record); !os.IsNotExist(err) {
		t.Errorf("a sign-in record was saved without a token cache: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(s.cache, ".IdentityService", "*")); len(files) != 0 {
		t.Errorf("files written to the cache directory: %q", files)
	}
}
