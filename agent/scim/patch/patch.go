// Package patch implements the SCIM PATCH operation (RFC 7644 §3.5.2) for
// Roster's SCIM agent: decoding a PatchOp message and applying its operations
// to a User or Group document held as map[string]any.
//
// Besides the RFC it accepts every request shape the Microsoft Entra
// provisioning service sends, with and without the aadOptscim062020 flag
// (docs/entra.md): capitalised op names, booleans as the
// strings "True"/"False", path-less operations whose value object uses dotted
// and URN-qualified keys, value-filter paths that must create the element they
// name, the manager reference written as a bare id, and group-member removal by
// a value list, which must never remove every member.
//
// Value coercion is not done here: Apply ends every operation with
// schema.ResourceType.Canonicalize, so the rules that turn "False" into false or
// a manager id into {"value": id} live in one place.
package patch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
	"github.com/rosterhq/roster/agent/scim/schema"
)

// MaxOperations is the largest number of operations one PatchOp message may
// carry. RFC 7644 sets no limit; Entra sends a handful per request
// (docs/entra.md#user-update) and the cap bounds the work a single request costs.
const MaxOperations = 1000

// Operation names (RFC 7644 §3.5.2), as Parse and Apply normalise them. Entra
// sends "Add", "Replace" and "Remove" unless the aadOptscim062020 flag is set
// (docs/entra.md#capitalised-op-names; https://github.com/thomaspoignant/scim-patch/pull/6).
const (
	// OpAdd adds a value (RFC 7644 §3.5.2.1).
	OpAdd = "add"
	// OpRemove removes a value (RFC 7644 §3.5.2.2).
	OpRemove = "remove"
	// OpReplace replaces a value (RFC 7644 §3.5.2.3).
	OpReplace = "replace"
)

// Operation is one PATCH operation (RFC 7644 §3.5.2). Op is lower-cased by
// Parse. Path is "" for a path-less operation. Value is the raw JSON of the
// "value" member: nil when the member is absent, "null" when it is JSON null.
type Operation struct {
	Op    string
	Path  string
	Value json.RawMessage
}

// Request is a decoded PatchOp message (RFC 7644 §3.5.2).
type Request struct {
	Operations []Operation
}

// Parse decodes and validates a PatchOp body (RFC 7644 §3.5.2).
//
// The "schemas" member may be absent; when present it must list
// urn:ietf:params:scim:api:messages:2.0:PatchOp. Member names ("Operations",
// "op", "path", "value") and op names are matched case-insensitively — Entra
// capitalises op names (docs/entra.md#capitalised-op-names) and RFC 7643 §2.1 makes names
// case-insensitive. "Operations" must hold 1 to MaxOperations operations.
// add and replace need a value (RFC 7644 §3.5.2.1, §3.5.2.3); remove needs a
// path (RFC 7644 §3.5.2.2, else noTarget); paths must parse (invalidPath).
// Errors are *scim.Error with status 400.
func Parse(body []byte) (*Request, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, scim.BadRequest(scim.InvalidSyntax, "the PatchOp body is not a JSON object: %v", err)
	}
	if top == nil {
		return nil, scim.BadRequest(scim.InvalidSyntax, "the PatchOp body is not a JSON object")
	}
	schemasRaw, err := member(top, "schemas", "the PatchOp body")
	if err != nil {
		return nil, err
	}
	if schemasRaw != nil && !isJSONNull(schemasRaw) {
		var ss []*string
		if err := json.Unmarshal(schemasRaw, &ss); err != nil {
			return nil, scim.BadRequest(scim.InvalidSyntax, "\"schemas\" must be an array of strings")
		}
		found := false
		for _, s := range ss {
			if s != nil && strings.EqualFold(strings.TrimSpace(*s), scim.MessagePatchOp) {
				found = true
			}
		}
		if !found {
			return nil, scim.BadRequest(scim.InvalidSyntax, "\"schemas\" must include %q", scim.MessagePatchOp)
		}
	}
	opsRaw, err := member(top, "Operations", "the PatchOp body")
	if err != nil {
		return nil, err
	}
	if opsRaw == nil || isJSONNull(opsRaw) {
		return nil, scim.BadRequest(scim.InvalidSyntax, "the PatchOp body has no \"Operations\"")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(opsRaw, &list); err != nil {
		return nil, scim.BadRequest(scim.InvalidSyntax, "\"Operations\" must be an array of operation objects")
	}
	if err := checkCount(len(list)); err != nil {
		return nil, err
	}
	req := &Request{Operations: make([]Operation, 0, len(list))}
	for i, raw := range list {
		op, err := parseOperation(raw)
		if err != nil {
			return nil, at(i, err)
		}
		if err := validate(op); err != nil {
			return nil, at(i, err)
		}
		if op.Path != "" {
			if _, err := filter.ParsePath(op.Path); err != nil {
				return nil, at(i, asPathError(err))
			}
		}
		req.Operations = append(req.Operations, op)
	}
	return req, nil
}

// member returns the value of the member of obj whose name equals name
// case-insensitively, nil when absent; two such members are a syntax error.
func member(obj map[string]json.RawMessage, name, where string) (json.RawMessage, error) {
	var (
		found json.RawMessage
		n     int
	)
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			found = v
			n++
		}
	}
	if n > 1 {
		return nil, scim.BadRequest(scim.InvalidSyntax, "%s has %q more than once", where, name)
	}
	return found, nil
}

func parseOperation(raw json.RawMessage) (Operation, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return Operation{}, scim.BadRequest(scim.InvalidSyntax, "an operation must be a JSON object")
	}
	var op Operation
	opRaw, err := member(obj, "op", "an operation")
	if err != nil {
		return op, err
	}
	if opRaw == nil {
		return op, scim.BadRequest(scim.InvalidSyntax, "the operation has no \"op\"")
	}
	if err := json.Unmarshal(opRaw, &op.Op); err != nil {
		return op, scim.BadRequest(scim.InvalidSyntax, "\"op\" must be a string")
	}
	pathRaw, err := member(obj, "path", "an operation")
	if err != nil {
		return op, err
	}
	if pathRaw != nil && !isJSONNull(pathRaw) {
		if err := json.Unmarshal(pathRaw, &op.Path); err != nil {
			return op, scim.BadRequest(scim.InvalidSyntax, "\"path\" must be a string")
		}
	}
	if op.Value, err = member(obj, "value", "an operation"); err != nil {
		return op, err
	}
	op.Op = strings.ToLower(strings.TrimSpace(op.Op))
	op.Path = strings.TrimSpace(op.Path)
	return op, nil
}

func checkCount(n int) error {
	if n == 0 {
		return scim.BadRequest(scim.InvalidSyntax, "\"Operations\" is empty")
	}
	if n > MaxOperations {
		return scim.BadRequest(scim.InvalidSyntax, "\"Operations\" has %d operations; the limit is %d", n, MaxOperations)
	}
	return nil
}

