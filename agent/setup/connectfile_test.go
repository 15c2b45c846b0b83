package setup

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConnectFile: a file's settings apply over the last run's, keys it
// leaves out keep them, unknown keys are refused naming the file, and a
// missing file is the path error.
func TestConnectFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if set := e.svc.Settings(ctx, ""); set.DeleteThreshold != DefaultDeleteThreshold || !set.ProvisionGroups {
		t.Errorf("Settings without a connection = %+v, want the defaults", set)
	}
	prev := DefaultSettings()
	prev.NotificationEmail, prev.DeleteThreshold = "old@example.com", 9
	e.connect(t, ConnectRequest{NewToken: true, Settings: prev})

	dir := t.TempDir()
	path := filepath.Join(dir, "entra.json")
	if err := os.WriteFile(path, []byte(`{"tenant":"default","scope":"all","provision_groups":false,"omit":["manager"],"delete_threshold":0,"match_on_employee_id":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cf, err := LoadConnectFile(path)
	if err != nil || cf.Tenant != "default" {
		t.Fatalf("LoadConnectFile = %+v, %v", cf, err)
	}
	set := e.svc.Settings(ctx, "")
	cf.Apply(&set)
	if !set.SyncAll || set.ProvisionGroups || !slices.Equal(set.Omit, []string{"manager"}) || set.DeleteThreshold != 0 ||
		!set.MatchOnEmployeeID || set.NotificationEmail != "old@example.com" {
		t.Errorf("settings after the file = %+v", set)
	}
	set = e.svc.Settings(ctx, "")
	ConnectFile{}.Apply(&set)
	if set.DeleteThreshold != 9 || set.NotificationEmail != "old@example.com" {
		t.Errorf("an empty file changed the settings: %+v", set)
	}

	if err := os.WriteFile(path, []byte(`{"tenant":"default","colour":"blue"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConnectFile(path); err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), "colour") {
		t.Errorf("LoadConnectFile with an unknown key = %v", err)
	}
	var pe *fs.PathError
	if _, err := LoadConnectFile(filepath.Join(dir, "missing.json")); !errors.As(err, &pe) {
		t.Errorf("LoadConnectFile of a missing file = %v, want a *fs.PathError", err)
	}
}
