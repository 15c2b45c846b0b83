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

// Canonicalize returns a deep copy of doc in canonical form for rt:
//   - keys renamed to the case the schema defines (attribute names are
//     case-insensitive, RFC 7643 §2.1), extension objects keyed by their URN,
//     URN-qualified top-level keys ("urn:…:User:department") moved into the
//     extension object;
//   - values coerced to the attribute's type: booleans also from the strings
//     "True"/"False" in any case (Entra's default mapping sends strings,
//     docs/entra.md#string-booleans), numbers for string attributes rendered as strings;
//   - the enterprise manager accepted as a string id, an object or a
//     one-element array and stored as {"value": id} (docs/entra.md#manager-written-as-a-string-read-as-an-object);
//     a manager with an empty id is removed;
//   - null, "" (for known string attributes), empty arrays and empty objects
//     dropped: in SCIM they mean "unassigned" (RFC 7643 §2.5);
//   - read-only attributes (id, meta, groups…) dropped: clients cannot set them
//     (RFC 7643 §7 mutability), and Entra echoes meta in its POST bodies;
//   - "schemas" recomputed from what is present, so unknown or misspelt schema
//     URNs that Entra sends (docs/entra.md#unknown-schema-urns-and-custom-extensions) never leak into responses;
//   - attributes the schema does not define kept exactly as sent.
func (rt *ResourceType) Canonicalize(doc map[string]any) (map[string]any, error) {
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
				if err := setCanonical(out, s, target, ek, obj[ek]); err != nil {
					return nil, err
				}
			}
		case urn != "" && name != "" && rt.SchemaFor(urn) != nil:
			s := rt.SchemaFor(urn)
			target := s.ID
			if s == rt.Schema {
				target = ""
			}
			if err := setCanonical(out, s, target, name, v); err != nil {
				return nil, err
			}
		case urn != "" && name != "":
			// "urn:…:MyExt:2.0:User:costCode": an attribute of an extension this
			// server does not define — kept as sent, nested under its schema
			// URN (RFC 7643 §3.3) as PATCH stores it. An object value is taken
			// to be a whole extension object instead.
			if _, isObj := v.(map[string]any); isObj || v == nil {
				if v != nil {
					out[k] = deepCopy(v)
				}
				continue
			}
			ext, _ := out[urn].(map[string]any)
			if ext == nil {
				ext = map[string]any{}
				out[urn] = ext
			}
			ext[name] = deepCopy(v)
		default:
			if err := setCanonical(out, rt.Schema, "", k, v); err != nil {
				return nil, err
			}
		}
	}
	out["schemas"] = rt.schemasFor(out)
	return out, nil
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
func setCanonical(out map[string]any, s *Schema, urn, name string, v any) error {
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
		// Not in the schema: keep exactly as sent, minus an explicit null.
		if v == nil {
			delete(target, name)
			return nil
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
		cv, err = coerceManager(a, v)
	} else {
		cv, err = coerce(a, v, a.Name)
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
func coerceManager(a *Attribute, v any) (any, error) {
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
		return map[string]any{"value": x}, nil
	case map[string]any:
		c, err := coerce(a, x, "manager")
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

// coerce converts v to attribute a's type. It returns nil for an unassigned value.
func coerce(a *Attribute, v any, where string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.MultiValued {
		arr, ok := v.([]any)
		if !ok {
			arr = []any{v} // a lone value for a multi-valued attribute
		}
		out := make([]any, 0, len(arr))
		for i, e := range arr {
			c, err := coerceSingle(a, e, fmt.Sprintf("%s[%d]", where, i))
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
	if arr, ok := v.([]any); ok && a.Type == Complex && len(arr) == 1 {
		v = arr[0]
	}
	return coerceSingle(a, v, where)
}

func coerceSingle(a *Attribute, v any, where string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case Complex:
		obj, ok := v.(map[string]any)
		if !ok {
			// A bare value for a multi-valued complex attribute means its "value" sub-attribute.
			if a.MultiValued && a.Sub("value") != nil {
				if _, isArr := v.([]any); !isArr {
					obj = map[string]any{"value": v}
					ok = true
				}
			}
			if !ok {
				return nil, scim.BadRequest(scim.InvalidValue, "%s must be an object", where)
			}
		}
		out := map[string]any{}
		for k, sv := range obj {
			sa := a.Sub(k)
			if sa == nil {
				if sv != nil {
					out[k] = deepCopy(sv)
				}
				continue
			}
			c, err := coerceSingle(sa, sv, where+"."+sa.Name)
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
			if f, err := strconv.ParseFloat(x, 64); err == nil {
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
			return x, nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return nil, scim.BadRequest(scim.InvalidValue, "%s must be a string, got %s", where, short(v))
	}
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
