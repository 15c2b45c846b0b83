package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
	"github.com/rosterhq/roster/agent/scim/patch"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

// MaxResults is the largest page a list returns (advertised in /ServiceProviderConfig).
const MaxResults = 1000

// typeOf returns the resource type definition of a kind.
func typeOf(kind store.Kind) *schema.ResourceType {
	if kind == store.KindGroup {
		return schema.GroupType
	}
	return schema.UserType
}

// nameAttr is the attribute that must be unique per tenant.
func nameAttr(kind store.Kind) string {
	if kind == store.KindGroup {
		return "displayName"
	}
	return "userName"
}

// ETag renders a version as a weak entity tag (RFC 7644 §3.14).
func ETag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// checkIfMatch implements If-Match (RFC 7232 §3.1; RFC 7644 §3.14): "" means
// no precondition; "*" matches any existing version.
func checkIfMatch(ifMatch string, version int64) error {
	ifMatch = strings.TrimSpace(ifMatch)
	if ifMatch == "" || ifMatch == "*" {
		return nil
	}
	want := strconv.FormatInt(version, 10)
	for _, tag := range strings.Split(ifMatch, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if strings.Trim(tag, `"`) == want {
			return nil
		}
	}
	return scim.Errorf(scim.StatusPreconditionFailed, "", "the resource has changed: its version is %s, not %s", ETag(version), ifMatch)
}

// loadForWrite reads the resource a write changes and checks If-Match.
func loadForWrite(tx *store.Tx, c Call, kind store.Kind, id, ifMatch string) (*store.Resource, error) {
	r, err := tx.Resource(c.TenantID, kind, id)
	if err != nil {
		return nil, err
	}
	return r, checkIfMatch(ifMatch, r.Version)
}

// Got is a rendered resource and its version.
type Got struct {
	Doc     map[string]any
	Version int64
}

// toSCIM translates store sentinels into protocol errors, once.
func toSCIM(kind store.Kind, id string, doc map[string]any, err error) error {
	var se *scim.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, store.ErrNotFound):
		return scim.Errorf(scim.StatusNotFound, "", "%s %q not found", kind, id)
	case errors.Is(err, store.ErrConflict):
		name, _ := doc[nameAttr(kind)].(string)
		return scim.Errorf(scim.StatusConflict, scim.Uniqueness, "a %s with %s %q already exists in this tenant (compared case-insensitively)", strings.ToLower(string(kind)), nameAttr(kind), name)
	}
	if se := Unavailable(err); se != nil {
		return se
	}
	return err
}

// Unavailable translates a store that cannot be written (store.ErrFull,
// store.ErrReadOnly) into 503 Service Unavailable: the request was valid
// and may be retried once an operator has fixed the disk. It returns nil
// for any other error.
func Unavailable(err error) *scim.Error {
	switch {
	case errors.Is(err, store.ErrFull):
		return scim.Errorf(scim.StatusServiceUnavailable, "", "the agent cannot store changes now: %v; retry later", store.ErrFull)
	case errors.Is(err, store.ErrReadOnly):
		return scim.Errorf(scim.StatusServiceUnavailable, "", "the agent cannot store changes now: %v; retry later", store.ErrReadOnly)
	}
	return nil
}

// StatusClientClosed is the status recorded for a request whose client
// went away before it was answered (nginx's 499 "Client Closed Request");
// its event's outcome is store.OutcomeCancelled.
const StatusClientClosed = 499

// clientGone reports whether err is the failure of a request whose client
// went away: its context ended, and the error is not a refusal of the
// request itself.
func clientGone(ctx context.Context, err error) bool {
	var se *scim.Error
	return ctx.Err() != nil && !errors.As(err, &se)
}

// markCancelled makes ev the event of a request whose client went away.
func markCancelled(ev *store.Event) {
	ev.Status, ev.ScimType, ev.Outcome = StatusClientClosed, "", store.OutcomeCancelled
	ev.Detail = "cancelled: the client went away before the answer; nothing was changed"
}

