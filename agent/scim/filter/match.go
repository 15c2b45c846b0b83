package filter

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Options tunes Match.
type Options struct {
	// CoreURN is the core schema URN of the resource type being matched, e.g.
	// scim.SchemaUser. A path qualified with it (RFC 7644 §3.10) is looked up
	// among the top-level attributes like an unqualified one; any other URN
	// names an extension object held under that URN as a top-level key.
	CoreURN string
	// CaseExact reports whether the attribute urn:attr.sub compares strings
	// case-exactly (RFC 7643 §2.2 "caseExact"; §3.4.2.2 of RFC 7644 says
	// filters honour it). urn is the path's URN as written ("" when
	// unqualified). For a comparison on a complex attribute without a
	// sub-attribute, which compares the "value" sub-attribute, sub is "value".
	// Inside a value filter (`emails[type eq "work"]`) it is called with the
	// outer URN and attribute and the inner attribute as sub
	// ("", "emails", "type"). When nil, every string compares case-insensitively.
	CaseExact func(urn, attr, sub string) bool
}

// Match reports whether doc, a SCIM resource decoded by encoding/json into
// map[string]any (numbers float64, arrays []any, objects map[string]any),
// satisfies e. It is the reference semantics of RFC 7644 §3.4.2.2:
//
//   - Attribute names match document keys case-insensitively (RFC 7643 §2.1).
//   - A comparison on a multi-valued attribute is true when any element
//     satisfies it; with a value filter (`emails[type eq "work"].value eq "x"`)
//     only the elements that match the filter count.
//   - A comparison on a complex attribute without a sub-attribute
//     (`members eq "u1"`, `manager eq "m1"`) compares its "value".
//   - Strings compare case-insensitively unless opt.CaseExact says otherwise;
//     two strings that are both RFC 3339 date-times compare chronologically
//     (eq, gt, ge, lt, le); numbers compare numerically, also against a
//     document string that parses as a number; a Bool literal also matches the
//     strings "True" and "False" in any case, which Entra sends for booleans.
//   - pr is true for a value that is not null, "", [] or {} (or an object or
//     array holding only such values); `eq null` is its negation.
//   - ne is the negation of eq, so it is true when the attribute is absent.
//
// A nil e matches nothing. Match never panics on any document shape; values
// that cannot be compared simply do not match.
func Match(e Expr, doc map[string]any, opt *Options) bool {
	m := matcher{}
	if opt != nil {
		m.core = opt.CoreURN
		m.caseExact = opt.CaseExact
	}
	return m.expr(e, scope{node: doc})
}

type matcher struct {
	core      string
	caseExact func(urn, attr, sub string) bool
}

// scope is what a path is evaluated against: the document, or one element of
// a multi-valued attribute inside a value filter.
type scope struct {
	node      map[string]any
	inner     bool
	outerURN  string
	outerAttr string
}

func (m *matcher) expr(e Expr, sc scope) bool {
	switch e := e.(type) {
	case *Compare:
		if e == nil {
			return false
		}
		return m.compare(e, sc)
	case *Logical:
		if e == nil {
			return false
		}
		switch e.Op {
		case "and":
			return m.expr(e.Left, sc) && m.expr(e.Right, sc)
		case "or":
			return m.expr(e.Left, sc) || m.expr(e.Right, sc)
		}
		return false
	case *Not:
		if e == nil {
			return false
		}
		return !m.expr(e.X, sc)
	case *Has:
		if e == nil {
			return false
		}
		// RFC 7644 §3.4.2.2 valuePath: some element matches the filter.
		targets := m.targets(e.Path, sc)
		if !isNil(e.Path.Filter) {
			return len(targets) > 0
		}
		for _, el := range targets {
			if present(el, 0) {
				return true
			}
		}
		return false
	}
	return false
}

// lookup finds key in obj case-insensitively (RFC 7643 §2.1). An exact match
// wins; otherwise the smallest case-insensitively equal key, so the answer is
// deterministic even for a document with keys differing only in case.
func lookup(obj map[string]any, key string) (any, bool) {
	if obj == nil {
		return nil, false
	}
	if v, ok := obj[key]; ok {
		return v, true
	}
	best, found := "", false
	for k := range obj {
		if strings.EqualFold(k, key) && (!found || k < best) {
			best, found = k, true
		}
	}
	if !found {
		return nil, false
	}
	return obj[best], true
}

// container returns the object that holds p.Attr in sc: the node itself for an
// unqualified or core-qualified path, else the extension object keyed by the
// URN (RFC 7643 §3.3: extension attributes live under their schema URN).
func (m *matcher) container(p Path, sc scope) map[string]any {
	if p.URN == "" || strings.EqualFold(p.URN, m.core) ||
		sc.inner && strings.EqualFold(p.URN, sc.outerURN) {
		return sc.node
	}
	v, _ := lookup(sc.node, p.URN)
	obj, _ := v.(map[string]any)
	return obj
}

