package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/scim/filter"
)

// The copy tests read from a real SQLite file and copy into the pass's
// backend: another SQLite file on the SQLite pass, a fresh PostgreSQL
// database on the PostgreSQL pass (the case roster migrate --to is for).

// openSource opens a new SQLite store as roster migrate does: exclusively.
func openSource(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "roster.db"), Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// populate fills every copied table of db with a little of everything an
// agent stores, and returns the tenants' ids.
func populate(t *testing.T, db *DB) []string {
	t.Helper()
	addTenant(t, db, "acme")
	addTenant(t, db, "beta")
	ada := newUser("acme", "u-ada", "Ada@Example.com")
	ada.Doc["emails"] = []any{
		map[string]any{"type": "work", "value": "ada@example.com"},
		map[string]any{"type": "work", "value": "ada.l@example.com"}, // two: the multi-email marker
	}
	bob := newUser("acme", "u-bob", "bob@example.com")
	bob.Doc["emails"] = []any{map[string]any{"type": "work", "value": "bob@example.com"}}
	eng := newGroup("acme", "g-eng", "Engineering")
	all := newGroup("acme", "g-all", "Everyone")
	cyd := newUser("beta", "u-cyd", "cyd@beta.example")
	insert(t, db, ada, bob, eng, all, cyd)
	later := t0.Add(time.Hour)
	mustWrite(t, db, func(tx *Tx) error {
		if _, err := tx.AddMembers("acme", eng.Seq, []Member{{Value: "u-ada", Type: KindUser}, {Value: "u-bob", Type: KindUser}}); err != nil {
			return err
		}
		if _, err := tx.AddMembers("acme", all.Seq, []Member{{Value: "g-eng", Type: KindGroup}, {Value: "u-ada", Type: KindUser}}); err != nil {
			return err
		}
		if err := tx.InsertOAuthClient(&OAuthClient{ID: "oc_1", TenantID: "acme", Name: "entra", Kind: OAuthSecret, Created: t0}); err != nil {
			return err
		}
		if err := tx.InsertOAuthClientSecret(&OAuthClientSecret{ID: "s1", ClientID: "oc_1", Hash: []byte{0, 1, 2, 0xff}, Created: t0, Expires: later}); err != nil {
			return err
		}
		for _, k := range []*Token{
			{ID: "tok1", TenantID: "acme", Name: "entra", Hash: []byte("hash-1\x00"), Created: t0, LastUsed: &later},
			{ID: "tok2", TenantID: "acme", Name: "app", Hash: []byte("hash-2"), App: true, ReadOnly: true, Created: t0, Revoked: &later},
			{ID: "tok3", TenantID: "acme", Name: "entra", Hash: []byte("hash-3"), Created: t0, Expires: &later, ClientID: "oc_1"},
			{ID: "tok4", TenantID: "beta", Name: "entra", Hash: []byte("hash-4"), Created: t0},
		} {
			if err := tx.InsertToken(k); err != nil {
				return err
			}
		}
		if err := tx.TouchToken("tok1", later); err != nil {
			return err
		}
		if err := tx.InsertWebhook(&Webhook{ID: "wh_1", TenantID: "acme", URL: "https://hooks.example/roster", Format: "json",
			Secret: "whsec_x", Created: t0, State: WebhookFailing, Cursor: 2, FailingSince: &later, Detail: "503"}); err != nil {
			return err
		}
		if err := tx.InsertWebhookDeliveries([]WebhookDelivery{
			{WebhookID: "wh_1", Seq: 1, ChangeID: "c1", Attempt: 1, Time: t0, Status: 200, Duration: time.Millisecond},
			{WebhookID: "wh_1", Seq: 2, ChangeID: "c2", Attempt: 1, Time: later, Status: 503, Error: "Service Unavailable", Duration: time.Second},
		}); err != nil {
			return err
		}
		if err := tx.InsertDomain(&Domain{TenantID: "acme", Domain: "example.com", RecordName: "_roster-challenge.example.com",
			Value: "roster-verification=x", Status: DomainVerified, Created: t0, WindowStart: t0, VerifiedAt: &later, NextCheck: &later}); err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			if err := tx.InsertEvent(&Event{At: t0.Add(time.Duration(i) * time.Minute), TenantID: "acme", TokenName: "entra", Method: "POST",
				Path: "/Users", ResourceType: "User", ResourceID: "u-ada", Name: "Ada@Example.com", Status: 201, Duration: time.Millisecond}); err != nil {
				return err
			}
		}
		if err := tx.SetSetting("entra.app", `{"id":"1"}`); err != nil {
			return err
		}
		if err := tx.PutCertData("certificates/acme/example.com/example.com.key", []byte("-----BEGIN KEY-----\x00\x01"), t0); err != nil {
			return err
		}
		if err := tx.PutCertData("acme/account.json", []byte(`{"status":"valid"}`), later); err != nil {
			return err
		}
		if err := tx.PutCertData("ocsp/empty", []byte{}, later); err != nil { // an empty BLOB is not NULL
			return err
		}
		// A change log of five changes per tenant, written an hour apart.
		for i := 0; i < 5; i++ {
			for _, tn := range []string{"acme", "beta"} {
				at := t0.Add(time.Duration(i) * time.Hour)
				if _, err := tx.AppendChange(tn, tn+"-c"+string(rune('0'+i)), "user.created", at, []byte(`{"id":"x"}`)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	// Prune the first two changes of each tenant: the log goes on from a cut.
	mustWrite(t, db, func(tx *Tx) error {
		_, err := tx.PruneChanges(t0.Add(2 * time.Hour))
		return err
	})
	return []string{"acme", "beta"}
}

// storeView is what the agent reads from a store, through the store's API.
type storeView struct {
	Users, Groups []*Resource
	Multi         []string // users matched by a second work email
	Members       map[string][]Member
	Tokens        []*Token
	Clients       []*OAuthClient
	Webhooks      []*Webhook
	Deliveries    []WebhookDelivery
	Domains       []*Domain
	Events        []*Event
	Changes       []Change
	Heads         [][2]int64
	Setting       string
	Certs         map[string]string
}

func readView(t *testing.T, db *DB, tenants []string) storeView {
	t.Helper()
	v := storeView{Members: map[string][]Member{}, Certs: map[string]string{}}
	expr, err := filter.Parse(`emails[type eq "work"].value eq "ada.l@example.com"`)
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, db, func(tx *Tx) error {
		for _, tn := range tenants {
			for _, k := range []Kind{KindUser, KindGroup} {
				p, err := tx.Query(Query{TenantID: tn, Kind: k, Count: -1, WithGroups: true})
				if err != nil {
					return err
				}
				for _, r := range p.Resources {
					r.Raw, r.Written = nil, nil
					if k == KindGroup {
						ms, err := tx.Members(r.Seq)
						if err != nil {
							return err
						}
						v.Members[r.ID] = ms
					}
				}
				if k == KindUser {
					v.Users = append(v.Users, p.Resources...)
				} else {
					v.Groups = append(v.Groups, p.Resources...)
				}
			}
			p, err := tx.Query(Query{TenantID: tn, Kind: KindUser, Count: -1, Filter: expr, Match: matchFunc(KindUser, expr)})
			if err != nil {
				return err
			}
			for _, r := range p.Resources {
				v.Multi = append(v.Multi, r.ID)
			}
			toks, err := tx.Tokens(tn)
			if err != nil {
				return err
			}
			v.Tokens = append(v.Tokens, toks...)
			if k, err := tx.Token("tok3"); err == nil && tn == "acme" {
				v.Tokens = append(v.Tokens, k)
			}
			cs, err := tx.OAuthClients(tn)
			if err != nil {
				return err
			}
			v.Clients = append(v.Clients, cs...)
			ws, err := tx.Webhooks(tn)
			if err != nil {
				return err
			}
			v.Webhooks = append(v.Webhooks, ws...)
			ds, err := tx.Domains(tn)
			if err != nil {
				return err
			}
			v.Domains = append(v.Domains, ds...)
			ch, err := tx.Changes(tn, 0, 100, nil)
			if err != nil {
				return err
			}
			v.Changes = append(v.Changes, ch...)
			last, cut, err := tx.ChangeHead(tn)
			if err != nil {
				return err
			}
			v.Heads = append(v.Heads, [2]int64{last, cut})
		}
		if v.Deliveries, err = tx.WebhookDeliveries(WebhookDeliveryQuery{}); err != nil {
			return err
		}
		if v.Events, err = tx.Events(EventQuery{}); err != nil {
			return err
		}
		if v.Setting, err = tx.Setting("entra.app"); err != nil {
			return err
		}
		keys, err := tx.CertDataKeys("")
		if err != nil {
			return err
		}
		for _, k := range keys {
			b, _, err := tx.CertData(k)
			if err != nil {
				return err
			}
			v.Certs[k] = string(b)
		}
		return nil
	})
	return v
}

// TestCopy copies a populated SQLite store; the copy verifies, serves the
// same reads, and goes on from the copied seqs.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	src := openSource(t)
	tenants := populate(t, src)
	dst := openTest(t, Options{})
	progress := map[string]int64{}
	calls := 0
	rep, err := Copy(ctx, src, dst, CopyOptions{BatchRows: 2, Progress: func(table string, rows int64) {
		if rows <= progress[table] {
			t.Errorf("progress of %s went from %d to %d rows", table, progress[table], rows)
		}
		progress[table] = rows
		calls++
	}})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if len(rep.Mismatches()) != 0 {
		t.Fatalf("Mismatches = %+v", rep.Mismatches())
	}
	if len(rep.Tables) != len(copyTables) {
		t.Fatalf("report has %d tables, want %d", len(rep.Tables), len(copyTables))
	}
	for _, tr := range rep.Tables {
		if tr.SourceRows == 0 {
			t.Errorf("table %s: the populated store has no rows in it; populate every table", tr.Table)
		}
		if tr.Copied != tr.SourceRows || tr.DestRows != tr.SourceRows || tr.SourceChecksum != tr.DestChecksum || len(tr.SourceChecksum) != 64 {
			t.Errorf("table %s: %+v", tr.Table, tr)
		}
		if progress[tr.Table] != tr.Copied {
			t.Errorf("table %s: progress said %d rows, copied %d", tr.Table, progress[tr.Table], tr.Copied)
		}
	}
	if calls <= len(copyTables) {
		t.Errorf("%d progress calls for batches of 2 rows; want more than one per table", calls)
	}

	want, got := readView(t, src, tenants), readView(t, dst, tenants)
	if len(want.Users) != 3 || len(want.Groups) != 2 || len(want.Members) != 2 || len(want.Multi) != 1 || len(want.Changes) != 6 || want.Heads[0] != [2]int64{5, 2} {
		t.Fatalf("the source view is not what populate wrote: %+v", want)
	}
	if !reflect.DeepEqual(want, got) {
		wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
		for i := 0; i < wv.NumField(); i++ {
			if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
				t.Errorf("%s differ after the copy:\nsource:      %#v\ndestination: %#v", wv.Type().Field(i).Name, wv.Field(i).Interface(), gv.Field(i).Interface())
			}
		}
	}

	// The copy goes on: the next change's seq follows the copied ones, and
	// new rows of tables with a rowid get new numbers.
	dan := newUser("acme", "u-dan", "dan@example.com")
	mustWrite(t, dst, func(tx *Tx) error {
		for _, tn := range tenants {
			seq, err := tx.AppendChange(tn, tn+"-next", "user.created", t0.Add(6*time.Hour), []byte(`{}`))
			if err != nil {
				return err
			}
			if seq != 6 {
				t.Errorf("tenant %s: next seq after the copy = %d, want 6", tn, seq)
			}
		}
		if err := tx.InsertResource(dan); err != nil {
			return err
		}
		if err := tx.InsertEvent(&Event{At: t0, TenantID: "acme", Method: "GET", Path: "/Users", Status: 200}); err != nil {
			return err
		}
		return tx.InsertWebhookDeliveries([]WebhookDelivery{{WebhookID: "wh_1", Seq: 3, ChangeID: "c3", Attempt: 1, Time: t0, Status: 200}})
	})
	for _, u := range got.Users {
		if dan.Seq <= u.Seq {
			t.Errorf("a new user got seq %d, not after the copied %s's %d", dan.Seq, u.ID, u.Seq)
		}
	}
}

// TestCopyRefusesNonEmptyDestination: a destination with data is left as
// it is unless Replace, which then replaces it.
func TestCopyRefusesNonEmptyDestination(t *testing.T) {
	ctx := context.Background()
	src := openSource(t)
	tenants := populate(t, src)
	dst := openTest(t, Options{})
	addTenant(t, dst, "other")
	insert(t, dst, newUser("other", "u-1", "someone@other.example"))
	_, err := Copy(ctx, src, dst, CopyOptions{})
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "tenants") || !strings.Contains(err.Error(), "resources") {
		t.Fatalf("Copy into a store with data = %v; want ErrNotEmpty naming tenants and resources", err)
	}
	mustRead(t, dst, func(tx *Tx) error {
		if n, err := countRows(tx, "tenants"); n != 1 || err != nil {
			t.Errorf("the refused destination has %d tenants (%v), want its own 1", n, err)
		}
		return nil
	})

	rep, err := Copy(ctx, src, dst, CopyOptions{Replace: true})
	if err != nil {
		t.Fatalf("Copy with Replace: %v", err)
	}
	if len(rep.Mismatches()) != 0 {
		t.Fatalf("Mismatches = %+v", rep.Mismatches())
	}
	mustRead(t, dst, func(tx *Tx) error {
		if _, err := tx.Tenant("other"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Tenant(other) after Replace = %v, want ErrNotFound", err)
		}
		return nil
	})
	if want, got := readView(t, src, tenants), readView(t, dst, tenants); !reflect.DeepEqual(want.Changes, got.Changes) || !reflect.DeepEqual(want.Users, got.Users) {
		t.Errorf("after Replace the destination reads differently")
	}
}

