// Package schema defines the SCIM resource schemas Roster serves — core User and
// Group (RFC 7643 §4) and the Enterprise User extension (RFC 7643 §4.3) — and the
// resource types built from them. The same definitions drive attribute-name
// resolution, value coercion of incoming documents, and the discovery documents
// served at /Schemas and /ResourceTypes (RFC 7643 §6–7), so what is advertised is
// exactly what is enforced.
package schema

import (
	"strings"

	"github.com/rosterhq/roster/agent/scim"
)

// Type is an attribute data type (RFC 7643 §2.3).
type Type string

// Attribute data types (RFC 7643 §2.3).
const (
	String    Type = "string"
	Boolean   Type = "boolean"
	Decimal   Type = "decimal"
	Integer   Type = "integer"
	DateTime  Type = "dateTime"
	Reference Type = "reference"
	Complex   Type = "complex"
	Binary    Type = "binary"
)

// Mutability values (RFC 7643 §7).
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"
)

// Returned values (RFC 7643 §7).
const (
	Always  = "always"
	Never   = "never"
	Default = "default"
	Request = "request"
)

// Uniqueness values (RFC 7643 §7).
const (
	None   = "none"
	Server = "server"
	Global = "global"
)

// Attribute describes one attribute or sub-attribute (RFC 7643 §7).
type Attribute struct {
	Name            string
	Type            Type
	MultiValued     bool
	Description     string
	Required        bool
	CaseExact       bool
	Mutability      string
	Returned        string
	Uniqueness      string
	CanonicalValues []string
	ReferenceTypes  []string
	SubAttributes   []*Attribute
	// MaxLength overrides the length limit of the attribute's type (see Limit).
	MaxLength int
	// MultiLine allows tab, line feed and carriage return in string values;
	// other attributes are single-line (see checkString).
	MultiLine bool
}

// Sub returns the sub-attribute called name (case-insensitively), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	if a == nil {
		return nil
	}
	return find(a.SubAttributes, name)
}

// Schema is one schema: core or extension (RFC 7643 §7).
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
}

// Attr returns the top-level attribute called name (case-insensitively), or nil.
func (s *Schema) Attr(name string) *Attribute {
	if s == nil {
		return nil
	}
	return find(s.Attributes, name)
}

func find(attrs []*Attribute, name string) *Attribute {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// Extension is a schema extension of a resource type (RFC 7643 §6).
type Extension struct {
	Schema   *Schema
	Required bool
}

// ResourceType is a SCIM resource type (RFC 7643 §6): a core schema plus extensions.
type ResourceType struct {
	ID          string
	Name        string
	Endpoint    string
	Description string
	Schema      *Schema
	Extensions  []Extension
}

// SchemaFor returns the core schema or extension whose URN equals urn
// (case-insensitively), or nil.
func (rt *ResourceType) SchemaFor(urn string) *Schema {
	if strings.EqualFold(rt.Schema.ID, urn) {
		return rt.Schema
	}
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.Schema.ID, urn) {
			return e.Schema
		}
	}
	return nil
}

// IsExtension reports whether urn names one of rt's extension schemas.
func (rt *ResourceType) IsExtension(urn string) bool {
	s := rt.SchemaFor(urn)
	return s != nil && s != rt.Schema
}

// Resolve finds the attribute for a possibly URN-qualified name. urn "" means
// the core schema. It returns the canonical schema URN ("" for core) and the
// attribute, or nil when the attribute is not defined.
func (rt *ResourceType) Resolve(urn, name string) (string, *Attribute) {
	if urn == "" {
		return "", rt.Schema.Attr(name)
	}
	s := rt.SchemaFor(urn)
	if s == nil {
		return urn, nil
	}
	if s == rt.Schema {
		return "", s.Attr(name)
	}
	return s.ID, s.Attr(name)
}

// SplitURN splits a fully qualified attribute name such as
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager" into the
// schema URN and the attribute name ("manager"); a name that does not start with
// "urn:" is returned unchanged with urn "". When full is itself a known schema
// URN of rt (an extension object key), it is returned as urn with name "".
func (rt *ResourceType) SplitURN(full string) (urn, name string) {
	if len(full) < 4 || !strings.EqualFold(full[:4], "urn:") {
		return "", full
	}
	if s := rt.SchemaFor(full); s != nil {
		return s.ID, ""
	}
	i := strings.LastIndexByte(full, ':')
	return full[:i], full[i+1:]
}