// validate checks what can be checked without a schema. op.Op must already be
// lower-cased.
func validate(op Operation) error {
	switch op.Op {
	case OpAdd, OpReplace:
		if op.Value == nil {
			return scim.BadRequest(scim.InvalidSyntax, "%q needs a \"value\" (RFC 7644 §3.5.2)", op.Op)
		}
	case OpRemove:
		if op.Path == "" {
			return scim.BadRequest(scim.NoTarget, "\"remove\" needs a \"path\" (RFC 7644 §3.5.2.2)")
		}
	default:
		return scim.BadRequest(scim.InvalidSyntax, "unknown op %q; expected add, remove or replace", op.Op)
	}
	if op.Value != nil && !json.Valid(op.Value) {
		return scim.BadRequest(scim.InvalidSyntax, "\"value\" is not valid JSON")
	}
	return nil
}

// at prefixes the detail of err with the index of the operation it concerns.
func at(i int, err error) error {
	if e, ok := err.(*scim.Error); ok {
		c := *e
		c.Detail = fmt.Sprintf("Operations[%d]: %s", i, e.Detail)
		return &c
	}
	return scim.BadRequest(scim.InvalidValue, "Operations[%d]: %v", i, err)
}

func asPathError(err error) error {
	if e, ok := err.(*scim.Error); ok {
		return e
	}
	return scim.BadRequest(scim.InvalidPath, "%v", err)
}

// Member is one group member reference (RFC 7643 §4.2 "members"). Ref is the
// "$ref" URI when the client sent one; Entra sends "$ref": null, which is
// ignored (docs/entra.md#member-removal-by-value-list; https://github.com/pond/scimitar/issues/43).
type Member struct {
	Value, Type, Ref, Display string
}

// MemberOpKind says what a MemberOp does to a group's membership.
type MemberOpKind int

// Member operation kinds.
const (
	// AddMembers adds Members; adding an existing member is a no-op
	// (docs/entra.md#membership-writes-are-idempotent-and-never-lost).
	AddMembers MemberOpKind = iota + 1
	// RemoveMembers removes exactly the members whose ids are listed in
	// Members — Entra's default member removal
	// (https://github.com/MicrosoftDocs/azure-docs/issues/30826).
	RemoveMembers
	// RemoveMembersWhere removes the members that match Filter, an expression
	// over one member object ({"value", "type", "$ref", "display"}).
	RemoveMembersWhere
	// ReplaceMembers makes Members the whole membership (RFC 7644 §3.5.2.3).
	ReplaceMembers
	// RemoveAllMembers empties the group: "remove" of "members" with neither
	// a filter nor a value (RFC 7644 §3.5.2.2).
	RemoveAllMembers
)

// String returns the Go name of k.
func (k MemberOpKind) String() string {
	switch k {
	case AddMembers:
		return "AddMembers"
	case RemoveMembers:
		return "RemoveMembers"
	case RemoveMembersWhere:
		return "RemoveMembersWhere"
	case ReplaceMembers:
		return "ReplaceMembers"
	case RemoveAllMembers:
		return "RemoveAllMembers"
	}
	return fmt.Sprintf("MemberOpKind(%d)", int(k))
}

// MemberOp is one change to a group's membership, returned by Apply when
// Options.MembersSeparate is set. Members is used by AddMembers, RemoveMembers
// (only Value is set) and ReplaceMembers; Filter by RemoveMembersWhere.
type MemberOp struct {
	Kind    MemberOpKind
	Members []Member
	Filter  filter.Expr
}

// Options tunes Apply.
type Options struct {
	// MembersSeparate — when true (groups, whose members live in their own
	// table), operations that target "members" are returned as MemberOps, in
	// order, instead of changing Doc["members"].
	MembersSeparate bool
}

// Result is the outcome of Apply.
type Result struct {
	// Doc is the patched document in canonical form (schema Canonicalize):
	// read-only attributes such as id and meta are not in it, "schemas" is
	// recomputed.
	Doc map[string]any
	// MemberOps are the membership changes, in request order, when
	// Options.MembersSeparate is set; nil otherwise.
	MemberOps []MemberOp
}

// Apply applies ops, in order, to a copy of doc, a document of resource type
// rt (RFC 7644 §3.5.2). doc is never modified. It is atomic: on error it
// returns the *scim.Error (status 400) of the first failing operation, its
// detail prefixed with "Operations[i]: ", and no result. After each operation
// the attributes it changed are put through rt.Canonicalize, so a later
// operation sees the earlier ones' effects in canonical form (booleans
// coerced, "" and null dropped, the manager as {"value": id}); the whole
// document is canonicalised once more at the end.
//
// The semantics, beyond RFC 7644 §3.5.2.1–3, follow what Microsoft Entra sends
// (docs/entra.md); see the comments on the helpers for each rule.
func Apply(rt *schema.ResourceType, doc map[string]any, ops []Operation, opt Options) (*Result, error) {
	if rt == nil {
		return nil, scim.Errorf(500, "", "patch.Apply: nil resource type")
	}
	if err := checkCount(len(ops)); err != nil {
		return nil, err
	}
	work, err := rt.Canonicalize(doc)
	if err != nil {
		return nil, err
	}
	a := &applier{rt: rt, doc: work, opt: opt}
	for i, op := range ops {
		op.Op = strings.ToLower(strings.TrimSpace(op.Op))
		op.Path = strings.TrimSpace(op.Path)
		if err := validate(op); err != nil {
			return nil, at(i, err)
		}
		a.touched = map[string]any{}
		if err := a.apply(op.Op, op.Path, op.Value, false); err != nil {
			return nil, at(i, err)
		}
		if err := a.canonicalizeTouched(); err != nil {
			return nil, at(i, err)
		}
	}
	if a.doc, err = rt.Canonicalize(a.doc); err != nil {
		return nil, err
	}
	return &Result{Doc: a.doc, MemberOps: a.memberOps}, nil
}

// touch records that the current operation changes the top-level member
// k, keeping a copy of its value before the change.
func (a *applier) touch(k string) {
	if _, ok := a.touched[k]; !ok {
		a.touched[k] = deepCopy(a.doc[k])
	}
}

// canonicalizeTouched puts the top-level members the last operation touched
// into canonical form (Canonicalize works member by member), so the next
// operation sees coerced values without re-canonicalising the whole
// document after every operation. What the operation sent is checked as
// client input (CanonicalizeInput); the sub-attributes of a touched object
// that the operation left as they were stored are not, so a value stored
// before a rule existed does not block changes to its neighbours.
func (a *applier) canonicalizeTouched() error {
	for k, before := range a.touched {
		v, ok := a.doc[k]
		if !ok {
			continue
		}
		if _, err := a.rt.CanonicalizeInput(map[string]any{k: changedPart(before, v)}); err != nil {
			return err
		}
		out, err := a.rt.Canonicalize(map[string]any{k: v})
		if err != nil {
			return err
		}
		delete(a.doc, k)
		for ck, cv := range out {
			if ck != "schemas" {
				a.doc[ck] = cv
			}
		}
	}
	return nil
}