// prepare canonicalises an incoming document for a create or replace and
// separates a group's members from it. Passwords are never stored.
func prepare(rt *schema.ResourceType, kind store.Kind, in map[string]any) (map[string]any, []patch.Member, bool, error) {
	if err := rt.CheckSchemas(in); err != nil {
		return nil, nil, false, err
	}
	doc, err := rt.CanonicalizeInput(in)
	if err != nil {
		return nil, nil, false, err
	}
	delete(doc, "password")
	if s, _ := doc[nameAttr(kind)].(string); strings.TrimSpace(s) == "" {
		return nil, nil, false, scim.BadRequest(scim.InvalidValue, "%s is required", nameAttr(kind))
	}
	var members []patch.Member
	_, hasMembers := doc["members"]
	if kind == store.KindGroup {
		raw, _ := doc["members"].([]any)
		delete(doc, "members")
		for _, e := range raw {
			m, _ := e.(map[string]any)
			v, _ := m["value"].(string)
			if v == "" {
				return nil, nil, false, scim.BadRequest(scim.InvalidValue, "every member needs a \"value\" (the member's id)")
			}
			t, _ := m["type"].(string)
			members = append(members, patch.Member{Value: v, Type: t})
		}
	}
	return doc, members, hasMembers, nil
}

// resolveMembers checks that every member is a user or group of the tenant.
func resolveMembers(tx *store.Tx, tenantID string, ms []patch.Member) ([]store.Member, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Value
	}
	kinds, err := tx.MemberKinds(tenantID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]store.Member, 0, len(ms))
	for _, m := range ms {
		k, ok := kinds[m.Value]
		if !ok {
			return nil, scim.BadRequest(scim.InvalidValue, "member %q is not a user or group of this tenant", m.Value)
		}
		out = append(out, store.Member{Value: m.Value, Type: k})
	}
	return out, nil
}

// Create adds a user or group (RFC 7644 §3.3).
func (s *Service) Create(ctx context.Context, c Call, kind store.Kind, in map[string]any) (*Got, error) {
	doc, members, _, err := prepare(s.ResourceType(c, kind), kind, in)
	if err != nil {
		return nil, s.fail(ctx, c, kind, "", in, err)
	}
	now := s.now()
	r := &store.Resource{TenantID: c.TenantID, Kind: kind, ID: newID(), Doc: doc, Created: now, Modified: now, Version: 1}
	if kind == store.KindUser && !c.App {
		r.Managed = attributePaths(doc)
	}
	var stored []store.Member
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if stored, err = resolveMembers(tx, c.TenantID, members); err != nil {
			return err
		}
		if kind == store.KindUser {
			if err := s.checkDomains(tx, c.TenantID, doc); err != nil {
				return err
			}
		}
		if err := tx.InsertResource(r); err != nil {
			return err
		}
		if _, err := tx.AddMembers(c.TenantID, r.Seq, stored); err != nil {
			return err
		}
		if err := s.logCreate(tx, r); err != nil {
			return err
		}
		ev := s.event(c, kind, r.ID, displayName(kind, doc))
		ev.Status = scim.StatusCreated
		return tx.InsertEvent(ev)
	})
	if err != nil {
		return nil, s.fail(ctx, c, kind, "", doc, err)
	}
	out := render(r, c.BaseURL)
	if kind == store.KindGroup {
		out["members"] = renderMembers(stored, c.BaseURL)
	}
	return &Got{Doc: out, Version: r.Version}, nil
}

