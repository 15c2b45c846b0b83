package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/scim/filter"
)

// Event is one provisioning event: a SCIM write or a rejected request.
type Event struct {
	Seq          int64
	At           time.Time
	TenantID     string
	TokenName    string
	Method       string
	Path         string
	ResourceType string
	ResourceID   string
	Name         string // userName or displayName
	Status       int
	ScimType     string
	Detail       string
	Duration     time.Duration
	// Outcome is "" (the status says it) or OutcomeCancelled.
	Outcome string
	// Count is how many requests the event stands for: 1, or more for
	// failed authentications counted per address and minute (CountEvent).
	Count int
}

// OutcomeCancelled marks the event of a request whose client went away
// before it was answered: neither a success nor a failure of the agent.
const OutcomeCancelled = "cancelled"

// Failed reports whether the event is a refused or failed request.
func (e *Event) Failed() bool { return e.Status >= 400 && e.Outcome != OutcomeCancelled }

// InsertEvent records e.
func (t *Tx) InsertEvent(e *Event) error {
	_, err := t.exec(`INSERT INTO events(at, tenant_id, token_name, method, path, resource_type, resource_id, name, name_folded, status, scim_type, detail, duration_us, outcome)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nanos(e.At), e.TenantID, e.TokenName, e.Method, e.Path, e.ResourceType, e.ResourceID, e.Name, filter.Fold(e.Name), e.Status, e.ScimType, e.Detail, e.Duration.Microseconds(), e.Outcome)
	if err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	return nil
}

// CountEvent records e as one more occurrence of the event identified by
// key: the first occurrence inserts e with count 1, later ones only add 1
// to its count (the event keeps the first one's time, request and detail).
func (t *Tx) CountEvent(e *Event, key string) error {
	_, err := t.exec(`INSERT INTO events(at, tenant_id, token_name, method, path, resource_type, resource_id, name, name_folded, status, scim_type, detail, duration_us, outcome, agg_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(agg_key) WHERE agg_key IS NOT NULL DO UPDATE SET count = events.count + 1`,
		nanos(e.At), e.TenantID, e.TokenName, e.Method, e.Path, e.ResourceType, e.ResourceID, e.Name, filter.Fold(e.Name), e.Status, e.ScimType, e.Detail, e.Duration.Microseconds(), e.Outcome, key)
	if err != nil {
		return fmt.Errorf("count event: %w", err)
	}
	return nil
}

// EventQuery selects events; zero fields select everything.
type EventQuery struct {
	TenantID string
	// Name matches userName/displayName or resource id, case-insensitively, as a substring.
	Name   string
	Since  time.Time
	Failed bool // only refused or failed requests (Event.Failed)
	// ExcludeTokens leaves out the events of requests made with these tokens
	// (by name): `roster status` leaves out the organisation's own apps to
	// find Entra's requests.
	ExcludeTokens []string
	Limit         int // newest Limit events; 0 means 1000
	// AfterSeq selects the events recorded after the one with this seq
	// (`roster log --follow`).
	AfterSeq int64
}

// where returns q's conditions as a WHERE clause ("" for none) and its arguments.
func (q EventQuery) where() (string, []any) {
	var where []string
	var args []any
	if q.TenantID != "" {
		where = append(where, "tenant_id = ?")
		args = append(args, q.TenantID)
	}
	if q.Name != "" {
		// Folded in Go: SQLite's lower() knows only ASCII.
		where = append(where, "(instr(name_folded, ?) > 0 OR resource_id = ?)")
		args = append(args, filter.Fold(q.Name), q.Name)
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, nanos(q.Since))
	}
	if q.Failed {
		where = append(where, "status >= 400 AND outcome != '"+OutcomeCancelled+"'")
	}
	if q.AfterSeq > 0 {
		where = append(where, "seq > ?")
		args = append(args, q.AfterSeq)
	}
	if len(q.ExcludeTokens) > 0 {
		where = append(where, "token_name NOT IN (?"+strings.Repeat(", ?", len(q.ExcludeTokens)-1)+")")
		for _, n := range q.ExcludeTokens {
			args = append(args, n)
		}
	}
	if len(where) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// CountEvents returns how many events match q (q.Limit does not apply).
func (t *Tx) CountEvents(q EventQuery) (int, error) {
	where, args := q.where()
	var n int
	if err := t.queryRowDynamic(`SELECT count(*) FROM events`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// Events returns matching events, oldest first (the newest q.Limit of them).
func (t *Tx) Events(q EventQuery) ([]*Event, error) {
	where, args := q.where()
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	query := `SELECT seq, at, tenant_id, token_name, method, path, resource_type, resource_id, name, status, scim_type, detail, duration_us, outcome, count FROM events` +
		where + " ORDER BY seq DESC LIMIT ?"
	args = append(args, limit)
	rows, err := t.queryDynamic(query, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		e := &Event{}
		var at, us int64
		if err := rows.Scan(&e.Seq, &at, &e.TenantID, &e.TokenName, &e.Method, &e.Path, &e.ResourceType, &e.ResourceID, &e.Name, &e.Status, &e.ScimType, &e.Detail, &us, &e.Outcome, &e.Count); err != nil {
			return nil, err
		}
		e.At = fromNanos(at)
		e.Duration = time.Duration(us) * time.Microsecond
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// LastEventSeq returns the seq of the newest event (0 when there is none).
func (t *Tx) LastEventSeq() (int64, error) {
	var n int64
	if err := t.queryRow(`SELECT COALESCE(max(seq), 0) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("last event: %w", err)
	}
	return n, nil
}

// PruneEvents deletes events older than before and returns how many it removed.
func (t *Tx) PruneEvents(before time.Time) (int64, error) {
	res, err := t.exec(`DELETE FROM events WHERE at < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return res.RowsAffected()
}
