package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/store"
)

// TestChangesAndExport drives `roster changes` and the exports over a store
// written through the directory, as the agent would.
func TestChangesAndExport(t *testing.T) {
	dataDir := t.TempDir()
	if _, _, err := runCLI(t, dataDir, "tenant", "add", "acme"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dataDir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(db, nil, nil)
	c := directory.Call{TenantID: "acme", BaseURL: "http://x"}
	var ids []string
	for _, n := range []string{"ann", "bob", "cy,\"quoted\""} {
		got, err := dir.Create(ctx, c, store.KindUser, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": n, "emails": []any{map[string]any{"type": "work", "value": n + "@x.test"}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.Doc["id"].(string))
	}
	if _, err := dir.Create(ctx, c, store.KindGroup, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "staff", "members": []any{map[string]any{"value": ids[0]}}}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, _, err := runCLI(t, dataDir, "changes", "--tenant", "acme", "--json", "--after", "1")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("changes after 1: %d lines\n%s", len(lines), out)
	}
	var last feed.Change
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.Seq != 4 || last.Type != feed.GroupCreated {
		t.Fatalf("last line %s (%v)", lines[2], err)
	}
	out, _, err = runCLI(t, dataDir, "changes", "--tenant", "acme", "--types", "group.*")
	if err != nil || !strings.Contains(out, "group.created") || strings.Contains(out, "user.created") {
		t.Fatalf("changes --types group.*: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, dataDir, "changes", "--tenant", "acme", "--types", "user.nope"); err == nil {
		t.Fatal("an unknown type was accepted")
	}
	if _, _, err := runCLI(t, dataDir, "changes", "--tenant", "acme", "--after", "99"); err == nil || !strings.Contains(err.Error(), "snapshot") {
		t.Fatalf("--after beyond the log: %v", err)
	}

	out, _, err = runCLI(t, dataDir, "users", "export", "--tenant", "acme", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][1] != "userName" || rows[3][1] != "cy,\"quoted\"" || rows[1][5] != "ann@x.test" || rows[1][0] != ids[0] {
		t.Fatalf("users csv (%v):\n%s", err, out)
	}
	out, _, err = runCLI(t, dataDir, "users", "export", "--tenant", "acme")
	if err != nil || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 || !strings.Contains(out, `"userName":"bob"`) {
		t.Fatalf("users jsonl (%v):\n%s", err, out)
	}
	out, _, err = runCLI(t, dataDir, "groups", "export", "--tenant", "acme", "--format", "jsonl")
	var g map[string]any
	if err != nil || json.Unmarshal([]byte(out), &g) != nil || g["displayName"] != "staff" || len(g["members"].([]any)) != 1 {
		t.Fatalf("groups jsonl (%v):\n%s", err, out)
	}
	if _, _, err := runCLI(t, dataDir, "users", "export", "--tenant", "acme", "--format", "xml"); err == nil {
		t.Fatal("--format xml was accepted")
	}
}