var (
	// CaseExactID marks id, which is compared case-exactly (RFC 7643 §3.1).
	idAttr = &Attribute{Name: "id", Type: String, CaseExact: true, Mutability: ReadOnly, Returned: Always, Uniqueness: Server,
		Description: "Unique identifier for the resource, assigned by the service provider."}
	externalIDAttr = &Attribute{Name: "externalId", Type: String, CaseExact: true, Mutability: ReadWrite, Returned: Default, Uniqueness: None,
		Description: "Identifier of the resource as defined by the provisioning client."}
	metaAttr = &Attribute{Name: "meta", Type: Complex, Mutability: ReadOnly, Returned: Default, Uniqueness: None,
		Description: "Resource metadata.",
		SubAttributes: []*Attribute{
			str("resourceType", "Name of the resource type.", ReadOnly, true),
			{Name: "created", Type: DateTime, Mutability: ReadOnly, Returned: Default, Uniqueness: None, Description: "When the resource was added."},
			{Name: "lastModified", Type: DateTime, Mutability: ReadOnly, Returned: Default, Uniqueness: None, Description: "When the resource was last changed."},
			{Name: "location", Type: Reference, ReferenceTypes: []string{"uri"}, Mutability: ReadOnly, Returned: Default, Uniqueness: None, CaseExact: true, Description: "URI of the resource."},
			str("version", "Version (ETag) of the resource.", ReadOnly, true),
		}}
)

func str(name, desc, mut string, caseExact bool) *Attribute {
	return &Attribute{Name: name, Type: String, Description: desc, Mutability: mut, Returned: Default, Uniqueness: None, CaseExact: caseExact}
}

func rw(name, desc string) *Attribute { return str(name, desc, ReadWrite, false) }

// multiLine marks a string attribute whose values may span lines (RFC 7643 §4.1.2).
func multiLine(a *Attribute) *Attribute {
	a.MultiLine = true
	return a
}

// multi builds a multi-valued complex attribute with the usual value/display/type/primary sub-attributes (RFC 7643 §2.4).
func multi(name, desc string, valueType Type, types []string, extra ...*Attribute) *Attribute {
	value := &Attribute{Name: "value", Type: valueType, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "The value."}
	if valueType == Reference {
		// RFC 7643 §7: every reference names its referenceTypes; photos are
		// URLs of external resources (RFC 7643 §4.1.2).
		value.ReferenceTypes = []string{"external"}
	}
	subs := []*Attribute{
		value,
		rw("display", "A human-readable name, primarily used for display purposes."),
		{Name: "type", Type: String, Mutability: ReadWrite, Returned: Default, Uniqueness: None, CanonicalValues: types, Description: "A label indicating the attribute's function."},
		{Name: "primary", Type: Boolean, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "Indicates the primary or preferred value."},
	}
	subs = append(subs, extra...)
	return &Attribute{Name: name, Type: Complex, MultiValued: true, Description: desc, Mutability: ReadWrite, Returned: Default, Uniqueness: None, SubAttributes: subs}
}

// User is the core User schema (RFC 7643 §4.1, §8.7.1).
var User = &Schema{
	ID: scim.SchemaUser, Name: "User", Description: "User Account",
	Attributes: []*Attribute{
		{Name: "userName", Type: String, Required: true, CaseExact: false, Mutability: ReadWrite, Returned: Always, Uniqueness: Server,
			Description: "Unique identifier for the user, typically used to sign in; unique per tenant, compared case-insensitively."},
		{Name: "name", Type: Complex, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "The components of the user's real name.",
			SubAttributes: []*Attribute{
				rw("formatted", "The full name, formatted for display."),
				rw("familyName", "The family name."),
				rw("givenName", "The given name."),
				rw("middleName", "The middle name(s)."),
				rw("honorificPrefix", "The honorific prefix(es)."),
				rw("honorificSuffix", "The honorific suffix(es)."),
			}},
		rw("displayName", "The name of the user, suitable for display."),
		rw("nickName", "The casual way to address the user."),
		{Name: "profileUrl", Type: Reference, ReferenceTypes: []string{"external"}, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "A URI to the user's online profile."},
		rw("title", "The user's title, such as \"Vice President\"."),
		rw("userType", "The relationship between the organization and the user."),
		rw("preferredLanguage", "The user's preferred written or spoken language."),
		rw("locale", "The user's default location for localisation."),
		rw("timezone", "The user's time zone in IANA format."),
		{Name: "active", Type: Boolean, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "The user's administrative status."},
		{Name: "password", Type: String, Mutability: WriteOnly, Returned: Never, Uniqueness: None, Description: "Accepted for compatibility and discarded: Roster never stores passwords."},
		multi("emails", "Email addresses for the user.", String, []string{"work", "home", "other"}),
		multi("phoneNumbers", "Phone numbers for the user.", String, []string{"work", "home", "mobile", "fax", "pager", "other"}),
		multi("ims", "Instant messaging addresses for the user.", String, []string{"aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"}),
		multi("photos", "URLs of photos of the user.", Reference, []string{"photo", "thumbnail"}),
		{Name: "addresses", Type: Complex, MultiValued: true, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "Physical mailing addresses for the user.",
			SubAttributes: []*Attribute{
				multiLine(rw("formatted", "The full mailing address.")),
				multiLine(rw("streetAddress", "The street address.")),
				rw("locality", "The city or locality."),
				rw("region", "The state or region."),
				rw("postalCode", "The zip or postal code."),
				rw("country", "The country name."),
				{Name: "type", Type: String, Mutability: ReadWrite, Returned: Default, Uniqueness: None, CanonicalValues: []string{"work", "home", "other"}, Description: "A label indicating the address's function."},
				{Name: "primary", Type: Boolean, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "Indicates the primary address."},
			}},
		{Name: "groups", Type: Complex, MultiValued: true, Mutability: ReadOnly, Returned: Default, Uniqueness: None, Description: "Groups the user belongs to, maintained through the Group resource.",
			SubAttributes: []*Attribute{
				{Name: "value", Type: String, Mutability: ReadOnly, Returned: Default, Uniqueness: None, Description: "The identifier of the group."},
				{Name: "$ref", Type: Reference, ReferenceTypes: []string{"Group"}, Mutability: ReadOnly, Returned: Default, Uniqueness: None, Description: "The URI of the group."},
				{Name: "display", Type: String, Mutability: ReadOnly, Returned: Default, Uniqueness: None, Description: "The group's display name."},
				{Name: "type", Type: String, Mutability: ReadOnly, Returned: Default, Uniqueness: None, CanonicalValues: []string{"direct", "indirect"}, Description: "How the membership was derived."},
			}},
		multi("entitlements", "Entitlements of the user.", String, nil),
		multi("roles", "Roles of the user.", String, nil),
		multi("x509Certificates", "X.509 certificates of the user.", Binary, nil),
	},
}

