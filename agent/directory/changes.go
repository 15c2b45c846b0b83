package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/store"
)

// The change feed (docs/change-feed.md). Each write path calls exactly one
// of logCreate, logUpdate and logDelete inside its transaction, so that the
// record commits, or rolls back, with the change it describes. On a store
// without the log (store.Options.NoChangeLog, for the benchmark) they build
// no record either, so that "log off" costs what no log at all would.
//
// One record per write: a write that changes a group's members and other
// attributes at once (a PUT, or a PATCH with both kinds of operation) is
// one group.updated whose paths include "members" and which carries the
// added and removed ids; group.members_changed is for writes that change
// the members only. group.created carries the initial members as added.
// Deleting a user or group also removes it from every group it was a
// member of: the deletion record implies that, and no group record is
// appended for it. A PATCH that changes nothing (Entra re-adding present
// members) moves no version and appends no record.

// Service implements feed.Source.
var _ feed.Source = (*Service)(nil)

// DefaultChangeRetention is how long the change log keeps records unless
// configured otherwise.
const DefaultChangeRetention = 30 * 24 * time.Hour

// MaxChangesPage is the most changes one read returns.
const MaxChangesPage = 1000

// feedDoc is a resource as the feed and the snapshot carry it: the stored
// document with id and meta, but no meta.location (which depends on the URL
// a request came in on), no members (groups' members travel as ids) and
// never a password. It is spliced from the stored JSON (what the write just
// stored, else what was read), without encoding the document again: on a
// write it runs on the store's one writer.
func feedDoc(r *store.Resource) (json.RawMessage, error) {
	body := r.Written
	if body == nil {
		body = r.Raw
	}
	body = bytes.TrimSpace(body)
	// Stored documents never hold a password or a group's members (prepare
	// and Patch take them out); anything else is decoded and rebuilt.
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' || bytes.Contains(body, []byte(`"password"`)) || bytes.Contains(body, []byte(`"members"`)) {
		return feedDocDecoded(r)
	}
	out := make([]byte, 0, len(body)+200)
	out = append(out, `{"id":`...)
	out = appendJSONString(out, r.ID)
	out = append(out, `,"meta":{"created":"`...)
	out = r.Created.AppendFormat(out, time.RFC3339Nano)
	out = append(out, `","lastModified":"`...)
	out = r.Modified.AppendFormat(out, time.RFC3339Nano)
	out = append(out, `","resourceType":"`...)
	out = append(out, r.Kind...)
	out = append(out, `","version":"W/\"`...)
	out = strconv.AppendInt(out, r.Version, 10)
	out = append(out, `\""}`...)
	if inner := bytes.TrimSpace(body[1 : len(body)-1]); len(inner) > 0 {
		out = append(append(out, ','), inner...)
	}
	return append(out, '}'), nil
}

// feedDocDecoded is feedDoc by way of the decoded document.
func feedDocDecoded(r *store.Resource) (json.RawMessage, error) {
	if err := r.Decode(); err != nil {
		return nil, err
	}
	d := make(map[string]any, len(r.Doc)+2)
	for k, v := range r.Doc {
		d[k] = v
	}
	delete(d, "password")
	delete(d, "members")
	d["id"] = r.ID
	meta := renderMeta(r, "")
	delete(meta, "location")
	d["meta"] = meta
	return json.Marshal(d)
}

func feedResource(r *store.Resource) feed.Resource {
	out := feed.Resource{Type: string(r.Kind), ID: r.ID}
	out.ExternalID, _ = r.Doc["externalId"].(string)
	if r.Kind == store.KindUser {
		out.UserName, _ = r.Doc["userName"].(string)
	} else {
		out.DisplayName, _ = r.Doc["displayName"].(string)
	}
	return out
}

// typeName is the change type for a kind and a verb ("created"…).
func typeName(kind store.Kind, verb string) string {
	if kind == store.KindGroup {
		return "group." + verb
	}
	return "user." + verb
}

// appendChange stores ch as the write's record, with the next seq. The
// record is encoded without its seq (readers get it from the row), and data,
// JSON already, is spliced in rather than encoded again: this runs on the
// store's one writer, where every microsecond is taken from every write.
func (s *Service) appendChange(tx *store.Tx, tenantID string, ch feed.Change) error {
	ch.ID, ch.Tenant, ch.Time = newID(), tenantID, s.now().UTC()
	data := ch.Data
	ch.Data = nil
	rec, err := json.Marshal(ch)
	if err != nil {
		return fmt.Errorf("change record: %w", err)
	}
	if data != nil {
		rec = append(append(append(rec[:len(rec)-1], `,"data":`...), data...), '}')
	}
	_, err = tx.AppendChange(tenantID, ch.ID, ch.Type, ch.Time, rec)
	return err
}

