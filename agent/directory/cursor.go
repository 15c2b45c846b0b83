package directory

import (
	"context"
	"encoding/base64"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/store"
)

// DefaultCursorPage is the page size of cursor pagination when the request
// gives no count (advertised as defaultPageSize, RFC 9865 §4).
const DefaultCursorPage = 100

// Cursor errors (RFC 9865 §2.1).
const (
	scimInvalidCursor = "invalidCursor"
	scimInvalidCount  = "invalidCount"
)

// listAfter serves a list with RFC 9865 cursor pagination. A cursor names
// the seq of the last resource of the previous page, so each page is a
// keyset seek (store.Tx.QueryAfter) that costs the same at the end of a walk
// as at its start; resources come in creation order. Cursors never expire:
// a resource deleted since is simply not returned, one created since comes
// at the end. totalResults is counted on the first page only (counting is a
// scan of the whole result, which later pages would repeat).
func (s *Service) listAfter(ctx context.Context, c Call, kind store.Kind, q store.Query, p ListParams) (*scim.ListResponse, error) {
	if p.SortBy != "" {
		return nil, scim.BadRequest(scim.InvalidValue, "sortBy cannot be combined with cursor pagination: cursor pages come in creation order; use startIndex paging to sort")
	}
	count := p.Count
	switch {
	case count < 0:
		count = DefaultCursorPage
	case count == 0:
		return nil, scim.BadRequest(scimInvalidCount, "count must be between 1 and %d with cursor pagination", MaxResults)
	}
	q.Count = min(count, MaxResults)
	key := cursorKey(kind, p.Filter)
	var after int64
	if *p.Cursor != "" {
		var ok bool
		if after, ok = decodeCursor(*p.Cursor, key); !ok {
			return nil, scim.BadRequest(scimInvalidCursor, "the cursor is not one this query returned: start with an empty cursor, then pass each page's nextCursor with the same filter")
		}
	}
	var resp scim.ListResponse
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		total := -1
		if after == 0 {
			tq := q
			tq.Count, tq.StartIndex = 0, 1
			page, err := tx.Query(tq)
			if err != nil {
				return err
			}
			total = page.Total
		}
		page, err := tx.QueryAfter(q, after)
		if err != nil {
			return err
		}
		docs, err := s.renderAll(tx, c, kind, page.Resources, p.Projection)
		if err != nil {
			return err
		}
		resp = scim.NewListResponse(max(total, 0), 1, docs)
		resp.Cursor, resp.TotalUnknown = true, total < 0
		if page.More {
			resp.NextCursor = encodeCursor(page.Last, key)
		}
		return nil
	})
	if err != nil {
		return nil, toSCIM(kind, "", nil, err)
	}
	return &resp, nil
}

// cursorKey ties a cursor to the query it continues: the kind and filter.
func cursorKey(kind store.Kind, filter string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(string(kind) + "\x00" + strings.TrimSpace(filter)))
	return h.Sum32()
}

// encodeCursor renders a position as base64url without padding: RFC 3986
// unreserved characters only (RFC 9865 §2).
func encodeCursor(seq int64, key uint32) string {
	return base64.RawURLEncoding.EncodeToString([]byte("1." + strconv.FormatInt(seq, 36) + "." + strconv.FormatUint(uint64(key), 36)))
}

func decodeCursor(s string, key uint32) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || parts[0] != "1" {
		return 0, false
	}
	seq, err := strconv.ParseInt(parts[1], 36, 64)
	if err != nil || seq <= 0 {
		return 0, false
	}
	k, err := strconv.ParseUint(parts[2], 36, 32)
	return seq, err == nil && uint32(k) == key
}
