package sysservice

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/store"
)

const configFileName = config.FileName

// plan is what Install will do, decided before anything changes.
type plan struct {
	unit    string
	account string
	acct    *account // nil until the account exists
	source  string   // foreground data directory whose store moves ("" none)
	inPlace bool     // source is the service's state directory itself
	cfg     config.Config
	cfgFrom string // the configuration file installed ("" = the defaults)
	keepCfg bool   // the service's own configuration file stays as it is
	files   []fileCopy
}

type fileCopy struct{ from, to string }

// account is the service's account as the kernel sees it.
type account struct {
	name     string
	uid, gid int
	gids     []int
}

func lookupAccount(lookup func(string) (*user.User, error), name string) (*account, error) {
	u, err := lookup(name)
	if err != nil {
		return nil, err
	}
	a := &account{name: name}
	if a.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	if a.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	a.gids = []int{a.gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if n, err := strconv.Atoi(id); err == nil && !slices.Contains(a.gids, n) {
				a.gids = append(a.gids, n)
			}
		}
	}
	return a, nil
}

// may reports, from the permission bits (path_resolution(7); ACLs are not
// read), whether the account a may search every directory above path and
// use path itself as bit says (4 read, 1 execute). A nil account is one
// still to be created: only the bits for others apply to it.
func (a *account) may(path string, bit fs.FileMode) error {
	if a != nil && a.uid == 0 {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	check := func(p string, bit fs.FileMode) error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		st, _ := fi.Sys().(*syscall.Stat_t)
		switch {
		case a != nil && st != nil && int(st.Uid) == a.uid:
			mode >>= 6
		case a != nil && st != nil && slices.Contains(a.gids, int(st.Gid)):
			mode >>= 3
		}
		if mode&bit == 0 {
			what := "read"
			if bit == 1 {
				what = "use"
			}
			owner := ""
			if st != nil {
				owner = fmt.Sprintf(", owner %d:%d", st.Uid, st.Gid)
			}
			return fmt.Errorf("cannot %s %s (mode %04o%s)", what, p, fi.Mode().Perm(), owner)
		}
		return nil
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if err := check(dir, 1); err != nil {
			return err
		}
		if dir == "/" {
			break
		}
	}
	return check(abs, bit)
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// sameFile reports whether a and b name the same file or directory.
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(fa, fb)
}