// TestVerifyCopyDetectsTampering: one changed value, or one row missing,
// on the destination fails the verification and names the table.
func TestVerifyCopyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	src := openSource(t)
	populate(t, src)
	dst := openTest(t, Options{})
	if _, err := Copy(ctx, src, dst, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, dst, func(tx *Tx) error {
		_, err := tx.exec(`UPDATE tokens SET name = 'entra2' WHERE id = 'tok1'`)
		return err
	})
	rep, err := VerifyCopy(ctx, src, dst)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "tokens: the same number of rows (4), different contents") {
		t.Fatalf("VerifyCopy after changing a token = %v", err)
	}
	if bad := rep.Mismatches(); len(bad) != 1 || bad[0].Table != "tokens" || bad[0].SourceRows != bad[0].DestRows {
		t.Errorf("Mismatches = %+v, want tokens alone", bad)
	}

	mustWrite(t, dst, func(tx *Tx) error {
		_, err := tx.exec(`UPDATE tokens SET name = 'entra' WHERE id = 'tok1'`)
		if err == nil {
			_, err = tx.exec(`DELETE FROM certmagic_data WHERE key = 'acme/account.json'`)
		}
		return err
	})
	rep, err = VerifyCopy(ctx, src, dst)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "certmagic_data: 3 rows in the source, 2 in the destination") {
		t.Fatalf("VerifyCopy after deleting a row = %v", err)
	}
	if bad := rep.Mismatches(); len(bad) != 1 || bad[0].Table != "certmagic_data" {
		t.Errorf("Mismatches = %+v, want certmagic_data alone", bad)
	}
}

// TestCopyTablesCoverSchema: copyTables names every table and column of
// both schemas, but for those Copy leaves out on purpose.
func TestCopyTablesCoverSchema(t *testing.T) {
	want := map[string][]string{}
	for _, ct := range copyTables {
		for _, c := range ct.cols {
			want[ct.name] = append(want[ct.name], c.name)
		}
		sort.Strings(want[ct.name])
	}
	skip := map[string]bool{"schema_migrations": true, "locks": true, "change_heads": true, "write_gate": true}
	for _, db := range []*DB{openSource(t), openTest(t, Options{})} {
		q := `SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
		if db.d.postgres {
			q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`
		}
		got := map[string][]string{}
		mustRead(t, db, func(tx *Tx) error {
			rows, err := tx.query(q)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var table, col string
				if err := rows.Scan(&table, &col); err != nil {
					return err
				}
				if !skip[table] {
					got[table] = append(got[table], col)
				}
			}
			return rows.Err()
		})
		for _, cols := range got {
			sort.Strings(cols)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s schema:\n%v\ncopyTables:\n%v\nadd the new table or column to copyTables (store/copy.go)", db.d.name, got, want)
		}
	}
}
