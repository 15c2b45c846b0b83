package webhook_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/webhook"
)

// The test vector of the Standard Webhooks specification and its reference
// libraries (github.com/standard-webhooks/standard-webhooks).
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheSpecificationsVector(t *testing.T) {
	key, err := webhook.DecodeSecret(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := webhook.Sign(key, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody)); got != vectorSig {
		t.Errorf("Sign = %s, want %s", got, vectorSig)
	}
}

func TestVerify(t *testing.T) {
	at := time.Unix(vectorTS, 0)
	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, sig)
		return h
	}
	other, _ := webhook.NewSecret()
	otherKey, _ := webhook.DecodeSecret(other)
	rotated := webhook.Sign(otherKey, vectorID, at, []byte(vectorBody)) + " " + vectorSig
	for _, tc := range []struct {
		name   string
		secret string
		h      http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"the vector", vectorSecret, headers(vectorID, "1614265330", vectorSig), vectorBody, at, nil},
		{"a secret without its prefix", strings.TrimPrefix(vectorSecret, "whsec_"), headers(vectorID, "1614265330", vectorSig), vectorBody, at, nil},
		{"one of two signatures (rotation)", vectorSecret, headers(vectorID, "1614265330", rotated), vectorBody, at, nil},
		{"within the tolerance", vectorSecret, headers(vectorID, "1614265330", vectorSig), vectorBody, at.Add(4 * time.Minute), nil},
		{"a changed body", vectorSecret, headers(vectorID, "1614265330", vectorSig), `{"test": 2432232315}`, at, webhook.ErrSignature},
		{"another id", vectorSecret, headers("msg_other", "1614265330", vectorSig), vectorBody, at, webhook.ErrSignature},
		{"another timestamp", vectorSecret, headers(vectorID, "1614265331", vectorSig), vectorBody, at, webhook.ErrSignature},
		{"another secret", other, headers(vectorID, "1614265330", vectorSig), vectorBody, at, webhook.ErrSignature},
		{"an unknown version", vectorSecret, headers(vectorID, "1614265330", "v1a,"+strings.TrimPrefix(vectorSig, "v1,")), vectorBody, at, webhook.ErrSignature},
		{"too old (a replay)", vectorSecret, headers(vectorID, "1614265330", vectorSig), vectorBody, at.Add(6 * time.Minute), webhook.ErrTimestamp},
		{"from the future", vectorSecret, headers(vectorID, "1614265330", vectorSig), vectorBody, at.Add(-6 * time.Minute), webhook.ErrTimestamp},
		{"no headers", vectorSecret, http.Header{}, vectorBody, at, webhook.ErrMissingHeaders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := webhook.Verify(tc.secret, tc.h, []byte(tc.body), tc.now, webhook.DefaultTolerance)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err == nil && id != tc.h.Get(webhook.HeaderID) {
				t.Errorf("id = %q, want %q", id, tc.h.Get(webhook.HeaderID))
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := webhook.NewSecret()
	if !strings.HasPrefix(a, "whsec_") || a == b {
		t.Fatalf("secrets %q, %q: want two different whsec_ secrets", a, b)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if err != nil || len(key) < 24 || len(key) > 64 {
		t.Errorf("secret %q decodes to %d bytes, %v; want 24 to 64 (Standard Webhooks)", a, len(key), err)
	}
	if _, err := webhook.DecodeSecret("whsec_not base64!"); err == nil {
		t.Error("DecodeSecret accepted a secret that is not base64")
	}
}