// plan checks everything Install needs and decides what it will do.
func (in *Installer) plan(o Options) (*plan, error) {
	p := &plan{account: accountName(o)}
	exe, err := Binary(o.Binary, in.Executable)
	if err != nil {
		return nil, err
	}
	if p.unit, err = renderUnit(exe, agentArgs(), p.account); err != nil {
		return nil, err
	}
	if err := in.needRoot("install"); err != nil {
		return nil, err
	}
	if in.system() {
		if _, err := os.Stat("/run/systemd/system"); err != nil {
			return nil, errors.New("systemd is not running on this host (no /run/systemd/system): print the unit with --print and adapt it, or run 'roster agent' under your init system")
		}
	}
	if dir := in.hidden(exe); dir != "" {
		return nil, fmt.Errorf("%s is under %s, which the service cannot see (ProtectHome=yes, PrivateTmp=yes): "+
			"copy it first (sudo install -m 0755 %s /usr/local/bin/roster), then run 'sudo /usr/local/bin/roster service install'", exe, dir, exe)
	}
	if fi, err := os.Stat(exe); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not an executable file; pass --binary with the path of the roster binary", exe)
	}
	switch a, err := lookupAccount(in.LookupUser, p.account); {
	case err == nil:
		p.acct = a
	case o.User != "":
		return nil, optionErrorf("user %q does not exist: create it (sudo useradd --system --no-create-home --shell /usr/sbin/nologin %s), or omit --user to run as %q, which install creates",
			o.User, o.User, DefaultUser)
	}
	if err := p.acct.may(exe, 1); err != nil {
		return nil, fmt.Errorf("the service's account %s could not start the agent: it %v; install the binary where every user may run it, e.g. /usr/local/bin/roster", p.account, err)
	}

	// The configuration, and the foreground setup it may name.
	dst := filepath.Join(in.Paths.ConfigDir, configFileName)
	dataDir := o.DataDir
	keepNamed := o.Config != "" && sameFile(o.Config, dst) // --config /etc/roster/config.json
	if o.Config != "" && !keepNamed {
		if p.cfg, err = config.Load(o.Config); err != nil {
			return nil, &OptionError{err}
		}
		p.cfgFrom = o.Config
		if dataDir == "" {
			dataDir = p.cfg.DataDir
		}
	}
	if dataDir != "" {
		src, err := filepath.Abs(dataDir)
		if err != nil {
			return nil, err
		}
		p.inPlace = sameFile(src, in.Paths.StateDir)
		switch {
		case FindDataDir(src) != "":
			p.source = src
		case !p.inPlace:
			return nil, optionErrorf("there is no Roster store (%s) in %s: give the data directory of the foreground setup with --data-dir", storeFile, src)
		}
	}
	if p.source != "" && !p.inPlace && exists(filepath.Join(in.Paths.StateDir, storeFile)) && !o.Replace {
		return nil, optionErrorf("the service already has a store in %s: pass --replace to replace it with the one in %s "+
			"(the service's is kept beside it, renamed), or keep the service's with --data-dir %s", in.Paths.StateDir, p.source, in.Paths.StateDir)
	}
	if p.cfgFrom == "" {
		switch fg := filepath.Join(p.source, ForegroundConfig); {
		case p.source != "" && exists(fg) && !keepNamed:
			if p.cfg, err = config.Load(fg); err != nil {
				return nil, &OptionError{err}
			}
			p.cfgFrom = fg
		case exists(dst):
			if p.cfg, err = config.Load(dst); err != nil {
				return nil, &OptionError{err}
			}
			p.keepCfg = true
		default:
			p.cfg = config.Default()
		}
	}
	if !p.keepCfg {
		p.cfg.DataDir = "" // the agent uses $STATE_DIRECTORY
	}
	if err := p.cfg.Validate(); err != nil {
		return nil, optionErrorf("the configuration %s is invalid (check it with 'roster config check'): %w", orDefaults(p.cfgFrom, p.keepCfg, dst), err)
	}
	if err := in.planFiles(p); err != nil {
		return nil, err
	}
	return p, nil
}

func orDefaults(from string, keep bool, dst string) string {
	switch {
	case keep:
		return dst
	case from == "":
		return "(the defaults)"
	}
	return from
}

// planFiles decides, for each file the configuration names, whether the
// service can read it where it is or it must be copied under the
// configuration directory (it lies where the unit hides it).
func (in *Installer) planFiles(p *plan) error {
	type named struct {
		field *string
		key   string
		name  string
	}
	var files []named
	switch p.cfg.TLS.Mode {
	case config.TLSModeFiles:
		files = []named{{&p.cfg.TLS.CertFile, "tls.cert_file", "cert.pem"}, {&p.cfg.TLS.KeyFile, "tls.key_file", "key.pem"}}
	case config.TLSModeACME:
		files = []named{{&p.cfg.TLS.ACME.CARoot, "tls.acme.ca_root", "ca-root.pem"}}
	}
	for _, f := range files {
		if *f.field == "" {
			continue
		}
		path, err := filepath.Abs(*f.field)
		if err != nil {
			return err
		}
		if dir := in.hidden(path); dir != "" {
			if p.keepCfg {
				return fmt.Errorf("%s in %s is %s, under %s, which the service cannot see (ProtectHome=yes, PrivateTmp=yes): "+
					"copy it under %s and change %s", f.key, filepath.Join(in.Paths.ConfigDir, configFileName), path, dir, in.Paths.ConfigDir, f.key)
			}
			to := filepath.Join(in.Paths.ConfigDir, "tls", f.name)
			p.files = append(p.files, fileCopy{path, to})
			*f.field = to
			continue
		}
		if err := p.acct.may(path, 4); err != nil {
			return fmt.Errorf("%s: the service's account %s %v: let it read the file (sudo chgrp %s FILE && sudo chmod 0640 FILE, and let it through the directories above), "+
				"or copy the file under %s and change %s", f.key, p.account, err, p.account, in.Paths.ConfigDir, f.key)
		}
	}
	return nil
}

