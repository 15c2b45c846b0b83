package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

// scimDo sends one SCIM request and decodes a JSON response into out (if non-nil).
func scimDo(c *http.Client, method, url, token string, body any, out any) (int, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// TestKilledAgentLosesNoAcknowledgedWrite kills the agent with SIGKILL while
// clients send it Entra-shaped writes, then checks that every write the
// agent acknowledged is in the database and served by a restarted agent.
func TestKilledAgentLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills an agent process")
	}
	dataDir := t.TempDir()
	// Far more writes per second than Entra sends: lift the per-token limit.
	t.Setenv("ROSTER_RATE_REQUESTS_PER_SECOND", "0")
	p := startAgentProc(t, dataDir, true)
	l := &crashLoad{agents: []*agentProc{p}, victim: p, token: p.Token, clients: 6, killAfter: 300, maxPerClient: 2000}
	l.run(t)

	// Every acknowledged write must be there after the crash.
	loc := filepath.Join(dataDir, "roster.db")
	l.checkStore(t, loc)
	checkChangeLogAfterCrash(t, loc, l)

	// And a restarted agent serves them.
	p2 := startAgentProc(t, dataDir, false)
	l.checkServed(t, p2)
	p2.Stop(t)
}

// crashLoad is Entra-shaped write load from several clients, spread over
// one or more agents, during which one agent (victim) is killed with
// SIGKILL: each client creates users one at a time; of each ten, nine are
// added to one group (a PATCH per member, as Entra sends them), every
// fifth of those has its displayName replaced, and the tenth is deleted
// again (deprovisioned). Requests from a client go to the agents in turn.
//
// With one agent, a client stops when the victim is gone. With more, a
// client whose request to the dead victim failed goes on with the others,
// which must answer every request, until it has had afterKill writes
// acknowledged after the kill.
type crashLoad struct {
	agents  []*agentProc
	victim  *agentProc
	token   string
	clients int
	// killAfter is how many users' writes are acknowledged before the kill.
	killAfter, maxPerClient, afterKill int

	group string // the group's id, created by run

	mu                               sync.Mutex
	users, members, patched, deleted []string // acknowledged writes
	// undecided are users whose DELETE got no answer because its agent was
	// killed: it may or may not have committed, so either is right.
	undecided      []string
	afterKillAcked int // writes acknowledged after the kill
}

func (l *crashLoad) ack(list *[]string, id string, killed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*list = append(*list, id)
	if killed {
		l.afterKillAcked++
	}
}

// run creates the group and sends the load; it fails the test if a request
// got an answer other than the expected one, or if a request to an agent
// other than the victim failed.
func (l *crashLoad) run(t *testing.T) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: time.Minute}
	var group struct{ ID string }
	if code, err := scimDo(client, "POST", l.agents[0].TenantURL+"/Groups", l.token, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Everyone"}, &group); err != nil || code != 201 {
		t.Fatalf("create group: %d %v", code, err)
	}
	l.group = group.ID
	var (
		acked      atomic.Int64
		killed     atomic.Bool
		killOnce   sync.Once
		wg         sync.WaitGroup
		unexpected = make(chan string, l.clients)
	)
	kill := func() {
		killOnce.Do(func() {
			killed.Store(true)
			l.victim.Kill()
		})
	}
	for c := 0; c < l.clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			turn, mine := c, 0
			// send sends one request to the next agent alive. It reports
			// whether the write was acknowledged, and false for stop when the
			// client is done: a failure, or the victim gone with one agent.
			send := func(method, path string, body, out any, want int) (ok, stop bool) {
				for {
					p := l.agents[turn%len(l.agents)]
					turn++
					dead := killed.Load() && p == l.victim
					if dead && len(l.agents) > 1 {
						continue
					}
					code, err := scimDo(client, method, p.TenantURL+path, l.token, body, out)
					if err == nil && code == want {
						return true, false
					}
					if p == l.victim && killed.Load() {
						// Unacknowledged: it may or may not have been written.
						return false, len(l.agents) == 1
					}
					unexpected <- fmt.Sprintf("client %d: %s %s through %s: %d %v", c, method, path, p.BaseURL, code, err)
					return false, true
				}
			}
			for i := 0; i < l.maxPerClient; i++ {
				if killed.Load() && len(l.agents) > 1 && mine >= l.afterKill {
					return
				}
				name := fmt.Sprintf("u%d-%d@contoso.com", c, i)
				var u struct{ ID string }
				ok, stop := send("POST", "/Users", map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name, "active": true}, &u, 201)
				if stop {
					return
				}
				if !ok {
					continue
				}
				wasKilled := killed.Load()
				l.ack(&l.users, u.ID, wasKilled)
				if i%10 == 9 {
					if ok, stop = send("DELETE", "/Users/"+u.ID, nil, nil, 204); ok {
						l.ack(&l.deleted, u.ID, killed.Load())
					} else {
						l.ack(&l.undecided, u.ID, false)
					}
				} else {
					ok, stop = send("PATCH", "/Groups/"+l.group, map[string]any{
						"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
						"Operations": []any{map[string]any{"op": "Add", "path": "members", "value": []any{map[string]any{"value": u.ID}}}},
					}, nil, 204)
					if ok {
						l.ack(&l.members, u.ID, killed.Load())
						if i%5 == 0 {
							ok, stop = send("PATCH", "/Users/"+u.ID, map[string]any{
								"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
								"Operations": []any{map[string]any{"op": "Replace", "path": "displayName", "value": "Patched " + name}},
							}, nil, 200)
							if ok {
								l.ack(&l.patched, u.ID, killed.Load())
							}
						}
					}
				}
				if stop {
					return
				}
				if killed.Load() {
					mine++
				}
				if acked.Add(1) >= int64(l.killAfter) {
					kill()
				}
			}
		}(c)
	}
	wg.Wait()
	kill()
	close(unexpected)
	for msg := range unexpected {
		t.Error(msg)
	}
	if t.Failed() {
		t.FailNow()
	}
	if len(l.users) < l.killAfter {
		t.Fatalf("only %d users acknowledged before the kill, want at least %d", len(l.users), l.killAfter)
	}
	if len(l.agents) > 1 && l.afterKillAcked < l.clients*l.afterKill {
		t.Fatalf("the surviving agents acknowledged %d writes after the kill, want at least %d", l.afterKillAcked, l.clients*l.afterKill)
	}
	t.Logf("acknowledged: %d user creates, %d member adds, %d user patches, %d deletes; %d writes after the kill",
		len(l.users), len(l.members), len(l.patched), len(l.deleted), l.afterKillAcked)
}

