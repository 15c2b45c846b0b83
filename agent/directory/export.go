package directory

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rosterhq/roster/agent/feed"
	"github.com/rosterhq/roster/store"
)

// Export formats of `roster users export` and `roster groups export`.
const (
	ExportCSV   = "csv"
	ExportJSONL = "jsonl"
)

// Export writes every user or group of the tenant to w, streamed from one
// consistent read, in creation order: JSON lines (the snapshot's documents;
// groups with a "members" array of ids) or CSV with a header row.
func (s *Service) Export(ctx context.Context, tenantID string, kind store.Kind, format string, w io.Writer) (int, error) {
	if format != ExportCSV && format != ExportJSONL {
		return 0, fmt.Errorf("unknown export format %q: use csv or jsonl", format)
	}
	cw := csv.NewWriter(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, tenantID); err != nil {
			return err
		}
		if format == ExportCSV {
			if err := cw.Write(csvHeader(kind)); err != nil {
				return err
			}
		}
		return eachResource(tx, tenantID, kind, func(r *store.Resource) error {
			n++
			var members []string
			if kind == store.KindGroup {
				ms, err := tx.Members(r.Seq)
				if err != nil {
					return err
				}
				members = make([]string, len(ms))
				for i, m := range ms {
					members[i] = m.Value
				}
			}
			if format == ExportCSV {
				return cw.Write(csvRow(r, members))
			}
			data, err := feedDoc(r)
			if err != nil {
				return err
			}
			if kind == store.KindGroup {
				var d map[string]any
				if err := json.Unmarshal(data, &d); err != nil {
					return err
				}
				d["members"] = members
				return enc.Encode(d)
			}
			return enc.Encode(data)
		})
	})
	if err != nil {
		return n, err
	}
	cw.Flush()
	return n, cw.Error()
}

func csvHeader(kind store.Kind) []string {
	if kind == store.KindGroup {
		return []string{"id", "displayName", "externalId", "members", "created", "lastModified"}
	}
	return []string{"id", "userName", "displayName", "givenName", "familyName", "workEmail", "active", "externalId", "created", "lastModified"}
}

func csvRow(r *store.Resource, members []string) []string {
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	times := []string{r.Created.Format(time.RFC3339), r.Modified.Format(time.RFC3339)}
	if r.Kind == store.KindGroup {
		return append([]string{r.ID, str(r.Doc, "displayName"), str(r.Doc, "externalId"), strconv.Itoa(len(members))}, times...)
	}
	name, _ := r.Doc["name"].(map[string]any)
	active := "true"
	if r.Doc["active"] == false {
		active = "false"
	}
	return append([]string{r.ID, str(r.Doc, "userName"), str(r.Doc, "displayName"), str(name, "givenName"), str(name, "familyName"),
		workEmailOf(r.Doc), active, str(r.Doc, "externalId")}, times...)
}

// workEmailOf is the user's work email, else its primary, else its first.
func workEmailOf(doc map[string]any) string {
	emails, _ := doc["emails"].([]any)
	var first, primary string
	for _, e := range emails {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if t, _ := m["type"].(string); t == "work" && v != "" {
			return v
		}
		if m["primary"] == true && primary == "" {
			primary = v
		}
		if first == "" {
			first = v
		}
	}
	if primary != "" {
		return primary
	}
	return first
}

// FollowChanges calls fn for each change of the tenant after after that f
// selects, in seq order; with follow it then waits for new ones until ctx
// ends (and returns nil), else it returns once the log is read.
func (s *Service) FollowChanges(ctx context.Context, tenantID string, after int64, f feed.Filter, follow bool, fn func(feed.Change) error) error {
	for {
		page, err := s.ReadChanges(ctx, tenantID, after, MaxChangesPage, f)
		if err != nil {
			if follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, ch := range page.Changes {
			if err := fn(ch); err != nil {
				return err
			}
		}
		after = page.NextAfter
		if page.HasMore {
			continue
		}
		if !follow {
			return nil
		}
		if err := s.Wait(ctx, tenantID, after); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// eventPoll is how often FollowEvents looks for new provisioning events.
const eventPoll = time.Second

// FollowEvents calls fn with the events q selects, then, until ctx ends,
// with each newer matching event as it is recorded (looked for every
// second: events are written by the agent, possibly in another process).
func (s *Service) FollowEvents(ctx context.Context, q store.EventQuery, fn func([]*store.Event) error) error {
	// Continue after the newest event of any kind, read first: a filtered
	// query must not replay older events that it did not print.
	var last int64
	if err := s.db.Read(ctx, func(tx *store.Tx) (err error) { last, err = tx.LastEventSeq(); return }); err != nil {
		return err
	}
	evs, err := s.Events(ctx, q)
	if err != nil {
		return err
	}
	for _, e := range evs {
		last = max(last, e.Seq)
	}
	if err := fn(evs); err != nil {
		return err
	}
	t := time.NewTicker(eventPoll)
	defer t.Stop()
	q.Limit = 10000
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		q.AfterSeq = last
		evs, err := s.Events(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(evs) == 0 {
			continue
		}
		last = evs[len(evs)-1].Seq
		if err := fn(evs); err != nil {
			return err
		}
	}
}