// ensureAccount creates the default account when it is missing and
// returns it.
func (in *Installer) ensureAccount(ctx context.Context, p *plan) (*account, error) {
	if p.acct != nil {
		return p.acct, nil
	}
	err := in.Run(ctx, in.Out, in.ErrOut, "useradd", "--system", "--user-group", "--home-dir", in.Paths.StateDir,
		"--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "Roster SCIM agent", p.account)
	if err != nil {
		return nil, fmt.Errorf("create the system account %s: %w", p.account, err)
	}
	a, err := lookupAccount(in.LookupUser, p.account)
	if err != nil {
		return nil, fmt.Errorf("the system account %s was created but cannot be found: %w", p.account, err)
	}
	in.say("created the system account %s (uid %d)", a.name, a.uid)
	return a, nil
}

// holders returns the other processes that have one of files open.
func (in *Installer) holders(files []string) []Process {
	self := os.Getpid()
	ents, err := os.ReadDir(in.Proc)
	if err != nil {
		return nil
	}
	var out []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir(filepath.Join(in.Proc, e.Name(), "fd"))
		if err != nil { // gone, or not ours to see
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(in.Proc, e.Name(), "fd", fd.Name()))
			if err == nil && slices.Contains(files, link) {
				cmd, _ := os.ReadFile(filepath.Join(in.Proc, e.Name(), "cmdline"))
				out = append(out, Process{PID: pid, Command: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))})
				break
			}
		}
	}
	return out
}

// stopHolders stops, with SIGTERM (a graceful stop for the agent), the
// processes that hold the store db open, and waits until none does.
func (in *Installer) stopHolders(ctx context.Context, db string) ([]Process, error) {
	if r, err := filepath.EvalSymlinks(db); err == nil {
		db = r
	}
	files := []string{db, db + "-wal"}
	procs := in.holders(files)
	for _, p := range procs {
		in.say("stopping pid %d (%s), which holds %s", p.PID, p.Command, db)
		if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return procs, fmt.Errorf("stop pid %d (%s), which holds %s: %w; stop it yourself (Ctrl-C in its terminal) and run install again", p.PID, p.Command, db, err)
		}
	}
	deadline := time.Now().Add(in.StopTimeout)
	for {
		left := in.holders(files)
		if len(left) == 0 {
			return procs, nil
		}
		if time.Now().After(deadline) {
			p := left[0]
			return procs, fmt.Errorf("pid %d (%s) still holds %s %s after SIGTERM: stop it (Ctrl-C in its terminal, or kill %d) and run install again",
				p.PID, p.Command, db, in.StopTimeout, p.PID)
		}
		select {
		case <-ctx.Done():
			return procs, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// moveState copies the foreground store (and the ACME certificates) into
// the state directory, moves the foreground store aside, and gives the
// whole state directory to the account, readable by it alone.
func (in *Installer) moveState(ctx context.Context, p *plan, a *account, res *Result) error {
	state := in.Paths.StateDir
	if err := mkdir(state, 0o700); err != nil {
		return fmt.Errorf("create the state directory: %w", err)
	}
	if p.source != "" && !p.inPlace {
		stamp := time.Now().UTC().Format("20060102T150405Z")
		dst := filepath.Join(state, storeFile)
		if exists(dst) { // Replace was given (plan checked)
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := renameIfExists(dst+suffix, dst+".replaced-"+stamp+suffix); err != nil {
					return err
				}
			}
			if err := renameIfExists(filepath.Join(state, "certmagic"), filepath.Join(state, "certmagic.replaced-"+stamp)); err != nil {
				return err
			}
			in.say("kept the service's previous store as %s", dst+".replaced-"+stamp)
		}
		src := filepath.Join(p.source, storeFile)
		db, err := store.Open(ctx, src, store.Options{})
		if err != nil {
			return fmt.Errorf("open the foreground store: %w", err)
		}
		err = db.Backup(ctx, dst)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("copy %s into the service: %w", src, err)
		}
		in.say("copied the store %s to %s (checked with SQLite's integrity check)", src, dst)
		if certs := filepath.Join(p.source, "certmagic"); exists(certs) {
			if err := copyTree(certs, filepath.Join(state, "certmagic")); err != nil {
				return fmt.Errorf("copy the ACME certificates: %w", err)
			}
			res.Copied = append(res.Copied, certs+" -> "+filepath.Join(state, "certmagic"))
		}
		aside := src + ".moved-" + stamp
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := renameIfExists(src+suffix, aside+suffix); err != nil {
				return fmt.Errorf("move the foreground store aside: %w", err)
			}
		}
		res.MovedFrom, res.MovedAside = p.source, aside
		in.say("moved the foreground store aside to %s, so that no foreground agent serves it again", aside)
	}
	// An earlier install with DynamicUser=yes left /var/lib/roster as a
	// symlink to /var/lib/private/roster: give what it points to.
	if r, err := filepath.EvalSymlinks(state); err == nil {
		state = r
	}
	if err := ownTree(state, a.uid, a.gid); err != nil {
		return fmt.Errorf("give %s to %s: %w", state, a.name, err)
	}
	return nil
}

