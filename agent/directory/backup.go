package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rosterhq/roster/store"
)

// Backup writes a consistent copy of the whole store to the new file dst
// while the agent keeps serving, and checks the copy with SQLite's integrity
// check (store.DB.Backup).
func (s *Service) Backup(ctx context.Context, dst string) error { return s.db.Backup(ctx, dst) }

// ErrAgentRunning is returned by Restore while an agent answers for the store.
var ErrAgentRunning = errors.New("the agent is running")

// Restore replaces the store at dbPath with the backup at src, which must
// pass SQLite's integrity check. It refuses while probe finds the agent
// answering: the agent holds the database open and would keep serving the
// old one. The database it replaces is kept as
// dbPath + ".before-restore-" + now (UTC, e.g. 20260102T150405Z), whose
// path it returns ("" when there was none).
func Restore(ctx context.Context, src, dbPath string, now time.Time, probe AgentProber) (string, error) {
	if probe != nil {
		if st := probe(ctx); st.Reachable {
			return "", fmt.Errorf("%w at %s: stop it first (Ctrl-C, or 'systemctl stop roster' for the service), then restore, then start it again", ErrAgentRunning, st.Address)
		}
	}
	keep := dbPath + ".before-restore-" + now.UTC().Format("20060102T150405Z")
	kept, err := store.Restore(ctx, src, dbPath, keep)
	if !kept {
		keep = ""
	}
	return keep, err
}