// fail records the failed write as an event and returns err as a *scim.Error
// (or as an internal error, whose detail is logged but never returned).
func (s *Service) fail(ctx context.Context, c Call, kind store.Kind, id string, doc map[string]any, err error) error {
	serr := toSCIM(kind, id, doc, err)
	ev := s.event(c, kind, id, displayName(kind, doc))
	var se *scim.Error
	if clientGone(ctx, err) {
		markCancelled(ev)
		serr = err
	} else if errors.As(serr, &se) {
		ev.Status, ev.ScimType, ev.Detail = se.Status, se.ScimType, se.Detail
	} else {
		ev.Status, ev.Detail = scim.StatusInternalServerError, "internal error"
		s.log.Error("write failed", "tenant", c.TenantID, "method", c.Method, "path", c.Path, "err", err)
	}
	if werr := s.db.Write(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.InsertEvent(ev) }); werr != nil {
		s.log.Error("record event", "err", werr)
	}
	return &Recorded{Err: serr}
}

// Recorded wraps an error whose provisioning event has already been stored,
// so the HTTP edge does not record it twice.
type Recorded struct{ Err error }

// Error implements error.
func (r *Recorded) Error() string { return r.Err.Error() }

// Unwrap returns the wrapped error.
func (r *Recorded) Unwrap() error { return r.Err }

func displayName(kind store.Kind, doc map[string]any) string {
	v, _ := doc[nameAttr(kind)].(string)
	return v
}

// Get returns one resource, loading members or groups only when the
// projection asks for them: a group read with excludedAttributes=members never
// touches the member rows (docs/entra.md#groups-are-created-empty).
func (s *Service) Get(ctx context.Context, c Call, kind store.Kind, id string, proj schema.Projection) (*Got, error) {
	var got *Got
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		r, err := tx.Resource(c.TenantID, kind, id)
		if err != nil {
			return err
		}
		docs, err := s.renderAll(tx, c, kind, []*store.Resource{r}, proj)
		if err != nil {
			return err
		}
		got = &Got{Doc: docs[0].(map[string]any), Version: r.Version}
		return nil
	})
	if err != nil {
		return nil, toSCIM(kind, id, nil, err)
	}
	return got, nil
}

// ListParams are the query parameters of a list or search (RFC 7644 §3.4.2).
type ListParams struct {
	Filter     string
	SortBy     string
	SortOrder  string
	StartIndex int // 1-based; <1 means 1
	Count      int // <0 means the default page (MaxResults)
	Projection schema.Projection
	// Cursor, when not nil, asks for cursor pagination (RFC 9865): "" for
	// the first page, then the previous page's nextCursor. See listAfter.
	Cursor *string
}

