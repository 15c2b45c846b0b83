package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// WebhookState says whether the agent delivers to a webhook endpoint.
type WebhookState string

// Webhook states (docs/webhooks.md): active endpoints are delivered to;
// failing ones gave no 2xx for the whole retry window (3 days) and disabled
// ones answered 410 Gone — both wait for `roster webhook replay`.
const (
	WebhookActive   WebhookState = "active"
	WebhookFailing  WebhookState = "failing"
	WebhookDisabled WebhookState = "disabled"
)

// Webhook is an endpoint that receives a tenant's change log.
type Webhook struct {
	ID       string
	TenantID string
	URL      string
	Types    string // comma-separated change-type patterns; "" selects all
	Format   string // "json" or "scim-set"
	Secret   string // whsec_…
	Created  time.Time
	State    WebhookState
	// Cursor is the seq of the last change delivered (or skipped by Types),
	// or WebhookFromNow.
	Cursor int64
	// Revision changes when the cursor is moved by hand (replay), so that a
	// dispatcher still holding the older cursor does not write it back.
	Revision int64
	// FailingSince is the first failed attempt of the current streak; nil
	// when the last attempt succeeded.
	FailingSince *time.Time
	Detail       string // the last failure, in words
}

// WebhookFromNow is the cursor of a new endpoint: it receives the changes
// made after it was created (Webhook.Created), not the retained log.
const WebhookFromNow = -1

// WebhookProgress is what a dispatcher persists about an endpoint.
type WebhookProgress struct {
	Cursor       int64
	State        WebhookState
	FailingSince *time.Time
	Detail       string
}

// WebhookDelivery is one delivery attempt.
type WebhookDelivery struct {
	ID        int64
	WebhookID string
	Seq       int64
	ChangeID  string
	Attempt   int
	Time      time.Time
	Status    int // HTTP status; 0 when there was no response
	Error     string
	Duration  time.Duration
}

const webhookCols = `id, tenant_id, url, types, format, secret, created, state, cursor, revision, failing_since, detail`

func scanWebhook(sc interface{ Scan(...any) error }) (*Webhook, error) {
	w := &Webhook{}
	var state string
	var created int64
	var failing sql.NullInt64
	if err := sc.Scan(&w.ID, &w.TenantID, &w.URL, &w.Types, &w.Format, &w.Secret, &created, &state, &w.Cursor, &w.Revision, &failing, &w.Detail); err != nil {
		return nil, err
	}
	w.State, w.Created, w.FailingSince = WebhookState(state), fromNanos(created), fromNullNanos(failing)
	return w, nil
}

// InsertWebhook adds an endpoint; ErrConflict if its id is taken.
func (t *Tx) InsertWebhook(w *Webhook) error {
	_, err := t.exec(`INSERT INTO webhooks(`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.TenantID, w.URL, w.Types, w.Format, w.Secret, nanos(w.Created), string(w.State), w.Cursor, w.Revision,
		nullNanos(w.FailingSince), w.Detail)
	if err != nil {
		return fmt.Errorf("add webhook %s: %w", w.ID, err)
	}
	return nil
}

// Webhook returns one endpoint, or ErrNotFound.
func (t *Tx) Webhook(id string) (*Webhook, error) {
	w, err := scanWebhook(t.queryRow(`SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("webhook %q: %w", id, ErrNotFound)
	}
	return w, err
}

// Webhooks lists the endpoints of a tenant ("" for every tenant), oldest first.
func (t *Tx) Webhooks(tenantID string) ([]*Webhook, error) {
	rows, err := t.query(`SELECT `+webhookCols+` FROM webhooks WHERE ? = '' OR tenant_id = ? ORDER BY created, id`, tenantID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []*Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook removes an endpoint and its delivery log; ErrNotFound if
// it is not there.
func (t *Tx) DeleteWebhook(id string) error {
	res, err := t.exec(`DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("remove webhook %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("webhook %q: %w", id, ErrNotFound)
	}
	return nil
}

// SetWebhookProgress stores a dispatcher's progress for the endpoint at
// revision. It reports false, writing nothing, when the endpoint is gone or
// its revision moved on (a replay reset the cursor meanwhile).
func (t *Tx) SetWebhookProgress(id string, revision int64, p WebhookProgress) (bool, error) {
	res, err := t.exec(`UPDATE webhooks SET cursor = ?, state = ?, failing_since = ?, detail = ? WHERE id = ? AND revision = ?`,
		p.Cursor, string(p.State), nullNanos(p.FailingSince), p.Detail, id, revision)
	if err != nil {
		return false, fmt.Errorf("save webhook %s progress: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReplayWebhook moves an endpoint's cursor to cursor, makes it active and
// bumps its revision; ErrNotFound if it is not there.
func (t *Tx) ReplayWebhook(id string, cursor int64) error {
	res, err := t.exec(`UPDATE webhooks SET cursor = ?, state = 'active', failing_since = NULL, detail = '', revision = revision + 1 WHERE id = ?`, cursor, id)
	if err != nil {
		return fmt.Errorf("replay webhook %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("webhook %q: %w", id, ErrNotFound)
	}
	return nil
}

// InsertWebhookDeliveries appends delivery attempts to the log.
func (t *Tx) InsertWebhookDeliveries(ds []WebhookDelivery) error {
	for _, d := range ds {
		if _, err := t.exec(`INSERT INTO webhook_deliveries(webhook_id, seq, change_id, attempt, time, status, error, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			d.WebhookID, d.Seq, d.ChangeID, d.Attempt, nanos(d.Time), d.Status, d.Error, int64(d.Duration)); err != nil {
			return fmt.Errorf("log webhook delivery: %w", err)
		}
	}
	return nil
}

// PruneWebhookDeliveries keeps the newest keep attempts of an endpoint and
// returns how many it removed.
func (t *Tx) PruneWebhookDeliveries(webhookID string, keep int) (int64, error) {
	res, err := t.exec(`DELETE FROM webhook_deliveries WHERE webhook_id = ? AND id <= (
		SELECT id FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, webhookID, webhookID, keep)
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// WebhookDeliveryQuery selects attempts from the delivery log.
type WebhookDeliveryQuery struct {
	WebhookID string // "" for every endpoint of Tenant
	Tenant    string // "" for every tenant
	Failed    bool   // only attempts that did not get a 2xx
	Limit     int    // newest first; 0 means 100
}

// WebhookDeliveries returns attempts from the delivery log, newest first.
func (t *Tx) WebhookDeliveries(q WebhookDeliveryQuery) ([]WebhookDelivery, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	rows, err := t.query(`SELECT d.id, d.webhook_id, d.seq, d.change_id, d.attempt, d.time, d.status, d.error, d.duration
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE (? = '' OR d.webhook_id = ?) AND (? = '' OR w.tenant_id = ?) AND (? = 0 OR d.error <> '')
		ORDER BY d.id DESC LIMIT ?`, q.WebhookID, q.WebhookID, q.Tenant, q.Tenant, q.Failed, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	defer rows.Close()
	var out []WebhookDelivery
	for rows.Next() {
		var d WebhookDelivery
		var at, dur int64
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.Seq, &d.ChangeID, &d.Attempt, &at, &d.Status, &d.Error, &dur); err != nil {
			return nil, err
		}
		d.Time, d.Duration = fromNanos(at), time.Duration(dur)
		out = append(out, d)
	}
	return out, rows.Err()
}
