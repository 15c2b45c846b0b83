// Package scim holds the core SCIM 2.0 protocol vocabulary shared by the agent:
// schema URNs (RFC 7643 §8.7), the error type and scimType values (RFC 7644 §3.12),
// and the JSON shapes of list responses (RFC 7644 §3.4.2).
//
// It imports only the standard library; everything that speaks HTTP or SQL lives
// elsewhere and translates to and from these types at its edge.
package scim

import (
	"fmt"
	"strconv"
)

// Schema and message URNs (RFC 7643 §8.7.1, RFC 7644 §3.1).
const (
	SchemaUser                  = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup                 = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterpriseUser        = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaServiceProviderConfig = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaResourceType          = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema                = "urn:ietf:params:scim:schemas:core:2.0:Schema"

	MessageListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	MessageSearch       = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	MessagePatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	MessageError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	MessageBulkRequest  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
)

// MediaType is the SCIM media type (RFC 7644 §3.1); Entra's validator rejects
// responses that carry anything else (docs/entra.md#media-types).
const MediaType = "application/scim+json"

// scimType values for 400/409/413 errors (RFC 7644 §3.12, table 9).
const (
	InvalidFilter = "invalidFilter"
	TooMany       = "tooMany"
	Uniqueness    = "uniqueness"
	Mutability    = "mutability"
	InvalidSyntax = "invalidSyntax"
	InvalidPath   = "invalidPath"
	NoTarget      = "noTarget"
	InvalidValue  = "invalidValue"
	InvalidVers   = "invalidVers"
	Sensitive     = "sensitive"
)

// Error is a SCIM protocol error (RFC 7644 §3.12): an HTTP status, an optional
// scimType and a human-readable detail. It is what every layer returns for
// problems the client caused; it is rendered as an Error message body at the edge.
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

// Error implements error.
func (e *Error) Error() string {
	if e.ScimType != "" {
		return fmt.Sprintf("scim %d %s: %s", e.Status, e.ScimType, e.Detail)
	}
	return fmt.Sprintf("scim %d: %s", e.Status, e.Detail)
}

// Errorf builds an *Error with a formatted detail.
func Errorf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest builds a 400 *Error with the given scimType.
func BadRequest(scimType, format string, args ...any) *Error {
	return Errorf(StatusBadRequest, scimType, format, args...)
}

// ErrorBody is the JSON form of an Error (RFC 7644 §3.12): status is a string.
type ErrorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// Body returns the JSON body for e.
func (e *Error) Body() ErrorBody {
	return ErrorBody{
		Schemas:  []string{MessageError},
		Status:   strconv.Itoa(e.Status),
		ScimType: e.ScimType,
		Detail:   e.Detail,
	}
}

// ListResponse is the body of a query response (RFC 7644 §3.4.2). Entra requires
// it even for zero results (docs/entra.md#test-connection).
type ListResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	// Resources holds documents as map[string]any, or already-encoded JSON
	// objects as json.RawMessage.
	Resources []any `json:"Resources"` // NextCursor continues a cursor-paginated list; "" on its last page
	// (RFC 9865 §2).
	NextCursor string `json:"nextCursor,omitempty"`
	// Cursor marks a page of cursor pagination: it has no startIndex, and
	// no totalResults when TotalUnknown (RFC 9865 §2 allows omitting it).
	Cursor       bool `json:"-"`
	TotalUnknown bool `json:"-"`
}

// NewListResponse builds a ListResponse; resources may be nil (rendered as []).
func NewListResponse(total, startIndex int, resources []any) ListResponse {
	if resources == nil {
		resources = []any{}
	}
	return ListResponse{
		Schemas:      []string{MessageListResponse},
		TotalResults: total,
		StartIndex:   startIndex,
		ItemsPerPage: len(resources),
		Resources:    resources,
	}
}

// Status codes used by SCIM responses (RFC 7644 §3.12). They are plain HTTP
// status numbers, named here so that packages below the HTTP edge need not
// import net/http.
const (
	StatusOK                  = 200
	StatusCreated             = 201
	StatusNoContent           = 204
	StatusBadRequest          = 400
	StatusUnauthorized        = 401
	StatusForbidden           = 403
	StatusNotFound            = 404
	StatusConflict            = 409
	StatusPreconditionFailed  = 412
	StatusPayloadTooLarge     = 413
	StatusInternalServerError = 500
	StatusServiceUnavailable  = 503
)