// logCreate records the creation of r (a group's members as added).
func (s *Service) logCreate(tx *store.Tx, r *store.Resource) error {
	if !tx.LogsChanges() {
		return nil
	}
	data, err := feedDoc(r)
	if err != nil {
		return err
	}
	ch := feed.Change{Type: typeName(r.Kind, "created"), Resource: feedResource(r), Data: data}
	if d := tx.MemberChanges(); r.Kind == store.KindGroup && !d.Empty() {
		ch.Added = d.Added()
	}
	return s.appendChange(tx, r.TenantID, ch)
}

// logUpdate records a replace or patch of r: r.Doc is the document written,
// r.Raw still the JSON the write read (store.Resource keeps it as read).
func (s *Service) logUpdate(tx *store.Tx, r *store.Resource) error {
	if !tx.LogsChanges() {
		return nil
	}
	var before map[string]any
	if len(r.Raw) > 0 {
		if err := json.Unmarshal(r.Raw, &before); err != nil {
			return fmt.Errorf("change record: previous %s %s: %w", r.Kind, r.ID, err)
		}
	}
	data, err := feedDoc(r)
	if err != nil {
		return err
	}
	ch := feed.Change{Type: typeName(r.Kind, "updated"), Resource: feedResource(r), Data: data,
		Paths: changedPaths(before, r.Doc)}
	switch r.Kind {
	case store.KindUser:
		was, is := before["active"] != false, r.Doc["active"] != false
		switch {
		case was && !is:
			ch.Type = feed.UserDeactivated
		case !was && is:
			ch.Type = feed.UserReactivated
		}
	case store.KindGroup:
		if d := tx.MemberChanges(); !d.Empty() {
			ch.Added, ch.Removed = d.Added(), d.Removed()
			if len(ch.Paths) == 0 {
				ch.Type = feed.GroupMembersChanged
			}
			ch.Paths = append(ch.Paths, "members")
			slices.Sort(ch.Paths)
		}
	}
	return s.appendChange(tx, r.TenantID, ch)
}

// deleteLogged deletes r and records the deletion: its own record, then,
// for each group r was a direct member of, a group.members_changed record
// removing r, with the group as the deletion left it (store.DeleteResource
// moves its version). So the log holds a record for every resource a write
// changes, and a consumer that follows only groups sees the member leave.
func (s *Service) deleteLogged(tx *store.Tx, r *store.Resource) error {
	left, err := tx.GroupsOf(r.TenantID, []string{r.ID})
	if err != nil {
		return err
	}
	if err := tx.DeleteResource(r.TenantID, r.Kind, r.ID, s.now()); err != nil {
		return err
	}
	if err := r.Decode(); err != nil {
		return err
	}
	if !tx.LogsChanges() {
		return nil
	}
	if err := s.appendChange(tx, r.TenantID, feed.Change{Type: typeName(r.Kind, "deleted"), Resource: feedResource(r)}); err != nil {
		return err
	}
	for _, ref := range left[r.ID] {
		g, err := tx.Resource(r.TenantID, store.KindGroup, ref.ID)
		if err != nil {
			return err
		}
		if err := g.Decode(); err != nil {
			return err
		}
		data, err := feedDoc(g)
		if err != nil {
			return err
		}
		if err := s.appendChange(tx, r.TenantID, feed.Change{Type: feed.GroupMembersChanged, Resource: feedResource(g), Data: data,
			Removed: []string{r.ID}, Paths: []string{"members"}}); err != nil {
			return err
		}
	}
	return nil
}

// ChangePage is one read of a tenant's change log.
type ChangePage struct {
	Changes []feed.Change
	// NextAfter is the seq to read after next time: the last change
	// returned, or, when none of the remaining changes matched the filter,
	// the newest seq of the log, so that a filtered reader does not scan
	// the same unmatched records again.
	NextAfter int64
	// HasMore reports whether more matching changes follow.
	HasMore bool
}

