package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/store"
)

// writeOutcome is what became of one write a client sent.
type writeOutcome int

const (
	outcomeUnanswered writeOutcome = iota // no answer: in flight at the kill, or sent after it
	outcomeAcked                          // 2xx
	outcomeRefused                        // the 4xx the client expected (e.g. 409 for a duplicate)
)

// sentWrite is one write of the load. keys name the change records the
// write makes if it commits (changeKey computes the same from a record):
// one, or for the deletion of a group member two (docs/change-feed.md).
type sentWrite struct {
	keys    []string
	outcome writeOutcome
}

// changeKey names what a change record records, in the terms the load
// knows before it sends the write (sentWrite.key).
func changeKey(t *testing.T, c feed.Change) []string {
	t.Helper()
	switch c.Type {
	case feed.UserCreated:
		return []string{"create " + c.Resource.UserName}
	case feed.UserUpdated:
		var d struct{ DisplayName string }
		if err := json.Unmarshal(c.Data, &d); err != nil {
			t.Fatalf("change %d: data %s: %v", c.Seq, c.Data, err)
		}
		return []string{"rename " + d.DisplayName}
	case feed.UserDeactivated:
		return []string{"deactivate " + c.Resource.ID}
	case feed.UserDeleted:
		return []string{"delete " + c.Resource.ID}
	case feed.GroupCreated:
		return []string{"group " + c.Resource.DisplayName}
	case feed.GroupMembersChanged:
		var keys []string
		for _, id := range c.Added {
			keys = append(keys, "add "+id)
		}
		for _, id := range c.Removed {
			keys = append(keys, "leave "+id)
		}
		return keys
	}
	t.Fatalf("change %d: unexpected type %s", c.Seq, c.Type)
	return nil
}

