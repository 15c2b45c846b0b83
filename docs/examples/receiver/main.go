// Command receiver is an example webhook receiver for Roster's change feed
// (docs/webhooks.md). It uses only the standard library so that it can be
// copied into an application: it verifies each delivery's Standard Webhooks
// signature, drops deliveries it has seen (by webhook-id), and hands each
// change to apply, in the order Roster sends them (seq order).
//
//	ROSTER_WEBHOOK_SECRET=whsec_… go run ./docs/examples/receiver -listen 127.0.0.1:8000
//	roster webhook add http://127.0.0.1:8000/ --tenant default
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Change is the part of a change record (format json) this receiver uses.
type Change struct {
	Seq      int64  `json:"seq"`
	ID       string `json:"id"`
	Tenant   string `json:"tenant"`
	Type     string `json:"type"` // user.created, group.members_changed, …
	Resource struct {
		Type        string `json:"type"` // User or Group
		ID          string `json:"id"`
		ExternalID  string `json:"externalId"`
		UserName    string `json:"userName"`
		DisplayName string `json:"displayName"`
	} `json:"resource"`
	Data    json.RawMessage `json:"data"` // the resource after the change
	Added   []string        `json:"added"`
	Removed []string        `json:"removed"`
}

// Receiver is an http.Handler for Roster's deliveries.
type Receiver struct {
	key   []byte
	apply func(Change) error
	now   func() time.Time // the clock the timestamp is checked against

	mu   sync.Mutex
	seen map[string]bool // webhook-ids already applied; a real application keeps them in its database
}

// NewReceiver returns a Receiver for the endpoint's secret (whsec_…).
func NewReceiver(secret string, apply func(Change) error) (*Receiver, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return nil, errors.New("the secret is not whsec_ followed by base64")
	}
	return &Receiver{key: key, apply: apply, now: time.Now, seen: map[string]bool{}}, nil
}

// verify checks the webhook-signature header: "v1," and the base64
// HMAC-SHA256 of "webhook-id.webhook-timestamp.body", and that the
// timestamp is within 5 minutes (against replayed requests).
func (rc *Receiver) verify(h http.Header, body []byte) (string, error) {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return "", errors.New("missing webhook headers")
	}
	if d := rc.now().Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "", errors.New("timestamp too far from now")
	}
	m := hmac.New(sha256.New, rc.key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) { // several during a key rotation
		if b64, ok := strings.CutPrefix(sig, "v1,"); ok {
			if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
				return id, nil
			}
		}
	}
	return "", errors.New("no valid signature")
}

// ServeHTTP answers 2xx once a change is applied (or was already): any
// other answer makes Roster send it again later, and nothing after it
// before it.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	id, err := rc.verify(r.Header, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var c Change
	if err := json.Unmarshal(body, &c); err != nil {
		http.Error(w, "not a change record", http.StatusBadRequest)
		return
	}
	if c.Type == "webhook.test" { // from 'roster webhook test'
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen[id] { // delivered again (at least once): already applied
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := rc.apply(c); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	rc.seen[id] = true
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "address to receive webhooks on")
	flag.Parse()
	rc, err := NewReceiver(os.Getenv("ROSTER_WEBHOOK_SECRET"), func(c Change) error {
		log.Printf("seq %d %s %s %s%s", c.Seq, c.Type, c.Resource.Type, c.Resource.ID, " "+c.Resource.UserName+c.Resource.DisplayName)
		return nil
	})
	if err != nil {
		log.Fatalf("ROSTER_WEBHOOK_SECRET: %v", err)
	}
	log.Printf("receiving Roster webhooks on http://%s/", *listen)
	log.Fatal(http.ListenAndServe(*listen, rc))
}