// writeConfig installs the configuration (and copies the files it names)
// into the configuration directory: root-owned, group the account's, not
// readable by others.
func (in *Installer) writeConfig(p *plan, a *account, res *Result) error {
	dir := in.Paths.ConfigDir
	if err := mkdir(dir, 0o750); err != nil {
		return fmt.Errorf("create the configuration directory: %w", err)
	}
	if err := setOwner(dir, a.gid, 0o750); err != nil {
		return err
	}
	for _, f := range p.files {
		if err := os.MkdirAll(filepath.Dir(f.to), 0o750); err != nil {
			return err
		}
		if err := setOwner(filepath.Dir(f.to), a.gid, 0o750); err != nil {
			return err
		}
		if err := copyFile(f.from, f.to, 0o640); err != nil {
			return fmt.Errorf("copy %s: %w", f.from, err)
		}
		if err := setOwner(f.to, a.gid, 0o640); err != nil {
			return err
		}
		res.Copied = append(res.Copied, f.from+" -> "+f.to)
		in.say("copied %s to %s (renewals must now write the copy)", f.from, f.to)
	}
	dst := filepath.Join(dir, configFileName)
	if !p.keepCfg {
		if err := p.cfg.Write(dst); err != nil {
			return err
		}
		if p.cfgFrom != "" {
			in.say("installed the configuration %s as %s (data_dir: the service's state directory)", p.cfgFrom, dst)
		} else {
			in.say("wrote the default configuration to %s; edit it, then: sudo systemctl restart %s", dst, Name)
		}
	}
	return setOwner(dst, a.gid, 0o640)
}

// setOwner gives path to group gid (the owner stays the installing
// administrator) with mode perm.
func setOwner(path string, gid int, perm fs.FileMode) error {
	if err := os.Lchown(path, -1, gid); err != nil {
		return fmt.Errorf("set the group of %s: %w", path, err)
	}
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("set the mode of %s: %w", path, err)
	}
	return nil
}

// ownTree gives root and everything below it to uid:gid, directories 0700
// and files without any access for group and others, as the unit's
// UMask=0077 would have created them.
func ownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm() &^ 0o077
		if d.IsDir() {
			perm = 0o700
		}
		return os.Chmod(path, perm)
	})
}

// mkdir creates dir with mode perm, and the directories above it (like
// /var/lib) searchable by everybody.
func mkdir(dir string, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	return os.MkdirAll(dir, perm)
}

func renameIfExists(from, to string) error {
	if err := os.Rename(from, to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// copyFile copies a regular file to a new file with mode perm, through
// writeFileAtomic (the files copied are certificates and keys: small).
func copyFile(from, to string, perm fs.FileMode) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return writeFileAtomic(to, b, perm)
}

// copyTree copies the directory from to a new directory to (regular files
// and directories only).
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			return copyFile(path, target, 0o600)
		}
		return nil
	})
}
