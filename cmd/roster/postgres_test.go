package main

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
)

// startTwoAgentsOnPostgres starts two agent processes, each with a data
// directory of its own, on one fresh PostgreSQL database (internal/pgtest):
// the first creates the default tenant and prints its Secret Token, the
// second finds them. It returns both and the database's URL.
func startTwoAgentsOnPostgres(t *testing.T) (a, b *agentProc, url string) {
	t.Helper()
	url = pgtest.New(t)
	// Far more writes per second than Entra sends: lift the per-token limit.
	t.Setenv("ROSTER_RATE_REQUESTS_PER_SECOND", "0")
	a = startAgentProc(t, t.TempDir(), true, "--database", url)
	b = startAgentProc(t, t.TempDir(), false, "--database", url)
	return a, b, url
}

// TestTwoAgentsOnPostgresOneKilled: two agents on one PostgreSQL share
// Entra-shaped load; one is killed with SIGKILL mid-load. The other keeps
// answering every request, and every acknowledged write — through either
// agent — is in the database, in the change log once, and served by the
// survivor.
func TestTwoAgentsOnPostgresOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills agent processes")
	}
	a, b, url := startTwoAgentsOnPostgres(t)
	l := &crashLoad{agents: []*agentProc{a, b}, victim: a, token: a.Token, clients: 6, killAfter: 300, maxPerClient: 2000, afterKill: 50}
	l.run(t)
	l.checkStore(t, url)
	checkChangeLogAfterCrash(t, url, l)
	l.checkServed(t, b)
}

// TestTwoAgentsOnPostgresConcurrentMemberAdds: 8 clients each add 50
// members to one group, one PATCH per member as Entra sends them, their
// requests alternating between two agents on one PostgreSQL: all 400 are
// members afterwards, read through either agent. Then 8 clients create
// the same userName at once through both agents: one 201, seven 409.
func TestTwoAgentsOnPostgresConcurrentMemberAdds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	a, b, _ := startTwoAgentsOnPostgres(t)
	agents := []*agentProc{a, b}
	const clients, perClient = 8, 50
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * clients}, Timeout: time.Minute}
	var group struct{ ID string }
	if code, err := scimDo(client, "POST", a.TenantURL+"/Groups", a.Token, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Everyone"}, &group); err != nil || code != 201 {
		t.Fatalf("create group: %d %v", code, err)
	}
	ids := make([]string, clients*perClient)
	// each runs fn(agent, k) for the 50 k of each client at once, the
	// requests of a client alternating between the agents.
	each := func(fn func(p *agentProc, k int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		start := make(chan struct{})
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range perClient {
					if err := fn(agents[(c+i)%len(agents)], c*perClient+i); err != nil {
						errs <- fmt.Errorf("client %d, request %d: %w", c, i, err)
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	each(func(p *agentProc, k int) error {
		var u struct{ ID string }
		code, err := scimDo(client, "POST", p.TenantURL+"/Users", a.Token, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": fmt.Sprintf("member-%03d@contoso.com", k), "active": true}, &u)
		if err != nil || code != 201 {
			return fmt.Errorf("create user through %s: %d %v", p.BaseURL, code, err)
		}
		ids[k] = u.ID
		return nil
	})
	each(func(p *agentProc, k int) error {
		code, err := scimDo(client, "PATCH", p.TenantURL+"/Groups/"+group.ID, a.Token, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "Add", "path": "members", "value": []any{map[string]any{"value": ids[k]}}}},
		}, nil)
		if err != nil || code != 204 {
			return fmt.Errorf("add member through %s: %d %v", p.BaseURL, code, err)
		}
		return nil
	})
	want := slices.Clone(ids)
	sort.Strings(want)
	for _, p := range agents {
		var g struct {
			Members []struct{ Value string }
			Meta    struct{ Version string }
		}
		if code, err := scimDo(client, "GET", p.TenantURL+"/Groups/"+group.ID, a.Token, nil, &g); err != nil || code != 200 {
			t.Fatalf("GET group through %s: %d %v", p.BaseURL, code, err)
		}
		var got []string
		for _, m := range g.Members {
			got = append(got, m.Value)
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			missing := 0
			for _, id := range want {
				if _, found := slices.BinarySearch(got, id); !found {
					missing++
				}
			}
			t.Errorf("GET group through %s: %d members, %d of %d missing", p.BaseURL, len(got), missing, len(want))
		}
		// Every add was a change: the version counts them all.
		if v := fmt.Sprintf(`W/"%d"`, 1+len(ids)); g.Meta.Version != v {
			t.Errorf("GET group through %s: version %s, want %s (one per added member)", p.BaseURL, g.Meta.Version, v)
		}
	}

	for round := range 5 {
		var mu sync.Mutex
		codes := map[int]int{}
		each := make(chan struct{})
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-each
				p := agents[c%len(agents)]
				code, err := scimDo(client, "POST", p.TenantURL+"/Users", a.Token, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": fmt.Sprintf("Twin-%d@Contoso.com", round)}, nil)
				if err != nil {
					t.Errorf("create through %s: %v", p.BaseURL, err)
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
		close(each)
		wg.Wait()
		if codes[201] != 1 || codes[409] != clients-1 {
			t.Errorf("round %d: %d clients creating one userName through both agents got %v, want one 201 and %d 409", round, clients, codes, clients-1)
		}
	}
}
