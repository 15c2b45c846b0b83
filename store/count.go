package store

import "fmt"

// MemberCount returns how many direct members the group groupSeq has. It
// counts the group's range of the members primary key (group_seq, member_id)
// without reading the member rows, so `roster groups list` costs the same for
// a group of 10 or 100k members (docs/architecture.md#storage: members are rows, not an array).
func (t *Tx) MemberCount(groupSeq int64) (int, error) {
	var n int
	if err := t.queryRow(`SELECT count(*) FROM members WHERE group_seq = ?`, groupSeq).Scan(&n); err != nil {
		return 0, fmt.Errorf("count members: %w", err)
	}
	return n, nil
}
