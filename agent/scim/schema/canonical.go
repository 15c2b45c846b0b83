package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/agent/scim"
)

// CaseExact reports whether values of the attribute urn/attr[.sub] are compared
// case-exactly (RFC 7643 §2.2 caseExact). Unknown attributes compare
// case-insensitively, as do those that say caseExact=false — notably userName
// (Entra's validator checks this: jelhub/scimgateway#89).
func (rt *ResourceType) CaseExact(urn, attr, sub string) bool {
	_, a := rt.Lookup(urn, attr)
	if a == nil {
		return false
	}
	if sub != "" {
		if s := a.Sub(sub); s != nil {
			return s.CaseExact
		}
		return false
	}
	if a.Type == Complex {
		if v := a.Sub("value"); v != nil {
			return v.CaseExact
		}
	}
	return a.CaseExact
}

// Canonicalize returns a deep copy of a stored document in canonical form for
// rt. It is lenient: what an earlier version of Roster stored (attributes the
// schema does not define, values coerced from other types) is kept, so old
// documents stay readable and patchable. Incoming documents go through
// CanonicalizeInput instead.
//   - keys renamed to the case the schema defines (attribute names are
//     case-insensitive, RFC 7643 §2.1), extension objects keyed by their URN,
//     URN-qualified top-level keys ("urn:…:User:department") moved into the
//     extension object;
//   - values coerced to the attribute's type: booleans also from the strings
//     "True"/"False" in any case (docs/scim-leniencies.md);
//   - the enterprise manager accepted as a string id, an object or a
//     one-element array and stored as {"value": id} (docs/scim-leniencies.md);
//     a manager with an empty id is removed;
//   - null, "" (for known string attributes), empty arrays and empty objects
//     dropped: in SCIM they mean "unassigned" (RFC 7643 §2.5);
//   - read-only attributes (id, meta, groups…) dropped: clients cannot set them
//     (RFC 7643 §7 mutability; RFC 7644 §3.5.1 says PUT ignores them);
//   - "schemas" recomputed from what is present, so unknown or misspelt schema
//     URNs never leak into responses.
func (rt *ResourceType) Canonicalize(doc map[string]any) (map[string]any, error) {
	return rt.canonicalize(doc, false)
}

// CanonicalizeInput is Canonicalize for a document a client sent (a POST or
// PUT body, or the values of a PATCH). It refuses, with 400 invalidValue
// naming the attribute, what RFC 7643 §2.3 and the schema do not allow and no
// Microsoft document asks a server to accept (docs/scim-leniencies.md lists
// what is accepted):
//   - a value of the wrong JSON type (userName 12345, emails "x@y", a lone
//     object for a multi-valued attribute);
//   - an attribute or sub-attribute the schema does not define, unless its
//     value is null (Microsoft's documented create request carries
//     "department": null at the top level);
//   - control characters in single-line strings and strings longer than the
//     attribute's limit (docs/scim-limits.md).
//
// An attribute of an extension schema rt does not define is refused with
// invalidPath (UndeclaredExtension).
func (rt *ResourceType) CanonicalizeInput(doc map[string]any) (map[string]any, error) {
	return rt.canonicalize(doc, true)
}

