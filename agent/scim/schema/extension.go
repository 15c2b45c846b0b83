package schema

import (
	"fmt"
	"strings"
)

// Custom extension attributes: what an Entra administrator adds to a
// provisioning mapping as
// "urn:ietf:params:scim:schemas:extension:<Name>:2.0:User:<attribute>"
// (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups).
// A tenant declares each one with a type; its resource types then carry one
// extension schema per declared URN (RFC 7643 §3.3), so the attributes are
// type-checked, stored, filterable and listed in /Schemas like any other.

// Declared is one declared custom extension attribute.
type Declared struct {
	// Schema is the extension URN, e.g.
	// "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User".
	Schema string
	// Name is the attribute name (RFC 7643 §2.1 ATTRNAME).
	Name        string
	Type        Type
	MultiValued bool
}

// Path returns the fully qualified name of d: "<schema>:<name>".
func (d Declared) Path() string { return d.Schema + ":" + d.Name }

// DeclarableTypes are the types a custom extension attribute may have.
var DeclarableTypes = []Type{String, Boolean, Integer, Decimal, DateTime, Reference}

const extensionPrefix = "urn:ietf:params:scim:schemas:extension:"

// ParseDeclared checks a fully qualified custom extension attribute name
// and a type name and returns the declaration. The URN must be
// "urn:ietf:params:scim:schemas:extension:<Name>:2.0:<User|Group>" with a
// <Name> other than "enterprise" (RFC 7643 §4.3 defines that one), and the
// attribute name an ATTRNAME (RFC 7643 §2.1).
func ParseDeclared(full, typ string, multiValued bool) (Declared, error) {
	i := strings.LastIndexByte(full, ':')
	if i < 0 || !strings.HasPrefix(strings.ToLower(full), extensionPrefix) {
		return Declared{}, fmt.Errorf("%q is not an extension attribute: write it as %s<Name>:2.0:User:<attribute>, e.g. %sContoso:2.0:User:costCode", full, extensionPrefix, extensionPrefix)
	}
	urn, name := full[:i], full[i+1:]
	parts := strings.Split(urn[len(extensionPrefix):], ":")
	if len(parts) != 3 || !validName(parts[0]) || parts[1] != "2.0" || (parts[2] != "User" && parts[2] != "Group") {
		return Declared{}, fmt.Errorf("%q: the schema must be %s<Name>:2.0:User (or :Group), where <Name> is letters, digits, '-', '_' or '.'", full, extensionPrefix)
	}
	if strings.EqualFold(parts[0], "enterprise") {
		return Declared{}, fmt.Errorf("%q: the enterprise extension is defined by RFC 7643 §4.3 and cannot be extended", full)
	}
	if !attrName(name) {
		return Declared{}, fmt.Errorf("%q: the attribute name %q must start with a letter and hold only letters, digits, '-' and '_' (RFC 7643 §2.1)", full, name)
	}
	t := Type("")
	for _, d := range DeclarableTypes {
		if strings.EqualFold(string(d), typ) {
			t = d
		}
	}
	if t == "" {
		names := make([]string, len(DeclarableTypes))
		for i, d := range DeclarableTypes {
			names[i] = string(d)
		}
		return Declared{}, fmt.Errorf("type %q: use one of %s", typ, strings.Join(names, ", "))
	}
	return Declared{Schema: urn, Name: name, Type: t, MultiValued: multiValued}, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// attrName reports whether s is an ATTRNAME (RFC 7643 §2.1).
func attrName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// WithDeclared returns rt extended by the declarations whose URN ends in
// rt's name (":User" or ":Group"): one extension schema per URN, in the order
// first declared. Without such declarations it returns rt itself.
func (rt *ResourceType) WithDeclared(decls []Declared) *ResourceType {
	var out *ResourceType
	for _, d := range decls {
		if !strings.EqualFold(d.Schema[strings.LastIndexByte(d.Schema, ':')+1:], rt.Schema.Name) {
			continue
		}
		if out == nil {
			c := *rt
			c.Extensions = append([]Extension(nil), rt.Extensions...)
			out = &c
		}
		s := out.SchemaFor(d.Schema)
		if s == nil {
			name := strings.Split(d.Schema[len(extensionPrefix):], ":")[0]
			s = &Schema{ID: d.Schema, Name: name, Description: "Custom extension attributes declared with `" + ExtensionCommand + "`."}
			out.Extensions = append(out.Extensions, Extension{Schema: s})
		}
		a := &Attribute{Name: d.Name, Type: d.Type, MultiValued: d.MultiValued, Mutability: ReadWrite, Returned: Default, Uniqueness: None,
			Description: "Custom extension attribute (" + string(d.Type) + ")."}
		if d.Type == Reference {
			a.ReferenceTypes = []string{"external"}
		}
		s.Attributes = append(s.Attributes, a)
	}
	if out == nil {
		return rt
	}
	return out
}

// SchemasOf returns the schemas served for the given resource types, in
// discovery order: each core schema and extension once.
func SchemasOf(types []*ResourceType) []*Schema {
	var out []*Schema
	seen := map[string]bool{}
	for _, rt := range types {
		for _, s := range append([]*Schema{rt.Schema}, extensionSchemas(rt)...) {
			if !seen[s.ID] {
				seen[s.ID] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func extensionSchemas(rt *ResourceType) []*Schema {
	out := make([]*Schema, len(rt.Extensions))
	for i, e := range rt.Extensions {
		out[i] = e.Schema
	}
	return out
}
