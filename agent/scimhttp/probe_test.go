package scimhttp_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

func TestProbe(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir()+"/roster.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	api := scimhttp.New(directory.New(db, nil, nil), scimhttp.Options{PublicURL: "http://127.0.0.1"})
	plain := httptest.NewServer(api)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(api)
	defer tlsSrv.Close()
	other := httptest.NewServer(http.NotFoundHandler()) // some other program on the port
	defer other.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := free.Addr().String()
	free.Close()
	hostport := func(u string) string { return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://") }
	_, plainPort, _ := net.SplitHostPort(hostport(plain.URL))

	tests := []struct {
		name      string
		addrs     []string
		reachable bool
		address   string
	}{
		{"plain HTTP", []string{hostport(plain.URL)}, true, plain.URL},
		{"HTTPS", []string{hostport(tlsSrv.URL)}, true, tlsSrv.URL},
		{"unspecified host asks loopback", []string{"0.0.0.0:" + plainPort}, true, plain.URL},
		{"first that answers", []string{closed, hostport(other.URL), hostport(plain.URL)}, true, plain.URL},
		{"nothing listens", []string{closed}, false, ""},
		{"another program", []string{hostport(other.URL)}, false, ""},
		{"no address", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scimhttp.Probe(ctx, tt.addrs, "roster.example.com", 5*time.Second)
			if got.Reachable != tt.reachable || got.Ready != tt.reachable || got.Address != tt.address {
				t.Errorf("Probe = %+v, want reachable and ready %v at %q", got, tt.reachable, tt.address)
			}
			if !tt.reachable && got.Detail == "" {
				t.Errorf("Probe = %+v, want a detail saying why", got)
			}
		})
	}
}

func TestLocalAddr(t *testing.T) {
	for in, want := range map[string]string{
		"https://roster.example.com":      "127.0.0.1:443",
		"http://roster.example.com":       "127.0.0.1:80",
		"https://roster.example.com:8443": "127.0.0.1:8443",
		"http://127.0.0.1:8080/":          "127.0.0.1:8080",
	} {
		if got, err := scimhttp.LocalAddr(in); err != nil || got != want {
			t.Errorf("LocalAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := scimhttp.LocalAddr("not a url"); err == nil {
		t.Errorf("LocalAddr(not a url) = nil error, want one")
	}
}