func (rt *ResourceType) canonicalize(doc map[string]any, strict bool) (map[string]any, error) {
	out := map[string]any{}
	// Keys are visited in sorted order so that a document with keys differing
	// only in case ("userName" and "USERNAME") canonicalises the same way every
	// time; the canonical spelling sorts after its upper-case variants and wins.
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := doc[k]
		if strings.EqualFold(k, "schemas") {
			continue
		}
		urn, name := rt.SplitURN(k)
		switch {
		case urn != "" && name == "":
			// A schema object: {"urn:…:enterprise:2.0:User": {...}}, or the
			// core schema's own URN, whose attributes belong at the top level.
			if v == nil {
				continue
			}
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, scim.BadRequest(scim.InvalidValue, "%s must be an object", urn)
			}
			s, target := rt.SchemaFor(urn), urn
			if s == rt.Schema {
				target = ""
			}
			for _, ek := range sortedKeys(obj) {
				if err := setCanonical(out, s, target, ek, obj[ek], strict); err != nil {
					return nil, err
				}
			}
		case urn != "" && name != "" && rt.SchemaFor(urn) != nil:
			s := rt.SchemaFor(urn)
			target := s.ID
			if s == rt.Schema {
				target = ""
			}
			if err := setCanonical(out, s, target, name, v, strict); err != nil {
				return nil, err
			}
		case urn != "" && name != "":
			// "urn:…:MyExt:2.0:User:costCode": an attribute of an extension this
			// server does not define. Stored documents keep it as they were
			// written, nested under its schema URN (RFC 7643 §3.3); an object
			// value is taken to be a whole extension object instead.
			if v == nil {
				continue
			}
			if strict {
				return nil, UndeclaredExtension(k)
			}
			if _, isObj := v.(map[string]any); isObj {
				out[k] = deepCopy(v)
				continue
			}
			ext, _ := out[urn].(map[string]any)
			if ext == nil {
				ext = map[string]any{}
				out[urn] = ext
			}
			ext[name] = deepCopy(v)
		default:
			if err := setCanonical(out, rt.Schema, "", k, v, strict); err != nil {
				return nil, err
			}
		}
	}
	out["schemas"] = rt.schemasFor(out)
	return out, nil
}

// ExtensionCommand is the command that declares a custom extension
// attribute; errors about undeclared attributes name it.
const ExtensionCommand = "roster tenant extension add"

// UndeclaredExtension is the error for an attribute (or object) of a custom
// extension schema that the tenant has not declared: 400 invalidPath, naming
// the command that declares it.
func UndeclaredExtension(name string) *scim.Error {
	example := name
	if i := strings.LastIndexByte(name, ':'); i >= 0 && (strings.EqualFold(name[i+1:], "User") || strings.EqualFold(name[i+1:], "Group")) {
		example = name + ":<attribute>"
	}
	return scim.BadRequest(scim.InvalidPath,
		"%q is not a declared extension attribute of this tenant; declare it with `%s <tenant> %s --type string` (or boolean, integer, decimal, dateTime, reference)",
		name, ExtensionCommand, example)
}

