package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/store"
)

// DefaultTimeout bounds one delivery attempt (Standard Webhooks, "Request
// timeouts", recommends 15 to 30 s).
const DefaultTimeout = 15 * time.Second

// NewClient returns the HTTP client deliveries use: TLS verified against
// the system's roots plus extraCA (PEM, may be empty), connections kept
// alive and reused, redirects not followed (Standard Webhooks, "Delivery
// success and failure": a 3xx is a failure), each attempt bounded by
// timeout (0: DefaultTimeout).
func NewClient(extraCA []byte, timeout time.Duration) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if len(extraCA) > 0 && !pool.AppendCertsFromPEM(extraCA) {
		return nil, errors.New("the webhook CA file holds no PEM certificate")
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	Status     int           // HTTP status; 0 when there was no response
	Err        error         // nil for a 2xx
	Duration   time.Duration // from sending the request to reading the response
	RetryAfter time.Duration // the response's Retry-After, if any
}

// OK reports whether the receiver acknowledged the delivery (a 2xx).
func (a Attempt) OK() bool { return a.Err == nil }

// Log returns the attempt as a delivery-log entry.
func (a Attempt) Log(webhookID string, c *feed.Change, attempt int, at time.Time) store.WebhookDelivery {
	d := store.WebhookDelivery{WebhookID: webhookID, Seq: c.Seq, ChangeID: c.ID, Attempt: attempt, Time: at,
		Status: a.Status, Duration: a.Duration}
	if a.Err != nil {
		d.Error = a.Err.Error()
	}
	return d
}

// Request is one signed delivery, ready to send.
type Request struct {
	URL         string
	Key         []byte // the endpoint's HMAC key (DecodeSecret)
	ID          string // the change id: webhook-id
	Body        []byte
	ContentType string
}

// NewRequest renders c for endpoint w at time now (Body).
func NewRequest(w *store.Webhook, c *feed.Change, issuer string, now time.Time) (*Request, error) {
	key, err := DecodeSecret(w.Secret)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	body, ctype, err := Body(w, c, issuer, now)
	if err != nil {
		return nil, fmt.Errorf("render change %s: %w", c.ID, err)
	}
	return &Request{URL: w.URL, Key: key, ID: c.ID, Body: body, ContentType: ctype}, nil
}

// Send makes one attempt: it signs r with the attempt's time now and POSTs it.
func Send(ctx context.Context, client *http.Client, r *Request, now time.Time) Attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Attempt{Err: fmt.Errorf("bad webhook URL: %w", err)}
	}
	req.Header.Set("Content-Type", r.ContentType)
	req.Header.Set("User-Agent", "roster-webhooks")
	SetHeaders(req.Header, r.Key, r.ID, now, r.Body)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Attempt{Err: err, Duration: time.Since(start)}
	}
	// Drain (a little of) the body so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	a := Attempt{Status: resp.StatusCode, Duration: time.Since(start), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		a.Err = fmt.Errorf("the receiver answered %s and redirects are not followed; change the webhook's URL to %q", resp.Status, resp.Header.Get("Location"))
	default:
		a.Err = fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return a
}

// retryAfter parses a Retry-After value, seconds or an HTTP date (RFC 9110
// §10.2.3); 0 when absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// SendTest sends a test change (TestChange) to w with client, as `roster
// webhook test` does, and returns it with the attempt and the delivery to
// record for it.
func SendTest(ctx context.Context, client *http.Client, w *store.Webhook, now time.Time) (*feed.Change, Attempt, store.WebhookDelivery, error) {
	c, err := TestChange(w.TenantID, now)
	if err != nil {
		return nil, Attempt{}, store.WebhookDelivery{}, err
	}
	req, err := NewRequest(w, c, "", now)
	if err != nil {
		return nil, Attempt{}, store.WebhookDelivery{}, err
	}
	a := Send(ctx, client, req, now)
	return c, a, a.Log(w.ID, c, 1, now), nil
}