// checkStore checks, in the store at loc, that every acknowledged write is
// there: users created (and not deleted), members added, users deleted.
func (l *crashLoad) checkStore(t *testing.T, loc string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, loc, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deleted, undecided := set(l.deleted), set(l.undecided)
	var missingUsers, missingMembers, undeleted []string
	err = db.Read(ctx, func(tx *store.Tx) error {
		for _, id := range l.users {
			_, err := tx.Resource(directory.DefaultTenant, store.KindUser, id)
			switch {
			case deleted[id] && err == nil:
				undeleted = append(undeleted, id)
			case !deleted[id] && !undecided[id] && err != nil:
				missingUsers = append(missingUsers, id)
			}
		}
		g, err := tx.Resource(directory.DefaultTenant, store.KindGroup, l.group)
		if err != nil {
			return err
		}
		ms, err := tx.Members(g.Seq)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, m := range ms {
			have[m.Value] = true
		}
		for _, id := range l.members {
			if !have[id] {
				missingMembers = append(missingMembers, id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(missingUsers) > 0 || len(missingMembers) > 0 || len(undeleted) > 0 {
		t.Fatalf("lost acknowledged writes: %d of %d users, %d of %d memberships, %d of %d deletes",
			len(missingUsers), len(l.users), len(missingMembers), len(l.members), len(undeleted), len(l.deleted))
	}
}

// checkServed checks that agent p serves every acknowledged write: each
// user (patched ones with their new displayName), 404 for deleted users,
// and every member in the group.
func (l *crashLoad) checkServed(t *testing.T, p *agentProc) {
	t.Helper()
	client := &http.Client{Timeout: time.Minute}
	deleted, patched, undecided := set(l.deleted), set(l.patched), set(l.undecided)
	bad := 0
	for _, id := range l.users {
		var u struct{ UserName, DisplayName string }
		code, err := scimDo(client, "GET", p.TenantURL+"/Users/"+id, l.token, nil, &u)
		want := 200
		if deleted[id] {
			want = 404
		}
		switch {
		case undecided[id] && err == nil && (code == 200 || code == 404):
		case err != nil || code != want:
			t.Errorf("GET user %s through %s: %d %v, want %d", id, p.BaseURL, code, err, want)
			bad++
		case patched[id] && u.DisplayName != "Patched "+u.UserName:
			t.Errorf("user %s: displayName %q, want the acknowledged patch", id, u.DisplayName)
			bad++
		}
		if bad > 10 {
			t.FailNow()
		}
	}
	var g struct{ Members []struct{ Value string } }
	if code, err := scimDo(client, "GET", p.TenantURL+"/Groups/"+l.group, l.token, nil, &g); err != nil || code != 200 {
		t.Fatalf("GET group through %s: %d %v", p.BaseURL, code, err)
	}
	have := map[string]bool{}
	for _, m := range g.Members {
		have[m.Value] = true
	}
	for _, id := range l.members {
		if !have[id] {
			t.Errorf("GET group through %s: acknowledged member %s missing", p.BaseURL, id)
		}
	}
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
