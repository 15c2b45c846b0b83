package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/domainproof/dnstest"
)

// TestDomainCommands walks the `roster domain` commands against a real DNS
// server on 127.0.0.1, as an owner would: add, publish, verify, list, remove.
func TestDomainCommands(t *testing.T) {
	dir := t.TempDir()
	dnsSrv := dnstest.Start(t)
	dnsSrv.AddZone(t, "contoso.test.", "127.0.0.1")
	if _, _, err := runCLI(t, dir, "tenant", "add", "acme"); err != nil {
		t.Fatal(err)
	}

	out, _, err := runCLI(t, dir, "domain", "list")
	if err != nil || !strings.Contains(out, `WARNING: tenant "acme" has no email domains`) {
		t.Fatalf("list without domains: %q %v", out, err)
	}

	out, _, err = runCLI(t, dir, "domain", "add", "Contoso.TEST", "--tenant", "acme", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		Domain, Status string
		Record         struct{ Name, Type, Value string }
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatalf("add --json: %v\n%s", err, out)
	}
	if added.Domain != "contoso.test" || added.Status != "pending" || added.Record.Name != "_roster-challenge.contoso.test" || added.Record.Type != "TXT" {
		t.Fatalf("add --json = %+v", added)
	}

	verify := func() string {
		t.Helper()
		out, _, err := runCLI(t, dir, "domain", "verify", "contoso.test", "--tenant", "acme", "--dns-nameserver", dnsSrv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := verify(); !strings.Contains(out, "contoso.test: pending") || !strings.Contains(out, added.Record.Value) {
		t.Errorf("verify before publishing:\n%s", out)
	}
	dnsSrv.Add(t, added.Record.Name+` 300 IN TXT "`+added.Record.Value+`"`)
	if out := verify(); !strings.Contains(out, "contoso.test: verified") {
		t.Errorf("verify after publishing:\n%s", out)
	}
	out, _, _ = runCLI(t, dir, "domain", "list", "--tenant", "acme")
	if !strings.Contains(out, "verified") || strings.Contains(out, "WARNING") {
		t.Errorf("list:\n%s", out)
	}

	for _, bad := range [][]string{{"domain", "add", "co.uk"}, {"domain", "add", "not a domain"}} {
		if _, _, err := runCLI(t, dir, bad...); err == nil || !asUsage(err, new(usageError)) {
			t.Errorf("%v: err = %v, want a usage error", bad, err)
		}
	}
	if _, _, err := runCLI(t, dir, "domain", "verify", "fabrikam.test", "--tenant", "acme"); err == nil || !strings.Contains(err.Error(), "roster domain add fabrikam.test") {
		t.Errorf("verify of an unknown domain: %v", err)
	}
	if _, _, err := runCLI(t, dir, "domain", "add", "x.test", "--tenant", "nope"); err == nil || !strings.Contains(err.Error(), "roster tenant list") {
		t.Errorf("unknown tenant: %v", err)
	}
	out, _, err = runCLI(t, dir, "domain", "remove", "contoso.test", "--tenant", "acme")
	if err != nil || !strings.Contains(out, "WARNING") {
		t.Errorf("remove: %q %v", out, err)
	}
}

// TestAgentVerifiesPendingDomains: a running agent checks a pending domain by
// itself once its record is published.
func TestAgentVerifiesPendingDomains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an agent process")
	}
	dir := t.TempDir()
	dnsSrv := dnstest.Start(t)
	dnsSrv.AddZone(t, "contoso.test.", "127.0.0.1")
	if _, _, err := runCLI(t, dir, "tenant", "add", "acme"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, dir, "domain", "add", "contoso.test", "--tenant", "acme", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Record struct{ Name, Value string } }
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	dnsSrv.Add(t, d.Record.Name+` 300 IN TXT "`+d.Record.Value+`"`)
	p := startAgentProc(t, dir, false, "--dns-nameserver", dnsSrv.Addr)
	defer p.Stop(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _, err := runCLI(t, dir, "domain", "list", "--json")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, `"status": "verified"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not verify the domain within 15 s:\n%s\n%s", out, p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