// CheckSchemas checks the "schemas" member of a resource sent in a POST or
// PUT (RFC 7643 §3, RFC 7644 §3.3): a JSON array of strings that contains the
// resource type's core schema URN. Other URNs are tolerated: Microsoft's
// documented requests carry a misspelt enterprise URN and a Microsoft group
// URN (docs/scim-leniencies.md).
func (rt *ResourceType) CheckSchemas(doc map[string]any) error {
	var v any
	found := false
	for k, x := range doc {
		if strings.EqualFold(k, "schemas") {
			v, found = x, true
			break
		}
	}
	if !found || v == nil {
		return scim.BadRequest(scim.InvalidValue, "schemas is required: a %s must list %q (RFC 7643 §3)", rt.Name, rt.Schema.ID)
	}
	arr, ok := v.([]any)
	if ss, isStrings := v.([]string); isStrings { // a document built in Go rather than decoded
		arr, ok = make([]any, len(ss)), true
		for i, s := range ss {
			arr[i] = s
		}
	}
	if !ok {
		return scim.BadRequest(scim.InvalidValue, "schemas must be an array of schema URNs, got %s", short(v))
	}
	core := false
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return scim.BadRequest(scim.InvalidValue, "schemas must hold strings, got %s", short(e))
		}
		if strings.EqualFold(s, rt.Schema.ID) {
			core = true
		}
	}
	if !core {
		return scim.BadRequest(scim.InvalidValue, "schemas must include %q for a %s", rt.Schema.ID, rt.Name)
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// setCanonical coerces v for attribute name of schema s and stores it in out
// (or in out[urn] for an extension).
func setCanonical(out map[string]any, s *Schema, urn, name string, v any, strict bool) error {
	target := out
	if urn != "" {
		m, _ := out[urn].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		defer func() {
			if len(m) > 0 {
				out[urn] = m
			} else {
				delete(out, urn)
			}
		}()
		target = m
	}
	var a *Attribute
	if urn == "" {
		a = Common(name)
	}
	if a == nil && s != nil {
		a = s.Attr(name)
	}
	if a == nil {
		// Not in the schema: refused from clients, kept exactly as stored
		// otherwise; an explicit null means "unassigned" either way.
		if v == nil {
			delete(target, name)
			return nil
		}
		if strict {
			if urn != "" && urn != scim.SchemaEnterpriseUser {
				return UndeclaredExtension(urn + ":" + name)
			}
			return unknownAttr(s, name)
		}
		target[name] = deepCopy(v)
		return nil
	}
	delete(target, name)
	for k := range target { // drop a differently-cased duplicate key
		if strings.EqualFold(k, a.Name) {
			delete(target, k)
		}
	}
	if a.Mutability == ReadOnly {
		return nil
	}
	var (
		cv  any
		err error
	)
	if urn == scim.SchemaEnterpriseUser && a.Name == "manager" {
		cv, err = coerceManager(a, v, strict)
	} else {
		cv, err = coerce(a, v, a.Name, strict)
	}
	if err != nil {
		return err
	}
	if cv != nil {
		target[a.Name] = cv
	}
	return nil
}

// coerceManager accepts the three shapes Entra and its validator use for the
// manager reference and returns {"value": id[, "$ref": …]} or nil
// (docs/entra.md#manager-written-as-a-string-read-as-an-object: string id, object, or one-element array).
func coerceManager(a *Attribute, v any, strict bool) (any, error) {
	if arr, ok := v.([]any); ok {
		switch len(arr) {
		case 0:
			return nil, nil
		case 1:
			v = arr[0]
		default:
			return nil, scim.BadRequest(scim.InvalidValue, "manager takes one value, got %d", len(arr))
		}
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if x == "" {
			return nil, nil
		}
		if strict {
			if err := checkString(a.Sub("value"), x, "manager"); err != nil {
				return nil, err
			}
		}
		return map[string]any{"value": x}, nil
	case map[string]any:
		c, err := coerce(a, x, "manager", strict)
		if err != nil {
			return nil, err
		}
		m, _ := c.(map[string]any)
		if id, _ := m["value"].(string); id == "" {
			return nil, nil
		}
		return m, nil
	default:
		return nil, scim.BadRequest(scim.InvalidValue, "manager must be a user id, an object with \"value\", or a one-element array")
	}
}

// coerce converts v to attribute a's type. It returns nil for an unassigned
// value. strict refuses what CanonicalizeInput refuses.
func coerce(a *Attribute, v any, where string, strict bool) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.MultiValued {
		arr, ok := v.([]any)
		if !ok {
			if strict {
				return nil, scim.BadRequest(scim.InvalidValue, "%s is multi-valued: send an array, got %s", where, short(v))
			}
			arr = []any{v} // a lone value for a multi-valued attribute
		}
		out := make([]any, 0, len(arr))
		for i, e := range arr {
			c, err := coerceSingle(a, e, fmt.Sprintf("%s[%d]", where, i), strict)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if arr, ok := v.([]any); ok && a.Type == Complex && len(arr) == 1 && !strict {
		v = arr[0]
	}
	return coerceSingle(a, v, where, strict)
}

func coerceSingle(a *Attribute, v any, where string, strict bool) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case Complex:
		obj, ok := v.(map[string]any)
		if !ok {
			// A bare value for a multi-valued complex attribute means its
			// "value" sub-attribute (stored documents only).
			if !strict && a.MultiValued && a.Sub("value") != nil {
				if _, isArr := v.([]any); !isArr {
					obj = map[string]any{"value": v}
					ok = true
				}
			}
			if !ok {
				return nil, scim.BadRequest(scim.InvalidValue, "%s must be an object, got %s", where, short(v))
			}
		}
		out := map[string]any{}
		for k, sv := range obj {
			sa := a.Sub(k)
			if sa == nil {
				if sv == nil {
					continue
				}
				if strict {
					return nil, scim.BadRequest(scim.InvalidValue, "%s has no sub-attribute %q (RFC 7643 §4)", where, k)
				}
				out[k] = deepCopy(sv)
				continue
			}
			c, err := coerceSingle(sa, sv, where+"."+sa.Name, strict)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out[sa.Name] = c
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case Boolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			// Entra's legacy requests send "True"/"False" (docs/scim-leniencies.md).
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			case "":
				return nil, nil
			}
		}
		return nil, scim.BadRequest(scim.InvalidValue, "%s must be a boolean (true/false or \"True\"/\"False\"), got %s", where, short(v))
	case Integer, Decimal:
		switch x := v.(type) {
		case float64:
			if a.Type == Integer && x != math.Trunc(x) {
				return nil, scim.BadRequest(scim.InvalidValue, "%s must be an integer, got %s", where, short(v))
			}
			return x, nil
		case json.Number:
			f, err := x.Float64()
			if err == nil {
				return f, nil
			}
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil && !strict {
				return f, nil
			}
		}
		return nil, scim.BadRequest(scim.InvalidValue, "%s must be a number, got %s", where, short(v))
	default: // string, reference, dateTime, binary
		switch x := v.(type) {
		case string:
			if x == "" {
				return nil, nil
			}
			if strict {
				if err := checkString(a, x, where); err != nil {
					return nil, err
				}
			}
			return x, nil
		case float64:
			if !strict {
				return strconv.FormatFloat(x, 'f', -1, 64), nil
			}
		case json.Number:
			if !strict {
				return x.String(), nil
			}
		case bool:
			if !strict {
				return strconv.FormatBool(x), nil
			}
		}
		return nil, scim.BadRequest(scim.InvalidValue, "%s must be a %s, got %s", where, typeName(a.Type), short(v))
	}
}

