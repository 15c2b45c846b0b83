package schema

import (
	"github.com/rosterhq/roster/agent/scim"
)

// Document renders s as a Schema resource (RFC 7643 §7). baseURL is the
// tenant's SCIM base (no trailing slash); it forms meta.location. Microsoft's
// rules for /Schemas apply: camelCase values, no null values (docs/entra.md#schema-discovery).
func (s *Schema) Document(baseURL string) map[string]any {
	attrs := make([]any, 0, len(s.Attributes))
	for _, a := range s.Attributes {
		attrs = append(attrs, a.document())
	}
	return map[string]any{
		"schemas":     []any{scim.SchemaSchema},
		"id":          s.ID,
		"name":        s.Name,
		"description": s.Description,
		"attributes":  attrs,
		"meta": map[string]any{
			"resourceType": "Schema",
			"location":     baseURL + "/Schemas/" + s.ID,
		},
	}
}

func (a *Attribute) document() map[string]any {
	d := map[string]any{
		"name":        a.Name,
		"type":        string(a.Type),
		"multiValued": a.MultiValued,
		"description": a.Description,
		"required":    a.Required,
		"caseExact":   a.CaseExact,
		"mutability":  a.Mutability,
		"returned":    a.Returned,
		"uniqueness":  a.Uniqueness,
	}
	if len(a.CanonicalValues) > 0 {
		d["canonicalValues"] = stringsToAny(a.CanonicalValues)
	}
	if len(a.ReferenceTypes) > 0 {
		d["referenceTypes"] = stringsToAny(a.ReferenceTypes)
	}
	if len(a.SubAttributes) > 0 {
		subs := make([]any, 0, len(a.SubAttributes))
		for _, s := range a.SubAttributes {
			subs = append(subs, s.document())
		}
		d["subAttributes"] = subs
	}
	return d
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Document renders rt as a ResourceType resource (RFC 7643 §6).
func (rt *ResourceType) Document(baseURL string) map[string]any {
	d := map[string]any{
		"schemas":     []any{scim.SchemaResourceType},
		"id":          rt.ID,
		"name":        rt.Name,
		"endpoint":    rt.Endpoint,
		"description": rt.Description,
		"schema":      rt.Schema.ID,
		"meta": map[string]any{
			"resourceType": "ResourceType",
			"location":     baseURL + "/ResourceTypes/" + rt.ID,
		},
	}
	if len(rt.Extensions) > 0 {
		exts := make([]any, 0, len(rt.Extensions))
		for _, e := range rt.Extensions {
			exts = append(exts, map[string]any{"schema": e.Schema.ID, "required": e.Required})
		}
		d["schemaExtensions"] = exts
	}
	return d
}

// Capabilities is what the service provider supports; ServiceProviderConfig
// renders it honestly (RFC 7643 §5).
type Capabilities struct {
	MaxResults       int   // largest page a list request returns
	MaxPayloadSize   int64 // largest request body accepted, in bytes
	DocumentationURI string
	// DefaultCursorPage is the page size of cursor pagination without a
	// count (RFC 9865); 0 leaves cursor pagination unadvertised.
	DefaultCursorPage int
}

// ServiceProviderConfig renders the /ServiceProviderConfig document (RFC 7643 §5).
// Roster supports PATCH, filtering, sorting and ETags; it does not support
// bulk or password change, and says so.
func ServiceProviderConfig(baseURL string, c Capabilities) map[string]any {
	d := map[string]any{
		"schemas":        []any{scim.SchemaServiceProviderConfig},
		"patch":          map[string]any{"supported": true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": c.MaxPayloadSize},
		"filter":         map[string]any{"supported": true, "maxResults": c.MaxResults},
		"changePassword": map[string]any{"supported": false},
		"sort":           map[string]any{"supported": true},
		"etag":           map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Secret Token",
			"description": "Authentication with the bearer Secret Token issued by `roster token issue` (RFC 6750).",
			"specUri":     "https://www.rfc-editor.org/rfc/rfc6750",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     baseURL + "/ServiceProviderConfig",
		},
	}
	if c.DocumentationURI != "" {
		d["documentationUri"] = c.DocumentationURI
	}
	if c.DefaultCursorPage > 0 {
		// RFC 9865 §4. Index paging stays the default (RFC 9865 §2.5: the
		// clients of an index-based provider, Entra among them, expect it);
		// cursors never expire, so no cursorTimeout is advertised.
		d["pagination"] = map[string]any{"cursor": true, "index": true, "defaultPaginationMethod": "index",
			"defaultPageSize": c.DefaultCursorPage, "maxPageSize": c.MaxResults}
	}
	return d
}
