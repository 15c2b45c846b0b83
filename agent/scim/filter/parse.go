package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rosterhq/roster/agent/scim"
)

// MaxLength is the longest filter or path, in bytes, that Parse and ParsePath
// accept. RFC 7644 §3.4.2.2 sets no limit; the cap keeps hostile query strings
// from costing unbounded parse time and memory.
const MaxLength = 10 << 10

// MaxDepth is the deepest nesting of "(", "not (" and "[" that Parse and
// ParsePath accept, so that hostile input cannot exhaust the stack of the
// recursive-descent parser or of the code that walks the AST.
const MaxDepth = 100

// Parse parses a SCIM filter (RFC 7644 §3.4.2.2):
//
//	FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//	valuePath = attrPath "[" valFilter "]"
//	attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//	logExp    = FILTER SP ("and" / "or") SP FILTER
//	attrPath  = [URI ":"] ATTRNAME *1subAttr
//
// plus grouping parentheses, with precedence not > and > or; "and" and "or"
// associate to the left. Keywords and operators are case-insensitive.
// A value path may also stand on the left of a comparison
// (`emails[type eq "work"].value eq "a@b.com"`), giving a *Compare whose Path
// has both Filter and Sub; on its own it gives a *Has.
//
// Leniencies: any run of whitespace separates tokens (the RFC says one SP), and
// a legacy unquoted value such as O in `userName sw O` (Microsoft's older Entra
// examples) is read as a String with Unquoted set. Raw control characters inside
// quoted strings are accepted.
//
// Errors are *scim.Error with status 400 and scimType invalidFilter; the detail
// names the 1-based character position and what was expected there.
func Parse(s string) (Expr, error) {
	p := &parser{s: s, scimType: scim.InvalidFilter, what: "filter"}
	if len(s) > MaxLength {
		return nil, p.tooLong()
	}
	p.skipWS()
	if p.eof() {
		return nil, p.errAt(p.pos, "the filter is empty")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if !p.eof() {
		return nil, p.trailing()
	}
	return e, nil
}

// ParsePath parses a PATCH operation path (RFC 7644 §3.5.2):
//
//	PATH = attrPath / valuePath [subAttr]
//
// e.g. `members`, `name.givenName`, `emails[type eq "work"].value`,
// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
// Surrounding whitespace is ignored. A bare schema URN is not special: callers
// that accept one (RFC 7644 §3.5.2.1 lets an "add" target an extension object)
// must recognise it before calling ParsePath, which would read its last
// segment as the attribute name.
//
// Errors, including errors inside the value filter, are *scim.Error with
// status 400 and scimType invalidPath.
func ParsePath(s string) (Path, error) {
	p := &parser{s: s, scimType: scim.InvalidPath, what: "path"}
	if len(s) > MaxLength {
		return Path{}, p.tooLong()
	}
	p.skipWS()
	if p.eof() {
		return Path{}, p.errAt(p.pos, "the path is empty")
	}
	path, err := p.parsePath()
	if err != nil {
		return Path{}, err
	}
	p.skipWS()
	if !p.eof() {
		return Path{}, p.errAt(p.pos, "expected end of path, got %s", p.got(p.pos))
	}
	return path, nil
}

// parser is a recursive-descent parser over the input bytes. Every recursion
// (parentheses, "not (", brackets) goes through enter/leave, which enforce
// MaxDepth.
type parser struct {
	s         string
	pos       int
	depth     int
	inBracket bool
	scimType  string // scim.InvalidFilter or scim.InvalidPath
	what      string // "filter" or "path", for messages
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

// isSpace reports whether c separates tokens. RFC 7644 §3.4.2.2 uses a single
// SP; clients in the wild send runs of spaces, tabs and newlines.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// isDelim reports whether c ends a word (keyword, operator or bare value).
func isDelim(c byte) bool {
	return isSpace(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '"'
}

func (p *parser) skipWS() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// wordAt returns the run of non-delimiter bytes starting at i.
func (p *parser) wordAt(i int) string {
	j := i
	for j < len(p.s) && !isDelim(p.s[j]) {
		j++
	}
	return p.s[i:j]
}

// keyword consumes the word at p.pos if it equals kw case-insensitively.
func (p *parser) keyword(kw string) bool {
	w := p.wordAt(p.pos)
	if strings.EqualFold(w, kw) {
		p.pos += len(w)
		return true
	}
	return false
}

func (p *parser) errAt(at int, format string, args ...any) *scim.Error {
	if at > len(p.s) {
		at = len(p.s)
	}
	col := utf8.RuneCountInString(p.s[:at]) + 1
	return scim.BadRequest(p.scimType, "invalid %s at position %d: %s", p.what, col, fmt.Sprintf(format, args...))
}

func (p *parser) tooLong() *scim.Error {
	return scim.BadRequest(p.scimType, "invalid %s: it is %d bytes long; the limit is %d", p.what, len(p.s), MaxLength)
}

// got describes the token at i for an error message: `"foo"` or `end of filter`.
func (p *parser) got(i int) string {
	if i >= len(p.s) {
		return "end of " + p.what
	}
	var tok string
	switch c := p.s[i]; {
	case c == '"':
		j := strings.IndexByte(p.s[i+1:], '"')
		if j < 0 {
			tok = p.s[i:]
		} else {
			tok = p.s[i : i+j+2]
		}
	case isDelim(c):
		tok = p.s[i : i+1]
	default:
		tok = p.wordAt(i)
	}
	const maxTok = 32
	if len(tok) > maxTok {
		cut := maxTok
		for cut > 0 && !utf8.RuneStart(tok[cut]) {
			cut--
		}
		tok = tok[:cut] + "…"
	}
	return strconv.Quote(tok)
}

// trailing reports unconsumed input after a complete filter.
func (p *parser) trailing() *scim.Error {
	switch p.s[p.pos] {
	case ')':
		return p.errAt(p.pos, "unbalanced parentheses: %q without a matching %q", ")", "(")
	case ']':
		return p.errAt(p.pos, "unbalanced brackets: %q without a matching %q", "]", "[")
	}
	return p.errAt(p.pos, "expected \"and\", \"or\" or end of filter, got %s", p.got(p.pos))
}

func (p *parser) enter(at int) error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errAt(at, "nesting is deeper than %d levels", MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseOr parses `and-expr *("or" and-expr)`; "or" binds loosest
// (RFC 7644 §3.4.2.2, "Logical operators" precedence).
func (p *parser) parseOr() (Expr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		save := p.pos
		p.skipWS()
		if !p.keyword("or") {
			p.pos = save
			return left, nil
		}
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &Logical{Op: "or", Left: left, Right: right}
	}
}

// parseAnd parses `unary *("and" unary)`.
func (p *parser) parseAnd() (Expr, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		save := p.pos
		p.skipWS()
		if !p.keyword("and") {
			p.pos = save
			return left, nil
		}
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = &Logical{Op: "and", Left: left, Right: right}
	}
}

// parseUnary parses `"(" FILTER ")"`, `"not" "(" FILTER ")"`, a value path
// (*Has) or an attribute expression (*Compare).
func (p *parser) parseUnary() (Expr, error) {
	p.skipWS()
	if p.eof() {
		return nil, p.errAt(p.pos, "expected an attribute name, %q or %q, got %s", "(", "not", p.got(p.pos))
	}
	start := p.pos
	if p.s[start] == '(' {
		p.pos++
		e, err := p.parseGroup(start)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	if w := p.wordAt(start); strings.EqualFold(w, "not") {
		after := start + len(w)
		p.pos = after
		p.skipWS()
		switch {
		case !p.eof() && p.s[p.pos] == '(':
			// RFC 7644 §3.4.2.2: "not" "(" FILTER ")".
			open := p.pos
			p.pos++
			x, err := p.parseGroup(open)
			if err != nil {
				return nil, err
			}
			return &Not{X: x}, nil
		case after < len(p.s) && p.s[after] == '[':
			// An attribute that happens to be called "not": `not[value eq 1]`.
		case !p.eof() && isOperator(p.wordAt(p.pos)):
			// An attribute that happens to be called "not": `not eq 1`.
		default:
			return nil, p.errAt(p.pos, "expected %q after %q, got %s", "(", w, p.got(p.pos))
		}
		p.pos = start
	}
	return p.parseAttrExp()
}

// parseGroup parses the inside of a parenthesis opened at open, and the ")".
func (p *parser) parseGroup(open int) (Expr, error) {
	if err := p.enter(open); err != nil {
		return nil, err
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.eof() || p.s[p.pos] != ')' {
		return nil, p.errAt(p.pos, "expected %q to close the %q at position %d, got %s",
			")", "(", p.col(open), p.got(p.pos))
	}
	p.pos++
	p.leave()
	return e, nil
}

func (p *parser) col(i int) int { return utf8.RuneCountInString(p.s[:i]) + 1 }

var operators = map[string]Operator{
	"eq": Eq, "ne": Ne, "co": Co, "sw": Sw, "ew": Ew,
	"gt": Gt, "ge": Ge, "lt": Lt, "le": Le, "pr": Pr,
}

func isOperator(w string) bool {
	_, ok := lookupOperator(w)
	return ok
}

func lookupOperator(w string) (Operator, bool) {
	if len(w) != 2 {
		return "", false
	}
	op, ok := operators[strings.ToLower(w)]
	return op, ok
}

// parseAttrExp parses `attrPath SP "pr"`, `attrPath SP compareOp SP compValue`
// or a standalone valuePath (RFC 7644 §3.4.2.2).
func (p *parser) parseAttrExp() (Expr, error) {
	path, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	save := p.pos
	p.skipWS()
	opAt := p.pos
	op, ok := lookupOperator(p.wordAt(opAt))
	if !ok {
		if path.Filter != nil && path.Sub == "" {
			// A valuePath used as a filter: `members[value eq "x"]`.
			p.pos = save
			return &Has{Path: path}, nil
		}
		return nil, p.errAt(opAt, "expected a comparison operator, got %s", p.got(opAt))
	}
	p.pos += 2
	if op == Pr {
		// RFC 7644 §3.4.2.2: "pr" has no operand.
		save := p.pos
		p.skipWS()
		if !p.eof() {
			c := p.s[p.pos]
			w := p.wordAt(p.pos)
			if c != ')' && c != ']' && !strings.EqualFold(w, "and") && !strings.EqualFold(w, "or") {
				return nil, p.errAt(p.pos, "the %q operator takes no value, got %s", "pr", p.got(p.pos))
			}
		}
		p.pos = save
		return &Compare{Path: path, Op: Pr}, nil
	}
	p.skipWS()
	valAt := p.pos
	v, err := p.parseValue(op)
	if err != nil {
		return nil, err
	}
	// RFC 7644 §3.4.2.2: gt/ge/lt/le on a Boolean "SHALL cause a failed
	// response (HTTP status code 400) with a scimType of invalidFilter";
	// co/sw/ew are string operators, and null has no order.
	switch op {
	case Gt, Ge, Lt, Le, Co, Sw, Ew:
		switch v.Kind {
		case Bool:
			return nil, p.errAt(valAt, "the %q operator cannot compare with a boolean", string(op))
		case Null:
			return nil, p.errAt(valAt, "the %q operator cannot compare with null", string(op))
		}
	}
	return &Compare{Path: path, Op: op, Value: v}, nil
}

// parsePath parses `[URI ":"] ATTRNAME ["[" valFilter "]"] ["." ATTRNAME]`
// (RFC 7644 §3.4.2.2 attrPath / valuePath, §3.5.2 PATH).
func (p *parser) parsePath() (Path, error) {
	var path Path
	start := p.pos
	subAt := -1
	if len(p.s)-start >= 4 && strings.EqualFold(p.s[start:start+4], "urn:") {
		// A schema URN contains dots and colons ("…:enterprise:2.0:User"), so
		// it is split at its last ":"; what follows is ATTRNAME ["." subAttr]
		// (RFC 7644 §3.10, RFC 7643 §3.3).
		end := start
		for end < len(p.s) && isURNChar(p.s[end]) {
			end++
		}
		run := p.s[start:end]
		colon := strings.LastIndexByte(run, ':')
		path.URN = run[:colon]
		if err := p.checkURN(start, path.URN); err != nil {
			return Path{}, err
		}
		rest := run[colon+1:]
		attr, sub, hasSub := strings.Cut(rest, ".")
		attrAt := start + colon + 1
		if !isAttrName(attr) {
			return Path{}, p.errAt(attrAt, "expected an attribute name after the schema URN, got %s", p.quoteOrEnd(rest, attrAt))
		}
		path.Attr = attr
		if hasSub {
			subAt = attrAt + len(attr) + 1
			if s2, _, more := strings.Cut(sub, "."); more {
				return Path{}, p.errAt(subAt+len(s2), "only one level of sub-attribute is allowed")
			}
			if !isAttrName(sub) {
				return Path{}, p.errAt(subAt, "expected a sub-attribute name after %q, got %s", ".", p.quoteOrEnd(sub, subAt))
			}
			path.Sub = sub
		}
		p.pos = end
	} else {
		name, err := p.readName("an attribute name")
		if err != nil {
			return Path{}, err
		}
		path.Attr = name
		if !p.eof() && p.s[p.pos] == ':' {
			return Path{}, p.errAt(start, "a schema-qualified attribute must start with %q, got %s", "urn:", p.got(start))
		}
	}
	if !p.eof() && p.s[p.pos] == '[' {
		open := p.pos
		if path.Sub != "" {
			// RFC 7644 §3.5.2: valuePath [subAttr] — the filter binds to the
			// attribute, never to a sub-attribute (`a.b[c eq 1]`).
			return Path{}, p.errAt(open, "a value filter cannot follow the sub-attribute %q", path.Sub)
		}
		if p.inBracket {
			// RFC 7644 §3.4.2.2: valFilter has no valuePath inside it.
			return Path{}, p.errAt(open, "value filters cannot be nested")
		}
		f, err := p.parseBracket(open)
		if err != nil {
			return Path{}, err
		}
		path.Filter = f
		if !p.eof() && p.s[p.pos] == '.' {
			p.pos++
			subAt = p.pos
			sub, err := p.readName("a sub-attribute name")
			if err != nil {
				return Path{}, err
			}
			path.Sub = sub
		}
	} else if path.URN == "" && !p.eof() && p.s[p.pos] == '.' {
		p.pos++
		subAt = p.pos
		sub, err := p.readName("a sub-attribute name")
		if err != nil {
			return Path{}, err
		}
		path.Sub = sub
	}
	if !p.eof() {
		switch p.s[p.pos] {
		case '.':
			if subAt >= 0 {
				return Path{}, p.errAt(p.pos, "only one level of sub-attribute is allowed")
			}
		case '[':
			if path.Sub != "" {
				return Path{}, p.errAt(p.pos, "a value filter cannot follow the sub-attribute %q", path.Sub)
			}
		}
	}
	return path, nil
}

func (p *parser) quoteOrEnd(tok string, at int) string {
	if tok == "" {
		return p.got(at)
	}
	return strconv.Quote(tok)
}

// parseBracket parses `"[" valFilter "]"` with the "[" at open.
func (p *parser) parseBracket(open int) (Expr, error) {
	if err := p.enter(open); err != nil {
		return nil, err
	}
	p.pos = open + 1
	p.skipWS()
	if !p.eof() && p.s[p.pos] == ']' {
		return nil, p.errAt(p.pos, "the value filter in brackets is empty")
	}
	p.inBracket = true
	f, err := p.parseOr()
	p.inBracket = false
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.eof() || p.s[p.pos] != ']' {
		return nil, p.errAt(p.pos, "expected %q to close the %q at position %d, got %s",
			"]", "[", p.col(open), p.got(p.pos))
	}
	p.pos++
	p.leave()
	return f, nil
}

// readName reads ATTRNAME = ALPHA *(nameChar) or the special name "$ref"
// (RFC 7643 §2.1 and §7 "$ref").
func (p *parser) readName(what string) (string, error) {
	i := p.pos
	if len(p.s)-i >= 4 && strings.EqualFold(p.s[i:i+4], "$ref") &&
		(i+4 == len(p.s) || !isNameChar(p.s[i+4])) {
		p.pos += 4
		return p.s[i:p.pos], nil
	}
	if i >= len(p.s) || !isAlpha(p.s[i]) {
		return "", p.errAt(i, "expected %s, got %s", what, p.got(i))
	}
	j := i + 1
	for j < len(p.s) && isNameChar(p.s[j]) {
		j++
	}
	p.pos = j
	return p.s[i:j], nil
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isNameChar: nameChar = "-" / "_" / DIGIT / ALPHA (RFC 7644 §3.4.2.2).
func isNameChar(c byte) bool { return isAlpha(c) || isDigit(c) || c == '-' || c == '_' }

// isAttrName reports whether s is a whole ATTRNAME or "$ref".
func isAttrName(s string) bool {
	if strings.EqualFold(s, "$ref") {
		return true
	}
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// isURNChar accepts the URN characters (RFC 8141 pchar, less the ones that
// are filter syntax: parentheses, and the quote, brackets and whitespace that
// are delimiters anyway) plus ":" and ".".
func isURNChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	return strings.IndexByte("-._~:%+!$&*,;=@'", c) >= 0
}

// checkURN validates the schema URN part of a qualified name: "urn:" NID ":"
// NSS (RFC 8141), with no empty segment.
func (p *parser) checkURN(start int, urn string) error {
	parts := strings.Split(urn, ":")
	if len(parts) < 3 {
		return p.errAt(start, "expected a schema URN such as %q before the attribute name, got %s",
			"urn:ietf:params:scim:schemas:core:2.0:User", p.got(start))
	}
	off := start
	for _, part := range parts {
		if part == "" {
			return p.errAt(off, "empty segment in the schema URN %q", urn)
		}
		off += len(part) + 1
	}
	return nil
}

// parseValue parses compValue = false / null / true / number / string
// (RFC 7644 §3.4.2.2), or a legacy unquoted word.
func (p *parser) parseValue(op Operator) (Value, error) {
	at := p.pos
	if p.eof() {
		return Value{}, p.errAt(at, "expected a value after %q, got %s", string(op), p.got(at))
	}
	if p.s[at] == '"' {
		str, err := p.readString()
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: String, Str: str}, nil
	}
	// Bare word: true/false/null, a JSON number, or (Microsoft's legacy
	// examples, e.g. `userName sw O`, `externalId eq jyoung`) an unquoted
	// string of letters, digits and _ - . @ + :.
	j := at
	for j < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[j:])
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.@+:", r)) || r == utf8.RuneError {
			break
		}
		j += n
	}
	word := p.s[at:j]
	if word == "" {
		return Value{}, p.errAt(at, "expected a value after %q, got %s", string(op), p.got(at))
	}
	if j < len(p.s) && !isSpace(p.s[j]) && p.s[j] != ')' && p.s[j] != ']' {
		r, _ := utf8.DecodeRuneInString(p.s[j:])
		return Value{}, p.errAt(j, "unexpected character %q in an unquoted value; quote the value as a JSON string", r)
	}
	p.pos = j
	switch {
	case strings.EqualFold(word, "true"):
		return Value{Kind: Bool, Bool: true}, nil
	case strings.EqualFold(word, "false"):
		return Value{Kind: Bool, Bool: false}, nil
	case strings.EqualFold(word, "null"):
		return Value{Kind: Null}, nil
	case isJSONNumber(word):
		f, err := strconv.ParseFloat(word, 64)
		if err != nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
			return Value{}, p.errAt(at, "the number %s is out of range", word)
		}
		// Underflow rounds to zero or a denormal; that is a fine value.
		return Value{Kind: Number, Num: f}, nil
	}
	return Value{Kind: String, Str: word, Unquoted: true}, nil
}