type applier struct {
	rt        *schema.ResourceType
	doc       map[string]any
	opt       Options
	memberOps []MemberOp
	touched   map[string]any // top-level keys of doc the current operation changed, with their values before it
}

// changedPart returns after without the members of an object that are equal
// to those in before; other values are returned whole.
func changedPart(before, after any) any {
	b, ok1 := before.(map[string]any)
	m, ok2 := after.(map[string]any)
	if !ok1 || !ok2 {
		return after
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if old, ok := b[k]; !ok || !reflect.DeepEqual(old, v) {
			out[k] = v
		}
	}
	return out
}

// target is a resolved operation path.
type target struct {
	// container is true when the path names a whole schema: an extension
	// object (RFC 7644 §3.5.2.1 lets add target it) or, for the core URN, the
	// resource itself.
	container bool
	// urn is the key of the extension object holding the attribute, "" for
	// the document root.
	urn string
	// name is the key of the attribute inside its container: the schema's
	// spelling for a known attribute, as written otherwise.
	name   string
	attr   *schema.Attribute // nil: not in the schema
	filter filter.Expr
	sub    string
	// readOnly: the attribute or sub-attribute has mutability readOnly.
	readOnly bool
	// ignore: "schemas", which Canonicalize recomputes.
	ignore bool
}

func (t *target) isManager() bool {
	return t.attr != nil && t.urn == scim.SchemaEnterpriseUser && t.attr.Name == "manager"
}

func (a *applier) isMembers(t *target) bool {
	return t.attr != nil && t.urn == "" && t.attr.MultiValued && t.attr.Name == "members" &&
		a.rt.Schema.ID == scim.SchemaGroup
}

// apply runs one operation. inValue is true for the keys of a path-less
// value object (and of an extension object value), where read-only attributes
// are ignored rather than rejected.
func (a *applier) apply(op, path string, raw json.RawMessage, inValue bool) error {
	if path == "" {
		if inValue {
			return scim.BadRequest(scim.InvalidPath, "empty attribute name in the value object")
		}
		return a.pathless(op, raw)
	}
	t, err := a.resolve(path, raw)
	if err != nil {
		return err
	}
	if t.ignore {
		return nil
	}
	var (
		v   any
		has = raw != nil
	)
	if has {
		if err := json.Unmarshal(raw, &v); err != nil {
			return scim.BadRequest(scim.InvalidSyntax, "the value for %q is not valid JSON", path)
		}
	}
	if t.readOnly {
		// RFC 7644 §3.5.2: a client MUST NOT modify a readOnly attribute,
		// named by a path or as a key of a path-less value object (only PUT
		// ignores them, RFC 7644 §3.5.1).
		return scim.BadRequest(scim.Mutability, "%q is read-only (RFC 7643 §7 mutability)", path)
	}
	if a.isMembers(t) {
		return a.members(op, t, v, has && v != nil)
	}
	switch op {
	case OpAdd, OpReplace:
		return a.set(op, t, raw, v)
	default:
		return a.remove(t, v, has && v != nil)
	}
}

// pathless applies an add or replace without a path: every member of the
// value object is an attribute path of its own — "displayName",
// "name.givenName", "urn:…:enterprise:2.0:User:employeeNumber", or the bare
// extension URN holding an object (RFC 7644 §3.5.2.1, §3.5.2.3). This is how
// Entra sends multi-attribute updates with the aadOptscim062020 flag
// (docs/entra.md#path-less-patch-with-dotted-keys); a dotted key updates the sub-attribute and is
// never stored literally (https://github.com/pingidentity/scim2/issues/224,
// https://github.com/pond/scimitar/issues/123,
// https://github.com/AzureAD/SCIMReferenceCode/issues/97). Members are
// applied in the order they appear in the JSON text.
func (a *applier) pathless(op string, raw json.RawMessage) error {
	kvs, ok := orderedObject(raw)
	if !ok {
		return scim.BadRequest(scim.InvalidSyntax, "a path-less %q needs a JSON object value", op)
	}
	for _, kv := range kvs {
		key := strings.TrimSpace(kv.key)
		if key == "" {
			return scim.BadRequest(scim.InvalidPath, "empty attribute name in the value object")
		}
		if err := a.apply(op, key, kv.raw, true); err != nil {
			return err
		}
	}
	return nil
}

type keyValue struct {
	key string
	raw json.RawMessage
}

// orderedObject splits a JSON object into its members, in document order.
func orderedObject(raw json.RawMessage) ([]keyValue, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, false
	}
	var out []keyValue
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var r json.RawMessage
		if err := dec.Decode(&r); err != nil {
			return nil, false
		}
		out = append(out, keyValue{key, r})
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	return out, true
}

func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

func hasURNPrefix(s string) bool {
	return len(s) >= 4 && strings.EqualFold(s[:4], "urn:")
}

// isSchemaURN reports whether path could be a bare schema URN: it starts
// with "urn:" and has no value filter.
func isSchemaURN(path string) bool {
	return hasURNPrefix(path) && !strings.ContainsAny(path, "[]\" ")
}

// resolve turns a path into a target. Attribute names are resolved
// case-insensitively to the schema's spelling (RFC 7643 §2.1); a core-URN
// qualified name is the plain attribute (RFC 7644 §3.10); an extension
// attribute lives in the object keyed by its URN (RFC 7643 §3.3).
func (a *applier) resolve(path string, raw json.RawMessage) (*target, error) {
	if strings.EqualFold(path, "schemas") {
		return &target{ignore: true}, nil
	}
	if urn, name := a.rt.SplitURN(path); urn != "" && name == "" {
		return &target{container: true, urn: urn}, nil
	}
	if a.isUnknownExtension(path, raw) {
		return nil, schema.UndeclaredExtension(path)
	}
	p, err := filter.ParsePath(path)
	if err != nil {
		return nil, asPathError(err)
	}
	t := &target{filter: p.Filter}
	urn, attr := a.rt.Lookup(p.URN, p.Attr)
	if attr == nil && p.URN == "" {
		urn, attr = a.extensionAttr(p.Attr)
	}
	s := a.rt.SchemaFor(p.URN)
	switch {
	case attr != nil:
		t.urn, t.attr, t.name = urn, attr, attr.Name
	case p.URN == "" || s == a.rt.Schema:
		return nil, scim.BadRequest(scim.InvalidPath, "%q: the %s schema has no attribute %q", path, a.rt.Schema.Name, p.Attr)
	case s != nil && s.ID == scim.SchemaEnterpriseUser:
		return nil, scim.BadRequest(scim.InvalidPath, "%q: the %s schema has no attribute %q", path, s.Name, p.Attr)
	default:
		// An attribute of a custom extension schema this tenant has not
		// declared (an Entra custom extension attribute).
		urn := p.URN
		if s != nil {
			urn = s.ID
		}
		return nil, schema.UndeclaredExtension(urn + ":" + p.Attr)
	}
	if t.attr != nil && t.attr.Mutability == schema.ReadOnly {
		t.readOnly = true
	}
	if p.Filter != nil && t.attr != nil && t.attr.Type != schema.Complex {
		return nil, scim.BadRequest(scim.InvalidPath, "%q: a value filter needs a complex attribute, and %q is not one", path, t.attr.Name)
	}
	if p.Sub != "" {
		if t.attr == nil {
			t.sub = p.Sub
		} else {
			if t.attr.Type != schema.Complex {
				return nil, scim.BadRequest(scim.InvalidPath, "%q: %q has no sub-attributes", path, t.attr.Name)
			}
			sa := t.attr.Sub(p.Sub)
			if sa == nil {
				return nil, scim.BadRequest(scim.InvalidPath, "%q: %q has no sub-attribute %q", path, t.attr.Name, p.Sub)
			}
			t.sub = sa.Name
			if sa.Mutability == schema.ReadOnly {
				t.readOnly = true
			}
		}
	}
	return t, nil
}

