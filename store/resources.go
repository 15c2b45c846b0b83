package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/scim/filter"
)

// Kind is a resource kind: KindUser or KindGroup.
type Kind string

// Resource kinds; the values are the SCIM resource type names.
const (
	KindUser  Kind = "User"
	KindGroup Kind = "Group"
)

// Resource is a stored user or group.
type Resource struct {
	Seq      int64
	TenantID string
	Kind     Kind
	ID       string
	// Doc is the canonical SCIM document without id, meta and (for groups)
	// members. It is nil when the resource was read with Query.Lazy: then
	// Raw holds the document's JSON and Decode fills Doc.
	Doc map[string]any
	// Raw is the document's JSON as stored (set on reads).
	Raw []byte
	// Written is the document's JSON as InsertResource or UpdateResource
	// last stored it (Raw keeps what was read before).
	Written []byte
	// Groups are the groups a user is a direct member of, when the read asked
	// for them (Query.WithGroups); nil otherwise.
	Groups []GroupRef
	// Managed lists the attributes a provisioning token (Entra) has written:
	// top-level names, and "urn:…:attr" for extension attributes. Like Doc,
	// it is filled by Decode when the resource was read with Query.Lazy.
	Managed    []string
	managedRaw string
	Created    time.Time
	Modified   time.Time
	// Version increases by one on every write, including membership changes;
	// it is meta.version and the ETag (RFC 7644 §3.14).
	Version int64
}

// multiWorkEmail marks a user with more than one work email: the indexed
// column cannot hold them all, so a lookup by work email treats the row as a
// candidate and checks it against the document (never a silent miss).
const multiWorkEmail = "\x00multi"

// indexed holds the columns derived from a document for matching.
type indexed struct {
	nameLC        string
	externalID    sql.NullString
	workEmailLC   sql.NullString
	displayNameLC sql.NullString
	active        sql.NullInt64
}

// derive computes the indexed columns. userName (users) and displayName
// (groups) are required and compared case-insensitively (docs/entra.md#case-insensitive-uniqueness).
func derive(kind Kind, doc map[string]any) (indexed, error) {
	var ix indexed
	str := func(k string) string { s, _ := doc[k].(string); return s }
	switch kind {
	case KindUser:
		ix.nameLC = filter.Fold(str("userName"))
		if ix.nameLC == "" {
			return ix, errors.New("userName is required")
		}
		if dn := str("displayName"); dn != "" {
			ix.displayNameLC = sql.NullString{String: filter.Fold(dn), Valid: true}
		}
		if a, ok := doc["active"].(bool); ok {
			ix.active = sql.NullInt64{Int64: int64(boolInt(a)), Valid: true}
		}
		emails, _ := doc["emails"].([]any)
		for _, e := range emails {
			m, _ := e.(map[string]any)
			t, _ := m["type"].(string)
			v, _ := m["value"].(string)
			if !strings.EqualFold(t, "work") || v == "" {
				continue
			}
			if ix.workEmailLC.Valid {
				ix.workEmailLC.String = multiWorkEmail
				break
			}
			ix.workEmailLC = sql.NullString{String: filter.Fold(v), Valid: true}
		}
	case KindGroup:
		ix.nameLC = filter.Fold(str("displayName"))
		if ix.nameLC == "" {
			return ix, errors.New("displayName is required")
		}
		ix.displayNameLC = sql.NullString{String: ix.nameLC, Valid: true}
	default:
		return ix, fmt.Errorf("unknown kind %q", kind)
	}
	if x := str("externalId"); x != "" {
		ix.externalID = sql.NullString{String: x, Valid: true}
	}
	return ix, nil
}