func typeName(t Type) string {
	switch t {
	case DateTime:
		return "dateTime string (RFC 7643 §2.3.5)"
	case Reference:
		return "URI string"
	case Binary:
		return "base64 string"
	}
	return "string"
}

// unknownAttr is the error for an attribute a client sent that schema s
// does not define.
func unknownAttr(s *Schema, name string) *scim.Error {
	if s == nil {
		return scim.BadRequest(scim.InvalidValue, "unknown attribute %q", name)
	}
	return scim.BadRequest(scim.InvalidValue, "unknown attribute %q: the %s schema (%s) does not define it", name, s.Name, s.ID)
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// schemasFor lists the core schema, then each known extension present, then
// the URN keys of unknown extension objects kept as sent (sorted).
func (rt *ResourceType) schemasFor(doc map[string]any) []any {
	out := []any{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if _, ok := doc[e.Schema.ID]; ok {
			out = append(out, e.Schema.ID)
		}
	}
	var unknown []string
	for k, v := range doc {
		if _, isObj := v.(map[string]any); isObj && len(k) > 4 && strings.EqualFold(k[:4], "urn:") && rt.SchemaFor(k) == nil {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, u := range unknown {
		out = append(out, u)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	}
	return v
}

// CopyValue returns a deep copy of a decoded JSON value.
func CopyValue(v any) any { return deepCopy(v) }

// DeepCopy returns a deep copy of a decoded JSON document.
func DeepCopy(doc map[string]any) map[string]any {
	if doc == nil {
		return nil
	}
	return deepCopy(doc).(map[string]any)
}