// extensionAttr finds an unqualified name that the core schema lacks in the
// extensions: Entra's older documentation writes the enterprise manager as
// plain "manager" (docs/entra.md#manager-written-as-a-string-read-as-an-object; `manager[value eq "…"]` in
// https://github.com/thomaspoignant/scim-patch/issues/453). A name defined by
// more than one extension stays unresolved.
func (a *applier) extensionAttr(name string) (string, *schema.Attribute) {
	var (
		urn   string
		found *schema.Attribute
	)
	for _, e := range a.rt.Extensions {
		if at := e.Schema.Attr(name); at != nil {
			if found != nil {
				return "", nil
			}
			urn, found = e.Schema.ID, at
		}
	}
	return urn, found
}

// isUnknownExtension reports whether path is the bare URN of an extension
// schema rt does not define, such as an Entra custom extension
// "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User" (docs/entra.md#unknown-schema-urns-and-custom-extensions):
// the document already holds an object under it, or it ends in the resource's
// schema name and the value (if any) is an object.
func (a *applier) isUnknownExtension(path string, raw json.RawMessage) bool {
	if !isSchemaURN(path) || a.rt.SchemaFor(path) != nil {
		return false
	}
	if _, ok := a.doc[keyFor(a.doc, path)].(map[string]any); ok {
		return true
	}
	i := strings.LastIndexByte(path, ':')
	if !strings.EqualFold(path[i+1:], a.rt.Schema.Name) {
		return false
	}
	if raw == nil {
		return true
	}
	b := bytes.TrimSpace(raw)
	return len(b) > 0 && (b[0] == '{' || isJSONNull(b))
}

// keyFor returns the key of m that equals name case-insensitively (an exact
// match first, then the smallest such key), or name itself.
func keyFor(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	best, found := "", false
	for k := range m {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, found = k, true
		}
	}
	if found {
		return best
	}
	return name
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// container returns the object that holds t's attribute, creating the
// extension object when create is set; nil when absent.
func (a *applier) container(t *target, create bool) map[string]any {
	if t.urn == "" {
		a.touch(keyFor(a.doc, t.name))
		return a.doc
	}
	k := keyFor(a.doc, t.urn)
	a.touch(k)
	m, ok := a.doc[k].(map[string]any)
	if !ok {
		if !create {
			return nil
		}
		m = map[string]any{}
		a.doc[k] = m
	}
	return m
}

// set applies add or replace to t (RFC 7644 §3.5.2.1, §3.5.2.3).
func (a *applier) set(op string, t *target, raw json.RawMessage, v any) error {
	if t.container {
		return a.setContainer(op, t, raw, v)
	}
	if t.filter != nil {
		return a.setFiltered(op, t, v)
	}
	c := a.container(t, true)
	key := keyFor(c, t.name)
	cur := c[key]
	if t.sub != "" {
		return a.setSub(t, c, key, v)
	}
	if v == nil {
		// RFC 7643 §2.5: null is unassigned.
		if op == OpReplace || t.attr == nil || !t.attr.MultiValued {
			delete(c, key)
		}
		return nil
	}
	switch {
	case t.attr == nil:
		// Not in the schema: stored as sent (lossless); add appends to an
		// existing array (RFC 7644 §3.5.2.1).
		if arr, ok := cur.([]any); ok && op == OpAdd {
			seen := newValueSet(arr)
			for _, e := range asList(v) {
				if seen.add(e) {
					arr = append(arr, deepCopy(e))
				}
			}
			c[key] = arr
			return nil
		}
		c[key] = deepCopy(v)
	case t.isManager():
		// Entra writes the manager as a bare id, older docs as an object or a
		// one-element array (docs/entra.md#manager-written-as-a-string-read-as-an-object); "" or null clears it
		// (docs/entra.md#clearing-attributes). Canonicalize normalises all of these to {"value": id}.
		c[key] = deepCopy(v)
	case t.attr.MultiValued:
		if !isArray(v) {
			// RFC 7644 §3.5.2.1/§3.5.2.3: the value of a multi-valued
			// attribute is an array of values.
			return scim.BadRequest(scim.InvalidValue, "%q is multi-valued; its value must be an array", t.attr.Name)
		}
		elems := asList(v)
		if op == OpReplace {
			// RFC 7644 §3.5.2.3: without a filter the whole array is replaced.
			if len(elems) == 0 {
				delete(c, key)
			} else {
				c[key] = deepCopy(elems)
			}
			return nil
		}
		// RFC 7644 §3.5.2.1: add appends; a value equal to an existing one is
		// not added again.
		arr, _ := cur.([]any)
		// Compare in canonical form, so {"Value": "x", "primary": "True"}
		// equals a stored {"value": "x", "primary": true}.
		newElems, _ := a.canonical(t, elems).([]any)
		touched := map[int]bool{}
		newPrimary := false
		seen := newValueSet(arr)
		for _, e := range newElems {
			if !seen.add(e) {
				continue
			}
			touched[len(arr)] = true
			if m, ok := e.(map[string]any); ok && isTrue(m[keyFor(m, "primary")]) {
				newPrimary = true
			}
			arr = append(arr, deepCopy(e))
		}
		if newPrimary {
			demote(arr, touched)
		}
		c[key] = arr
	case t.attr.Type == schema.Complex:
		// RFC 7644 §3.5.2.1/§3.5.2.3: for a complex attribute the given
		// sub-attributes are set; the others are left unchanged.
		if isEmpty(v) {
			if op == OpReplace {
				delete(c, key)
			}
			return nil
		}
		obj, ok := asObject(v)
		if !ok {
			return scim.BadRequest(scim.InvalidValue, "%q is a complex attribute; its value must be an object", t.attr.Name)
		}
		m, _ := cur.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		mergeInto(t.attr, m, obj)
		c[key] = m
	default:
		c[key] = deepCopy(v)
	}
	return nil
}

