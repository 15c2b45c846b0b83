package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// viewsFixture is a data dir whose tenant "default" holds five users and four
// groups, and tenant "other" one user, all written through the directory
// service three days ago.
type viewsFixture struct {
	dir string
	ids map[string]string // by userName / displayName
}

func newViewsFixture(t *testing.T) *viewsFixture {
	t.Helper()
	ctx := context.Background()
	f := &viewsFixture{dir: t.TempDir(), ids: map[string]string{}}
	db, err := store.Open(ctx, filepath.Join(f.dir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	then := time.Now().Add(-72 * time.Hour)
	svc := directory.New(db, nil, func() time.Time { return then })
	for _, tn := range []string{"default", "other"} {
		if _, err := svc.AddTenant(ctx, tn, "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	create := func(tenant string, kind store.Kind, doc map[string]any) string {
		t.Helper()
		doc["schemas"] = []any{"urn:ietf:params:scim:schemas:core:2.0:" + string(kind)}
		got, err := svc.Create(ctx, directory.Call{TenantID: tenant, BaseURL: "http://fixture", Method: "TEST"}, kind, doc)
		if err != nil {
			t.Fatalf("create %v: %v", doc, err)
		}
		id := got.Doc["id"].(string)
		name, _ := doc["userName"].(string)
		if kind == store.KindGroup {
			name, _ = doc["displayName"].(string)
		}
		f.ids[name] = id
		return id
	}
	work := func(addr string) []any { return []any{map[string]any{"type": "work", "value": addr, "primary": true}} }
	bob := create("default", store.KindUser, map[string]any{"userName": "bob@contoso.com", "displayName": "Bob Boss", "active": true,
		"emails": work("bob@contoso.com"), "externalId": "B0B-EXT"})
	alice := create("default", store.KindUser, map[string]any{
		"userName": "alice@contoso.com", "displayName": "Alice Smith", "active": true, "title": "Engineer",
		"name": map[string]any{"givenName": "Alice", "familyName": "Smith"},
		"emails": []any{
			map[string]any{"type": "work", "value": "alice@contoso.com", "primary": true},
			map[string]any{"type": "home", "value": "alice@example.org"},
		},
		"phoneNumbers": []any{map[string]any{"type": "work", "value": "+1 555 0100"}},
		"addresses": []any{map[string]any{"type": "work", "streetAddress": "1 Main St", "locality": "Seattle",
			"region": "WA", "postalCode": "98101", "country": "US"}},
		"externalId":              "ext-alice",
		scim.SchemaEnterpriseUser: map[string]any{"department": "Engineering", "employeeNumber": "1001", "manager": bob},
	})
	carol := create("default", store.KindUser, map[string]any{"userName": "carol@contoso.com", "displayName": "Carol Jones",
		"active": "False", "emails": work("carol@fabrikam.com"), "externalId": "ext-carol"})
	dave := create("default", store.KindUser, map[string]any{"userName": "dave@contoso.com", "active": true,
		scim.SchemaEnterpriseUser: map[string]any{"manager": "not-provisioned-yet"}})
	erin := create("default", store.KindUser, map[string]any{"userName": "erin@contoso.com"})
	create("other", store.KindUser, map[string]any{"userName": "zed@other.example", "active": true})

	members := func(ids ...string) []any {
		out := make([]any, len(ids))
		for i, id := range ids {
			out[i] = map[string]any{"value": id}
		}
		return out
	}
	platform := create("default", store.KindGroup, map[string]any{"displayName": "Platform", "members": members(alice)})
	create("default", store.KindGroup, map[string]any{"displayName": "Engineering", "externalId": "grp-eng",
		"members": members(alice, bob, carol, platform)})
	create("default", store.KindGroup, map[string]any{"displayName": "Everyone", "members": members(alice, bob, carol, dave, erin)})
	create("default", store.KindGroup, map[string]any{"displayName": "Empty"})
	return f
}

// firstWords returns the first word of each non-empty line of out, in order.
func firstWords(out string) []string {
	var words []string
	for _, l := range strings.Split(out, "\n") {
		if fs := strings.Fields(l); len(fs) > 0 {
			words = append(words, fs[0])
		}
	}
	return words
}

func TestUsersList(t *testing.T) {
	f := newViewsFixture(t)
	all := []string{"alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dave@contoso.com", "erin@contoso.com"}
	tests := []struct {
		name  string
		args  []string
		users []string // the rows, in order
		also  []string // other text the output must contain
	}{
		{"all, sorted by userName", nil, all,
			[]string{"USERNAME", "DISPLAY NAME", "ACTIVE", "EMAIL", "EXTERNAL ID", "GROUPS", "MODIFIED", "3d ago"}},
		{"search userName, any case", []string{"--search", "ALICE"}, []string{"alice@contoso.com"}, nil},
		{"search displayName", []string{"--search", "jones"}, []string{"carol@contoso.com"}, nil},
		{"search work email", []string{"--search", "fabrikam"}, []string{"carol@contoso.com"}, []string{"carol@fabrikam.com"}},
		{"search externalId, other case", []string{"--search", "b0b-ext"}, []string{"bob@contoso.com"}, nil},
		{"search quoting", []string{"--search", `a" or userName pr or "`}, nil, []string{`No users in tenant "default" match.`}},
		{"filter", []string{"--filter", `title eq "Engineer"`}, []string{"alice@contoso.com"}, nil},
		{"filter on the enterprise extension", []string{"--filter", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "engineering"`},
			[]string{"alice@contoso.com"}, nil},
		{"active", []string{"--active"}, []string{"alice@contoso.com", "bob@contoso.com", "dave@contoso.com"}, nil},
		{"inactive", []string{"--inactive"}, []string{"carol@contoso.com"}, nil},
		{"search and inactive", []string{"--search", "contoso", "--inactive"}, []string{"carol@contoso.com"}, nil},
		{"search and filter", []string{"--search", "o", "--filter", `userName sw "b"`}, []string{"bob@contoso.com"}, nil},
		{"limit", []string{"--limit", "2"}, []string{"alice@contoso.com", "bob@contoso.com"}, []string{"2 of 5 users"}},
		{"no match", []string{"--search", "nobody"}, nil, []string{`No users in tenant "default" match.`}},
		{"other tenant", []string{"--tenant", "other"}, []string{"zed@other.example"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, f.dir, append([]string{"users", "list"}, tt.args...)...)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			var got []string
			for _, w := range firstWords(out) {
				if strings.Contains(w, "@") {
					got = append(got, w)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.users, " ") {
				t.Errorf("users = %v, want %v\n%s", got, tt.users, out)
			}
			for _, s := range tt.also {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}

	t.Run("columns", func(t *testing.T) {
		out, _, err := runCLI(t, f.dir, "users", "list")
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []string{
			`(?m)^alice@contoso\.com\s+Alice Smith\s+yes\s+alice@contoso\.com\s+ext-alice\s+3\s+3d ago$`,
			`(?m)^carol@contoso\.com\s+Carol Jones\s+no\s+carol@fabrikam\.com\s+ext-carol\s+2\s+3d ago$`,
			`(?m)^erin@contoso\.com\s+-\s+-\s+-\s+-\s+1\s+3d ago$`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("no line matches %s:\n%s", re, out)
			}
		}
		if strings.Contains(out, " of ") {
			t.Errorf("footer on an untruncated list:\n%s", out)
		}
	})

	t.Run("empty tenant", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := runCLI(t, dir, "tenant", "add", "fresh"); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCLI(t, dir, "users", "list", "--tenant", "fresh")
		if err != nil || !strings.Contains(out, `No users in tenant "fresh" yet`) {
			t.Errorf("got %q, %v", out, err)
		}
	})
}

func TestUsersListJSON(t *testing.T) {
	f := newViewsFixture(t)
	tests := []struct {
		name      string
		args      []string
		userNames []string
		stderr    string
	}{
		{"all", nil, []string{"alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dave@contoso.com", "erin@contoso.com"}, ""},
		{"search", []string{"--search", "Smith"}, []string{"alice@contoso.com"}, ""},
		{"none", []string{"--search", "nobody"}, []string{}, ""},
		{"truncated", []string{"--limit", "1"}, []string{"alice@contoso.com"}, "1 of 5 users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCLI(t, f.dir, append([]string{"users", "list", "--json"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var rows []map[string]any
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("not a JSON array: %v\n%s", err, out)
			}
			got := []string{}
			for _, r := range rows {
				got = append(got, r["user_name"].(string))
			}
			if strings.Join(got, " ") != strings.Join(tt.userNames, " ") {
				t.Errorf("user_name = %v, want %v", got, tt.userNames)
			}
			if !strings.Contains(errOut, tt.stderr) || (tt.stderr == "" && errOut != "") {
				t.Errorf("stderr = %q, want %q", errOut, tt.stderr)
			}
		})
	}

	out, _, err := runCLI(t, f.dir, "users", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	byName := map[string]map[string]any{}
	for _, r := range rows {
		byName[r["user_name"].(string)] = r
	}
	checks := []struct {
		user, key string
		want      any
	}{
		{"alice@contoso.com", "id", f.ids["alice@contoso.com"]},
		{"alice@contoso.com", "groups", []any{"Engineering", "Everyone", "Platform"}},
		{"alice@contoso.com", "email", "alice@contoso.com"},
		{"alice@contoso.com", "external_id", "ext-alice"},
		{"carol@contoso.com", "active", false},
		{"erin@contoso.com", "active", nil},
		{"erin@contoso.com", "groups", []any{"Everyone"}},
	}
	for _, c := range checks {
		got, _ := json.Marshal(byName[c.user][c.key])
		want, _ := json.Marshal(c.want)
		if string(got) != string(want) {
			t.Errorf("%s %s = %s, want %s", c.user, c.key, got, want)
		}
	}
}

func TestUsersShow(t *testing.T) {
	f := newViewsFixture(t)
	alice := []string{
		"alice@contoso.com\n",
		"id:               " + f.ids["alice@contoso.com"],
		"status:           active",
		"name:             Alice Smith",
		"display name:     Alice Smith",
		"title:            Engineer",
		"emails:           alice@contoso.com (work, primary)\n                    alice@example.org (home)",
		"phone numbers:    +1 555 0100 (work)",
		"addresses:        1 Main St, Seattle, WA, 98101, US (work)",
		"department:       Engineering",
		"employee number:  1001",
		"manager:          bob@contoso.com (" + f.ids["bob@contoso.com"] + ")",
		"external id:      ext-alice",
		"groups:           Engineering, Everyone, Platform",
		"3d ago)",
		"version:          1",
	}
	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"by userName", []string{"alice@contoso.com"}, alice, []string{"DISABLED"}},
		{"by userName, other case", []string{"ALICE@Contoso.com"}, alice, nil},
		{"by id", []string{f.ids["alice@contoso.com"]}, alice, nil},
		{"disabled", []string{"carol@contoso.com"}, []string{"carol@contoso.com   [DISABLED]", "status:           DISABLED (active=false)",
			"groups:           Engineering, Everyone"}, []string{"status:           active"}},
		{"manager not provisioned", []string{"dave@contoso.com"}, []string{"manager:          not-provisioned-yet (no such user in this tenant yet)"}, nil},
		{"active not set", []string{"erin@contoso.com"}, []string{"status:           - (active not set)", "groups:           Everyone"}, []string{"manager:"}},
		{"other tenant", []string{"zed@other.example", "--tenant", "other"}, []string{"groups:           none"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, f.dir, append([]string{"users", "show"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}

	t.Run("json is the SCIM document", func(t *testing.T) {
		out, _, err := runCLI(t, f.dir, "users", "show", "alice@contoso.com", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		id := f.ids["alice@contoso.com"]
		meta, _ := doc["meta"].(map[string]any)
		groups, _ := doc["groups"].([]any)
		ent, _ := doc[scim.SchemaEnterpriseUser].(map[string]any)
		manager, _ := ent["manager"].(map[string]any)
		checks := []struct {
			what      string
			got, want any
		}{
			{"id", doc["id"], id},
			{"userName", doc["userName"], "alice@contoso.com"},
			{"meta.location", meta["location"], "http://127.0.0.1:8080/scim/default/v2/Users/" + id},
			{"meta.version", meta["version"], `W/"1"`},
			{"groups", len(groups), 3},
			{"manager.value", manager["value"], f.ids["bob@contoso.com"]},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
			}
		}
	})
}

func TestGroupsList(t *testing.T) {
	f := newViewsFixture(t)
	tests := []struct {
		name string
		args []string
		rows []string // regexps, one per expected row, in order
	}{
		{"all with member counts", nil, []string{`Empty\s+0\s+-\s+3d ago`, `Engineering\s+4\s+grp-eng\s+3d ago`, `Everyone\s+5\s+-\s+3d ago`, `Platform\s+1\s+-\s+3d ago`}},
		{"search, any case", []string{"--search", "ENG"}, []string{`Engineering\s+4`}},
		{"search externalId", []string{"--search", "GRP-"}, []string{`Engineering\s+4`}},
		{"filter on members", []string{"--filter", `members[value eq "` + f.ids["dave@contoso.com"] + `"]`}, []string{`Everyone\s+5`}},
		{"limit", []string{"--limit", "1"}, []string{`Empty\s+0`, `1 of 4 groups`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, f.dir, append([]string{"groups", "list"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != len(tt.rows)+1 || !strings.HasPrefix(lines[0], "DISPLAY NAME") {
				t.Fatalf("got %d lines, want a header and %d rows:\n%s", len(lines), len(tt.rows), out)
			}
			for i, re := range tt.rows {
				if !regexp.MustCompile(`^` + re).MatchString(lines[i+1]) {
					t.Errorf("row %d = %q, want %s", i+1, lines[i+1], re)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		out, _, err := runCLI(t, f.dir, "groups", "list", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var rows []struct {
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			Members     int    `json:"members"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		want := map[string]int{"Empty": 0, "Engineering": 4, "Everyone": 5, "Platform": 1}
		if len(rows) != len(want) {
			t.Fatalf("got %d groups, want %d", len(rows), len(want))
		}
		for _, r := range rows {
			if r.Members != want[r.DisplayName] || r.ID != f.ids[r.DisplayName] {
				t.Errorf("%s: members %d, id %s; want %d, %s", r.DisplayName, r.Members, r.ID, want[r.DisplayName], f.ids[r.DisplayName])
			}
		}
	})
}

func TestGroupsShow(t *testing.T) {
	f := newViewsFixture(t)
	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"by displayName, all members", []string{"Engineering"}, []string{
			"Engineering\n", "id:               " + f.ids["Engineering"], "external id:      grp-eng", "members:          4",
			"Members:\n  alice@contoso.com\n  bob@contoso.com\n  carol@contoso.com\n  group: Platform\n",
		}, []string{"more"}},
		{"by id", []string{f.ids["Everyone"]}, []string{"Everyone\n", "members:          5", "erin@contoso.com"}, nil},
		{"displayName in another case", []string{"platform"}, []string{"Platform\n", "Members:\n  alice@contoso.com\n"}, nil},
		{"truncated", []string{"Everyone", "--members", "2"}, []string{"Members (2 of 5):", "  … and 3 more (--members 5 lists them all)"}, nil},
		{"no member lines", []string{"Engineering", "--members", "0"}, []string{"Members (0 of 4):", "… and 4 more"}, []string{"alice"}},
		{"empty", []string{"Empty"}, []string{"members:          0", "No members."}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, f.dir, append([]string{"groups", "show"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		out, _, err := runCLI(t, f.dir, "groups", "show", "Engineering", "--json", "--members", "1")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			ID      string
			Members []struct{ Value, Type string }
			Meta    struct{ Location string }
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if doc.ID != f.ids["Engineering"] || len(doc.Members) != 4 ||
			doc.Meta.Location != "http://127.0.0.1:8080/scim/default/v2/Groups/"+doc.ID {
			t.Errorf("got %+v", doc)
		}
	})
}

func TestViewsErrors(t *testing.T) {
	f := newViewsFixture(t)
	tests := []struct {
		name    string
		args    []string
		usage   bool
		message string
	}{
		{"unknown user", []string{"users", "show", "nobody@contoso.com"}, false, `no user "nobody@contoso.com" in tenant "default"`},
		{"user of another tenant", []string{"users", "show", "alice@contoso.com", "--tenant", "other"}, false, `no user "alice@contoso.com" in tenant "other"`},
		{"unknown group", []string{"groups", "show", "Nope"}, false, `no group "Nope" in tenant "default"`},
		{"unknown tenant, list", []string{"users", "list", "--tenant", "nope"}, false, `no tenant "nope": see 'roster tenant list'`},
		{"unknown tenant, show", []string{"groups", "show", "x", "--tenant", "nope"}, false, `no tenant "nope"`},
		{"bad filter", []string{"users", "list", "--filter", `userName eq`}, true, `--filter "userName eq": invalid filter at position`},
		{"bad operator", []string{"users", "list", "--filter", `userName is "a"`}, true, "invalid filter"},
		{"bad group filter", []string{"groups", "list", "--filter", `(displayName eq "a"`}, true, "invalid filter"},
		{"active and inactive", []string{"users", "list", "--active", "--inactive"}, true, "exclude each other"},
		{"zero limit", []string{"users", "list", "--limit", "0"}, true, "--limit must be at least 1"},
		{"negative members", []string{"groups", "show", "Empty", "--members", "-1"}, true, "--members must be 0 or more"},
		{"show without argument", []string{"users", "show"}, true, "expects a user id or userName"},
		{"group show, two arguments", []string{"groups", "show", "a", "b"}, true, "expects a group id or displayName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, f.dir, tt.args...)
			if err == nil {
				t.Fatal("got no error")
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error = %q, want it to contain %q", err, tt.message)
			}
			var ue usageError
			if got := asUsage(err, &ue); got != tt.usage {
				t.Errorf("usage error = %v, want %v (exit code 2 vs 1)", got, tt.usage)
			}
		})
	}

	// The exit codes of the real binary.
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"users", "show", "nobody"}, 1},
		{[]string{"users", "list", "--filter", "userName eq"}, 2},
	} {
		cmd := exec.Command(os.Args[0], append([]string{"--data-dir", f.dir}, tt.args...)...)
		cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1")
		out, _ := cmd.CombinedOutput()
		if got := cmd.ProcessState.ExitCode(); got != tt.code {
			t.Errorf("roster %s: exit code %d, want %d\n%s", strings.Join(tt.args, " "), got, tt.code, out)
		}
	}
}
