package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Member is one row of a group's membership.
type Member struct {
	Value string // id of the member resource
	Type  Kind   // KindUser or KindGroup
}

// MemberKinds resolves which of ids exist in the tenant and as which kind.
// Ids that are neither a user nor a group of the tenant are absent from the map.
func (t *Tx) MemberKinds(tenantID string, ids []string) (map[string]Kind, error) {
	out := make(map[string]Kind, len(ids))
	for _, id := range ids {
		if _, done := out[id]; done {
			continue
		}
		for _, k := range []Kind{KindUser, KindGroup} {
			var one int
			err := t.queryRow(`SELECT 1 FROM resources WHERE tenant_id = ? AND kind = ? AND id = ?`, tenantID, string(k), id).Scan(&one)
			if err == nil {
				out[id] = k
				break
			}
			if !isNoRows(err) {
				return nil, fmt.Errorf("resolve member %s: %w", id, err)
			}
		}
	}
	return out, nil
}

// AddMembers adds members to the group groupSeq, ignoring those already
// present (Entra re-adds members; adding is idempotent). It returns how many
// rows were added.
func (t *Tx) AddMembers(tenantID string, groupSeq int64, ms []Member) (int, error) {
	added := 0
	for _, m := range ms {
		res, err := t.exec(`INSERT INTO members(group_seq, member_id, tenant_id, member_type) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			groupSeq, m.Value, tenantID, string(m.Type))
		if err != nil {
			return added, fmt.Errorf("add member %s: %w", m.Value, err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
		if n > 0 {
			t.memberAdded(m.Value)
		}
	}
	return added, nil
}

// RemoveMembers removes exactly the listed member ids from the group; ids that
// are not members are ignored. It returns how many rows were removed.
func (t *Tx) RemoveMembers(groupSeq int64, ids []string) (int, error) {
	removed := 0
	for _, id := range ids {
		res, err := t.exec(`DELETE FROM members WHERE group_seq = ? AND member_id = ?`, groupSeq, id)
		if err != nil {
			return removed, fmt.Errorf("remove member %s: %w", id, err)
		}
		n, _ := res.RowsAffected()
		removed += int(n)
		if n > 0 {
			t.memberRemoved(id)
		}
	}
	return removed, nil
}

// RemoveAllMembers empties the group.
func (t *Tx) RemoveAllMembers(groupSeq int64) (int, error) {
	if t.db != nil { // a write: the change log needs the removed ids
		return t.removeAllTracked(groupSeq)
	}
	res, err := t.exec(`DELETE FROM members WHERE group_seq = ?`, groupSeq)
	if err != nil {
		return 0, fmt.Errorf("remove all members: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Members lists the group's members ordered by id.
func (t *Tx) Members(groupSeq int64) ([]Member, error) {
	rows, err := t.query(`SELECT member_id, member_type FROM members WHERE group_seq = ? ORDER BY member_id`, groupSeq)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var k string
		if err := rows.Scan(&m.Value, &k); err != nil {
			return nil, err
		}
		m.Type = Kind(k)
		out = append(out, m)
	}
	return out, rows.Err()
}

// GroupRef names a group a resource belongs to.
type GroupRef struct {
	ID          string
	DisplayName string
}

// GroupsOf returns, for each of the member ids, the groups it is a direct member of, by display name.
func (t *Tx) GroupsOf(tenantID string, memberIDs []string) (map[string][]GroupRef, error) {
	out := map[string][]GroupRef{}
	for _, id := range memberIDs {
		rows, err := t.query(`SELECT g.id, g.doc ->> '$.displayName' FROM members m JOIN resources g ON g.seq = m.group_seq
			WHERE m.tenant_id = ? AND m.member_id = ?`, tenantID, id)
		if err != nil {
			return nil, fmt.Errorf("groups of %s: %w", id, err)
		}
		for rows.Next() {
			var g GroupRef
			if err := rows.Scan(&g.ID, &g.DisplayName); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = append(out[id], g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		sortGroups(out[id])
	}
	return out, nil
}

func sortGroups(gs []GroupRef) {
	if len(gs) < 2 {
		return
	}
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].DisplayName != gs[j].DisplayName {
			return gs[i].DisplayName < gs[j].DisplayName
		}
		return gs[i].ID < gs[j].ID
	})
}

// decodeGroupPairs decodes the groups column, a JSON array of [id,
// displayName] pairs as SQLite's json_array writes them, without reflection:
// it runs on every user a list returns. A null display name is "". The
// result is never nil, so a caller can tell "no groups" from "not loaded".
func decodeGroupPairs(b []byte) ([]GroupRef, error) {
	d := pairDecoder{b: b}
	out := []GroupRef{}
	d.expect('[')
	if d.peek() == ']' {
		d.i++
		return out, d.end()
	}
	for d.err == nil {
		d.expect('[')
		var g GroupRef
		g.ID = d.str()
		d.expect(',')
		g.DisplayName = d.str()
		d.expect(']')
		out = append(out, g)
		if d.peek() == ',' {
			d.i++
			continue
		}
		d.expect(']')
		break
	}
	return out, d.end()
}

type pairDecoder struct {
	b   []byte
	i   int
	err error
}

func (d *pairDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("malformed groups JSON at byte %d: %s", d.i, what)
	}
}

func (d *pairDecoder) skipSpace() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\t' || d.b[d.i] == '\n' || d.b[d.i] == '\r') {
		d.i++
	}
}

func (d *pairDecoder) peek() byte {
	d.skipSpace()
	if d.err != nil || d.i >= len(d.b) {
		return 0
	}
	return d.b[d.i]
}

func (d *pairDecoder) expect(c byte) {
	if d.peek() != c {
		d.fail("want " + string(c))
		return
	}
	d.i++
}

// str reads a JSON string or null ("").
func (d *pairDecoder) str() string {
	switch d.peek() {
	case 'n':
		if bytes.HasPrefix(d.b[d.i:], []byte("null")) {
			d.i += 4
			return ""
		}
	case '"':
		start, escaped := d.i, false
		for d.i++; d.i < len(d.b); d.i++ {
			switch d.b[d.i] {
			case '\\':
				escaped = true
				d.i++
			case '"':
				d.i++
				tok := d.b[start:d.i]
				if !escaped {
					return string(tok[1 : len(tok)-1])
				}
				var s string
				if err := json.Unmarshal(tok, &s); err != nil {
					d.fail(err.Error())
				}
				return s
			}
		}
	}
	d.fail("want a string or null")
	return ""
}

func (d *pairDecoder) end() error {
	if d.err == nil && d.peek() != 0 {
		d.fail("trailing data")
	}
	return d.err
}