// setContainer applies add/replace to a whole extension object (or, for the
// core schema URN, to the resource): each member of the value is applied as
// "<urn>:<member>".
func (a *applier) setContainer(op string, t *target, raw json.RawMessage, v any) error {
	if t.urn == a.rt.Schema.ID {
		return a.pathless(op, raw)
	}
	if v == nil {
		if op == OpReplace {
			delete(a.doc, keyFor(a.doc, t.urn))
		}
		return nil
	}
	kvs, ok := orderedObject(raw)
	if !ok {
		return scim.BadRequest(scim.InvalidValue, "the value for %q must be an object", t.urn)
	}
	if a.rt.SchemaFor(t.urn) == nil {
		// Unknown extension: merge the members as sent.
		c := a.container(t, true)
		for _, kv := range kvs {
			var x any
			_ = json.Unmarshal(kv.raw, &x)
			if k := keyFor(c, kv.key); x == nil {
				delete(c, k)
			} else {
				c[k] = x
			}
		}
		return nil
	}
	for _, kv := range kvs {
		key := strings.TrimSpace(kv.key)
		if key == "" {
			return scim.BadRequest(scim.InvalidPath, "empty attribute name in the value object")
		}
		if err := a.apply(op, t.urn+":"+key, kv.raw, true); err != nil {
			return err
		}
	}
	return nil
}

// setSub sets a sub-attribute without a value filter: "name.givenName",
// "urn:…:enterprise:2.0:User:manager.value".
func (a *applier) setSub(t *target, c map[string]any, key string, v any) error {
	cur := c[key]
	switch {
	case t.attr != nil && t.attr.MultiValued, t.attr == nil && isArray(cur):
		// "emails.value" without a filter: every element (RFC 7644 §3.5.2
		// leaves it open). Clearing removes the sub-attribute; setting on an
		// empty attribute creates one element.
		arr, _ := cur.([]any)
		if isEmpty(v) {
			c[key] = removeSubFrom(arr, nil, t.sub)
			return nil
		}
		n := 0
		for _, e := range arr {
			if m, ok := e.(map[string]any); ok {
				m[keyFor(m, t.sub)] = deepCopy(v)
				n++
			}
		}
		if n == 0 {
			arr = append(arr, map[string]any{t.sub: deepCopy(v)})
		}
		c[key] = arr
		return nil
	}
	m, ok := cur.(map[string]any)
	if !ok {
		if cur != nil && t.attr == nil {
			return scim.BadRequest(scim.InvalidPath, "%q holds a simple value; it has no sub-attribute %q", t.name, t.sub)
		}
		m = map[string]any{}
	}
	sk := keyFor(m, t.sub)
	if t.isManager() && t.sub == "value" {
		// A new manager id: the old $ref and displayName describe someone else.
		if old, _ := m[sk].(string); old != "" && !reflect.DeepEqual(old, v) {
			delete(m, keyFor(m, "$ref"))
			delete(m, keyFor(m, "displayName"))
		}
	}
	if v == nil {
		delete(m, sk)
	} else {
		m[sk] = deepCopy(v)
	}
	c[key] = m
	return nil
}

// view returns the elements a value filter runs over: the array of a
// multi-valued attribute, or the object of a single-valued complex one (the
// manager) as a one-element list.
func view(t *target, cur any) (elems []any, single bool) {
	switch x := cur.(type) {
	case []any:
		return x, false
	case map[string]any:
		return []any{x}, t.attr == nil || !t.attr.MultiValued
	case nil:
		return nil, t.attr != nil && !t.attr.MultiValued
	}
	return nil, t.attr != nil && !t.attr.MultiValued
}

func (a *applier) matchOptions(t *target) *filter.Options {
	return &filter.Options{
		CoreURN: a.rt.Schema.ID,
		// Inside a value filter the compared attribute is a sub-attribute
		// of t (RFC 7643 §2.2 caseExact): "type" of "emails".
		CaseExact: func(_, attr, _ string) bool {
			if t.attr == nil {
				return false
			}
			return a.rt.CaseExact(t.urn, t.name, attr)
		},
	}
}

// matching returns the indexes of the elements that pass t.filter.
func (a *applier) matching(t *target, elems []any) []int {
	opt := a.matchOptions(t)
	var out []int
	for i, e := range elems {
		m, ok := e.(map[string]any)
		if !ok {
			if e == nil || isArray(e) {
				continue
			}
			m = map[string]any{"value": e} // a simple element is its own value
		}
		if filter.Match(t.filter, m, opt) {
			out = append(out, i)
		}
	}
	return out
}

// setFiltered applies add/replace to `attr[filter]` or `attr[filter].sub`:
// the value (or the sub-attribute) is set on every matching element. When
// nothing matches and the filter is a conjunction of "eq" comparisons, the
// element is created with those attributes — Entra PATCHes
// `emails[type eq "work"].value` for a user with no work email and expects it
// to appear (docs/entra.md#value-filter-paths-create-elements;
// https://github.com/Captain-P-Goldfish/scim-for-keycloak/issues/73,
// https://github.com/Metatavu/keycloak-scim-server/issues/35). Otherwise it
// is noTarget (RFC 7644 §3.5.2.3). Setting a sub-attribute to null or ""
// removes it, like "remove" (Microsoft's validator clears attributes so:
// docs/entra.md#clearing-attributes); replacing whole elements with null removes them.
func (a *applier) setFiltered(op string, t *target, v any) error {
	if isEmpty(v) {
		if t.sub == "" && op == OpAdd {
			return nil
		}
		return a.remove(t, nil, false)
	}
	var obj map[string]any
	if t.sub == "" {
		o, ok := asObject(v)
		if !ok {
			return scim.BadRequest(scim.InvalidValue, "the value for a filtered %q must be an object", t.name)
		}
		obj = o
	}
	c := a.container(t, true)
	key := keyFor(c, t.name)
	elems, single := view(t, c[key])
	if cur := c[key]; cur != nil && elems == nil {
		return scim.BadRequest(scim.InvalidPath, "%q holds a simple value; a value filter cannot select in it", t.name)
	}
	idx := a.matching(t, elems)
	touched := map[int]bool{}
	created := false // an element created with "primary": true
	if len(idx) == 0 {
		elem, ok := a.creatable(t)
		if !ok {
			return scim.BadRequest(scim.NoTarget, "no value of %q matches the filter %s", t.name, filter.Format(t.filter))
		}
		if single && len(elems) > 0 {
			// A single-valued attribute holds another value: creating would replace it.
			return scim.BadRequest(scim.NoTarget, "%q does not match the filter %s", t.name, filter.Format(t.filter))
		}
		elems = append(elems, elem)
		idx = []int{len(elems) - 1}
		created = isTrue(elem[keyFor(elem, "primary")])
	}
	primary := created
	for _, i := range idx {
		m, ok := elems[i].(map[string]any)
		if !ok {
			m = map[string]any{"value": elems[i]}
			elems[i] = m
		}
		if t.sub != "" {
			if t.isManager() && t.sub == "value" {
				if old, _ := m[keyFor(m, "value")].(string); old != "" && !reflect.DeepEqual(old, v) {
					delete(m, keyFor(m, "$ref"))
					delete(m, keyFor(m, "displayName"))
				}
			}
			m[keyFor(m, t.sub)] = deepCopy(v)
		} else {
			mergeInto(t.attr, m, obj)
		}
		touched[i] = true
		if isTrue(m[keyFor(m, "primary")]) && (strings.EqualFold(t.sub, "primary") || t.sub == "" && hasKey(obj, keyFor(obj, "primary"))) {
			primary = true
		}
	}
	if primary && !single {
		demote(elems, touched)
	}
	if single {
		c[key] = elems[0]
	} else {
		c[key] = elems
	}
	return nil
}