// List queries users or groups and returns a ListResponse.
func (s *Service) List(ctx context.Context, c Call, kind store.Kind, p ListParams) (*scim.ListResponse, error) {
	rt := s.ResourceType(c, kind)
	var expr filter.Expr
	if strings.TrimSpace(p.Filter) != "" {
		var err error
		if expr, err = filter.Parse(p.Filter); err != nil {
			return nil, err
		}
		expr = qualify(rt, expr)
	}
	switch strings.ToLower(p.SortOrder) {
	case "", "ascending", "descending":
	default:
		return nil, scim.BadRequest(scim.InvalidValue, "sortOrder must be \"ascending\" or \"descending\", not %q", p.SortOrder)
	}
	start := max(p.StartIndex, 1)
	count := p.Count
	if count < 0 || count > MaxResults {
		count = MaxResults
	}
	needsMembers := kind == store.KindGroup && expr != nil && mentions(expr, "members")
	opts := &filter.Options{CoreURN: rt.Schema.ID, CaseExact: rt.CaseExact}
	q := store.Query{
		TenantID: c.TenantID, Kind: kind, Filter: expr,
		SortBy: p.SortBy, Descending: strings.EqualFold(p.SortOrder, "descending"),
		StartIndex: start, Count: count,
		// Without a projection the stored JSON is copied into the response
		// as it is: no decoding and re-encoding on Entra's lookup path.
		Lazy:       p.Projection.IsZero(),
		WithGroups: kind == store.KindUser && p.Projection.Wants("groups"),
		Match: func(tx *store.Tx, r *store.Resource) (bool, error) {
			if err := r.Decode(); err != nil {
				return false, err
			}
			doc := render(r, c.BaseURL)
			if needsMembers {
				ms, err := tx.Members(r.Seq)
				if err != nil {
					return false, err
				}
				doc["members"] = renderMembers(ms, c.BaseURL)
			}
			return filter.Match(expr, doc, opts), nil
		},
	}
	if p.SortBy != "" {
		sp, err := filter.ParsePath(p.SortBy)
		if err != nil {
			return nil, scim.BadRequest(scim.InvalidValue, "sortBy %q is not an attribute path", p.SortBy)
		}
		q.SortKey = func(r *store.Resource) string {
			if err := r.Decode(); err != nil {
				return ""
			}
			return sortKey(render(r, c.BaseURL), sp)
		}
	}
	if p.Cursor != nil {
		return s.listAfter(ctx, c, kind, q, p)
	}
	// A user list is one statement (two with a total to count): it needs no
	// snapshot transaction. Group lists read members per group, so they do.
	read := s.db.Read
	if kind == store.KindUser {
		read = s.db.ReadLatest
	}
	var resp scim.ListResponse
	err := read(ctx, func(tx *store.Tx) error {
		page, err := tx.Query(q)
		if err != nil {
			return err
		}
		docs, err := s.renderAll(tx, c, kind, page.Resources, p.Projection)
		if err != nil {
			return err
		}
		resp = scim.NewListResponse(page.Total, start, docs)
		return nil
	})
	if err != nil {
		return nil, toSCIM(kind, "", nil, err)
	}
	return &resp, nil
}

// renderAll renders resources with the members or groups the projection
// wants. A resource read lazily (Doc nil) is rendered as JSON straight from
// its stored form; the others as documents.
func (s *Service) renderAll(tx *store.Tx, c Call, kind store.Kind, rs []*store.Resource, proj schema.Projection) ([]any, error) {
	rt := s.ResourceType(c, kind)
	docs := make([]any, len(rs))
	var groupsOf map[string][]store.GroupRef
	wantGroups := kind == store.KindUser && proj.Wants("groups")
	if wantGroups && len(rs) > 0 {
		var ids []string
		for _, r := range rs {
			if r.Groups == nil { // not loaded with the resource
				ids = append(ids, r.ID)
			}
		}
		if len(ids) > 0 {
			var err error
			if groupsOf, err = tx.GroupsOf(c.TenantID, ids); err != nil {
				return nil, err
			}
		}
	}
	for i, r := range rs {
		var members []store.Member
		if kind == store.KindGroup && proj.Wants("members") {
			var err error
			if members, err = tx.Members(r.Seq); err != nil {
				return nil, err
			}
		}
		var groups []store.GroupRef
		if wantGroups {
			if groups = r.Groups; groups == nil { // not loaded with the resource
				groups = groupsOf[r.ID]
			}
		}
		if r.Doc == nil && proj.IsZero() {
			raw, err := renderRaw(r, c.BaseURL, groups, members)
			if err != nil {
				return nil, err
			}
			docs[i] = raw
			continue
		}
		if err := r.Decode(); err != nil {
			return nil, err
		}
		d := render(r, c.BaseURL)
		if members != nil {
			d["members"] = renderMembers(members, c.BaseURL)
		}
		if len(groups) > 0 {
			arr := make([]any, len(groups))
			for j, g := range groups {
				arr[j] = map[string]any{"value": g.ID, "$ref": c.BaseURL + "/Groups/" + g.ID, "display": g.DisplayName, "type": "direct"}
			}
			d["groups"] = arr
		}
		docs[i] = proj.Apply(rt, d)
	}
	return docs, nil
}

