package directory

import (
	"os"
	"testing"

	"github.com/rosterhq/roster/internal/pgtest"
)

// TestMain stops the PostgreSQL cluster the tests may have started.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