// creatable returns the element a value filter describes when it is "eq"
// comparisons joined by "and" on distinct sub-attributes, e.g.
// `type eq "work"` or `type eq "work" and primary eq true`. A string literal
// for a boolean sub-attribute is coerced (`primary eq "True"` gives true), as
// Entra writes `roles[primary eq "True"].value` (docs/entra.md#value-filter-paths-create-elements).
func (a *applier) creatable(t *target) (map[string]any, bool) {
	out := map[string]any{}
	var walk func(e filter.Expr) bool
	walk = func(e filter.Expr) bool {
		switch x := e.(type) {
		case *filter.Logical:
			return x != nil && x.Op == "and" && walk(x.Left) && walk(x.Right)
		case *filter.Compare:
			if x == nil || x.Op != filter.Eq || x.Path.Filter != nil || x.Path.Sub != "" {
				return false
			}
			if x.Path.URN != "" && !strings.EqualFold(x.Path.URN, t.urn) &&
				!(t.urn == "" && strings.EqualFold(x.Path.URN, a.rt.Schema.ID)) {
				return false
			}
			name := x.Path.Attr
			var sa *schema.Attribute
			if t.attr != nil {
				if sa = t.attr.Sub(name); sa == nil || sa.Mutability == schema.ReadOnly {
					return false
				}
				name = sa.Name
			}
			var val any
			switch x.Value.Kind {
			case filter.String:
				val = x.Value.Str
				if sa != nil && sa.Type == schema.Boolean {
					switch {
					case strings.EqualFold(x.Value.Str, "true"):
						val = true
					case strings.EqualFold(x.Value.Str, "false"):
						val = false
					}
				}
			case filter.Number:
				val = x.Value.Num
			case filter.Bool:
				val = x.Value.Bool
			default:
				return false
			}
			if isEmpty(val) {
				return false
			}
			k := keyFor(out, name)
			if prev, ok := out[k]; ok {
				return reflect.DeepEqual(prev, val)
			}
			out[name] = val
			return true
		}
		return false
	}
	if !walk(t.filter) {
		return nil, false
	}
	return out, true
}

// remove applies a remove operation (RFC 7644 §3.5.2.2). Removing something
// that is not there is a no-op, so Entra's retries are idempotent
// (docs/entra.md#membership-writes-are-idempotent-and-never-lost). hasValue is true when a non-null value came with it.
func (a *applier) remove(t *target, v any, hasValue bool) error {
	if t.container {
		if t.urn == a.rt.Schema.ID {
			return scim.BadRequest(scim.NoTarget, "the resource itself cannot be removed by PATCH")
		}
		delete(a.doc, keyFor(a.doc, t.urn))
		return nil
	}
	c := a.container(t, false)
	if c == nil {
		return nil
	}
	key := keyFor(c, t.name)
	cur, exists := c[key]
	if !exists {
		return nil
	}
	switch {
	case t.filter != nil:
		elems, single := view(t, cur)
		idx := a.matching(t, elems)
		if len(idx) == 0 {
			return nil
		}
		if single {
			if t.sub == "" || t.isManager() && t.sub == "value" {
				delete(c, key)
				return nil
			}
			m := elems[0].(map[string]any)
			delete(m, keyFor(m, t.sub))
			return nil
		}
		sel := map[int]bool{}
		for _, i := range idx {
			sel[i] = true
		}
		if t.sub == "" {
			c[key] = removeWhere(elems, func(i int, _ any) bool { return sel[i] })
		} else {
			c[key] = removeSubFrom(elems, sel, t.sub)
		}
	case t.sub != "":
		switch x := cur.(type) {
		case map[string]any:
			if t.isManager() && t.sub == "value" {
				delete(c, key)
				return nil
			}
			delete(x, keyFor(x, t.sub))
		case []any:
			c[key] = removeSubFrom(x, nil, t.sub)
		}
	case hasValue && (t.attr != nil && t.attr.MultiValued || t.attr == nil && isArray(cur)):
		// A remove with a value on a multi-valued attribute removes the listed
		// values, never the whole attribute: Entra removes group members this
		// way (docs/entra.md#member-removal-by-value-list;
		// https://github.com/MicrosoftDocs/azure-docs/issues/30826).
		items, err := removeItems(v)
		if err != nil {
			return err
		}
		arr, _ := cur.([]any)
		// Items are indexed by their string "value" (Entra always gives
		// one), so each element is compared only with the items naming its
		// value; items without one are compared with every element.
		exact := t.attr != nil && a.rt.CaseExact(t.urn, t.name, "value")
		byValue := map[string][]any{}
		var rest []any
		for _, it := range items {
			if id, ok := elementValue(it); ok {
				byValue[foldIf(id, exact)] = append(byValue[foldIf(id, exact)], it)
			} else {
				rest = append(rest, it)
			}
		}
		c[key] = removeWhere(arr, func(_ int, e any) bool {
			if id, ok := elementValue(e); ok {
				for _, it := range byValue[foldIf(id, exact)] {
					if a.itemMatches(t, e, it) {
						return true
					}
				}
			}
			for _, it := range rest {
				if a.itemMatches(t, e, it) {
					return true
				}
			}
			return false
		})
	default:
		delete(c, key)
	}
	return nil
}

