package directory

import (
	"os"
	"testing"

	"github.com/rosterhq/roster/internal/pgtest"
)

// TestMain runs the package's tests on SQLite, then on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(pgtest.MainBackends(m, "agent/directory")) }
