package schema

import (
	"strings"
)

// Projection is the parsed form of the attributes / excludedAttributes query
// parameters (RFC 7644 §3.4.2.5, §3.9).
type Projection struct {
	include map[string]bool // lower-cased "attr" and "attr.sub" / "urn:…:attr"
	exclude map[string]bool
}

// NewProjection parses comma-separated attribute lists; names may be
// URN-qualified and are case-insensitive. An entry with a value filter
// (`emails[type eq "work"]`, as Microsoft's test collection sends) means the
// attribute it filters: the filter is not applied to the response. When both are given, attributes wins
// (RFC 7644 §3.9 says they are mutually exclusive; Roster is lenient).
func NewProjection(rt *ResourceType, attributes, excluded string) Projection {
	return Projection{include: nameSet(rt, attributes), exclude: nameSet(rt, excluded)}
}

func nameSet(rt *ResourceType, list string) map[string]bool {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	set := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if i := strings.IndexByte(n, '['); i >= 0 {
			if j := strings.LastIndexByte(n, ']'); j > i {
				n = n[:i] + n[j+1:]
			}
		}
		if n == "" {
			continue
		}
		urn, name := rt.SplitURN(n)
		if urn != "" && strings.EqualFold(urn, rt.Schema.ID) {
			urn = ""
		}
		key := strings.ToLower(name)
		if urn != "" {
			key = strings.ToLower(urn)
			if name != "" {
				key += ":" + strings.ToLower(name)
			}
		}
		set[key] = true
	}
	return set
}

// IsZero reports whether the projection keeps everything (no attributes or
// excludedAttributes given).
func (p Projection) IsZero() bool { return p.include == nil && p.exclude == nil }

// Wants reports whether top-level attribute name (in the core schema) is
// part of the response — so callers can skip loading members or groups.
func (p Projection) Wants(name string) bool {
	n := strings.ToLower(name)
	if p.include != nil {
		if p.include[n] {
			return true
		}
		for k := range p.include {
			if strings.HasPrefix(k, n+".") {
				return true
			}
		}
		return false
	}
	return !p.exclude[n]
}

// Apply returns doc reduced by the projection. Attributes returned "always"
// (id, and schemas) are never removed (RFC 7643 §7 returned).
func (p Projection) Apply(rt *ResourceType, doc map[string]any) map[string]any {
	if p.include == nil && p.exclude == nil {
		return doc
	}
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		lk := strings.ToLower(k)
		if lk == "schemas" || lk == "id" {
			out[k] = v
			continue
		}
		if s := rt.SchemaFor(k); s != nil && s != rt.Schema {
			if ext := p.applyExt(lk, v); ext != nil {
				out[k] = ext
			}
			continue
		}
		if _, a := rt.Lookup("", k); a != nil && a.Returned == Always {
			out[k] = v
			continue
		}
		if p.include != nil {
			if p.include[lk] {
				out[k] = v
			} else if sub := p.subs(p.include, lk); len(sub) > 0 {
				if m, ok := v.(map[string]any); ok {
					out[k] = pick(m, sub, true)
				} else if arr, ok := v.([]any); ok {
					out[k] = pickAll(arr, sub, true)
				}
			}
			continue
		}
		if p.exclude[lk] {
			continue
		}
		if sub := p.subs(p.exclude, lk); len(sub) > 0 {
			if m, ok := v.(map[string]any); ok {
				out[k] = pick(m, sub, false)
				continue
			} else if arr, ok := v.([]any); ok {
				out[k] = pickAll(arr, sub, false)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func (p Projection) applyExt(urnLC string, v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if p.include != nil {
		if p.include[urnLC] {
			return m
		}
		out := map[string]any{}
		for k, e := range m {
			if p.include[urnLC+":"+strings.ToLower(k)] {
				out[k] = e
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	if p.exclude[urnLC] {
		return nil
	}
	out := map[string]any{}
	for k, e := range m {
		if !p.exclude[urnLC+":"+strings.ToLower(k)] {
			out[k] = e
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// subs returns the sub-attribute names listed for attr ("name.givenName" → givenName).
func (p Projection) subs(set map[string]bool, attr string) map[string]bool {
	var out map[string]bool
	for k := range set {
		if rest, ok := strings.CutPrefix(k, attr+"."); ok {
			if out == nil {
				out = map[string]bool{}
			}
			out[rest] = true
		}
	}
	return out
}

func pick(m map[string]any, subs map[string]bool, keep bool) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if subs[strings.ToLower(k)] == keep {
			out[k] = v
		}
	}
	return out
}

func pickAll(arr []any, subs map[string]bool, keep bool) []any {
	out := make([]any, 0, len(arr))
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, pick(m, subs, keep))
		} else {
			out = append(out, e)
		}
	}
	return out
}