// removeItems turns the value of a remove into the items to remove: a list or
// a single item; a string stands for {"value": s}; null members are ignored
// ("$ref": null from Entra).
func removeItems(v any) ([]any, error) {
	var out []any
	for _, it := range asList(v) {
		switch x := it.(type) {
		case nil:
			continue
		case map[string]any:
			m := map[string]any{}
			for k, e := range x {
				if e != nil {
					m[k] = e
				}
			}
			if len(m) == 0 {
				return nil, scim.BadRequest(scim.InvalidValue, "a value to remove must name at least one sub-attribute")
			}
			out = append(out, m)
		case []any:
			return nil, scim.BadRequest(scim.InvalidValue, "a value to remove cannot be an array")
		default:
			out = append(out, x)
		}
	}
	return out, nil
}

// elementValue returns the string "value" of an element (or the element
// itself when it is a string).
func elementValue(e any) (string, bool) {
	switch x := e.(type) {
	case string:
		return x, true
	case map[string]any:
		id, ok := x[keyFor(x, "value")].(string)
		return id, ok
	}
	return "", false
}

func foldIf(s string, exact bool) string {
	if exact {
		return s
	}
	return strings.ToLower(strings.ToUpper(s))
}

// itemMatches reports whether element e is the item it of a remove value:
// their "value"s are equal or, for an item without "value", every
// sub-attribute the item gives is equal in e.
func (a *applier) itemMatches(t *target, e, it any) bool {
	im, ok := it.(map[string]any)
	if !ok {
		im = map[string]any{"value": it}
	}
	if vk := keyFor(im, "value"); hasKey(im, vk) {
		im = map[string]any{"value": im[vk]}
	}
	em, ok := e.(map[string]any)
	if !ok {
		if e == nil || isArray(e) {
			return false
		}
		em = map[string]any{"value": e}
	}
	for k, iv := range im {
		ek := keyFor(em, k)
		ev, ok := em[ek]
		if !ok {
			return false
		}
		exact := t.attr != nil && a.rt.CaseExact(t.urn, t.name, k)
		if !looseEqual(ev, iv, exact) {
			return false
		}
	}
	return true
}

// looseEqual compares a stored value with a client-sent one: strings by the
// attribute's caseExact, booleans also against "True"/"False" strings.
func looseEqual(x, y any, exact bool) bool {
	switch xv := x.(type) {
	case string:
		switch yv := y.(type) {
		case string:
			if exact {
				return xv == yv
			}
			return strings.EqualFold(xv, yv)
		case bool:
			return strings.EqualFold(xv, fmt.Sprint(yv))
		}
	case bool:
		if ys, ok := y.(string); ok {
			return strings.EqualFold(ys, fmt.Sprint(xv))
		}
	}
	return reflect.DeepEqual(x, y)
}

// removeSubFrom removes sub from the selected elements (all when sel is nil)
// and drops an element left with nothing but "type"/"primary", which no
// longer describes a value (e.g. `remove emails[type eq "work"].value`).
func removeSubFrom(arr []any, sel map[int]bool, sub string) []any {
	drop := map[int]bool{}
	for i, e := range arr {
		if sel != nil && !sel[i] {
			continue
		}
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		k := keyFor(m, sub)
		if _, ok := m[k]; !ok {
			continue
		}
		delete(m, k)
		if onlyLabels(m) {
			drop[i] = true
		}
	}
	return removeWhere(arr, func(i int, _ any) bool { return drop[i] })
}

func onlyLabels(m map[string]any) bool {
	for k, v := range m {
		if v == nil {
			continue
		}
		if !strings.EqualFold(k, "type") && !strings.EqualFold(k, "primary") {
			return false
		}
	}
	return true
}

func removeWhere(arr []any, del func(int, any) bool) []any {
	out := make([]any, 0, len(arr))
	for i, e := range arr {
		if !del(i, e) {
			out = append(out, e)
		}
	}
	return out
}

// demote sets "primary" to false on the elements not in keep that have it
// true: RFC 7644 §3.5.2 — a PATCH that makes a value primary makes the others
// non-primary.
func demote(arr []any, keep map[int]bool) {
	for i, e := range arr {
		if keep[i] {
			continue
		}
		if m, ok := e.(map[string]any); ok {
			if k := keyFor(m, "primary"); isTrue(m[k]) {
				m[k] = false
			}
		}
	}
}

// mergeInto sets each member of obj in m under the sub-attribute's schema
// spelling (attr may be nil for an attribute the schema does not define).
func mergeInto(attr *schema.Attribute, m, obj map[string]any) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		if attr != nil {
			if sa := attr.Sub(k); sa != nil {
				name = sa.Name
			}
		}
		if obj[k] == nil {
			delete(m, keyFor(m, name))
		} else {
			m[keyFor(m, name)] = deepCopy(obj[k])
		}
	}
}

// canonical returns v as Canonicalize would store it for attribute t (nil
// when it would be dropped), or v unchanged if Canonicalize rejects it — the
// error then surfaces when the whole document is canonicalised.
func (a *applier) canonical(t *target, v any) any {
	if t.attr == nil {
		return v
	}
	mini := map[string]any{}
	if t.urn == "" {
		mini[t.name] = deepCopy(v)
	} else {
		mini[t.urn] = map[string]any{t.name: deepCopy(v)}
	}
	out, err := a.rt.Canonicalize(mini)
	if err != nil {
		return v
	}
	if t.urn == "" {
		return out[t.name]
	}
	m, _ := out[t.urn].(map[string]any)
	return m[t.name]
}