// isJSONNumber reports whether s is a JSON number (RFC 8259 §6):
// [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ].
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

// readString reads a JSON string (RFC 8259 §7; RFC 7644 §3.4.2.2 compValue is
// JSON) starting at the opening quote. A lone UTF-16 surrogate escape decodes to
// U+FFFD, as encoding/json does; raw bytes, including invalid UTF-8 and control
// characters, are kept as they are.
func (p *parser) readString() (string, error) {
	open := p.pos
	i := open + 1
	var b []byte // nil until the first escape
	lit := i     // start of the pending literal run
	for i < len(p.s) {
		c := p.s[i]
		if c == '"' {
			var out string
			if b == nil {
				out = p.s[lit:i]
			} else {
				out = string(append(b, p.s[lit:i]...))
			}
			p.pos = i + 1
			return out, nil
		}
		if c != '\\' {
			i++
			continue
		}
		b = append(b, p.s[lit:i]...)
		if i+1 >= len(p.s) {
			break
		}
		switch e := p.s[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
			i += 2
		case 'b':
			b = append(b, '\b')
			i += 2
		case 'f':
			b = append(b, '\f')
			i += 2
		case 'n':
			b = append(b, '\n')
			i += 2
		case 'r':
			b = append(b, '\r')
			i += 2
		case 't':
			b = append(b, '\t')
			i += 2
		case 'u':
			r, ok := hex4(p.s, i+2)
			if !ok {
				return "", p.errAt(i, "invalid \\u escape in string: expected 4 hex digits")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+1 < len(p.s) && p.s[i] == '\\' && p.s[i+1] == 'u' {
					r2, ok = hex4(p.s, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != unicode.ReplacementChar {
					r = dec
					i += 6
				} else {
					r = unicode.ReplacementChar
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			r, _ := utf8.DecodeRuneInString(p.s[i+1:])
			return "", p.errAt(i, "invalid escape %q in string", "\\"+string(r))
		}
		lit = i
	}
	return "", p.errAt(len(p.s), "the string that starts at position %d has no closing quote", p.col(open))
}

// hex4 decodes four hex digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