// renderRaw is render for a resource whose stored JSON goes out as it is,
// written by hand (it is on Entra's lookup path):
// {"id":…,"meta":{…},"groups"|"members":[…],<stored document's members>}.
// groups are a user's (omitted when none); members a group's (nil: not asked for).
func renderRaw(r *store.Resource, base string, groups []store.GroupRef, members []store.Member) (json.RawMessage, error) {
	body := bytes.TrimSpace(r.Raw)
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return nil, fmt.Errorf("stored %s %s is not a JSON object", r.Kind, r.ID)
	}
	out := make([]byte, 0, len(body)+256+len(groups)*160+len(members)*140)
	out = append(out, `{"id":`...)
	out = appendJSONString(out, r.ID)
	out = append(out, `,"meta":{"resourceType":"`...)
	out = append(out, r.Kind...)
	out = append(out, `","created":"`...)
	out = r.Created.AppendFormat(out, time.RFC3339Nano)
	out = append(out, `","lastModified":"`...)
	out = r.Modified.AppendFormat(out, time.RFC3339Nano)
	out = append(out, `","location":`...)
	out = appendJSONString3(out, base, collection(r.Kind), r.ID)
	out = append(out, `,"version":"W/\"`...)
	out = strconv.AppendInt(out, r.Version, 10)
	out = append(out, `\""}`...)
	if len(groups) > 0 {
		out = append(out, `,"groups":[`...)
		for j, g := range groups {
			if j > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"value":`...)
			out = appendJSONString(out, g.ID)
			out = append(out, `,"$ref":`...)
			out = appendJSONString3(out, base, collection(store.KindGroup), g.ID)
			out = append(out, `,"display":`...)
			out = appendJSONString(out, g.DisplayName)
			out = append(out, `,"type":"direct"}`...)
		}
		out = append(out, ']')
	}
	if members != nil {
		out = append(out, `,"members":[`...)
		for j, m := range members {
			if j > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"value":`...)
			out = appendJSONString(out, m.Value)
			out = append(out, `,"type":`...)
			out = appendJSONString(out, string(m.Type))
			out = append(out, `,"$ref":`...)
			out = appendJSONString3(out, base, collection(m.Type), m.Value)
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	if inner := bytes.TrimSpace(body[1 : len(body)-1]); len(inner) > 0 {
		out = append(out, ',')
		out = append(out, inner...)
	}
	return append(out, '}'), nil
}

// Replace is PUT (RFC 7644 §3.5.1): the new document replaces the old one,
// keeping id and meta.created. For a group, the members given replace all members.
func (s *Service) Replace(ctx context.Context, c Call, kind store.Kind, id string, in map[string]any, ifMatch string) (*Got, error) {
	doc, members, _, err := prepare(s.ResourceType(c, kind), kind, in)
	if err != nil {
		return nil, s.fail(ctx, c, kind, id, in, err)
	}
	var r *store.Resource
	var out map[string]any
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = loadForWrite(tx, c, kind, id, ifMatch); err != nil {
			return err
		}
		if kind == store.KindUser {
			if !onlyDeactivates(r.Doc, doc) {
				if err := s.checkDomains(tx, c.TenantID, doc); err != nil {
					return err
				}
			}
			if r.Managed, err = nextManaged(c, r.Managed, r.Doc, doc, true); err != nil {
				return err
			}
		}
		r.Doc, r.Version, r.Modified = doc, r.Version+1, s.now()
		if err := tx.UpdateResource(r); err != nil {
			return err
		}
		if kind == store.KindGroup {
			stored, err := resolveMembers(tx, c.TenantID, members)
			if err != nil {
				return err
			}
			if _, err := tx.RemoveAllMembers(r.Seq); err != nil {
				return err
			}
			if _, err := tx.AddMembers(c.TenantID, r.Seq, stored); err != nil {
				return err
			}
		}
		if err := s.logUpdate(tx, r); err != nil {
			return err
		}
		ev := s.event(c, kind, id, displayName(kind, doc))
		ev.Status = scim.StatusOK
		if err := tx.InsertEvent(ev); err != nil {
			return err
		}
		// The response is the whole resource, as a GET would return it.
		docs, err := s.renderAll(tx, c, kind, []*store.Resource{r}, schema.Projection{})
		if err != nil {
			return err
		}
		out = docs[0].(map[string]any)
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, c, kind, id, doc, err)
	}
	return &Got{Doc: out, Version: r.Version}, nil
}