// members handles operations on a Group's "members" (docs/entra.md#member-removal-by-value-list,
// docs/entra.md#membership-writes-are-idempotent-and-never-lost): several members per add, "$ref": null ignored, a remove with a
// value list removes exactly those ids, a remove without value or filter
// removes all (RFC 7644 §3.5.2.2), adding an existing member or removing a
// non-member is a no-op.
func (a *applier) members(op string, t *target, v any, hasValue bool) error {
	plain := t.filter == nil && t.sub == ""
	if op == OpRemove && t.filter != nil && strings.EqualFold(t.sub, "value") {
		// `members[value eq "x"].value`: a member without its id is no member.
		c := *t
		c.sub = ""
		t = &c
		plain = false
	}
	if !a.opt.MembersSeparate {
		c := a.container(t, true)
		key := keyFor(c, t.name)
		switch {
		case plain && op == OpAdd:
			ms, elems, err := memberList(v)
			if err != nil {
				return err
			}
			arr, _ := c[key].([]any)
			seen := map[string]bool{}
			for _, e := range arr {
				if id, ok := memberID(e); ok {
					seen[id] = true
				}
			}
			for i, m := range ms {
				if !seen[m.Value] {
					seen[m.Value] = true
					arr = append(arr, elems[i])
				}
			}
			c[key] = arr
			return nil
		case plain && op == OpReplace:
			ms, elems, err := memberList(v)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			arr := []any{}
			for i, m := range ms {
				if !seen[m.Value] {
					seen[m.Value] = true
					arr = append(arr, elems[i])
				}
			}
			c[key] = arr
			return nil
		case plain && op == OpRemove && hasValue:
			ms, _, err := memberList(v)
			if err != nil {
				return err
			}
			del := map[string]bool{}
			for _, m := range ms {
				del[m.Value] = true
			}
			arr, _ := c[key].([]any)
			c[key] = removeWhere(arr, func(_ int, e any) bool {
				id, ok := memberID(e)
				return ok && del[id]
			})
			return nil
		case op == OpRemove:
			return a.remove(t, v, hasValue)
		default:
			return a.set(op, t, nil, v)
		}
	}
	switch {
	case plain && op == OpAdd:
		ms, _, err := memberList(v)
		if err != nil {
			return err
		}
		if ms = dedupe(ms); len(ms) > 0 {
			a.memberOps = append(a.memberOps, MemberOp{Kind: AddMembers, Members: ms})
		}
	case plain && op == OpReplace:
		ms, _, err := memberList(v)
		if err != nil {
			return err
		}
		a.memberOps = append(a.memberOps, MemberOp{Kind: ReplaceMembers, Members: dedupe(ms)})
	case plain && op == OpRemove && hasValue:
		ms, _, err := memberList(v)
		if err != nil {
			return err
		}
		ids := make([]Member, 0, len(ms))
		for _, m := range dedupe(ms) {
			ids = append(ids, Member{Value: m.Value})
		}
		if len(ids) > 0 {
			a.memberOps = append(a.memberOps, MemberOp{Kind: RemoveMembers, Members: ids})
		}
	case plain && op == OpRemove:
		a.memberOps = append(a.memberOps, MemberOp{Kind: RemoveAllMembers})
	case op == OpRemove && t.filter != nil && t.sub == "":
		if ids, ok := valueEqs(t.filter); ok {
			ms := make([]Member, len(ids))
			for i, id := range ids {
				ms[i] = Member{Value: id}
			}
			a.memberOps = append(a.memberOps, MemberOp{Kind: RemoveMembers, Members: ms})
		} else {
			a.memberOps = append(a.memberOps, MemberOp{Kind: RemoveMembersWhere, Filter: t.filter})
		}
	default:
		return scim.BadRequest(scim.InvalidPath,
			"members are stored apart from the group: only add, replace and remove of \"members\" and remove of \"members[filter]\" are supported")
	}
	return nil
}

// memberList validates a members value: a list (or a single object) of
// {"value": id, "type", "$ref", "display"}; a bare string is an id. It returns
// the members and the elements as they are to be stored.
func memberList(v any) ([]Member, []any, error) {
	var (
		ms    []Member
		elems []any
	)
	for i, it := range asList(v) {
		switch x := it.(type) {
		case nil:
			continue
		case string:
			if x == "" {
				return nil, nil, scim.BadRequest(scim.InvalidValue, "members[%d]: the member id is empty", i)
			}
			ms = append(ms, Member{Value: x})
			elems = append(elems, map[string]any{"value": x})
		case map[string]any:
			var m Member
			fields := []struct {
				name string
				dst  *string
			}{{"value", &m.Value}, {"type", &m.Type}, {"$ref", &m.Ref}, {"display", &m.Display}}
			for _, f := range fields {
				fv, ok := x[keyFor(x, f.name)]
				if !ok || fv == nil {
					continue
				}
				s, ok := fv.(string)
				if !ok {
					return nil, nil, scim.BadRequest(scim.InvalidValue, "members[%d].%s must be a string", i, f.name)
				}
				*f.dst = s
			}
			if m.Value == "" {
				return nil, nil, scim.BadRequest(scim.InvalidValue, "members[%d] has no \"value\" (the member id)", i)
			}
			ms = append(ms, m)
			elems = append(elems, deepCopy(x))
		default:
			return nil, nil, scim.BadRequest(scim.InvalidValue, "members[%d] must be an object with a \"value\"", i)
		}
	}
	return ms, elems, nil
}

func memberID(e any) (string, bool) {
	m, ok := e.(map[string]any)
	if !ok {
		return "", false
	}
	id, ok := m[keyFor(m, "value")].(string)
	return id, ok
}

func dedupe(ms []Member) []Member {
	seen := map[string]bool{}
	out := ms[:0:0]
	for _, m := range ms {
		if !seen[m.Value] {
			seen[m.Value] = true
			out = append(out, m)
		}
	}
	return out
}

// valueEqs returns the ids of a filter made of `value eq "id"` comparisons
// joined by "or" — Entra's flag-mode member removal (docs/entra.md#member-removal-by-value-list).
func valueEqs(e filter.Expr) ([]string, bool) {
	switch x := e.(type) {
	case *filter.Compare:
		if x == nil || x.Op != filter.Eq || x.Path.URN != "" || x.Path.Filter != nil || x.Path.Sub != "" ||
			!strings.EqualFold(x.Path.Attr, "value") || x.Value.Kind != filter.String {
			return nil, false
		}
		return []string{x.Value.Str}, true
	case *filter.Logical:
		if x == nil || x.Op != "or" {
			return nil, false
		}
		l, ok := valueEqs(x.Left)
		if !ok {
			return nil, false
		}
		r, ok := valueEqs(x.Right)
		if !ok {
			return nil, false
		}
		out := l
		for _, id := range r {
			dup := false
			for _, o := range out {
				dup = dup || o == id
			}
			if !dup {
				out = append(out, id)
			}
		}
		return out, true
	}
	return nil, false
}

// asList returns v as a list of elements: an array's elements, nothing for
// null, or v itself — a single value for a multi-valued attribute is a
// one-element array.
func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// asObject returns v as an object; a one-element array holding one is
// accepted too.
func asObject(v any) (map[string]any, bool) {
	if arr, ok := v.([]any); ok && len(arr) == 1 {
		v = arr[0]
	}
	m, ok := v.(map[string]any)
	return m, ok
}

func isArray(v any) bool {
	_, ok := v.([]any)
	return ok
}

// isEmpty reports whether v means "unassigned" (RFC 7643 §2.5): null or "".
func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && s == ""
}

// isTrue reports whether v is true or a "True"/"true" string (docs/entra.md#string-booleans).
func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(strings.TrimSpace(x), "true")
	}
	return false
}

// valueSet holds the JSON encodings of values, for linear-time duplicate
// checks (encoding/json sorts object keys, so equal values encode alike).
type valueSet map[string]bool

func newValueSet(arr []any) valueSet {
	s := valueSet{}
	for _, e := range arr {
		s.add(e)
	}
	return s
}

// add records v and reports whether it was new.
func (s valueSet) add(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return true
	}
	if s[string(b)] {
		return false
	}
	s[string(b)] = true
	return true
}

func deepCopy(v any) any { return schema.CopyValue(v) }
