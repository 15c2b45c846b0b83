// Package filter parses SCIM filter expressions and attribute paths
// (RFC 7644 §3.4.2.2 and §3.5.2 "PATH" ABNF) into a small AST, and evaluates
// them against a SCIM document held as map[string]any.
//
// The AST is shared: the store compiles it to SQL through an allow-list, the
// PATCH engine uses Path for operation targets, and Match is the reference
// semantics the store falls back to when a filter cannot be indexed.
package filter

// Path is an attribute path: [URN ":"] Attr ["[" Filter "]"] ["." Sub].
// It is both the left-hand side of a comparison and the target of a PATCH
// operation (RFC 7644 §3.5.2). Names keep the case they were written in;
// attribute names are compared case-insensitively (RFC 7643 §2.1).
type Path struct {
	// URN is the schema URN that qualifies the attribute, without the trailing
	// ":" — e.g. "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" —
	// or "" when the path is not qualified.
	URN string
	// Attr is the attribute name, e.g. "emails", "userName", "name".
	Attr string
	// Filter is the value filter inside brackets (RFC 7644 valuePath), or nil.
	// Its paths are relative to one element of Attr ("type eq \"work\"").
	Filter Expr
	// Sub is the sub-attribute after ".", e.g. "value" or "givenName", or "".
	Sub string
}

// Expr is a node of a filter expression: *Compare, *Logical, *Not or *Has.
type Expr interface{ isExpr() }

// Operator is a comparison operator, always lower-case (RFC 7644 table 3).
type Operator string

// Comparison operators (RFC 7644 §3.4.2.2, table 3).
const (
	Eq Operator = "eq"
	Ne Operator = "ne"
	Co Operator = "co"
	Sw Operator = "sw"
	Ew Operator = "ew"
	Gt Operator = "gt"
	Ge Operator = "ge"
	Lt Operator = "lt"
	Le Operator = "le"
	Pr Operator = "pr"
)

// Kind says which field of a Value is set.
type Kind int

// Value kinds (RFC 7644 §3.4.2.2 compValue: false / null / true / number / string).
const (
	String Kind = iota
	Number
	Bool
	Null
)

// Value is a comparison literal. Date-times are Strings; comparison operators
// treat two strings that both parse as RFC 3339 date-times chronologically.
type Value struct {
	Kind Kind
	Str  string  // Kind == String
	Num  float64 // Kind == Number
	Bool bool    // Kind == Bool
	// Unquoted is true for a legacy bare word such as O in `userName sw O`
	// (Microsoft's older examples); it is still a String.
	Unquoted bool
}

// Compare is `Path Op Value`, or `Path pr` (Value is then unused).
type Compare struct {
	Path  Path
	Op    Operator
	Value Value
}

// Logical is `Left and Right` or `Left or Right`.
type Logical struct {
	Op    string // "and" or "or"
	Left  Expr
	Right Expr
}

// Not is `not (X)`.
type Not struct{ X Expr }

// Has is a standalone value path used as a filter, e.g. `members[value eq "x"]`
// or `emails[type eq "work" and value co "@example.com"]`: true when at least
// one element of Path.Attr matches Path.Filter. Path.Sub is always "".
type Has struct{ Path Path }

func (*Compare) isExpr() {}
func (*Logical) isExpr() {}
func (*Not) isExpr()     {}
func (*Has) isExpr()     {}