// Patch applies a PatchOp request atomically (RFC 7644 §3.5.2): every
// operation or none. Group members are changed as rows, never by rewriting a list.
func (s *Service) Patch(ctx context.Context, c Call, kind store.Kind, id string, body []byte, ifMatch string) (*Got, error) {
	req, err := patch.Parse(body)
	if err != nil {
		return nil, s.fail(ctx, c, kind, id, nil, err)
	}
	rt := s.ResourceType(c, kind)
	var r *store.Resource
	var out map[string]any
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = loadForWrite(tx, c, kind, id, ifMatch); err != nil {
			return err
		}
		res, err := patch.Apply(rt, r.Doc, req.Operations, patch.Options{MembersSeparate: kind == store.KindGroup})
		if err != nil {
			return err
		}
		delete(res.Doc, "password")
		if name, _ := res.Doc[nameAttr(kind)].(string); strings.TrimSpace(name) == "" {
			return scim.BadRequest(scim.InvalidValue, "%s is required and cannot be removed", nameAttr(kind))
		}
		changed := !reflect.DeepEqual(res.Doc, r.Doc)
		if changed && kind == store.KindUser {
			if !onlyDeactivates(r.Doc, res.Doc) {
				if err := s.checkDomains(tx, c.TenantID, res.Doc); err != nil {
					return err
				}
			}
			managed, err := nextManaged(c, r.Managed, r.Doc, res.Doc, false)
			if err != nil {
				return err
			}
			r.Managed = managed
		}
		r.Doc = res.Doc
		n, err := applyMemberOps(tx, c, r, res.MemberOps)
		if err != nil {
			return err
		}
		if changed || n > 0 {
			r.Version, r.Modified = r.Version+1, s.now()
			if err := tx.UpdateResource(r); err != nil {
				return err
			}
			if err := s.logUpdate(tx, r); err != nil {
				return err
			}
		}
		ev := s.event(c, kind, id, displayName(kind, r.Doc))
		ev.Status = scim.StatusOK
		if n > 0 {
			ev.Detail = fmt.Sprintf("%d membership change(s)", n)
		}
		if err := tx.InsertEvent(ev); err != nil {
			return err
		}
		if kind == store.KindUser { // groups answer 204: no body to build
			docs, err := s.renderAll(tx, c, kind, []*store.Resource{r}, schema.Projection{})
			if err != nil {
				return err
			}
			out = docs[0].(map[string]any)
		}
		return nil
	})
	if err != nil {
		var doc map[string]any
		if r != nil {
			doc = r.Doc
		}
		return nil, s.fail(ctx, c, kind, id, doc, err)
	}
	if out == nil {
		out = render(r, c.BaseURL)
	}
	return &Got{Doc: out, Version: r.Version}, nil
}

