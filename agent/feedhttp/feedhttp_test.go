package feedhttp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/feedhttp"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

type agent struct {
	srv *httptest.Server
	dir *directory.Service
}

func start(t *testing.T) *agent {
	t.Helper()
	db, err := store.Open(context.Background(), pgtest.Location(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(db, nil, nil)
	srv := httptest.NewServer(scimhttp.New(dir, scimhttp.Options{}))
	t.Cleanup(func() { srv.Close(); db.Close() })
	return &agent{srv: srv, dir: dir}
}

func (a *agent) tenant(t *testing.T, id string, readOnly bool) string {
	t.Helper()
	if _, err := a.dir.Tenant(context.Background(), id); err != nil {
		if _, err := a.dir.AddTenant(context.Background(), id, "", store.TenantSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	iss, err := a.dir.IssueToken(context.Background(), id, "", readOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	return iss.Token.Reveal()
}

// call sends a request and returns the status and body.
func (a *agent) call(method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (a *agent) must(t *testing.T, method, path, token string, body any, want int) []byte {
	t.Helper()
	status, b, err := a.call(method, path, token, body)
	if err != nil {
		t.Fatal(err)
	}
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
	}
	return b
}

func (a *agent) changes(t *testing.T, tenant, token, query string) feedhttp.ChangesResponse {
	t.Helper()
	var out feedhttp.ChangesResponse
	if err := json.Unmarshal(a.must(t, "GET", "/api/v1/"+tenant+"/changes?"+query, token, nil, 200), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// model is a consumer's copy of a tenant: users and groups by id.
type model struct {
	users   map[string]map[string]any
	groups  map[string]map[string]any
	members map[string]map[string]bool
}

func newModel() *model {
	return &model{users: map[string]map[string]any{}, groups: map[string]map[string]any{}, members: map[string]map[string]bool{}}
}

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}

// snapshot reads GET /snapshot into a model and returns it with its seq.
func (a *agent) snapshot(t *testing.T, tenant, token string) (*model, int64) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.srv.URL+"/api/v1/"+tenant+"/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("snapshot: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	m := newModel()
	var seq int64 = -1
	for sc.Scan() {
		if seq < 0 {
			var head directory.SnapshotHead
			if err := json.Unmarshal(sc.Bytes(), &head); err != nil || head.Kind != "snapshot" || head.Tenant != tenant {
				t.Fatalf("first line %s (%v)", sc.Bytes(), err)
			}
			seq = head.Seq
			continue
		}
		var it directory.SnapshotItem
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatal(err)
		}
		d := decode(t, it.Data)
		id := d["id"].(string)
		switch it.Kind {
		case "user":
			m.users[id] = d
		case "group":
			m.groups[id] = d
			m.members[id] = map[string]bool{}
			for _, v := range it.Members {
				m.members[id][v] = true
			}
		default:
			t.Fatalf("line kind %q", it.Kind)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if seq < 0 {
		t.Fatal("empty snapshot")
	}
	return m, seq
}

// apply applies one change record to the model, as a consumer would.
func (m *model) apply(t *testing.T, ch feed.Change) {
	t.Helper()
	id := ch.Resource.ID
	leave := func() {
		for _, ms := range m.members {
			delete(ms, id)
		}
	}
	switch ch.Type {
	case feed.UserCreated, feed.UserUpdated, feed.UserDeactivated, feed.UserReactivated:
		m.users[id] = decode(t, ch.Data)
	case feed.UserDeleted:
		delete(m.users, id)
		leave()
	case feed.GroupCreated, feed.GroupUpdated, feed.GroupMembersChanged:
		m.groups[id] = decode(t, ch.Data)
		if m.members[id] == nil {
			m.members[id] = map[string]bool{}
		}
		for _, v := range ch.Added {
			m.members[id][v] = true
		}
		for _, v := range ch.Removed {
			delete(m.members[id], v)
		}
	case feed.GroupDeleted:
		delete(m.groups, id)
		delete(m.members, id)
		leave()
	default:
		t.Fatalf("unknown type %q", ch.Type)
	}
}

// TestSnapshotThenChangesReproduceTheDirectory takes a snapshot while
// writers change the tenant over SCIM, follows the change feed from the
// snapshot's seq, and checks that the result equals a full read (a second
// snapshot, at its own seq) taken while the writers go on, and again one
// taken once they stopped: no change lost, none applied twice.
func TestSnapshotThenChangesReproduceTheDirectory(t *testing.T) {
	a := start(t)
	tok := a.tenant(t, "acme", false)
	reader := a.tenant(t, "acme", true)
	scim := "/scim/acme/v2"

	var mu sync.Mutex
	var users, groups []string
	createUser := func(name string) error {
		status, b, err := a.call("POST", scim+"/Users", tok, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name, "active": true, "password": "pw-" + name})
		if err != nil || status != 201 {
			return fmt.Errorf("create user: %d %s %v", status, b, err)
		}
		var d map[string]any
		json.Unmarshal(b, &d) //nolint:errcheck
		mu.Lock()
		users = append(users, d["id"].(string))
		mu.Unlock()
		return nil
	}
	for i := range 40 {
		if err := createUser(fmt.Sprintf("seed%d@x.test", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		b := a.must(t, "POST", scim+"/Groups", tok, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": fmt.Sprintf("g%d", i),
			"members": []any{map[string]any{"value": users[i]}, map[string]any{"value": users[i+1]}}}, 201)
		groups = append(groups, decode(t, b)["id"].(string))
	}

	pick := func(r *rand.Rand, ids *[]string) string {
		mu.Lock()
		defer mu.Unlock()
		return (*ids)[r.IntN(len(*ids))]
	}
	// Writers: every kind of write, some of which fail (a deleted id, a
	// taken name); the feed must carry exactly the ones that succeeded.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ctx.Err() == nil; i++ {
				var err error
				u, g := pick(r, &users), pick(r, &groups)
				switch r.IntN(7) {
				case 0:
					err = createUser(fmt.Sprintf("w%d-%d@x.test", w, i))
				case 1:
					_, _, err = a.call("PATCH", scim+"/Users/"+u, tok, map[string]any{"Operations": []any{
						map[string]any{"op": "replace", "path": "displayName", "value": fmt.Sprintf("n%d", i)}}})
				case 2:
					_, _, err = a.call("PATCH", scim+"/Users/"+u, tok, map[string]any{"Operations": []any{
						map[string]any{"op": "replace", "path": "active", "value": r.IntN(2) == 0}}})
				case 3:
					_, _, err = a.call("PATCH", scim+"/Groups/"+g, tok, map[string]any{"Operations": []any{
						map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": u}}}}})
				case 4:
					_, _, err = a.call("PATCH", scim+"/Groups/"+g, tok, map[string]any{"Operations": []any{
						map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", u)}}})
				case 5:
					_, _, err = a.call("DELETE", scim+"/Users/"+u, tok, nil)
				case 6:
					_, _, err = a.call("PUT", scim+"/Groups/"+g, tok, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": fmt.Sprintf("g-%d-%d", w, i),
						"members": []any{map[string]any{"value": u}}})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}

	// Wait for some writes, take the snapshot in the middle of them, then
	// let more writes happen before stopping.
	// waitFor returns once the log holds seq n (Wait returns when it holds
	// more than its after).
	waitFor := func(n int64) {
		for s := int64(0); s < n; s++ {
			if err := a.dir.Wait(context.Background(), "acme", s); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(150)
	m, seq := a.snapshot(t, "acme", reader)
	// follow applies the feed to m from after up to seq upTo (or to its
	// end, when upTo < 0) and returns where it stopped and how many
	// changes it applied.
	follow := func(after, upTo int64) (int64, int) {
		applied := 0
		for {
			page := a.changes(t, "acme", reader, fmt.Sprintf("after=%d&limit=37", after))
			for _, ch := range page.Changes {
				if upTo >= 0 && ch.Seq > upTo {
					return after, applied
				}
				if ch.Seq != after+1 {
					t.Fatalf("seq %d after %d", ch.Seq, after)
				}
				m.apply(t, ch)
				after = ch.Seq
				applied++
			}
			if !page.HasMore || after == upTo {
				return after, applied
			}
		}
	}
	same := func(when string, full *model) {
		t.Helper()
		if !reflect.DeepEqual(m.users, full.users) {
			t.Errorf("%s: users differ: %d from the feed, %d in a full read", when, len(m.users), len(full.users))
		}
		for id, g := range full.groups {
			if !reflect.DeepEqual(m.groups[id], g) {
				t.Errorf("%s: group %s differs:\nfeed %v\nfull %v", when, id, m.groups[id], g)
			}
		}
		if len(m.groups) != len(full.groups) {
			t.Errorf("%s: %d groups from the feed, %d in a full read", when, len(m.groups), len(full.groups))
		}
		if !reflect.DeepEqual(m.members, full.members) {
			t.Errorf("%s: members differ:\nfeed %v\nfull %v", when, m.members, full.members)
		}
	}
	// While the writers go on: a second full read at its own seq equals
	// the first snapshot plus the changes up to that seq.
	waitFor(seq + 100)
	mid, midSeq := a.snapshot(t, "acme", reader)
	after, applied := follow(seq, midSeq)
	if after != midSeq {
		t.Fatalf("the feed ended at seq %d, before the full read's %d", after, midSeq)
	}
	same("while writes continue", mid)
	// Then after they stopped: the rest of the feed equals a last full read.
	waitFor(midSeq + 100)
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	after, more := follow(after, -1)
	if applied < 100 || more < 100 {
		t.Fatalf("applied %d changes before the second full read and %d after; the test wants writes throughout", applied, more)
	}
	full, fullSeq := a.snapshot(t, "acme", reader)
	if fullSeq != after {
		t.Fatalf("full read at seq %d, feed ended at %d", fullSeq, after)
	}
	same("after the writes", full)
	// The full read agrees with the SCIM API's own listing.
	var list struct {
		TotalResults int
		Resources    []map[string]any
	}
	if err := json.Unmarshal(a.must(t, "GET", scim+"/Users?count=1000", reader, nil, 200), &list); err != nil {
		t.Fatal(err)
	}
	if list.TotalResults != len(full.users) {
		t.Fatalf("SCIM lists %d users, the snapshot %d", list.TotalResults, len(full.users))
	}
	for _, u := range list.Resources {
		if full.users[u["id"].(string)]["meta"].(map[string]any)["version"] != u["meta"].(map[string]any)["version"] {
			t.Fatalf("user %s: the snapshot's version differs from the SCIM API's", u["id"])
		}
	}
	b, _ := json.Marshal(full.users)
	if strings.Contains(string(b), "pw-") {
		t.Fatal("a snapshot carries a password")
	}
}

// TestChangesAPI checks authorisation, parameters, errors and long-polling.
func TestChangesAPI(t *testing.T) {
	a := start(t)
	tok := a.tenant(t, "acme", false)
	reader := a.tenant(t, "acme", true)
	other := a.tenant(t, "other", false)
	a.must(t, "POST", "/scim/acme/v2/Users", tok, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "a@x.test"}, 201)

	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"no token", "/api/v1/acme/changes", "", 401},
		{"another tenant's token", "/api/v1/acme/changes", other, 401},
		{"read-only token", "/api/v1/acme/changes", reader, 200},
		{"bad after", "/api/v1/acme/changes?after=x", reader, 400},
		{"negative after", "/api/v1/acme/changes?after=-1", reader, 400},
		{"after beyond the log", "/api/v1/acme/changes?after=99", reader, 410},
		{"bad limit", "/api/v1/acme/changes?limit=0", reader, 400},
		{"huge limit", "/api/v1/acme/changes?limit=100000", reader, 400},
		{"bad wait", "/api/v1/acme/changes?wait=forever", reader, 400},
		{"long wait", "/api/v1/acme/changes?wait=10m", reader, 400},
		{"unknown type", "/api/v1/acme/changes?types=user.creatd", reader, 400},
		{"unknown endpoint", "/api/v1/acme/other", reader, 404},
		{"snapshot", "/api/v1/acme/snapshot", reader, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := a.call("GET", tc.path, tc.token, nil)
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.want {
				t.Fatalf("%d %s, want %d", status, body, tc.want)
			}
			if status >= 400 {
				var e struct{ Status, Detail string }
				if json.Unmarshal(body, &e) != nil || e.Status != fmt.Sprint(status) || e.Detail == "" {
					t.Fatalf("error body %s", body)
				}
			}
		})
	}
	if status, _, _ := a.call("POST", "/api/v1/acme/changes", reader, nil); status != 405 {
		t.Fatalf("POST: %d, want 405", status)
	}

	got := a.changes(t, "acme", reader, "after=0&types=user.*")
	if len(got.Changes) != 1 || got.Changes[0].Type != feed.UserCreated || got.NextAfter != 1 || got.HasMore {
		t.Fatalf("%+v", got)
	}
	if got := a.changes(t, "acme", reader, "after=1"); got.Changes == nil || len(got.Changes) != 0 || got.NextAfter != 1 {
		t.Fatalf("empty page %+v", got)
	}

	// A long poll returns as soon as a change commits.
	done := make(chan feedhttp.ChangesResponse, 1)
	go func() {
		var out feedhttp.ChangesResponse
		_, b, err := a.call("GET", "/api/v1/acme/changes?after=1&wait=45s", reader, nil)
		if err == nil {
			err = json.Unmarshal(b, &out)
		}
		if err != nil {
			out.NextAfter = -1
		}
		done <- out
	}()
	// The write may land before the poll starts waiting; either way the
	// poll must answer with it.
	a.must(t, "POST", "/scim/acme/v2/Groups", tok, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "g"}, 201)
	select {
	case got := <-done:
		if len(got.Changes) != 1 || got.Changes[0].Type != feed.GroupCreated || got.NextAfter != 2 {
			t.Fatalf("long poll answered %+v", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll did not return after a write")
	}
	// A long poll with a filter the new change does not match keeps waiting
	// until its wait ends, then answers empty with next_after moved on.
	start := time.Now()
	a.must(t, "POST", "/scim/acme/v2/Groups", tok, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "h"}, 201)
	if got := a.changes(t, "acme", reader, "after=2&wait=1s&types=user.*"); len(got.Changes) != 0 || got.NextAfter != 3 {
		t.Fatalf("filtered long poll %+v", got)
	}
	if time.Since(start) < time.Second {
		t.Fatal("the filtered long poll returned before its wait ended")
	}
}
