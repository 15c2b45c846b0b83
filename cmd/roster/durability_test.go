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
// clients create users and add them to a group, then checks that every write
// the agent acknowledged (201 / 204) is in the database.
func TestKilledAgentLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills an agent process")
	}
	dataDir := t.TempDir()
	// Far more writes per second than Entra sends: lift the per-token limit.
	t.Setenv("ROSTER_RATE_REQUESTS_PER_SECOND", "0")
	p := startAgentProc(t, dataDir, true)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var group struct{ ID string }
	if code, err := scimDo(client, "POST", p.TenantURL+"/Groups", p.Token, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Everyone"}, &group); err != nil || code != 201 {
		t.Fatalf("create group: %d %v", code, err)
	}

	const clients, killAfter, maxPerClient = 6, 300, 2000
	var (
		mu         sync.Mutex
		users      []string // acknowledged creates
		members    []string // acknowledged membership adds
		acked      atomic.Int64
		killOnce   sync.Once
		wg         sync.WaitGroup
		unexpected atomic.Int64
	)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < maxPerClient; i++ {
				var u struct{ ID string }
				code, err := scimDo(client, "POST", p.TenantURL+"/Users", p.Token,
					map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": fmt.Sprintf("u%d-%d@contoso.com", c, i), "active": true}, &u)
				if err != nil {
					return // the agent is gone
				}
				if code != 201 {
					unexpected.Add(1)
					return
				}
				mu.Lock()
				users = append(users, u.ID)
				mu.Unlock()
				code, err = scimDo(client, "PATCH", p.TenantURL+"/Groups/"+group.ID, p.Token, map[string]any{
					"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "Add", "path": "members", "value": []any{map[string]any{"value": u.ID}}}},
				}, nil)
				if err != nil {
					return
				}
				if code != 204 {
					unexpected.Add(1)
					return
				}
				mu.Lock()
				members = append(members, u.ID)
				mu.Unlock()
				if acked.Add(1) >= killAfter {
					killOnce.Do(p.Kill)
				}
			}
		}(c)
	}
	wg.Wait()
	killOnce.Do(p.Kill)
	if n := unexpected.Load(); n > 0 {
		t.Fatalf("%d requests got an unexpected status before the kill", n)
	}
	if len(users) < killAfter {
		t.Fatalf("only %d writes acknowledged before the kill, want at least %d", len(users), killAfter)
	}

	// Every acknowledged write must be there after the crash.
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dataDir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var missingUsers, missingMembers []string
	err = db.Read(ctx, func(tx *store.Tx) error {
		for _, id := range users {
			if _, err := tx.Resource(directory.DefaultTenant, store.KindUser, id); err != nil {
				missingUsers = append(missingUsers, id)
			}
		}
		g, err := tx.Resource(directory.DefaultTenant, store.KindGroup, group.ID)
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
		for _, id := range members {
			if !have[id] {
				missingMembers = append(missingMembers, id)
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(missingUsers) > 0 || len(missingMembers) > 0 {
		t.Fatalf("lost acknowledged writes: %d of %d users, %d of %d memberships", len(missingUsers), len(users), len(missingMembers), len(members))
	}

	checkChangeLogAfterCrash(t, dataDir, group.ID, users, members)

	// And a restarted agent serves them.
	p2 := startAgentProc(t, dataDir, false)
	var list struct{ TotalResults int }
	if code, err := scimDo(client, "GET", p2.TenantURL+"/Users?count=0", p.Token, nil, &list); err != nil || code != 200 {
		t.Fatalf("list after restart: %d %v", code, err)
	}
	if list.TotalResults < len(users) {
		t.Errorf("after restart: totalResults = %d, want ≥ %d acknowledged", list.TotalResults, len(users))
	}
	p2.Stop(t)
}