// elements returns v as a list: the elements of an array, or v itself.
func elements(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	case []map[string]any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out
	}
	return []any{v}
}

// asObject returns el as an object; a simple value is treated as {"value": el},
// so `emails[value eq "x"]` also works on a multi-valued simple attribute.
func asObject(el any) (map[string]any, bool) {
	switch el := el.(type) {
	case map[string]any:
		return el, true
	case nil, []any, []map[string]any, []string:
		return nil, false
	}
	return map[string]any{"value": el}, true
}

// targets returns the elements of p.Attr in sc that pass p.Filter. A single
// (non-array) value counts as one element.
func (m *matcher) targets(p Path, sc scope) []any {
	v, _ := lookup(m.container(p, sc), p.Attr)
	els := elements(v)
	if isNil(p.Filter) {
		return els
	}
	var out []any
	for _, el := range els {
		obj, ok := asObject(el)
		if !ok {
			continue
		}
		inner := scope{node: obj, inner: true, outerURN: p.URN, outerAttr: p.Attr}
		if m.expr(p.Filter, inner) {
			out = append(out, el)
		}
	}
	return out
}

// leaf is one value to compare and whether it compares case-exactly.
type leaf struct {
	v     any
	exact bool
}

// leaves returns the values a comparison on p looks at: the sub-attribute of
// each target element, or, without a sub-attribute, the element itself when
// it is simple and its "value" when it is complex.
func (m *matcher) leaves(p Path, sc scope) []leaf {
	var out []leaf
	for _, el := range m.targets(p, sc) {
		var v any
		sub := p.Sub
		obj, isObj := el.(map[string]any)
		switch {
		case sub != "" && isObj:
			v, _ = lookup(obj, sub)
		case sub != "":
			// A simple element is its own "value".
			if !strings.EqualFold(sub, "value") {
				continue
			}
			v = el
		case isObj:
			sub = "value"
			v, _ = lookup(obj, sub)
		default:
			// A simple element is compared as it is; an array nested in an
			// array is not a SCIM shape and is not flattened.
			out = append(out, leaf{el, m.exact(p, sc, sub)})
			continue
		}
		// A sub-attribute may itself be multi-valued; any of its values counts.
		exact := m.exact(p, sc, sub)
		for _, x := range elements(v) {
			out = append(out, leaf{x, exact})
		}
	}
	return out
}

func (m *matcher) exact(p Path, sc scope, sub string) bool {
	if m.caseExact == nil {
		return false
	}
	if sc.inner {
		return m.caseExact(sc.outerURN, sc.outerAttr, p.Attr)
	}
	return m.caseExact(p.URN, p.Attr, sub)
}

// presentPath is "pr" (RFC 7644 §3.4.2.2): the attribute has a non-empty value.
func (m *matcher) presentPath(p Path, sc scope) bool {
	if p.Sub == "" {
		for _, el := range m.targets(p, sc) {
			if present(el, 0) {
				return true
			}
		}
		return false
	}
	for _, l := range m.leaves(p, sc) {
		if present(l.v, 0) {
			return true
		}
	}
	return false
}

// maxPresentDepth bounds the walk into nested objects, so a hand-built
// document that contains itself cannot loop.
const maxPresentDepth = 32

// present reports whether v is a value: not null, not "", not an empty array
// or object, and not an array or object of such (RFC 7643 §2.5: unassigned,
// null and empty are the same state).
func present(v any, depth int) bool {
	if depth > maxPresentDepth {
		return true
	}
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case map[string]any:
		for _, x := range v {
			if present(x, depth+1) {
				return true
			}
		}
		return false
	case []any, []map[string]any, []string:
		for _, x := range elements(v) {
			if present(x, depth+1) {
				return true
			}
		}
		return false
	}
	return true
}

func (m *matcher) compare(c *Compare, sc scope) bool {
	switch {
	case c.Op == Pr:
		return m.presentPath(c.Path, sc)
	case c.Value.Kind == Null:
		// RFC 7644 §3.4.2.2 / RFC 7643 §2.5: null means unassigned.
		switch c.Op {
		case Eq:
			return !m.presentPath(c.Path, sc)
		case Ne:
			return m.presentPath(c.Path, sc)
		}
		return false
	case c.Op == Ne:
		return !m.any(c.Path, sc, Eq, c.Value)
	}
	return m.any(c.Path, sc, c.Op, c.Value)
}

// any reports whether some leaf of p satisfies `leaf op lit`.
func (m *matcher) any(p Path, sc scope, op Operator, lit Value) bool {
	for _, l := range m.leaves(p, sc) {
		if compareLeaf(l.v, op, lit, l.exact) {
			return true
		}
	}
	return false
}

