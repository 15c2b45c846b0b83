package scimhttp_test

// Concurrency over real HTTP and a real store, SQLite and PostgreSQL (issue #2): writes from
// several clients at once must never lose an update — Entra adds group
// members one PATCH at a time and may run requests in parallel
// (docs/entra.md#membership-writes-are-idempotent-and-never-lost: "concurrent adds to one group must never lose a member").

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

const (
	concurrentClients = 8
	perClient         = 50
)

// parallel runs fn(client, i) for i in [0, n) from each of clients goroutines,
// all released at once; errors are reported with t.Errorf.
func parallel(t *testing.T, clients, n int, fn func(client, i int) error) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range n {
				if err := fn(cl, i); err != nil {
					t.Errorf("client %d, request %d: %v", cl, i, err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
}

// createUsers creates n users named prefix-<i>@acme.test from 8 clients and
// returns their ids in order.
func createUsers(t *testing.T, c *scimClient, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	per := (n + concurrentClients - 1) / concurrentClients
	parallel(t, concurrentClients, per, func(cl, i int) error {
		k := cl*per + i
		if k >= n {
			return nil
		}
		r, err := c.send(http.MethodPost, "/Users", userDoc(fmt.Sprintf("%s-%03d@acme.test", prefix, k), nil), nil)
		if err != nil {
			return err
		}
		if r.Status != http.StatusCreated {
			return fmt.Errorf("%s: got status %d, want 201", r, r.Status)
		}
		var doc struct{ ID string }
		if err := json.Unmarshal(r.Body, &doc); err != nil || doc.ID == "" {
			return fmt.Errorf("%s: no id (%v)", r, err)
		}
		ids[k] = doc.ID
		return nil
	})
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

func TestConcurrentMemberAddsToOneGroup(t *testing.T) { onBackends(t, concurrentMemberAddsToOneGroup) }

func concurrentMemberAddsToOneGroup(t *testing.T, b backend) {
	a := newTestAgentOn(t, b)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	const total = concurrentClients * perClient
	ids := createUsers(t, c, "member", total)
	gid := createGroup(t, c, "Everyone")

	// Each client adds its own 50 users, one PATCH per member, in Entra's
	// legacy shape: {"op":"Add","path":"members","value":[{"value":"<id>"}]}.
	parallel(t, concurrentClients, perClient, func(cl, i int) error {
		id := ids[cl*perClient+i]
		body := fmt.Sprintf(`{"schemas":["%s"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"%s"}]}]}`, scim.MessagePatchOp, id)
		r, err := c.send(http.MethodPatch, "/Groups/"+gid, body, nil)
		if err != nil {
			return err
		}
		if r.Status != http.StatusNoContent {
			return fmt.Errorf("%s: got status %d, want 204", r, r.Status)
		}
		return nil
	})

	t.Run("all members present", func(t *testing.T) {
		r := c.do(t, http.MethodGet, "/Groups/"+gid, nil, nil)
		wantStatus(t, r, http.StatusOK)
		got := memberIDs(r.obj(t))
		want := slices.Clone(ids)
		sort.Strings(want)
		if len(got) != total {
			t.Errorf("members: got %d, want %d", len(got), total)
		}
		if !slices.Equal(got, want) {
			missing := 0
			for _, id := range want {
				if _, found := slices.BinarySearch(got, id); !found {
					missing++
				}
			}
			t.Errorf("members: %d of %d missing", missing, total)
		}
		// Every add was a change: the version counts them all (no lost update).
		if got, want := r.Header.Get("ETag"), `W/"`+strconv.Itoa(1+total)+`"`; got != want {
			t.Errorf("ETag: got %s, want %s (one version per added member)", got, want)
		}
	})

	t.Run("membership queries", func(t *testing.T) {
		for k := 0; k < total; k += 37 {
			id := ids[k]
			for _, f := range []string{
				`id eq "` + gid + `" and members[value eq "` + id + `"]`,
				`members[value eq "` + id + `"]`,
				`members eq "` + id + `"`,
			} {
				lr := c.do(t, http.MethodGet, "/Groups?excludedAttributes=members&filter="+q(f), nil, nil).list(t)
				if lr.TotalResults != 1 || len(lr.Resources) != 1 || lr.Resources[0]["id"] != gid {
					t.Errorf("filter %s: got totalResults %d %v, want the group", f, lr.TotalResults, lr.names("displayName"))
				}
			}
			u := c.do(t, http.MethodGet, "/Users/"+id, nil, nil).obj(t)
			if got := groupIDs(u); !slices.Equal(got, []string{gid}) {
				t.Errorf("user %s groups: got %v, want [%s]", id, got, gid)
			}
		}
	})
}

func TestConcurrentUserCreates(t *testing.T) { onBackends(t, concurrentUserCreates) }

func concurrentUserCreates(t *testing.T, b backend) {
	a := newTestAgentOn(t, b)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	const total = concurrentClients * perClient
	ids := createUsers(t, c, "bulk", total)

	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("id %s returned twice", id)
		}
		seen[id] = true
	}
	lr := c.do(t, http.MethodGet, "/Users?count=0", nil, nil).list(t)
	if lr.TotalResults != total || len(lr.Resources) != 0 {
		t.Errorf("count=0: got totalResults %d with %d resources, want %d with 0", lr.TotalResults, len(lr.Resources), total)
	}
	lr = c.do(t, http.MethodGet, "/Users?sortBy=userName&attributes=userName", nil, nil).list(t)
	if lr.TotalResults != total || len(lr.Resources) != total {
		t.Fatalf("list: got totalResults %d with %d resources, want %d", lr.TotalResults, len(lr.Resources), total)
	}
	for k, name := range lr.names("userName") {
		if want := fmt.Sprintf("bulk-%03d@acme.test", k); name != want {
			t.Errorf("user %d: got %s, want %s", k, name, want)
			break
		}
	}
	for _, r := range lr.Resources {
		if !seen[r["id"].(string)] {
			t.Errorf("listed id %v was not returned by a create", r["id"])
		}
	}
}

func TestConcurrentDuplicateCreates(t *testing.T) { onBackends(t, concurrentDuplicateCreates) }

func concurrentDuplicateCreates(t *testing.T, b backend) {
	a := newTestAgentOn(t, b)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	tests := []struct {
		name, endpoint string
		doc            func(round, client int) map[string]any
	}{
		{"same userName", "/Users", func(round, _ int) map[string]any {
			return userDoc(fmt.Sprintf("twin-%d@acme.test", round), nil)
		}},
		{"same userName, each client in its own case", "/Users", func(round, client int) map[string]any {
			name := []byte(fmt.Sprintf("case-%d@acme.test", round))
			for i := range name {
				if client&(1<<(i%3)) != 0 && name[i] >= 'a' && name[i] <= 'z' {
					name[i] -= 'a' - 'A'
				}
			}
			return userDoc(string(name), nil)
		}},
		{"same group displayName", "/Groups", func(round, _ int) map[string]any {
			return groupDoc(fmt.Sprintf("Twins %d", round))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 5 {
				var mu sync.Mutex
				statuses := map[int]int{}
				parallel(t, concurrentClients, 1, func(cl, _ int) error {
					doc := tt.doc(round, cl)
					r, err := c.send(http.MethodPost, tt.endpoint, doc, nil)
					if err != nil {
						return err
					}
					mu.Lock()
					statuses[r.Status]++
					mu.Unlock()
					if r.Status == http.StatusConflict {
						var body map[string]any
						if err := json.Unmarshal(r.Body, &body); err != nil || body["scimType"] != scim.Uniqueness || body["status"] != "409" {
							return fmt.Errorf("%s: want a SCIM uniqueness error", r)
						}
					}
					return nil
				})
				if want := map[int]int{http.StatusCreated: 1, http.StatusConflict: concurrentClients - 1}; !maps.Equal(statuses, want) {
					t.Errorf("round %d: got statuses %v, want %v", round, statuses, want)
				}
			}
		})
	}
	users := c.do(t, http.MethodGet, "/Users?count=0", nil, nil).list(t)
	if users.TotalResults != 10 {
		t.Errorf("users: got %d, want 10 (one per round)", users.TotalResults)
	}
	groups := c.do(t, http.MethodGet, "/Groups?count=0", nil, nil).list(t)
	if groups.TotalResults != 5 {
		t.Errorf("groups: got %d, want 5 (one per round)", groups.TotalResults)
	}
}
