package filter

import (
	"math"
	"strconv"
	"strings"
)

// String renders p canonically as a PATCH path / attribute path
// (RFC 7644 §3.5.2): [URN ":"] Attr ["[" filter "]"] ["." Sub]. ParsePath and
// Parse read the result back to an equal Path.
func (p Path) String() string {
	var b strings.Builder
	writePath(&b, p)
	return b.String()
}

// Equal reports whether p and q are structurally equal: the same URN, Attr and
// Sub, byte for byte, and Equal filters (Value.Unquoted is ignored).
func (p Path) Equal(q Path) bool {
	return p.URN == q.URN && p.Attr == q.Attr && p.Sub == q.Sub && Equal(p.Filter, q.Filter)
}

// Format renders e canonically in the RFC 7644 §3.4.2.2 filter syntax:
// keywords and operators in lower case, single spaces, strings quoted with JSON
// escaping (legacy unquoted values are quoted too), numbers formatted with
// strconv.FormatFloat(f, 'g', -1, 64), and parentheses only where precedence
// (not > and > or, both left-associative) requires them. Parse reads the
// result back to an Equal expression. A nil e renders as "".
//
// (It is not called String because the Kind constant String already has that
// name in this package; each node type also has a String method.)
//
// The rendering can be longer than the input it was parsed from (escapes,
// quotes), so a filter close to MaxLength may not parse again.
func Format(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e)
	return b.String()
}

// String renders c canonically; see Format.
func (c *Compare) String() string { return Format(c) }

// String renders l canonically; see Format.
func (l *Logical) String() string { return Format(l) }

// String renders n canonically; see Format.
func (n *Not) String() string { return Format(n) }

// String renders h canonically; see Format.
func (h *Has) String() string { return Format(h) }

func writePath(b *strings.Builder, p Path) {
	if p.URN != "" {
		b.WriteString(p.URN)
		b.WriteByte(':')
	}
	b.WriteString(p.Attr)
	if !isNil(p.Filter) {
		b.WriteByte('[')
		writeExpr(b, p.Filter)
		b.WriteByte(']')
	}
	if p.Sub != "" {
		b.WriteByte('.')
		b.WriteString(p.Sub)
	}
}

func writeExpr(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case *Compare:
		if e == nil {
			return
		}
		writePath(b, e.Path)
		b.WriteByte(' ')
		b.WriteString(string(e.Op))
		if e.Op != Pr {
			b.WriteByte(' ')
			writeValue(b, e.Value)
		}
	case *Logical:
		if e == nil {
			return
		}
		// "and" binds tighter than "or", and both associate to the left, so a
		// child needs parentheses when it binds looser than its parent, or
		// when it is the right operand with the same operator.
		writeOperand(b, e.Left, e.Op == "and" && isLogical(e.Left, "or"))
		b.WriteByte(' ')
		b.WriteString(e.Op)
		b.WriteByte(' ')
		writeOperand(b, e.Right, isLogical(e.Right, "or") || isLogical(e.Right, e.Op))
	case *Not:
		if e == nil {
			return
		}
		b.WriteString("not (")
		writeExpr(b, e.X)
		b.WriteByte(')')
	case *Has:
		if e == nil {
			return
		}
		writePath(b, e.Path)
	}
}

func writeOperand(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	writeExpr(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func isLogical(e Expr, op string) bool {
	l, ok := e.(*Logical)
	return ok && l != nil && l.Op == op
}

func writeValue(b *strings.Builder, v Value) {
	switch v.Kind {
	case Number:
		b.WriteString(strconv.FormatFloat(v.Num, 'g', -1, 64))
	case Bool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case Null:
		b.WriteString("null")
	default:
		writeQuoted(b, v.Str)
	}
}

// writeQuoted writes s as a JSON string (RFC 8259 §7). Only the quote, the
// backslash and control characters are escaped; other bytes, including
// invalid UTF-8, are written unchanged so that Parse gives back exactly s.
func writeQuoted(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// Equal reports whether a and b are structurally equal expressions: the same
// node types, logical operators, comparison operators, paths (names compared
// byte for byte) and values. Value.Unquoted is ignored, as are the Value of a
// "pr" comparison and the Value fields that its Kind does not use. Two nil
// expressions are equal.
func Equal(a, b Expr) bool {
	if isNil(a) || isNil(b) {
		return isNil(a) && isNil(b)
	}
	switch a := a.(type) {
	case *Compare:
		b, ok := b.(*Compare)
		if !ok || a.Op != b.Op || !a.Path.Equal(b.Path) {
			return false
		}
		return a.Op == Pr || equalValue(a.Value, b.Value)
	case *Logical:
		b, ok := b.(*Logical)
		return ok && a.Op == b.Op && Equal(a.Left, b.Left) && Equal(a.Right, b.Right)
	case *Not:
		b, ok := b.(*Not)
		return ok && Equal(a.X, b.X)
	case *Has:
		b, ok := b.(*Has)
		return ok && a.Path.Equal(b.Path)
	}
	return false
}

func equalValue(a, b Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case String:
		return a.Str == b.Str
	case Number:
		return a.Num == b.Num || math.IsNaN(a.Num) && math.IsNaN(b.Num)
	case Bool:
		return a.Bool == b.Bool
	case Null:
		return true
	}
	return a.Str == b.Str && a.Bool == b.Bool &&
		(a.Num == b.Num || math.IsNaN(a.Num) && math.IsNaN(b.Num))
}

// isNil reports whether e is nil or a typed nil node.
func isNil(e Expr) bool {
	switch e := e.(type) {
	case nil:
		return true
	case *Compare:
		return e == nil
	case *Logical:
		return e == nil
	case *Not:
		return e == nil
	case *Has:
		return e == nil
	}
	return false
}