// applyMemberOps applies member operations in order and returns how many rows changed.
func applyMemberOps(tx *store.Tx, c Call, r *store.Resource, ops []patch.MemberOp) (int, error) {
	changed := 0
	for _, op := range ops {
		var n int
		var err error
		switch op.Kind {
		case patch.AddMembers:
			var ms []store.Member
			if ms, err = resolveMembers(tx, c.TenantID, op.Members); err == nil {
				n, err = tx.AddMembers(c.TenantID, r.Seq, ms)
			}
		case patch.RemoveMembers:
			ids := make([]string, len(op.Members))
			for i, m := range op.Members {
				ids[i] = m.Value
			}
			n, err = tx.RemoveMembers(r.Seq, ids)
		case patch.RemoveAllMembers:
			n, err = tx.RemoveAllMembers(r.Seq)
		case patch.ReplaceMembers:
			var ms []store.Member
			if ms, err = resolveMembers(tx, c.TenantID, op.Members); err != nil {
				break
			}
			var removed, added int
			if removed, err = tx.RemoveAllMembers(r.Seq); err != nil {
				break
			}
			added, err = tx.AddMembers(c.TenantID, r.Seq, ms)
			n = removed + added
		case patch.RemoveMembersWhere:
			var current []store.Member
			if current, err = tx.Members(r.Seq); err != nil {
				break
			}
			var ids []string
			opts := &filter.Options{CoreURN: scim.SchemaGroup, CaseExact: func(urn, attr, sub string) bool {
				return schema.GroupType.CaseExact(urn, "members", attr)
			}}
			for _, m := range current {
				el := map[string]any{"value": m.Value, "type": string(m.Type), "$ref": memberRef(c.BaseURL, m)}
				if filter.Match(op.Filter, el, opts) {
					ids = append(ids, m.Value)
				}
			}
			n, err = tx.RemoveMembers(r.Seq, ids)
		default:
			err = fmt.Errorf("unknown member operation %v", op.Kind)
		}
		if err != nil {
			return changed, err
		}
		changed += n
	}
	return changed, nil
}

// Delete removes a resource (RFC 7644 §3.6). A user's memberships go with it.
func (s *Service) Delete(ctx context.Context, c Call, kind store.Kind, id, ifMatch string) error {
	var name string
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		r, err := loadForWrite(tx, c, kind, id, ifMatch)
		if err != nil {
			return err
		}
		name = displayName(kind, r.Doc)
		if err := s.deleteLogged(tx, r); err != nil {
			return err
		}
		ev := s.event(c, kind, id, name)
		ev.Status = scim.StatusNoContent
		return tx.InsertEvent(ev)
	})
	if err != nil {
		return s.fail(ctx, c, kind, id, map[string]any{nameAttr(kind): name}, err)
	}
	return nil
}

// render builds the SCIM representation of a stored resource: its document
// plus id and meta (RFC 7643 §3.1).
func render(r *store.Resource, base string) map[string]any {
	d := make(map[string]any, len(r.Doc)+2)
	for k, v := range r.Doc {
		d[k] = v
	}
	d["id"] = r.ID
	d["meta"] = renderMeta(r, base)
	return d
}

func renderMeta(r *store.Resource, base string) map[string]any {
	return map[string]any{
		"resourceType": string(r.Kind),
		"created":      r.Created.Format(time.RFC3339Nano),
		"lastModified": r.Modified.Format(time.RFC3339Nano),
		"location":     base + collection(r.Kind) + r.ID,
		"version":      ETag(r.Version),
	}
}

func memberRef(base string, m store.Member) string {
	return base + collection(m.Type) + m.Value
}

// collection is the path segment of a kind's resources, between the base
// URL and an id: "/Users/" or "/Groups/".
func collection(k store.Kind) string {
	switch k {
	case store.KindUser:
		return "/Users/"
	case store.KindGroup:
		return "/Groups/"
	}
	return "/" + string(k) + "s/"
}

func renderMembers(ms []store.Member, base string) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = map[string]any{"value": m.Value, "type": string(m.Type), "$ref": memberRef(base, m)}
	}
	return out
}

// mentions reports whether a filter refers to the top-level attribute attr.
func mentions(e filter.Expr, attr string) bool {
	switch x := e.(type) {
	case *filter.Compare:
		return strings.EqualFold(x.Path.Attr, attr)
	case *filter.Has:
		return strings.EqualFold(x.Path.Attr, attr)
	case *filter.Not:
		return mentions(x.X, attr)
	case *filter.Logical:
		return mentions(x.Left, attr) || mentions(x.Right, attr)
	}
	return false
}