// ReadChanges returns up to limit (at most MaxChangesPage; <= 0 means 100)
// changes of the tenant with seq > after that f selects. It returns
// feed.ErrExpired when after lies before what the log still holds (after=0
// is always valid: it reads from the oldest change kept) or beyond its
// newest seq (the log this seq came from is not this one, e.g. the tenant
// was removed and added again), and ErrNoTenant for an unknown tenant.
func (s *Service) ReadChanges(ctx context.Context, tenantID string, after int64, limit int, f feed.Filter) (*ChangePage, error) {
	if after < 0 {
		return nil, fmt.Errorf("after must not be negative, not %d", after)
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxChangesPage)
	var types []string
	if len(f) > 0 {
		for _, t := range feed.Types {
			if f.Match(t) {
				types = append(types, t)
			}
		}
	}
	page := &ChangePage{}
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, tenantID); err != nil {
			return err
		}
		last, pruned, err := tx.ChangeHead(tenantID)
		if err != nil {
			return err
		}
		if after > last || (after > 0 && after < pruned) {
			return fmt.Errorf("tenant %s, after %d (the log holds %d to %d): %w", tenantID, after, pruned+1, last, feed.ErrExpired)
		}
		rows, err := tx.Changes(tenantID, after, limit+1, types)
		if err != nil {
			return err
		}
		page.NextAfter = max(after, last)
		if len(rows) > limit {
			rows, page.HasMore = rows[:limit], true
		}
		for _, r := range rows {
			var ch feed.Change
			if err := json.Unmarshal(r.Record, &ch); err != nil {
				return fmt.Errorf("change %d: %w", r.Seq, err)
			}
			ch.Seq = r.Seq
			page.Changes = append(page.Changes, ch)
		}
		if page.HasMore {
			page.NextAfter = rows[len(rows)-1].Seq
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// Changes implements feed.Source.
func (s *Service) Changes(ctx context.Context, tenant string, after int64, limit int, f feed.Filter) ([]feed.Change, error) {
	p, err := s.ReadChanges(ctx, tenant, after, limit, f)
	if err != nil {
		return nil, err
	}
	return p.Changes, nil
}

// Wait implements feed.Source: it returns once the tenant's log holds a
// change with seq > after. Writes of this process wake it as they commit;
// writes of another process on the same store within about half a second.
func (s *Service) Wait(ctx context.Context, tenant string, after int64) error {
	return s.db.WaitChange(ctx, tenant, after)
}

// PruneChanges deletes the change records older than before and returns how
// many it deleted; a reader asking for them afterwards gets feed.ErrExpired.
func (s *Service) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *store.Tx) (err error) { n, err = tx.PruneChanges(before); return })
	return n, err
}

// SnapshotHead is the first line of a snapshot.
type SnapshotHead struct {
	Kind   string    `json:"kind"` // "snapshot"
	Tenant string    `json:"tenant"`
	Seq    int64     `json:"seq"` // continue the change feed after this seq
	Time   time.Time `json:"time"`
}

// SnapshotItem is a user or group of a snapshot.
type SnapshotItem struct {
	Kind string          `json:"kind"` // "user" or "group"
	Data json.RawMessage `json:"data"`
	// Members are a group's member ids, sorted.
	Members []string `json:"members,omitempty"`
}

// snapshotBatch is how many resources a snapshot reads at a time.
const snapshotBatch = 500

// Snapshot reads the whole tenant from one consistent read: it calls head
// with the seq to continue the change feed from, then item for every user
// (in creation order) and every group with its members. Applying the
// changes after that seq to the items reproduces the directory exactly.
func (s *Service) Snapshot(ctx context.Context, tenantID string, head func(SnapshotHead) error, item func(SnapshotItem) error) error {
	return s.db.Read(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, tenantID); err != nil {
			return err
		}
		last, _, err := tx.ChangeHead(tenantID)
		if err != nil {
			return err
		}
		if err := head(SnapshotHead{Kind: "snapshot", Tenant: tenantID, Seq: last, Time: s.now().UTC()}); err != nil {
			return err
		}
		for _, kind := range []store.Kind{store.KindUser, store.KindGroup} {
			if err := eachResource(tx, tenantID, kind, func(r *store.Resource) error {
				data, err := feedDoc(r)
				if err != nil {
					return err
				}
				it := SnapshotItem{Kind: "user", Data: data}
				if kind == store.KindGroup {
					it.Kind, it.Members = "group", []string{}
					ms, err := tx.Members(r.Seq)
					if err != nil {
						return err
					}
					for _, m := range ms {
						it.Members = append(it.Members, m.Value)
					}
				}
				return item(it)
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachResource calls fn for every resource of a kind in the tenant, in seq
// order, reading snapshotBatch at a time by keyset.
func eachResource(tx *store.Tx, tenantID string, kind store.Kind, fn func(*store.Resource) error) error {
	var after int64
	for {
		page, err := tx.QueryAfter(store.Query{TenantID: tenantID, Kind: kind, Count: snapshotBatch}, after)
		if err != nil {
			return err
		}
		for _, r := range page.Resources {
			if err := fn(r); err != nil {
				return err
			}
		}
		if !page.More {
			return nil
		}
		after = page.Last
	}
}
