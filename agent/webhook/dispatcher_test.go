package webhook_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/agent/webhook/webhooktest"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

const tenant = "acme"

var t0 = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

// rig is a directory over a real SQLite file, an in-memory change log and
// a simulated clock.
type rig struct {
	dir   *directory.Service
	src   *webhooktest.Source
	clock *webhooktest.Clock
}

func newRig(t testing.TB) *rig {
	t.Helper()
	db, err := store.Open(context.Background(), pgtest.Location(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := webhooktest.NewClock(t0)
	dir := directory.New(db, nil, clock.Now)
	if _, err := dir.AddTenant(context.Background(), tenant, "", store.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	return &rig{dir: dir, src: webhooktest.NewSource(), clock: clock}
}

func (r *rig) addHook(t testing.TB, url, types, format string) *store.Webhook {
	t.Helper()
	w, err := r.dir.AddWebhook(context.Background(), directory.NewWebhook{Tenant: tenant, URL: url, Types: types, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// users appends n user.updated changes made after t0.
func (r *rig) users(n int) []feed.Change {
	cs := make([]feed.Change, n)
	for i := range cs {
		cs[i] = feed.Change{Type: feed.UserUpdated, Resource: feed.Resource{Type: "User", ID: fmt.Sprintf("u%d", i), UserName: fmt.Sprintf("u%d@acme.test", i)},
			Data: json.RawMessage(`{"userName":"u` + fmt.Sprint(i) + `@acme.test"}`), Paths: []string{"displayName"}}
	}
	return r.src.Append(tenant, r.clock.Now().Add(time.Second), cs...)
}

// start runs a dispatcher until the test ends.
func (r *rig) start(t *testing.T, opt webhook.Options) {
	t.Helper()
	if opt.Clock == nil {
		opt.Clock = r.clock
	}
	opt.Reload = 5 * time.Millisecond
	d, err := webhook.New(r.dir, r.src, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func (r *rig) hook(t *testing.T, id string) *store.Webhook {
	t.Helper()
	w, err := r.dir.Webhook(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// receiver verifies every delivery's signature against the simulated
// clock and keeps each change once (deduplicated by webhook-id), in the
// order received. answer, when set, decides the response to the n-th
// request (from 1); nil answers 204.
type receiver struct {
	t      *testing.T
	secret string
	now    func() time.Time
	answer func(n int, w http.ResponseWriter) bool // true: answered (not a success)

	mu       sync.Mutex
	requests int
	seen     map[string]bool
	got      []feed.Change
	bad      []string
	ctypes   map[string]bool
	bodies   [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.requests++
	n := rc.requests
	rc.mu.Unlock()
	if rc.answer != nil && rc.answer(n, w) {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	id, err := webhook.Verify(rc.secret, r.Header, body, rc.now(), webhook.DefaultTolerance)
	if err != nil {
		rc.bad = append(rc.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.ctypes == nil {
		rc.ctypes, rc.seen = map[string]bool{}, map[string]bool{}
	}
	rc.ctypes[r.Header.Get("Content-Type")] = true
	if !rc.seen[id] {
		rc.seen[id] = true
		rc.bodies = append(rc.bodies, body)
		var c feed.Change
		if json.Unmarshal(body, &c) == nil {
			rc.got = append(rc.got, c)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

func (rc *receiver) snapshot() (got []feed.Change, bad []string, requests int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]feed.Change(nil), rc.got...), append([]string(nil), rc.bad...), rc.requests
}

// serve starts rc on 127.0.0.1 and registers it as an endpoint.
func (r *rig) serve(t *testing.T, rc *receiver, types, format string) (*store.Webhook, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	w := r.addHook(t, srv.URL, types, format)
	rc.t, rc.secret, rc.now = t, w.Secret, r.clock.Now
	return w, srv
}

// eventually polls cond until it holds, failing the test after 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func checkInOrder(t *testing.T, got []feed.Change, want []feed.Change) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("received %d distinct changes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || got[i].ID != want[i].ID {
			t.Fatalf("change %d received = seq %d (%s), want seq %d (%s): not in seq order", i, got[i].Seq, got[i].ID, want[i].Seq, want[i].ID)
		}
	}
}

func TestReceiverDownTenMinutesGetsItsBacklogInOrder(t *testing.T) {
	r := newRig(t)
	up := t0.Add(10 * time.Minute)
	rc := &receiver{answer: func(_ int, w http.ResponseWriter) bool {
		if r.clock.Now().Before(up) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	w, _ := r.serve(t, rc, "", "")
	want := r.users(40)
	r.start(t, webhook.Options{Jitter: func() float64 { return 0.999 }})
	eventually(t, "the backlog arrived", func() bool { return rc.count() == len(want) })
	want = append(want, r.users(25)...) // and the feed continues once it is back
	eventually(t, "the new changes arrived", func() bool { return rc.count() == len(want) })

	got, bad, requests := rc.snapshot()
	if len(bad) > 0 {
		t.Fatalf("%d deliveries did not verify: %v", len(bad), bad)
	}
	checkInOrder(t, got, want)
	if now := r.clock.Now(); now.Before(up) {
		t.Errorf("the clock is at %s, before the receiver came back at %s", now, up)
	}
	sleeps := r.clock.Sleeps()
	failures := requests - len(want) // every request before it came back failed
	if failures < 5 || len(sleeps) != failures {
		t.Fatalf("%d failed requests and %d back-off waits; want the same number, at least 5", failures, len(sleeps))
	}
	for i, s := range sleeps {
		if hi := webhook.Backoff(i + 1); s < hi/2 || s > hi {
			t.Errorf("wait %d = %s, want between %s and %s (exponential back-off with jitter)", i+1, s, hi/2, hi)
		}
	}
	eventually(t, "the cursor was saved", func() bool { return r.hook(t, w.ID).Cursor == want[len(want)-1].Seq })
	if h := r.hook(t, w.ID); h.State != store.WebhookActive || h.FailingSince != nil {
		t.Errorf("after recovery state = %s, failing since %v; want active, nil", h.State, h.FailingSince)
	}
	failed, err := r.dir.WebhookDeliveries(context.Background(), store.WebhookDeliveryQuery{WebhookID: w.ID, Failed: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != failures || failed[0].Status != http.StatusServiceUnavailable || failed[0].Seq != want[0].Seq {
		t.Errorf("delivery log holds %d failed attempts (newest %+v), want %d with status 503 for seq %d", len(failed), failed[0], failures, want[0].Seq)
	}
	if failing, _ := r.dir.FailingWebhooks(context.Background()); len(failing) != 0 {
		t.Errorf("FailingWebhooks = %d endpoints after recovery, want none", len(failing))
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	r := newRig(t)
	rc := &receiver{}
	rc.answer = func(n int, w http.ResponseWriter) bool {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.Header().Set("Retry-After", r.clock.Now().Add(300*time.Second).Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			return false
		}
		return true
	}
	r.serve(t, rc, "", "")
	want := r.users(1)
	r.start(t, webhook.Options{})
	eventually(t, "the change arrived", func() bool { return rc.count() == 1 })
	got, _, _ := rc.snapshot()
	checkInOrder(t, got, want)
	if s := r.clock.Sleeps(); len(s) != 2 || s[0] != 120*time.Second || s[1] != 300*time.Second {
		t.Errorf("waits = %v, want [2m0s 5m0s] (Retry-After in seconds, then as an HTTP date)", s)
	}
}

func TestRedirectsAreNotFollowedAndTheEndpointEndsFailing(t *testing.T) {
	r := newRig(t)
	var target atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		target.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer elsewhere.Close()
	var fixed atomic.Bool
	rc := &receiver{answer: func(_ int, w http.ResponseWriter) bool {
		if fixed.Load() {
			return false
		}
		w.Header().Set("Location", elsewhere.URL)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return true
	}}
	w, _ := r.serve(t, rc, "", "")
	want := r.users(3)
	r.start(t, webhook.Options{})
	eventually(t, "the endpoint is marked failing", func() bool { return r.hook(t, w.ID).State == store.WebhookFailing })
	if n := target.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests; redirects must not be followed", n)
	}
	if now := r.clock.Now(); now.Sub(t0) < webhook.RetryWindow {
		t.Errorf("marked failing after %s, want after the retry window of %s", now.Sub(t0), webhook.RetryWindow)
	}
	failing, err := r.dir.FailingWebhooks(context.Background())
	if err != nil || len(failing) != 1 || failing[0].ID != w.ID || !strings.Contains(failing[0].Detail, "redirects are not followed") {
		t.Fatalf("FailingWebhooks = %v, %v; want %s, with a detail about the redirect", failing, err, w.ID)
	}
	log, _ := r.dir.WebhookDeliveries(context.Background(), store.WebhookDeliveryQuery{WebhookID: w.ID, Failed: true, Limit: 1})
	if len(log) != 1 || log[0].Status != http.StatusTemporaryRedirect {
		t.Errorf("last failed attempt = %+v, want status 307", log)
	}
	_, _, before := rc.snapshot()

	// Parked: nothing more is sent until the operator replays it.
	fixed.Store(true)
	if _, err := r.dir.ReplayWebhook(context.Background(), w.ID, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the backlog arrived after the replay", func() bool { return rc.count() == len(want) })
	got, bad, after := rc.snapshot()
	if len(bad) > 0 || after != before+len(want) {
		t.Errorf("after the replay: %d requests for %d changes, %d bad; want exactly one each, none bad", after-before, len(want), len(bad))
	}
	checkInOrder(t, got, want)
}

func TestGoneDisablesTheEndpoint(t *testing.T) {
	r := newRig(t)
	rc := &receiver{answer: func(_ int, w http.ResponseWriter) bool { w.WriteHeader(http.StatusGone); return true }}
	w, _ := r.serve(t, rc, "", "")
	r.users(2)
	r.start(t, webhook.Options{})
	eventually(t, "the endpoint is disabled", func() bool { return r.hook(t, w.ID).State == store.WebhookDisabled })
	if _, _, n := rc.snapshot(); n != 1 {
		t.Errorf("%d requests, want 1: a 410 is not retried", n)
	}
}

func TestTypesNewEndpointsAndReplayFrom(t *testing.T) {
	r := newRig(t)
	old := r.src.Append(tenant, t0.Add(-time.Hour), feed.Change{Type: feed.GroupCreated, Resource: feed.Resource{Type: "Group", ID: "g0"}})
	rc := &receiver{}
	w, _ := r.serve(t, rc, "group.*", "")
	cs := r.src.Append(tenant, t0.Add(time.Second),
		feed.Change{Type: feed.UserCreated, Resource: feed.Resource{Type: "User", ID: "u1"}},
		feed.Change{Type: feed.GroupCreated, Resource: feed.Resource{Type: "Group", ID: "g1"}},
		feed.Change{Type: feed.GroupMembersChanged, Resource: feed.Resource{Type: "Group", ID: "g1"}, Added: []string{"u1"}},
		feed.Change{Type: feed.UserDeleted, Resource: feed.Resource{Type: "User", ID: "u1"}},
	)
	r.start(t, webhook.Options{})
	eventually(t, "the cursor moved past the last change", func() bool { return r.hook(t, w.ID).Cursor == cs[3].Seq })
	got, _, _ := rc.snapshot()
	checkInOrder(t, got, []feed.Change{cs[1], cs[2]}) // groups only, and nothing from before the endpoint existed

	if _, err := r.dir.ReplayWebhook(context.Background(), w.ID, old[0].Seq); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replay sent the old group", func() bool { return rc.count() == 3 })
	got, _, _ = rc.snapshot()
	checkInOrder(t, got, []feed.Change{cs[1], cs[2], old[0]}) // deduplicated by webhook-id: the replayed cs[1..2] are not new
}

func TestFallingBehindTheRetainedLogParksTheEndpoint(t *testing.T) {
	r := newRig(t)
	rc := &receiver{}
	w, _ := r.serve(t, rc, "", "")
	cs := r.users(3)
	if _, err := r.dir.ReplayWebhook(context.Background(), w.ID, 1); err != nil {
		t.Fatal(err)
	}
	r.src.Prune(tenant, cs[1].Seq)
	r.start(t, webhook.Options{})
	eventually(t, "the endpoint is failing", func() bool { return r.hook(t, w.ID).State == store.WebhookFailing })
	if h := r.hook(t, w.ID); !strings.Contains(h.Detail, "snapshot") {
		t.Errorf("detail = %q, want the advice to start from a snapshot", h.Detail)
	}
	if n := rc.count(); n != 0 {
		t.Errorf("%d changes delivered across the gap, want none", n)
	}
}

func TestShutdownSavesTheCursorAndARestartResumes(t *testing.T) {
	r := newRig(t)
	hold := make(chan struct{})
	rc := &receiver{answer: func(n int, _ http.ResponseWriter) bool {
		if n == 6 {
			<-hold // the sixth delivery is in flight when the agent stops
		}
		return false
	}}
	w, _ := r.serve(t, rc, "", "")
	defer close(hold)
	want := r.users(10)
	// No periodic save: only the one at shutdown can store the cursor.
	d, err := webhook.New(r.dir, r.src, webhook.Options{Clock: r.clock, Reload: 5 * time.Millisecond, FlushEvery: 1000, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	eventually(t, "the sixth delivery is in flight", func() bool { _, _, n := rc.snapshot(); return n == 6 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := r.hook(t, w.ID).Cursor; c != want[4].Seq {
		t.Fatalf("cursor after shutdown = %d, want %d (the last acknowledged change)", c, want[4].Seq)
	}
	hold <- struct{}{} // let the abandoned request finish
	want = append(want, r.users(5)...)
	r.start(t, webhook.Options{})
	eventually(t, "every change arrived", func() bool { return rc.count() == 15 })
	got, bad, requests := rc.snapshot()
	checkInOrder(t, got, want)
	if requests != 16 || len(bad) != 0 {
		t.Errorf("%d requests (%d bad) for 15 changes, want 16: only the one in flight at shutdown is sent again", requests, len(bad))
	}
}

// TestSCIMSETFormat checks every change type's SET, claim by claim, against
// RFC 9967 (the SCIM profile) and RFC 8417 (SETs).
func TestSCIMSETFormat(t *testing.T) {
	r := newRig(t)
	rc := &receiver{}
	w, _ := r.serve(t, rc, "", webhook.FormatSCIMSET)
	user := `{"id":"u1","userName":"a@acme.test","active":true,"meta":{"resourceType":"User","version":"W/\"3\""}}`
	group := `{"id":"g1","displayName":"Sales","meta":{"resourceType":"Group","version":"W/\"2\""}}`
	u := feed.Resource{Type: "User", ID: "u1", ExternalID: "e1", UserName: "a@acme.test"}
	g := feed.Resource{Type: "Group", ID: "g1", DisplayName: "Sales"}
	cs := r.src.Append(tenant, t0.Add(-time.Minute),
		feed.Change{Type: feed.UserCreated, Resource: u, Data: json.RawMessage(user)},
		feed.Change{Type: feed.UserUpdated, Resource: u, Data: json.RawMessage(user), Paths: []string{"title"}},
		feed.Change{Type: feed.UserDeactivated, Resource: u, Data: json.RawMessage(user), Paths: []string{"active"}},
		feed.Change{Type: feed.UserReactivated, Resource: u, Data: json.RawMessage(user), Paths: []string{"active"}},
		feed.Change{Type: feed.UserDeleted, Resource: u},
		feed.Change{Type: feed.GroupCreated, Resource: g, Data: json.RawMessage(group), Added: []string{"u1"}},
		feed.Change{Type: feed.GroupUpdated, Resource: g, Data: json.RawMessage(group), Paths: []string{"displayName", "externalId", "members"}, Added: []string{"u3"}},
		feed.Change{Type: feed.GroupMembersChanged, Resource: g, Data: json.RawMessage(group), Paths: []string{"members"}, Added: []string{"u1", "u4"}, Removed: []string{"u2"}},
		feed.Change{Type: feed.GroupDeleted, Resource: g},
	)
	if _, err := r.dir.ReplayWebhook(context.Background(), w.ID, 1); err != nil {
		t.Fatal(err)
	}
	r.start(t, webhook.Options{Issuer: func(tn string) string { return "https://roster.test/scim/" + tn + "/v2" }})
	eventually(t, "every SET arrived", func() bool { return rc.count() == len(cs) })
	rc.mu.Lock()
	bodies, ctypes := rc.bodies, rc.ctypes
	rc.mu.Unlock()
	// RFC 8417 §7.2 registers the media type; RFC 8935 §2 sends a SET with it.
	if !ctypes["application/secevent+jwt"] || len(ctypes) != 1 {
		t.Errorf("content types %v, want application/secevent+jwt", ctypes)
	}

	const prov = "urn:ietf:params:scim:event:prov:"
	userData := `{"id":"u1","userName":"a@acme.test","active":true,"meta":{"resourceType":"User","version":"W/\"3\""}}`
	// RFC 9967 §2.2: a "full" event carries data (never also attributes)
	// and the resource's ETag as version.
	userFull := `{"version":"W/\"3\"","data":` + userData + `}`
	wantEvents := []string{
		// §2.4.1: the final representation.
		`{"` + prov + `create:full":` + userFull + `}`,
		// §2.4.3: the whole user after the change, a PUT body.
		`{"` + prov + `put:full":` + userFull + `}`,
		// §2.4.6 and §2.1: the same state change, so one SET with both.
		`{"` + prov + `put:full":` + userFull + `,"` + prov + `deactivate":{}}`,
		`{"` + prov + `put:full":` + userFull + `,"` + prov + `activate":{}}`, // §2.4.5
		// §2.4.4: no payload, no :full or :notice.
		`{"` + prov + `delete":{}}`,
		// §2.4.1: a new group's representation holds its members.
		`{"` + prov + `create:full":{"version":"W/\"2\"","data":{"id":"g1","displayName":"Sales","meta":{"resourceType":"Group","version":"W/\"2\""},"members":[{"value":"u1"}]}}}`,
		// §2.4.2: data is the PatchOp message that makes the change (RFC
		// 7644 §3.5.2); an attribute gone from the group is removed.
		`{"` + prov + `patch:full":{"version":"W/\"2\"","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` +
			`{"op":"replace","path":"displayName","value":"Sales"},{"op":"remove","path":"externalId"},{"op":"add","path":"members","value":[{"value":"u3"}]}]}}}`,
		`{"` + prov + `patch:full":{"version":"W/\"2\"","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` +
			`{"op":"add","path":"members","value":[{"value":"u1"},{"value":"u4"}]},{"op":"remove","path":"members[value eq \"u2\"]"}]}}}`,
		`{"` + prov + `delete":{}}`,
	}
	for i, b := range bodies {
		c := cs[i]
		parts := strings.Split(string(b), ".")
		if len(parts) != 3 || parts[2] != "" {
			t.Fatalf("SET %d = %q, want an unsecured JWS (header.claims.)", i, b)
		}
		// RFC 8417 §2.3: explicitly typed, "typ" without "application/";
		// RFC 7518 §3.6: "alg":"none" for an unsecured JWS.
		hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
		var header map[string]any
		if err := json.Unmarshal(hdr, &header); err != nil || !reflect.DeepEqual(header, map[string]any{"alg": "none", "typ": "secevent+jwt"}) {
			t.Errorf("SET %d header = %s", i, hdr)
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		uri, ext := "/Users/u1", `,"externalId":"e1"`
		if c.Resource.Type == "Group" {
			uri, ext = "/Groups/g1", ""
		}
		// RFC 8417 §2.2 and RFC 7519 §4.1: jti names this token (the change
		// at this endpoint), txn the change (RFC 9967 §2.2), toe when it
		// happened, iat when the token was made; iss is the SCIM base URL
		// that sub_id's relative uri (RFC 9967 §2.1) resolves against; no
		// "sub" (RFC 9967 §2.1) and no "exp".
		wantJSON := fmt.Sprintf(`{"jti":%q,"txn":%q,"iat":%d,"toe":%d,"iss":"https://roster.test/scim/acme/v2","aud":%q,`+
			`"sub_id":{"format":"scim","uri":%q%s},"events":%s}`,
			c.ID+"."+w.ID, c.ID, t0.Unix(), c.Time.Unix(), w.URL, uri, ext, wantEvents[i])
		var want map[string]any
		if err := json.Unmarshal([]byte(wantJSON), &want); err != nil {
			t.Fatalf("SET %d: bad expectation %s: %v", i, wantJSON, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("SET %d (%s) claims\n got %s\nwant %s", i, c.Type, raw, wantJSON)
		}
	}
}

func TestTLSWithAnExtraCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	secret, _ := webhook.NewSecret()
	w := &store.Webhook{ID: "wh_1", URL: srv.URL, Secret: secret, Format: webhook.FormatJSON}
	req, err := webhook.NewRequest(w, &feed.Change{ID: "chg_1", Type: feed.UserCreated}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trusting, err := webhook.NewClient(ca, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a := webhook.Send(context.Background(), trusting, req, time.Now()); !a.OK() || a.Status != http.StatusOK {
		t.Errorf("with the CA: %+v, want 200", a)
	}
	plain, _ := webhook.NewClient(nil, 0)
	if a := webhook.Send(context.Background(), plain, req, time.Now()); a.OK() || !strings.Contains(a.Err.Error(), "certificate") {
		t.Errorf("without the CA: %+v, want a certificate error", a)
	}
	if _, err := webhook.NewClient([]byte("not pem"), 0); err == nil {
		t.Error("NewClient accepted a CA file without a certificate")
	}
}

// TestSendTest: the test change reaches the receiver signed, and the
// delivery to record names the endpoint and the change.
func TestSendTest(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	secret, _ := webhook.NewSecret()
	w := &store.Webhook{ID: "wh_1", TenantID: "acme", URL: srv.URL, Secret: secret, Format: webhook.FormatJSON}
	client, err := webhook.NewClient(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, a, logged, err := webhook.SendTest(context.Background(), client, w, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !a.OK() || a.Status != http.StatusNoContent || c.Type != webhook.TestType || c.Tenant != "acme" || got.Load() != c.ID {
		t.Errorf("SendTest = %+v, %+v; receiver saw %v", c, a, got.Load())
	}
	if logged.WebhookID != "wh_1" || logged.ChangeID != c.ID {
		t.Errorf("delivery to record = %+v", logged)
	}
}
