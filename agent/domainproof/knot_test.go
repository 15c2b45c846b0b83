package domainproof_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/agent/domainproof"
)

// knotZone is the zone Knot serves in TestAgainstKnot.
const knotZone = "contoso.test"

// knotInstallHint tells how to get the binaries TestAgainstKnot needs.
const knotInstallHint = "install Knot DNS to run it: apt-get install knot knot-dnsutils (.ci/run does this when apt-get is available)"

// TestAgainstKnot checks challenges against a real authoritative server,
// Knot DNS on 127.0.0.1 (docs/domain-proof.md#testing). The record is
// added and removed with knsupdate (RFC 2136), as an admin would at the DNS
// provider. It is skipped when knotd or knsupdate is not installed.
func TestAgainstKnot(t *testing.T) {
	knotd, knsupdate, missing := findKnot()
	if len(missing) > 0 {
		t.Skipf("Knot DNS integration test skipped: %s not found in PATH, /usr/sbin or /usr/bin; %s",
			strings.Join(missing, " and "), knotInstallHint)
	}
	srv := startKnot(t, knotd)

	ch, err := domainproof.NewChallenge(knotZone)
	if err != nil {
		t.Fatalf("NewChallenge(%q): %v", knotZone, err)
	}
	name := ch.RecordName + "."
	c := domainproof.Checker{Nameservers: []string{srv.addr}, Timeout: 2 * time.Second}
	check := func(t *testing.T, ch domainproof.Challenge, want domainproof.Status, wantDetail string, wantFound ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res := c.Check(ctx, ch)
		if res.Status != want || !strings.Contains(res.Detail, wantDetail) {
			t.Fatalf("Check(%s) = %s (%s), want %s with detail containing %q\nknotd log:\n%s",
				ch.RecordName, res.Status, res.Detail, want, wantDetail, srv.log())
		}
		if wantFound != nil {
			got, wantSorted := slices.Sorted(slices.Values(res.Found)), slices.Sorted(slices.Values(wantFound))
			if !slices.Equal(got, wantSorted) {
				t.Fatalf("Check(%s).Found = %q, want %q\nknotd log:\n%s", ch.RecordName, got, wantSorted, srv.log())
			}
		}
		if !slices.Equal(res.Servers, []string{srv.addr}) {
			t.Fatalf("Check(%s).Servers = %q, want [%s]", ch.RecordName, res.Servers, srv.addr)
		}
	}

	const spf = "v=spf1 -all"
	dkim := strings.Repeat("k", 255) + strings.Repeat("m", 45) // one RR, two strings
	dkimRR := fmt.Sprintf("%q %q", dkim[:255], dkim[255:])

	t.Run("1 absent before the admin adds the record", func(t *testing.T) {
		check(t, ch, domainproof.Absent, "NXDOMAIN")
	})
	t.Run("2 verified after knsupdate add", func(t *testing.T) {
		srv.update(t, knsupdate, fmt.Sprintf("update add %s 60 TXT %q", name, ch.Value))
		check(t, ch, domainproof.Verified, "found", ch.Value)
	})
	t.Run("3 still verified next to other TXT records", func(t *testing.T) {
		srv.update(t, knsupdate,
			fmt.Sprintf("update add %s 60 TXT %q", name, spf),
			fmt.Sprintf("update add %s 60 TXT %s", name, dkimRR))
		check(t, ch, domainproof.Verified, "found", ch.Value, spf, dkim)
	})
	t.Run("3b challenge published as split strings", func(t *testing.T) {
		sub, err := domainproof.NewChallenge("split." + knotZone)
		if err != nil {
			t.Fatalf("NewChallenge: %v", err)
		}
		v := sub.Value
		srv.update(t, knsupdate, fmt.Sprintf("update add %s. 60 TXT %q %q", sub.RecordName, v[:10], v[10:]))
		check(t, sub, domainproof.Verified, "found", v)
	})
	t.Run("4 absent after knsupdate delete", func(t *testing.T) {
		srv.update(t, knsupdate, fmt.Sprintf("update delete %s TXT %q", name, ch.Value))
		check(t, ch, domainproof.Absent, "none matches", spf, dkim)
		srv.update(t, knsupdate, fmt.Sprintf("update delete %s TXT", name))
		check(t, ch, domainproof.Absent, "NXDOMAIN")
	})
}