func compareLeaf(v any, op Operator, lit Value, exact bool) bool {
	switch op {
	case Eq:
		return equalLeaf(v, lit, exact)
	case Co, Sw, Ew:
		return substring(v, op, lit, exact)
	case Gt, Ge, Lt, Le:
		c, ok := order(v, lit, exact)
		if !ok {
			return false
		}
		switch op {
		case Gt:
			return c > 0
		case Ge:
			return c >= 0
		case Lt:
			return c < 0
		default:
			return c <= 0
		}
	}
	return false
}

func equalLeaf(v any, lit Value, exact bool) bool {
	switch lit.Kind {
	case String:
		switch x := v.(type) {
		case string:
			if c, ok := compareTimes(x, lit.Str); ok {
				return c == 0
			}
			return fold(x, exact) == fold(lit.Str, exact)
		case bool:
			// A string literal against a JSON boolean: `active eq "true"`.
			b, ok := parseBool(lit.Str)
			return ok && b == x
		}
		if f, ok := toFloat(v); ok {
			g, ok := parseNumber(lit.Str)
			return ok && f == g
		}
	case Number:
		if f, ok := leafNumber(v); ok {
			return f == lit.Num
		}
	case Bool:
		switch x := v.(type) {
		case bool:
			return x == lit.Bool
		case string:
			// Entra sends booleans as the strings "True"/"False".
			b, ok := parseBool(x)
			return ok && b == lit.Bool
		}
	case Null:
		return v == nil
	}
	return false
}

// order compares v with lit for gt/ge/lt/le: date-times chronologically,
// numbers numerically, strings lexically (folded unless exact).
func order(v any, lit Value, exact bool) (int, bool) {
	switch lit.Kind {
	case String:
		if x, ok := v.(string); ok {
			if c, ok := compareTimes(x, lit.Str); ok {
				return c, true
			}
			return strings.Compare(fold(x, exact), fold(lit.Str, exact)), true
		}
		if f, ok := toFloat(v); ok {
			if g, ok := parseNumber(lit.Str); ok {
				return compareFloat(f, g)
			}
		}
	case Number:
		if f, ok := leafNumber(v); ok {
			return compareFloat(f, lit.Num)
		}
	}
	return 0, false
}

func compareFloat(a, b float64) (int, bool) {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return 0, false
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	}
	return 0, true
}

// substring implements co, sw and ew on the string forms of v and lit.
func substring(v any, op Operator, lit Value, exact bool) bool {
	var s, t string
	switch x := v.(type) {
	case string:
		s = x
	default:
		f, ok := toFloat(v)
		if !ok {
			return false
		}
		s = strconv.FormatFloat(f, 'g', -1, 64)
	}
	switch lit.Kind {
	case String:
		t = lit.Str
	case Number:
		t = strconv.FormatFloat(lit.Num, 'g', -1, 64)
	default:
		return false
	}
	s, t = fold(s, exact), fold(t, exact)
	switch op {
	case Co:
		return strings.Contains(s, t)
	case Sw:
		return strings.HasPrefix(s, t)
	default:
		return strings.HasSuffix(s, t)
	}
}

// fold maps s to a case-insensitive comparison key unless exact. Upper then
// lower case catches the characters whose lower case alone does not fold
// (e.g. "ſ" and "s").
func fold(s string, exact bool) string {
	if exact {
		return s
	}
	return Fold(s)
}

// Fold is the case folding used for case-insensitive comparisons
// (caseExact=false, RFC 7643 §2.2): lower(upper(s)), so that letters with
// several lower-case forms compare equal — Greek final ς and σ, Turkish ı and
// i, ſ and s. The store folds indexed columns with the same function so that
// SQL and Match agree.
func Fold(s string) string {
	return strings.ToLower(strings.ToUpper(s))
}

func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// parseNumber parses a number held in a string, e.g. an employeeNumber stored
// as "1234" compared with `employeeNumber gt 1000`.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if !isJSONNumber(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return 0, false
	}
	return f, true
}

// leafNumber is v as a number, parsing a string if need be.
func leafNumber(v any) (float64, bool) {
	if s, ok := v.(string); ok {
		return parseNumber(s)
	}
	return toFloat(v)
}

// toFloat converts the numeric types a document may hold: float64 from
// encoding/json, json.Number from a decoder with UseNumber, and Go integers
// from hand-built documents.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		return parseNumber(string(x))
	}
	return 0, false
}

// compareTimes compares two strings chronologically when both are RFC 3339
// date-times (RFC 7643 §2.3.5 dateTime; RFC 7644 §3.4.2.2 gt/ge/lt/le "If the
// attribute type is a DateTime, the comparison is done chronologically").
func compareTimes(a, b string) (int, bool) {
	ta, ok := parseTime(a)
	if !ok {
		return 0, false
	}
	tb, ok := parseTime(b)
	if !ok {
		return 0, false
	}
	return ta.Compare(tb), true
}

func parseTime(s string) (time.Time, bool) {
	// Cheap shape check first: "YYYY-MM-DDT…".
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