// EnterpriseUser is the Enterprise User extension (RFC 7643 §4.3).
var EnterpriseUser = &Schema{
	ID: scim.SchemaEnterpriseUser, Name: "EnterpriseUser", Description: "Enterprise User",
	Attributes: []*Attribute{
		rw("employeeNumber", "A string identifier assigned by the organization."),
		rw("costCenter", "The name of a cost center."),
		rw("organization", "The name of an organization."),
		rw("division", "The name of a division."),
		rw("department", "The name of a department."),
		{Name: "manager", Type: Complex, Mutability: ReadWrite, Returned: Default, Uniqueness: None,
			Description: "The user's manager. Accepted as a string id, an object or a one-element array; always returned as {\"value\": id}.",
			SubAttributes: []*Attribute{
				{Name: "value", Type: String, CaseExact: true, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "The id of the manager's User resource."},
				{Name: "$ref", Type: Reference, ReferenceTypes: []string{"User"}, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "The URI of the manager's User resource."},
				{Name: "displayName", Type: String, Mutability: ReadOnly, Returned: Default, Uniqueness: None, Description: "The manager's display name."},
			}},
	},
}

// Group is the core Group schema (RFC 7643 §4.2).
var Group = &Schema{
	ID: scim.SchemaGroup, Name: "Group", Description: "Group",
	Attributes: []*Attribute{
		{Name: "displayName", Type: String, Required: true, Mutability: ReadWrite, Returned: Default, Uniqueness: Server,
			Description: "A human-readable name for the group; unique per tenant, compared case-insensitively."},
		{Name: "members", Type: Complex, MultiValued: true, Mutability: ReadWrite, Returned: Default, Uniqueness: None, Description: "A list of members of the group.",
			SubAttributes: []*Attribute{
				{Name: "value", Type: String, CaseExact: true, Mutability: Immutable, Returned: Default, Uniqueness: None, Description: "The id of the member's resource."},
				{Name: "$ref", Type: Reference, ReferenceTypes: []string{"User", "Group"}, Mutability: Immutable, Returned: Default, Uniqueness: None, Description: "The URI of the member's resource."},
				{Name: "display", Type: String, Mutability: ReadOnly, Returned: Default, Uniqueness: None, Description: "The member's display name."},
				{Name: "type", Type: String, Mutability: Immutable, Returned: Default, Uniqueness: None, CanonicalValues: []string{"User", "Group"}, Description: "The type of the member."},
			}},
	},
}

// UserType is the User resource type, with the Enterprise User extension.
var UserType = &ResourceType{
	ID: "User", Name: "User", Endpoint: "/Users", Description: "User Account",
	Schema:     User,
	Extensions: []Extension{{Schema: EnterpriseUser, Required: false}},
}

// GroupType is the Group resource type.
var GroupType = &ResourceType{
	ID: "Group", Name: "Group", Endpoint: "/Groups", Description: "Group",
	Schema: Group,
}

// ResourceTypes lists every resource type the agent serves, in discovery order.
var ResourceTypes = []*ResourceType{UserType, GroupType}

// Schemas lists every schema the agent serves, in discovery order.
var Schemas = []*Schema{User, EnterpriseUser, Group}

// Common returns the definition of a common attribute (RFC 7643 §3.1): id,
// externalId or meta; nil otherwise.
func Common(name string) *Attribute {
	switch {
	case strings.EqualFold(name, "id"):
		return idAttr
	case strings.EqualFold(name, "externalId"):
		return externalIDAttr
	case strings.EqualFold(name, "meta"):
		return metaAttr
	}
	return nil
}

// Lookup resolves a possibly URN-qualified top-level attribute of rt, including
// the common attributes. It returns the canonical URN ("" for core/common) and
// the attribute, or nil when undefined.
func (rt *ResourceType) Lookup(urn, name string) (string, *Attribute) {
	if urn == "" || strings.EqualFold(urn, rt.Schema.ID) {
		if a := Common(name); a != nil {
			return "", a
		}
	}
	return rt.Resolve(urn, name)
}
