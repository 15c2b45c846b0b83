package directory

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/agent/webhook"
	"github.com/rosterhq/roster/store"
)

// This file is the webhook endpoints' use cases (docs/webhooks.md): the
// CLI adds, lists, removes and replays them; the dispatcher (package
// webhook) reads them and persists its progress here.

// ErrWebhookNotFound is returned for an endpoint id that does not exist.
var ErrWebhookNotFound = errors.New("no such webhook")

// WebhookDeliveriesKept is how many attempts the delivery log keeps per
// endpoint; older ones are pruned as new ones are logged.
const WebhookDeliveriesKept = 1000

// NewWebhook is what `roster webhook add` asks for.
type NewWebhook struct {
	Tenant string
	URL    string
	Types  string // comma-separated change-type patterns (feed.ParseFilter); "" selects all
	Format string // webhook.FormatJSON (default) or webhook.FormatSCIMSET
	// AllowHTTP accepts an http:// URL; without it only https:// URLs and
	// http:// to a loopback address are accepted.
	AllowHTTP bool
}

// AddWebhook registers an endpoint with a fresh secret. It receives the
// changes committed from now on (its cursor starts at store.WebhookFromNow);
// `roster webhook replay --from` sends older ones.
func (s *Service) AddWebhook(ctx context.Context, n NewWebhook) (*store.Webhook, error) {
	if err := checkWebhookURL(n.URL, n.AllowHTTP); err != nil {
		return nil, err
	}
	f, err := feed.ParseFilter(n.Types)
	if err != nil {
		return nil, err
	}
	format, err := webhook.ParseFormat(n.Format)
	if err != nil {
		return nil, err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	w := &store.Webhook{ID: "wh_" + strings.ReplaceAll(newID(), "-", ""), TenantID: n.Tenant, URL: n.URL,
		Types: strings.Join(f, ","), Format: format, Secret: secret, Created: s.now(), State: store.WebhookActive,
		Cursor: store.WebhookFromNow}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, n.Tenant); err != nil {
			return err
		}
		return tx.InsertWebhook(w)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// checkWebhookURL accepts absolute https:// URLs, and http:// ones to a
// loopback address or when allowHTTP is set: deliveries carry the
// directory, so they go over TLS unless the operator says otherwise.
func checkWebhookURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("the webhook URL %q is not an absolute http(s) URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("the webhook URL %q carries a user name or password; the signature authenticates deliveries instead", raw)
	}
	if u.Scheme == "http" && !allowHTTP {
		h := u.Hostname()
		if h != "localhost" && !strings.HasPrefix(h, "127.") && h != "::1" {
			return fmt.Errorf("the webhook URL %q is not https; deliveries carry the directory, so use https (--allow-http accepts it anyway)", raw)
		}
	}
	return nil
}

// Webhooks lists the endpoints of a tenant ("" for all tenants), oldest
// first; ErrNoTenant for a tenant that does not exist.
func (s *Service) Webhooks(ctx context.Context, tenant string) ([]*store.Webhook, error) {
	var out []*store.Webhook
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		if err = tenantFilter(tx, tenant); err == nil {
			out, err = tx.Webhooks(tenant)
		}
		return err
	})
	return out, err
}

// Webhook returns one endpoint, or ErrWebhookNotFound.
func (s *Service) Webhook(ctx context.Context, id string) (*store.Webhook, error) {
	var w *store.Webhook
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		w, err = tx.Webhook(id)
		return err
	})
	return w, webhookErr(id, err)
}

func webhookErr(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q (see 'roster webhook list')", ErrWebhookNotFound, id)
	}
	return err
}

// RemoveWebhook removes an endpoint and its delivery log; a running
// dispatcher stops delivering to it within its reload interval.
func (s *Service) RemoveWebhook(ctx context.Context, id string) (*store.Webhook, error) {
	var w *store.Webhook
	err := s.db.Write(ctx, func(tx *store.Tx) (err error) {
		if w, err = tx.Webhook(id); err != nil {
			return err
		}
		return tx.DeleteWebhook(id)
	})
	return w, webhookErr(id, err)
}

// ReplayWebhook makes an endpoint active again and, when from > 0, sends
// it every change from seq from on again (from 0: resume where it stopped).
// A running dispatcher picks it up within its reload interval.
func (s *Service) ReplayWebhook(ctx context.Context, id string, from int64) (*store.Webhook, error) {
	if from < 0 {
		return nil, fmt.Errorf("--from must be a seq of 1 or more, not %d", from)
	}
	var w *store.Webhook
	err := s.db.Write(ctx, func(tx *store.Tx) (err error) {
		if w, err = tx.Webhook(id); err != nil {
			return err
		}
		cursor := w.Cursor
		if from > 0 {
			cursor = from - 1
		}
		if err := tx.ReplayWebhook(id, cursor); err != nil {
			return err
		}
		w, err = tx.Webhook(id)
		return err
	})
	return w, webhookErr(id, err)
}

