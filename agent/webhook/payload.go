package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/feed"
)

// Payload formats of an endpoint.
const (
	// FormatJSON sends the change record as JSON (docs/change-feed.md), the
	// same record the pull API returns.
	FormatJSON = "json"
	// FormatSCIMSET sends each change as an RFC 9967 Security Event Token.
	FormatSCIMSET = "scim-set"
)

// Formats lists the payload formats, the default first.
var Formats = []string{FormatJSON, FormatSCIMSET}

// ParseFormat checks a payload format name; "" is FormatJSON.
func ParseFormat(s string) (string, error) {
	switch s {
	case "", FormatJSON:
		return FormatJSON, nil
	case FormatSCIMSET:
		return FormatSCIMSET, nil
	}
	return "", fmt.Errorf("unknown webhook format %q (one of %s)", s, strings.Join(Formats, ", "))
}

// Event URIs of RFC 9967 §2.4 (provisioning events).
const (
	eventCreateFull = "urn:ietf:params:scim:event:prov:create:full"
	eventPutFull    = "urn:ietf:params:scim:event:prov:put:full"
	eventPatchFull  = "urn:ietf:params:scim:event:prov:patch:full"
	eventDelete     = "urn:ietf:params:scim:event:prov:delete"
	eventActivate   = "urn:ietf:params:scim:event:prov:activate"
	eventDeactivate = "urn:ietf:params:scim:event:prov:deactivate"
	patchOpSchema   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// Body renders a change in an endpoint's format and returns it with its
// Content-Type. issuer is the SET's iss (the tenant's SCIM base URL) and
// audience its aud (the endpoint's URL).
func Body(format string, c *feed.Change, issuer, audience string) ([]byte, string, error) {
	if format != FormatSCIMSET {
		b, err := json.Marshal(c)
		return b, "application/json", err
	}
	claims, err := json.Marshal(setClaims(c, issuer, audience))
	if err != nil {
		return nil, "", err
	}
	// An unsecured JWS (RFC 7515 §A.5, "alg": "none"), as RFC 8417 §2.2
	// allows for a SET whose transfer is otherwise authenticated: here the
	// Standard Webhooks signature over the whole body, and TLS. The media
	// type is RFC 8417 §7.2's, as in push delivery (RFC 8935 §2).
	return []byte(setHeader + "." + base64.RawURLEncoding.EncodeToString(claims) + "."), "application/secevent+jwt", nil
}

var setHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"secevent+jwt"}`))

// set is the claims of an RFC 9967 SET (RFC 8417 §2.2).
type set struct {
	JTI    string         `json:"jti"`
	IAT    int64          `json:"iat"`
	ISS    string         `json:"iss,omitempty"`
	AUD    string         `json:"aud,omitempty"`
	TOE    int64          `json:"toe"`
	TXN    string         `json:"txn,omitempty"`
	SubID  subID          `json:"sub_id"`
	Events map[string]any `json:"events"`
}

// subID is the "scim" subject identifier format of RFC 9967 §2.2.
type subID struct {
	Format     string `json:"format"`
	URI        string `json:"uri"`
	ExternalID string `json:"externalId,omitempty"`
}

func setClaims(c *feed.Change, issuer, audience string) set {
	endpoint := "/Users/"
	if c.Resource.Type == "Group" {
		endpoint = "/Groups/"
	}
	s := set{JTI: c.ID, IAT: c.Time.Unix(), ISS: issuer, AUD: audience, TOE: c.Time.Unix(), TXN: c.ID,
		SubID: subID{Format: "scim", URI: endpoint + c.Resource.ID, ExternalID: c.Resource.ExternalID}}
	full := map[string]any{"data": c.Data}
	switch c.Type {
	case feed.UserCreated, feed.GroupCreated:
		s.Events = map[string]any{eventCreateFull: full}
	case feed.UserUpdated, feed.GroupUpdated:
		// The record holds the resource after the change, which is what a
		// put:full event carries; the changed paths travel as "attributes".
		ev := map[string]any{"data": c.Data}
		if len(c.Paths) > 0 {
			ev["attributes"] = c.Paths
		}
		s.Events = map[string]any{eventPutFull: ev}
	case feed.UserDeactivated:
		s.Events = map[string]any{eventDeactivate: map[string]any{}}
	case feed.UserReactivated:
		s.Events = map[string]any{eventActivate: map[string]any{}}
	case feed.UserDeleted, feed.GroupDeleted:
		s.Events = map[string]any{eventDelete: map[string]any{}}
	case feed.GroupMembersChanged:
		s.Events = map[string]any{eventPatchFull: map[string]any{"data": membersPatch(c)}}
	default: // TestType: no SCIM event fits, so a private URN names it
		s.Events = map[string]any{"urn:rosterhq:roster:event:" + c.Type: map[string]any{}}
	}
	return s
}

// TestType is the type of the change `roster webhook test` sends; it is
// never in the change log.
const TestType = "webhook.test"

// TestChange returns a change of TestType for a tenant: a receiver can
// check its signature and must acknowledge it like any other delivery.
func TestChange(tenant string, now time.Time) (*feed.Change, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &feed.Change{ID: "test_" + hex.EncodeToString(b), Tenant: tenant, Time: now.UTC(), Type: TestType,
		Resource: feed.Resource{Type: "Test"}}, nil
}

// membersPatch expresses a membership change as the SCIM PATCH request
// that makes it (RFC 7644 §3.5.2).
func membersPatch(c *feed.Change) map[string]any {
	var ops []map[string]any
	if len(c.Added) > 0 {
		vals := make([]map[string]string, len(c.Added))
		for i, id := range c.Added {
			vals[i] = map[string]string{"value": id}
		}
		ops = append(ops, map[string]any{"op": "add", "path": "members", "value": vals})
	}
	for _, id := range c.Removed {
		ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", id)})
	}
	return map[string]any{"schemas": []string{patchOpSchema}, "Operations": ops}
}
