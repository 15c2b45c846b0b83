package schema

import (
	"unicode/utf8"

	"github.com/rosterhq/roster/agent/scim"
)

// Length limits of string values, in characters (docs/scim-limits.md). An
// attribute's MaxLength overrides the limit of its type.
const (
	// MaxStringLength bounds string and dateTime values: userName,
	// displayName, externalId, name parts, email addresses and every other
	// single-line string.
	MaxStringLength = 256
	// MaxMultiLineLength bounds the strings that may span lines
	// (addresses.formatted and addresses.streetAddress, RFC 7643 §4.1.2).
	MaxMultiLineLength = 1024
	// MaxReferenceLength bounds reference (URI) values.
	MaxReferenceLength = 2048
	// MaxBinaryLength bounds binary (base64) values such as X.509 certificates.
	MaxBinaryLength = 16384
)

// Limit returns the largest number of characters a string value of a may hold.
func (a *Attribute) Limit() int {
	switch {
	case a.MaxLength > 0:
		return a.MaxLength
	case a.Type == Reference:
		return MaxReferenceLength
	case a.Type == Binary:
		return MaxBinaryLength
	case a.MultiLine:
		return MaxMultiLineLength
	}
	return MaxStringLength
}

// checkString refuses a string value of a that holds a control character —
// any, in a single-line attribute; any but tab, line feed and carriage return
// in a multi-line one — or is longer than a's limit. s is valid UTF-8 (the
// HTTP edge refuses other bodies). where names the attribute in the error.
func checkString(a *Attribute, s, where string) error {
	limit := MaxStringLength
	multi := false
	if a != nil {
		limit, multi = a.Limit(), a.MultiLine
	}
	if len(s) > limit && utf8.RuneCountInString(s) > limit {
		return scim.BadRequest(scim.InvalidValue, "%s is longer than %d characters (docs/scim-limits.md)", where, limit)
	}
	if i, r := ControlChar(s, multi); i >= 0 {
		return scim.BadRequest(scim.InvalidValue, "%s holds the control character U+%04X at byte %d; it is a single-line text attribute", where, r, i)
	}
	return nil
}

// ControlChar returns the byte offset and value of the first control
// character in s — C0 (U+0000–U+001F), DEL (U+007F) or C1 (U+0080–U+009F) —
// or -1. With multiLine, tab, line feed and carriage return are allowed. It
// does not allocate.
func ControlChar(s string, multiLine bool) (int, rune) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20:
			if multiLine && (c == '\t' || c == '\n' || c == '\r') {
				continue
			}
			return i, rune(c)
		case c == 0x7f:
			return i, rune(c)
		case c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f:
			return i, rune(s[i+1])
		}
	}
	return -1, 0
}
