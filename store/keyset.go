package store

import "fmt"

// KeysetPage is a page of a keyset walk (see QueryAfter).
type KeysetPage struct {
	Resources []*Resource
	// Last is the seq of the last resource returned: the key to continue
	// after. More reports whether matching resources follow it.
	Last int64
	More bool
}

// keysetChunk is how many candidate rows a filtered walk reads at a time
// when the filter needs evaluation in Go.
const keysetChunk = 512

// QueryAfter returns up to q.Count resources matching q whose seq is greater
// than after, in seq order: a keyset walk (RFC 9865 cursor pagination).
// Unlike StartIndex, which makes SQLite step over every earlier row, it
// seeks to after in the primary key, so a page costs the same at the end of
// a walk as at its start. q.SortBy, q.StartIndex and the total are ignored;
// q.Count must be positive.
func (t *Tx) QueryAfter(q Query, after int64) (*KeysetPage, error) {
	if q.Count <= 0 {
		return nil, fmt.Errorf("query after: count must be positive")
	}
	cond := compiled{sql: "TRUE", exact: true}
	if q.Filter != nil {
		cond = compile(t.c.d, q.Kind, q.Filter)
	}
	if !cond.exact && q.Match == nil {
		return nil, fmt.Errorf("query after: filter needs in-memory evaluation but no Match was given")
	}
	page := &KeysetPage{Last: after}
	for {
		limit := q.Count + 1
		if !cond.exact {
			limit = keysetChunk
		}
		args := append([]any{q.TenantID, string(q.Kind), page.Last}, cond.args...)
		rows, err := t.queryDynamic(`SELECT `+q.selectCols()+` FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.seq > ? AND `+
			cond.sql+` ORDER BY r.seq LIMIT ?`, append(args, limit)...)
		if err != nil {
			return nil, fmt.Errorf("query after: %w", err)
		}
		var got []*Resource
		for rows.Next() {
			r, err := q.scan(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			got = append(got, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, r := range got {
			ok := true
			if !cond.exact {
				if ok, err = q.Match(t, r); err != nil {
					return nil, err
				}
			}
			if !ok {
				page.Last = r.Seq
				continue
			}
			if len(page.Resources) == q.Count {
				page.More = true
				return page, nil
			}
			page.Resources = append(page.Resources, r)
			page.Last = r.Seq
		}
		// An exact walk read q.Count+1 rows: had there been that many, the
		// loop would have returned with More set.
		if len(got) < limit || cond.exact {
			return page, nil
		}
	}
}