// findKnot returns the paths of knotd and knsupdate, or the names of those
// that are missing.
func findKnot() (knotd, knsupdate string, missing []string) {
	look := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p
			}
		}
		missing = append(missing, name)
		return ""
	}
	knotd, knsupdate = look("knotd"), look("knsupdate")
	return knotd, knsupdate, missing
}

// knotServer is a knotd child process serving knotZone on 127.0.0.1.
type knotServer struct {
	addr    string // 127.0.0.1:port, UDP and TCP
	port    int
	logPath string
}

// log returns what knotd wrote so far.
func (s *knotServer) log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read knotd log: %v)", err)
	}
	return string(b)
}

// update sends one RFC 2136 update with knsupdate, the way an admin's DNS
// provider would change the zone.
func (s *knotServer) update(t *testing.T, knsupdate string, lines ...string) {
	t.Helper()
	script := fmt.Sprintf("server 127.0.0.1 %d\nzone %s.\n%s\nsend\nquit\n", s.port, knotZone, strings.Join(lines, "\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, knsupdate, "-t", "2", "-r", "1")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil || bytes.Contains(bytes.ToLower(out), []byte("error")) {
		t.Fatalf("knsupdate: err %v, output:\n%s\nscript:\n%s\nknotd log:\n%s", err, out, script, s.log())
	}
}

// startKnot writes a configuration and a zone into a temporary directory,
// starts knotd on 127.0.0.1 on a free port and waits until it answers.
func startKnot(t *testing.T, knotd string) *knotServer {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	s := &knotServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), port: port, logPath: filepath.Join(dir, "knotd.log")}

	zone := fmt.Sprintf(`$ORIGIN %[1]s.
$TTL 60
@       SOA  ns1 hostmaster 2026010101 3600 600 604800 60
@       NS   ns1
ns1     A    127.0.0.1
www     A    127.0.0.1
`, knotZone)
	// Knot switches to server.user after binding; the default is root, so
	// name the current user to run unprivileged as well as root.
	userLine := ""
	if u, err := user.Current(); err == nil {
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			userLine = fmt.Sprintf("    user: %q\n", u.Username+":"+g.Name)
		}
	}
	conf := fmt.Sprintf(`server:
    rundir: %[1]q
    pidfile: %[2]q
    listen: 127.0.0.1@%[3]d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
%[4]scontrol:
    listen: %[5]q
log:
  - target: stderr
    any: info
database:
    storage: %[1]q
acl:
  - id: local_update
    address: 127.0.0.1
    action: update
template:
  - id: default
    storage: %[1]q
    file: "%%s.zone"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: %[6]s.
    acl: local_update
`, dir, filepath.Join(dir, "knot.pid"), port, userLine, filepath.Join(dir, "knot.sock"), knotZone)
	for name, content := range map[string]string{"knot.conf": conf, knotZone + ".zone": zone} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(knotd, "-c", filepath.Join(dir, "knot.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", knotd, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// Poll the SOA until knotd answers authoritatively: at most 100 tries
	// of 50 ms plus the query timeout.
	q := new(dns.Msg)
	q.SetQuestion(knotZone+".", dns.TypeSOA)
	q.RecursionDesired = false
	cl := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	var last error
	for range 100 {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("knotd exited before answering: %v\nconfig:\n%s\nknotd log:\n%s", err, conf, s.log())
		default:
		}
		m, _, err := cl.Exchange(q, s.addr)
		switch {
		case err != nil:
			last = err
		case m.Rcode != dns.RcodeSuccess || !m.Authoritative || len(m.Answer) == 0:
			last = fmt.Errorf("SOA answer: rcode %s, aa %v, %d answers", dns.RcodeToString[m.Rcode], m.Authoritative, len(m.Answer))
		default:
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("knotd did not answer on %s: %v\nknotd log:\n%s", s.addr, last, s.log())
	return nil
}

// freePort returns a port that is free on 127.0.0.1 for both UDP and TCP.
func freePort(t *testing.T) int {
	t.Helper()
	var errs []error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.Close()
		return port
	}
	t.Fatalf("no port free on both UDP and TCP: %v", errors.Join(errs...))
	return 0
}