// InsertResource stores a new resource and sets r.Seq. It returns ErrConflict
// when the id, or the userName/displayName (case-insensitively), is taken in
// the tenant.
func (t *Tx) InsertResource(r *Resource) error {
	ix, err := derive(r.Kind, r.Doc)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(r.Doc)
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.Kind, err)
	}
	if r.Version == 0 {
		r.Version = 1
	}
	var inactiveSince any
	if ix.active.Valid && ix.active.Int64 == 0 {
		inactiveSince = nanos(r.Created)
	}
	r.Written = doc
	err = t.queryRow(`INSERT INTO resources(tenant_id, kind, id, name_lc, external_id, work_email_lc, display_name_lc, active, inactive_since, created, modified, version, doc, managed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		r.TenantID, string(r.Kind), r.ID, ix.nameLC, ix.externalID, ix.workEmailLC, ix.displayNameLC, ix.active, inactiveSince,
		nanos(r.Created), nanos(r.Modified), r.Version, string(doc), managedJSON(r.Managed)).Scan(&r.Seq)
	if err != nil {
		return fmt.Errorf("insert %s: %w", r.Kind, mapErr(err))
	}
	return nil
}

// UpdateResource replaces the document of the resource r.Seq and stores
// r.Version and r.Modified as given (the caller increments the version).
func (t *Tx) UpdateResource(r *Resource) error {
	ix, err := derive(r.Kind, r.Doc)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(r.Doc)
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.Kind, err)
	}
	r.Written = doc
	// inactive_since keeps the moment a user first became inactive, for the
	// retention purge; it is cleared when the user is active again.
	res, err := t.exec(`UPDATE resources SET name_lc = ?, external_id = ?, work_email_lc = ?, display_name_lc = ?, active = ?,
		inactive_since = CASE WHEN ? = 0 THEN COALESCE(inactive_since, ?) END,
		modified = ?, version = ?, doc = ?, managed = ? WHERE seq = ?`,
		ix.nameLC, ix.externalID, ix.workEmailLC, ix.displayNameLC, ix.active,
		ix.active, nanos(r.Modified),
		nanos(r.Modified), r.Version, string(doc), managedJSON(r.Managed), r.Seq)
	if err != nil {
		return fmt.Errorf("update %s %s: %w", r.Kind, r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %s: %w", r.Kind, r.ID, ErrNotFound)
	}
	return nil
}

// TouchResource bumps version and modified without changing the document
// (membership changes change the group's version too).
func (t *Tx) TouchResource(seq int64, version int64, modified time.Time) error {
	_, err := t.exec(`UPDATE resources SET version = ?, modified = ? WHERE seq = ?`, version, nanos(modified), seq)
	return err
}

const resourceCols = `seq, tenant_id, kind, id, created, modified, version, doc, managed`

func scanResource(sc interface{ Scan(...any) error }) (*Resource, error) {
	return scanResourceLazy(sc, false)
}

// scanResourceLazy reads a row; with lazy it leaves the JSON undecoded.
func scanResourceLazy(sc interface{ Scan(...any) error }, lazy bool) (*Resource, error) {
	r := &Resource{}
	var kind string
	var t rowTail
	if err := sc.Scan(&r.Seq, &r.TenantID, &kind, &r.ID, &t.created, &t.modified, &r.Version, &r.Raw, &t.managed); err != nil {
		return nil, err
	}
	r.Kind = Kind(kind)
	return r, t.fill(r, lazy)
}

// rowTail holds the scanned columns of a resource that need converting.
type rowTail struct {
	managed           string
	created, modified int64
}

// fill converts the tail into r; it decodes the JSON unless lazy.
func (t *rowTail) fill(r *Resource, lazy bool) error {
	r.Created, r.Modified = fromNanos(t.created), fromNanos(t.modified)
	if t.managed != "[]" && t.managed != "" {
		r.managedRaw = t.managed
	}
	if lazy {
		return nil
	}
	return r.Decode()
}

// Decode fills Doc (and Managed) from their stored JSON if they are not
// decoded yet.
func (r *Resource) Decode() error {
	if r.managedRaw != "" {
		if err := json.Unmarshal([]byte(r.managedRaw), &r.Managed); err != nil {
			return fmt.Errorf("managed attributes of %s: %w", r.ID, err)
		}
		r.managedRaw = ""
	}
	if r.Doc != nil {
		return nil
	}
	if err := json.Unmarshal(r.Raw, &r.Doc); err != nil {
		return fmt.Errorf("decode %s %s: %w", r.Kind, r.ID, err)
	}
	return nil
}

// Resource returns the resource of the given kind and id in a tenant, or ErrNotFound.
func (t *Tx) Resource(tenantID string, kind Kind, id string) (*Resource, error) {
	r, err := scanResource(t.queryRow(`SELECT `+resourceCols+` FROM resources WHERE tenant_id = ? AND kind = ? AND id = ?`, tenantID, string(kind), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %q: %w", kind, id, ErrNotFound)
	}
	return r, err
}

// DeleteResource removes a resource, its memberships as a member of other
// groups (bumping those groups' versions to now), and (for a group) its
// member rows.
func (t *Tx) DeleteResource(tenantID string, kind Kind, id string, now time.Time) error {
	res, err := t.exec(`DELETE FROM resources WHERE tenant_id = ? AND kind = ? AND id = ?`, tenantID, string(kind), id)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %q: %w", kind, id, ErrNotFound)
	}
	// The groups it leaves change: their version and lastModified too.
	if _, err := t.exec(`UPDATE resources SET version = version + 1, modified = ?
		WHERE seq IN (SELECT group_seq FROM members WHERE tenant_id = ? AND member_id = ?)`, nanos(now), tenantID, id); err != nil {
		return fmt.Errorf("touch groups of %s: %w", id, err)
	}
	if _, err := t.exec(`DELETE FROM members WHERE tenant_id = ? AND member_id = ?`, tenantID, id); err != nil {
		return fmt.Errorf("delete memberships of %s: %w", id, err)
	}
	return nil
}

// CountResources returns the number of resources of a kind in a tenant.
func (t *Tx) CountResources(tenantID string, kind Kind) (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM resources WHERE tenant_id = ? AND kind = ?`, tenantID, string(kind)).Scan(&n)
	return n, err
}

// InactiveUsers lists the users of a tenant that have been inactive since
// before cutoff (the retention purge's candidates), oldest first.
func (t *Tx) InactiveUsers(tenantID string, cutoff time.Time, limit int) ([]*Resource, error) {
	rows, err := t.query(`SELECT `+resourceCols+` FROM resources
		WHERE tenant_id = ? AND kind = 'User' AND inactive_since IS NOT NULL AND inactive_since < ? ORDER BY inactive_since LIMIT ?`,
		tenantID, nanos(cutoff), limit)
	if err != nil {
		return nil, fmt.Errorf("inactive users: %w", err)
	}
	defer rows.Close()
	var out []*Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func managedJSON(m []string) string {
	if len(m) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(m)
	return string(b)
}