// sortKey extracts the value to sort by (RFC 7644 §3.4.2.3: for a
// multi-valued attribute, the primary value, else the first).
func sortKey(doc map[string]any, p filter.Path) string {
	var v any = doc
	if p.URN != "" && !strings.EqualFold(p.URN, schema.User.ID) && !strings.EqualFold(p.URN, schema.Group.ID) {
		v = lookupFold(doc, p.URN)
	}
	m, _ := v.(map[string]any)
	v = lookupFold(m, p.Attr)
	if arr, ok := v.([]any); ok {
		var pick any
		for _, e := range arr {
			if em, ok := e.(map[string]any); ok && em["primary"] == true {
				pick = e
				break
			}
		}
		if pick == nil && len(arr) > 0 {
			pick = arr[0]
		}
		v = pick
	}
	if p.Sub != "" {
		m, _ := v.(map[string]any)
		v = lookupFold(m, p.Sub)
	} else if m, ok := v.(map[string]any); ok {
		v = m["value"]
	}
	switch x := v.(type) {
	case string:
		return filter.Fold(x)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func lookupFold(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// qualify rewrites unqualified paths that name an extension attribute
// (`manager eq "m"`, as in Entra's reference query, docs/entra.md#filters) to
// their URN-qualified form, so that evaluation finds them. Core and common
// attributes, and names no schema defines, are left as written.
func qualify(rt *schema.ResourceType, e filter.Expr) filter.Expr {
	switch x := e.(type) {
	case *filter.Compare:
		c := *x
		c.Path = qualifyPath(rt, c.Path)
		return &c
	case *filter.Has:
		return &filter.Has{Path: qualifyPath(rt, x.Path)}
	case *filter.Not:
		return &filter.Not{X: qualify(rt, x.X)}
	case *filter.Logical:
		return &filter.Logical{Op: x.Op, Left: qualify(rt, x.Left), Right: qualify(rt, x.Right)}
	}
	return e
}

func qualifyPath(rt *schema.ResourceType, p filter.Path) filter.Path {
	if p.URN != "" {
		return p
	}
	if _, a := rt.Lookup("", p.Attr); a != nil {
		return p
	}
	for _, ext := range rt.Extensions {
		if ext.Schema.Attr(p.Attr) != nil {
			p.URN = ext.Schema.ID
			return p
		}
	}
	return p
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD (as
// encoding/json does), nothing else; SCIM bodies are not HTML.
func appendJSONString(b []byte, s string) []byte {
	return append(appendEscaped(append(b, '"'), s), '"')
}

// appendJSONString3 appends the concatenation a+b+c as a JSON string.
func appendJSONString3(out []byte, a, b, c string) []byte {
	out = appendEscaped(append(out, '"'), a)
	out = appendEscaped(out, b)
	return append(appendEscaped(out, c), '"')
}

// appendEscaped appends s escaped for the inside of a JSON string.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// ListAll is a search at the service root across users and groups (RFC 7644
// §3.4.3): users come first, then groups, each type sorted by its own
// sortBy; startIndex and count page through the concatenation, and
// totalResults is the sum. users and groups carry the same filter and paging,
// and the projection of their type.
func (s *Service) ListAll(ctx context.Context, c Call, users, groups ListParams) (*scim.ListResponse, error) {
	start := max(users.StartIndex, 1)
	count := users.Count
	if count < 0 || count > MaxResults {
		count = MaxResults
	}
	users.StartIndex, users.Count = start, count
	ur, err := s.List(ctx, c, store.KindUser, users)
	if err != nil {
		return nil, err
	}
	groups.StartIndex = max(start-ur.TotalResults, 1)
	groups.Count = count - len(ur.Resources)
	gr, err := s.List(ctx, c, store.KindGroup, groups)
	if err != nil {
		return nil, err
	}
	resp := scim.NewListResponse(ur.TotalResults+gr.TotalResults, start, append(ur.Resources, gr.Resources...))
	return &resp, nil
}
