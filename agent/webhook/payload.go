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
	"github.com/rosterhq/roster/store"
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

// Event URIs of RFC 9967 §2.4 (provisioning events; the prefix is §2's
// "urn:ietf:params:scim:event", registered in §7.4).
const (
	eventCreateFull = "urn:ietf:params:scim:event:prov:create:full" // §2.4.1
	eventPatchFull  = "urn:ietf:params:scim:event:prov:patch:full"  // §2.4.2
	eventPutFull    = "urn:ietf:params:scim:event:prov:put:full"    // §2.4.3
	eventDelete     = "urn:ietf:params:scim:event:prov:delete"      // §2.4.4
	eventActivate   = "urn:ietf:params:scim:event:prov:activate"    // §2.4.5
	eventDeactivate = "urn:ietf:params:scim:event:prov:deactivate"  // §2.4.6
	patchOpSchema   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	// SETMediaType is a SET's media type (RFC 8417 §7.2), the Content-Type
	// of a push delivery (RFC 8935 §2).
	SETMediaType = "application/secevent+jwt"
)

// Body renders change c for endpoint w in w's format and returns it with
// its Content-Type. For FormatSCIMSET, issuer is the SET's iss (the
// tenant's SCIM base URL; "" leaves it out) and now its iat.
func Body(w *store.Webhook, c *feed.Change, issuer string, now time.Time) ([]byte, string, error) {
	if w.Format != FormatSCIMSET {
		b, err := json.Marshal(c)
		return b, "application/json", err
	}
	s, err := setClaims(c, issuer, w, now)
	if err != nil {
		return nil, "", err
	}
	claims, err := json.Marshal(s)
	if err != nil {
		return nil, "", err
	}
	// An unsecured JWS (RFC 7515 Appendix A.5; "alg":"none" is RFC 7518
	// §3.6), as RFC 8417 §2.4 allows for a SET whose transfer provides
	// integrity and issuer validation otherwise: here the Standard Webhooks
	// signature over the whole body, and TLS. The publisher talks to the
	// receiver directly, so RFC 9967 §5 does not ask for a JWS signature.
	return []byte(setHeader + "." + base64.RawURLEncoding.EncodeToString(claims) + "."), SETMediaType, nil
}

