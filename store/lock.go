package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockedError is returned by Open with Options.Exclusive when another
// process holds the database's lock: another agent runs on the same data
// directory.
type LockedError struct {
	// Path is the lock file.
	Path string
	// PID is the process that holds it, 0 if it could not be read.
	PID int
}

// Error implements error.
func (e *LockedError) Error() string {
	who := "another roster agent"
	if e.PID > 0 {
		who += " (PID " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("%s is already running on the data directory %s; stop it first (e.g. systemctl stop roster), or give this one another --data-dir",
		who, filepath.Dir(e.Path))
}

// errLocked is what tryLock returns when another open file holds the lock.
var errLocked = errors.New("locked")

// lockPath is the lock file of the database at path.
func lockPath(path string) string { return path + ".lock" }

// lock takes the exclusive lock of the database at path: an advisory lock
// (flock, or LockFileEx on Windows) on path.lock, held for as long as the
// returned file is open, with this process's id written in it for the
// error of the next one. The operating system releases the lock when the
// process ends however it ends, so a file left by a killed agent never
// blocks the next start.
func lock(path string) (*os.File, error) {
	lp := lockPath(path)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if err := tryLock(f); err != nil {
		defer f.Close()
		if errors.Is(err, errLocked) {
			b, _ := io.ReadAll(io.LimitReader(f, 32))
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &LockedError{Path: lp, PID: pid}
		}
		return nil, fmt.Errorf("lock the data directory: %s: %w", lp, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the data directory: write %s: %w", lp, err)
	}
	return f, nil
}

// unlock empties the lock file and releases the lock.
func unlock(f *os.File) error {
	if f == nil {
		return nil
	}
	f.Truncate(0) //nolint:errcheck // an old PID in the file is harmless
	return f.Close()
}