// SaveWebhookProgress persists a dispatcher's progress on an endpoint and
// appends attempts to its delivery log, pruned to WebhookDeliveriesKept, in
// one transaction (webhook.Store). It reports false, changing nothing, when
// the endpoint was removed or replayed since revision.
func (s *Service) SaveWebhookProgress(ctx context.Context, id string, revision int64, p store.WebhookProgress, attempts []store.WebhookDelivery) (bool, error) {
	var ok bool
	err := s.db.Write(ctx, func(tx *store.Tx) (err error) {
		if ok, err = tx.SetWebhookProgress(id, revision, p); err != nil || !ok {
			return err
		}
		return s.logDeliveries(tx, id, attempts)
	})
	return ok, err
}

// LogWebhookDeliveries appends attempts made outside the dispatcher (such
// as `roster webhook test`) to an endpoint's delivery log.
func (s *Service) LogWebhookDeliveries(ctx context.Context, id string, attempts []store.WebhookDelivery) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Webhook(id); err != nil {
			return err
		}
		return s.logDeliveries(tx, id, attempts)
	})
	return webhookErr(id, err)
}

func (s *Service) logDeliveries(tx *store.Tx, id string, attempts []store.WebhookDelivery) error {
	if len(attempts) == 0 {
		return nil
	}
	if err := tx.InsertWebhookDeliveries(attempts); err != nil {
		return err
	}
	_, err := tx.PruneWebhookDeliveries(id, WebhookDeliveriesKept)
	return err
}

// WebhookDeliveries returns recent attempts from the delivery log, newest
// first.
func (s *Service) WebhookDeliveries(ctx context.Context, q store.WebhookDeliveryQuery) ([]store.WebhookDelivery, error) {
	var out []store.WebhookDelivery
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		if q.WebhookID != "" {
			if _, err := tx.Webhook(q.WebhookID); err != nil {
				return err
			}
		}
		if err = tenantFilter(tx, q.Tenant); err == nil {
			out, err = tx.WebhookDeliveries(q)
		}
		return err
	})
	return out, webhookErr(q.WebhookID, err)
}

// FailingWebhooks lists the endpoints that need attention: failing (no 2xx
// for the whole retry window) or disabled (410 Gone), and active ones whose
// current change has not been acknowledged yet (FailingSince set).
func (s *Service) FailingWebhooks(ctx context.Context) ([]*store.Webhook, error) {
	all, err := s.Webhooks(ctx, "")
	if err != nil {
		return nil, err
	}
	return failingWebhooks(all), nil
}

func failingWebhooks(all []*store.Webhook) []*store.Webhook {
	var out []*store.Webhook
	for _, w := range all {
		if w.State != store.WebhookActive || w.FailingSince != nil {
			out = append(out, w)
		}
	}
	return out
}

// WebhookAlert is a webhook endpoint that is not delivering, as `roster
// status` shows it.
type WebhookAlert struct {
	Tenant       string             `json:"tenant"`
	ID           string             `json:"id"`
	URL          string             `json:"url"`
	State        store.WebhookState `json:"state"`
	FailingSince *time.Time         `json:"failing_since,omitempty"`
	Detail       string             `json:"detail"`
}

func newWebhookAlert(w *store.Webhook) WebhookAlert {
	return WebhookAlert{Tenant: w.TenantID, ID: w.ID, URL: w.URL, State: w.State, FailingSince: w.FailingSince, Detail: w.Detail}
}

// webhookAttention says in a sentence what is wrong with an endpoint and
// what to do.
func webhookAttention(w *store.Webhook) string {
	switch w.State {
	case store.WebhookActive:
		since := ""
		if w.FailingSince != nil {
			since = " since " + w.FailingSince.UTC().Format("2006-01-02 15:04 MST")
		}
		return fmt.Sprintf("Tenant %q: webhook %s (%s) has not acknowledged a delivery%s and is being retried: %s. See 'roster webhook deliveries %s --failed'.",
			w.TenantID, w.ID, w.URL, since, w.Detail, w.ID)
	default:
		return fmt.Sprintf("Tenant %q: webhook %s (%s) is %s and receives nothing: %s. Fix the receiver, then run 'roster webhook replay %s'.",
			w.TenantID, w.ID, w.URL, w.State, w.Detail, w.ID)
	}
}