// hookReceiver is a webhook receiver on 127.0.0.1: it verifies every
// delivery's signature, keeps each change once (by webhook-id) and checks
// that new changes arrive in seq order.
type hookReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	secret   string
	seen     map[string]int64 // webhook-id → seq
	seqs     []int64          // seqs of first arrivals, in arrival order
	requests int
	problems []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{seen: map[string]int64{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id, err := webhook.Verify(rc.secret, r.Header, body, time.Now(), webhook.DefaultTolerance)
	if err != nil {
		rc.problems = append(rc.problems, fmt.Sprintf("delivery %s does not verify: %v", r.Header.Get(webhook.HeaderID), err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var c feed.Change
	if err := json.Unmarshal(body, &c); err != nil || c.ID != id {
		rc.problems = append(rc.problems, fmt.Sprintf("delivery %s: body %.200s is not its change (%v)", id, body, err))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if seq, ok := rc.seen[id]; ok {
		if seq != c.Seq {
			rc.problems = append(rc.problems, fmt.Sprintf("change %s arrived as seq %d and as seq %d", id, seq, c.Seq))
		}
	} else {
		if n := len(rc.seqs); n > 0 && c.Seq <= rc.seqs[n-1] {
			rc.problems = append(rc.problems, fmt.Sprintf("new change seq %d arrived after seq %d: not in seq order", c.Seq, rc.seqs[n-1]))
		}
		rc.seen[id] = c.Seq
		rc.seqs = append(rc.seqs, c.Seq)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *hookReceiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seqs)
}

// TestKilledAgentWithWebhooksUnderEntraLoad kills the agent with SIGKILL
// while clients send Entra-shaped writes (creates; PATCHes that rename,
// deactivate and add group members; deletes of members; refused duplicate
// creates) and two webhook endpoints, added with `roster webhook add`,
// receive the change log. After the restart:
//   - the log holds, seq 1..n without a gap, exactly one record for each
//     acknowledged write (two for a member's deletion: the user's and the
//     group's, docs/change-feed.md), none for a refused one, and for a
//     write that got no answer all its records or none, for at most one
//     such write per client (the one in flight at the kill);
//   - each receiver gets every record it selects, every signature
//     verifying, deduplicated by webhook-id, new changes in seq order.
func TestKilledAgentWithWebhooksUnderEntraLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills an agent process")
	}
	dataDir := t.TempDir()
	// Far more writes per second than Entra sends: lift the per-token limit.
	t.Setenv("ROSTER_RATE_REQUESTS_PER_SECOND", "0")
	p := startAgentProc(t, dataDir, true)

	// Two endpoints, added with the CLI while the agent runs: every change,
	// and the groups' changes only.
	all, groups := newHookReceiver(t), newHookReceiver(t)
	for _, h := range []struct {
		rc    *hookReceiver
		types string
	}{{all, ""}, {groups, "group.*"}} {
		args := []string{"webhook", "add", h.rc.srv.URL, "--json"}
		if h.types != "" {
			args = append(args, "--types", h.types)
		}
		out, stderr, err := runCLI(t, dataDir, args...)
		if err != nil {
			t.Fatalf("webhook add: %v\n%s", err, stderr)
		}
		var added struct{ Secret string }
		if err := json.Unmarshal([]byte(out), &added); err != nil {
			t.Fatalf("webhook add --json = %q: %v", out, err)
		}
		h.rc.mu.Lock()
		h.rc.secret = added.Secret
		h.rc.mu.Unlock()
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var group struct{ ID string }
	if code, err := scimDo(client, "POST", p.TenantURL+"/Groups", p.Token, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Sales"}, &group); err != nil || code != 201 {
		t.Fatalf("create group: %d %v", code, err)
	}

	const clients, killAfter, maxPerClient = 6, 600, 2000
	var (
		acked      atomic.Int64
		killOnce   sync.Once
		wg         sync.WaitGroup
		unexpected = make(chan string, clients)
	)
	sent := make([][]sentWrite, clients)
	patchOp := func(op, path string, value any) map[string]any {
		o := map[string]any{"op": op, "path": path}
		if value != nil {
			o["value"] = value
		}
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{o}}
	}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			// send records the write under key before sending it, so that a
			// write the kill cuts off is known too; it reports whether the
			// client may go on.
			send := func(keys []string, method, url string, body any, out any, want ...int) bool {
				sent[c] = append(sent[c], sentWrite{keys: keys})
				w := &sent[c][len(sent[c])-1]
				code, err := scimDo(client, method, url, p.Token, body, out)
				if err != nil {
					return false // the agent is gone
				}
				switch {
				case code >= 200 && code <= 299 && len(want) == 0:
					w.outcome = outcomeAcked
					if acked.Add(1) >= killAfter {
						killOnce.Do(p.Kill)
					}
					return true
				case len(want) > 0 && code == want[0]:
					w.outcome = outcomeRefused
					return true
				}
				unexpected <- fmt.Sprintf("%s %s (%s): status %d", method, url, keys[0], code)
				return false
			}
			for i := 0; i < maxPerClient; i++ {
				userName := fmt.Sprintf("u%d-%d@contoso.com", c, i)
				var u struct{ ID string }
				if !send([]string{"create " + userName}, "POST", p.TenantURL+"/Users", map[string]any{
					"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName, "active": true,
					"externalId": fmt.Sprintf("e%d-%d", c, i), "displayName": fmt.Sprintf("U %d %d", c, i),
				}, &u) {
					return
				}
				user := p.TenantURL + "/Users/" + u.ID
				name := fmt.Sprintf("Renamed %d %d", c, i)
				if !send([]string{"rename " + name}, "PATCH", user, patchOp("Replace", "displayName", name), nil) {
					return
				}
				if !send([]string{"add " + u.ID}, "PATCH", p.TenantURL+"/Groups/"+group.ID, patchOp("Add", "members", []any{map[string]any{"value": u.ID}}), nil) {
					return
				}
				if i%5 == 1 { // Entra's soft delete: active set to the string "False"
					if !send([]string{"deactivate " + u.ID}, "PATCH", user, patchOp("Replace", "active", "False"), nil) {
						return
					}
				}
				if i%7 == 0 { // a create Entra retries: refused, so never in the log
					if !send([]string{"create " + userName}, "POST", p.TenantURL+"/Users", map[string]any{
						"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName,
					}, nil, http.StatusConflict) {
						return
					}
				}
				if i%4 == 3 { // the user leaves the group with it: a second record
					if !send([]string{"delete " + u.ID, "leave " + u.ID}, "DELETE", user, nil, nil) {
						return
					}
				}
			}
		}(c)
	}
	wg.Wait()
	killOnce.Do(p.Kill)
	close(unexpected)
	for msg := range unexpected {
		t.Errorf("before the kill: %s", msg)
	}
	if t.Failed() {
		t.FailNow()
	}
	if n := acked.Load(); n < killAfter {
		t.Fatalf("only %d writes acknowledged before the kill, want at least %d", n, killAfter)
	}

	// The log: every record is a write the load sent.
	want := map[string]bool{"group Sales": true} // key → the write was acknowledged
	var unansweredWrites []sentWrite
	for _, ws := range sent {
		for _, w := range ws {
			switch w.outcome {
			case outcomeUnanswered:
				unansweredWrites = append(unansweredWrites, w)
				for _, k := range w.keys {
					if _, ok := want[k]; !ok {
						want[k] = false
					}
				}
			case outcomeAcked:
				for _, k := range w.keys {
					want[k] = true
				}
			case outcomeRefused:
				// A refused duplicate create shares its key with the
				// acknowledged create: one record for both.
			}
		}
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dataDir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := readChangeLog(t, db)
	db.Close()
	recorded := map[string]int{}
	for _, ch := range log {
		for _, k := range changeKey(t, ch) {
			recorded[k]++
			if _, ok := want[k]; !ok {
				t.Errorf("change %d (%s) records %q, which no write of the load asked for", ch.Seq, ch.Type, k)
			}
		}
	}
	for k, ackd := range want {
		if n := recorded[k]; ackd && n != 1 {
			t.Errorf("acknowledged write %q has %d records, want exactly 1", k, n)
		} else if n > 1 {
			t.Errorf("unanswered write %q has %d records, want at most 1", k, n)
		}
	}
	// A write without an answer committed all its records or none; at most
	// one per client can have been in flight at the kill.
	committedUnanswered := 0
	for _, w := range unansweredWrites {
		n := 0
		for _, k := range w.keys {
			n += recorded[k]
		}
		switch {
		case n == len(w.keys):
			committedUnanswered++
		case n != 0:
			t.Errorf("unanswered write %v committed %d of its %d records", w.keys, n, len(w.keys))
		}
	}
	if committedUnanswered > clients {
		t.Errorf("%d writes without an answer are in the log; at most %d (one per client) can have been in flight at the kill", committedUnanswered, clients)
	}
	t.Logf("killed after %d acknowledged writes: %d records; %d writes unanswered, %d of them committed", acked.Load(), len(log), len(unansweredWrites), committedUnanswered)

	// Restart: the receivers get every record, however far delivery had got.
	p2 := startAgentProc(t, dataDir, false)
	var wantGroups []int64
	for _, ch := range log {
		if strings.HasPrefix(ch.Type, "group.") {
			wantGroups = append(wantGroups, ch.Seq)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for all.distinct() < len(log) || groups.distinct() < len(wantGroups) {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart the receivers got %d of %d and %d of %d changes within 2 minutes\n%s",
				all.distinct(), len(log), groups.distinct(), len(wantGroups), p2.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p2.Stop(t)
	for _, h := range []struct {
		name string
		rc   *hookReceiver
		want []int64
	}{{"every change", all, nil}, {"group.*", groups, wantGroups}} {
		if h.want == nil {
			for _, ch := range log {
				h.want = append(h.want, ch.Seq)
			}
		}
		h.rc.mu.Lock()
		got, problems, requests := append([]int64(nil), h.rc.seqs...), h.rc.problems, h.rc.requests
		h.rc.mu.Unlock()
		for _, pr := range problems {
			t.Errorf("receiver %s: %s", h.name, pr)
		}
		if fmt.Sprint(got) != fmt.Sprint(h.want) {
			t.Errorf("receiver %s got seqs %v…, want %v… (%d and %d)", h.name, head(got), head(h.want), len(got), len(h.want))
		}
		t.Logf("receiver %s: %d changes in %d requests", h.name, len(got), requests)
	}
}

func head(s []int64) []int64 { return s[:min(len(s), 20)] }