// setHeader is the JOSE header: explicitly typed as RFC 8417 §2.3 says
// ("typ" without the "application/" prefix).
var setHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"secevent+jwt"}`))

// set is the claims of an RFC 9967 SET (RFC 8417 §2.2). It has no "sub"
// (RFC 9967 §2.1 forbids it) and no "exp" (a SET records something that
// already happened, RFC 8417 §2.2).
type set struct {
	// JTI identifies this token (RFC 7519 §4.1.7): one change rendered for
	// one endpoint, so the same on every retry to that endpoint and
	// different at each endpoint.
	JTI string `json:"jti"`
	// IAT is when the token was rendered (RFC 7519 §4.1.6); TOE is when
	// the change was committed (RFC 8417 §2.2).
	IAT int64  `json:"iat"`
	ISS string `json:"iss,omitempty"` // RFC 7519 §4.1.1
	AUD string `json:"aud"`           // RFC 7519 §4.1.3: the endpoint's URL
	TOE int64  `json:"toe"`
	// TXN is the change id: the same in every SET about the change, at
	// every endpoint and on every retry (RFC 9967 §2.2, RFC 8417 §2.2).
	TXN    string         `json:"txn"`
	SubID  subID          `json:"sub_id"` // RFC 9967 §2.1
	Events map[string]any `json:"events"` // RFC 8417 §2.2
}

// subID is the "scim" subject identifier format of RFC 9967 §2.1 (the
// sub_id claim is RFC 9493's).
type subID struct {
	Format string `json:"format"`
	// URI is the resource's path relative to the SCIM base URL (iss).
	URI        string `json:"uri"`
	ExternalID string `json:"externalId,omitempty"`
}

// event is a provisioning event's payload (RFC 9967 §2.2): in "full" mode
// data, and version when the resource has one; delete, activate and
// deactivate have no payload (§2.4.4 to §2.4.6).
type event struct {
	Version string `json:"version,omitempty"`
	Data    any    `json:"data,omitempty"`
}

// setClaims maps a change onto a SET (docs/webhooks.md, "scim-set"). Every
// event with a payload is a "full" one, with data and never attributes
// (RFC 9967 §2.4: exactly one of the two), so that a receiver can
// replicate the directory without calling back.
func setClaims(c *feed.Change, issuer string, w *store.Webhook, now time.Time) (*set, error) {
	endpoint := "/Users/"
	if c.Resource.Type == "Group" {
		endpoint = "/Groups/"
	}
	s := &set{JTI: c.ID + "." + w.ID, IAT: now.Unix(), ISS: issuer, AUD: w.URL, TOE: c.Time.Unix(), TXN: c.ID,
		SubID: subID{Format: "scim", URI: endpoint + c.Resource.ID, ExternalID: c.Resource.ExternalID}}
	var doc map[string]any
	version := ""
	if len(c.Data) > 0 {
		if err := json.Unmarshal(c.Data, &doc); err != nil {
			return nil, fmt.Errorf("change %s: data: %w", c.ID, err)
		}
		if meta, ok := doc["meta"].(map[string]any); ok {
			version, _ = meta["version"].(string)
		}
	}
	switch c.Type {
	case feed.UserCreated, feed.GroupCreated:
		// §2.4.1: data is the final representation. The record carries a
		// new group's members as ids (Added); the representation has them.
		if c.Type == feed.GroupCreated && len(c.Added) > 0 {
			if doc == nil {
				doc = map[string]any{}
			}
			doc["members"] = memberValues(c.Added)
		}
		s.Events = map[string]any{eventCreateFull: event{Version: version, Data: doc}}
	case feed.UserUpdated, feed.UserDeactivated, feed.UserReactivated:
		// §2.4.3: data is a PUT body, the whole user after the change. A
		// deactivation or reactivation is the same state change, so it
		// travels in the same SET (§2.1: several event URIs, one change).
		s.Events = map[string]any{eventPutFull: event{Version: version, Data: doc}}
		switch c.Type {
		case feed.UserDeactivated:
			s.Events[eventDeactivate] = struct{}{}
		case feed.UserReactivated:
			s.Events[eventActivate] = struct{}{}
		}
	case feed.GroupUpdated, feed.GroupMembersChanged:
		// §2.4.2: data is the PATCH request that makes the change. Not
		// prov:put, whose data replaces the whole group (RFC 7644 §3.5.1):
		// the record holds the members that changed, not all of them.
		s.Events = map[string]any{eventPatchFull: event{Version: version, Data: groupPatch(c, doc)}}
	case feed.UserDeleted, feed.GroupDeleted:
		s.Events = map[string]any{eventDelete: struct{}{}} // §2.4.4
	default: // TestType: no SCIM event fits, so a private URN names it
		s.Events = map[string]any{"urn:rosterhq:roster:event:" + c.Type: struct{}{}}
	}
	return s, nil
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

// groupPatch expresses a group's change as the SCIM PATCH request that
// makes it (RFC 7644 §3.5.2): each changed attribute replaced with its new
// value (or removed), the members added, and each removed member removed
// by a value filter (RFC 7644 §3.5.2.2).
func groupPatch(c *feed.Change, doc map[string]any) map[string]any {
	ops := []map[string]any{}
	for _, p := range c.Paths {
		if p == "members" {
			continue
		}
		if v, ok := doc[p]; ok {
			ops = append(ops, map[string]any{"op": "replace", "path": p, "value": v})
		} else {
			ops = append(ops, map[string]any{"op": "remove", "path": p})
		}
	}
	if len(c.Added) > 0 {
		ops = append(ops, map[string]any{"op": "add", "path": "members", "value": memberValues(c.Added)})
	}
	for _, id := range c.Removed {
		ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", id)})
	}
	return map[string]any{"schemas": []string{patchOpSchema}, "Operations": ops}
}

// memberValues is a group's members attribute for member ids.
func memberValues(ids []string) []map[string]string {
	vals := make([]map[string]string, len(ids))
	for i, id := range ids {
		vals[i] = map[string]string{"value": id}
	}
	return vals
}
