// Package directory holds the agent's use cases: tenants, tokens, and the
// create/get/list/replace/patch/delete operations on users and groups, each
// one store transaction that also records its provisioning event.
//
// It speaks SCIM documents (map[string]any) and *scim.Error, never HTTP: the
// scimhttp package translates requests into calls here.
package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/token"
	"github.com/rosterhq/roster/store"
)

// Service is the directory over one store.
type Service struct {
	db  *store.DB
	log *slog.Logger
	now func() time.Time

	authMu    sync.Mutex
	authCache map[string]cachedToken // by public id

	domMu    sync.Mutex
	domCache map[string]cachedDomains // by tenant id

	typesMu    sync.Mutex
	typesCache map[string]tenantTypes // by tenant id
}

type cachedToken struct {
	tok     *store.Token
	tenant  *store.Tenant
	fetched time.Time
	touched time.Time
}

// authCacheTTL bounds how long a revoked token may still be accepted by a
// running agent after `roster token revoke` ran in another process: a
// revocation takes effect within a second. Rereading a token twice a second
// costs one indexed read per token in use, nothing next to the requests.
const authCacheTTL = 500 * time.Millisecond

// New returns a Service. now may be nil (time.Now).
func New(db *store.DB, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, log: log, now: now, authCache: map[string]cachedToken{}, domCache: map[string]cachedDomains{}, typesCache: map[string]tenantTypes{}}
}

// DefaultTenant is the id of the tenant created on first start.
const DefaultTenant = "default"

var tenantIDRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateTenantID checks that id is usable in a Tenant URL: 1–63 lower-case
// letters, digits and inner hyphens.
func ValidateTenantID(id string) error {
	if !tenantIDRe.MatchString(id) {
		return fmt.Errorf("tenant id %q: use 1–63 lower-case letters, digits and hyphens (not at either end), e.g. \"contoso\" or \"tokyo-office\"", id)
	}
	return nil
}

// ErrTenantExists is returned by AddTenant for an id that is taken.
var ErrTenantExists = errors.New("tenant already exists")

// AddTenant creates a tenant.
func (s *Service) AddTenant(ctx context.Context, id, name string, settings store.TenantSettings) (*store.Tenant, error) {
	if err := ValidateTenantID(id); err != nil {
		return nil, err
	}
	if name == "" {
		name = id
	}
	tn := &store.Tenant{ID: id, Name: name, Created: s.now(), Settings: settings}
	err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.InsertTenant(tn) })
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: %q", ErrTenantExists, id)
	}
	return tn, err
}

// ErrNoTenant is returned (wrapped, and matching store.ErrNotFound too) for a
// tenant id that does not exist.
var ErrNoTenant = errors.New("no tenant")

// noTenantError names the missing tenant in a whole sentence.
type noTenantError struct{ id string }

func (e noTenantError) Error() string {
	return fmt.Sprintf("no tenant %q: see 'roster tenant list' (the agent creates %q on its first start)", e.id, DefaultTenant)
}

func (e noTenantError) Is(target error) bool {
	return target == ErrNoTenant || target == store.ErrNotFound
}

// tenantExists returns a noTenantError unless the tenant id exists.
func tenantExists(tx *store.Tx, id string) error {
	_, err := tx.Tenant(id)
	if errors.Is(err, store.ErrNotFound) {
		return noTenantError{id}
	}
	return err
}

// tenantFilter is tenantExists for a listing's tenant filter, where ""
// selects every tenant.
func tenantFilter(tx *store.Tx, id string) error {
	if id == "" {
		return nil
	}
	return tenantExists(tx, id)
}

// Tenants lists tenants with counts.
func (s *Service) Tenants(ctx context.Context) ([]store.TenantSummary, error) {
	var out []store.TenantSummary
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) { out, err = tx.Tenants(s.now()); return })
	return out, err
}

// Tenant returns one tenant; ErrNoTenant if there is none.
func (s *Service) Tenant(ctx context.Context, id string) (*store.Tenant, error) {
	var out *store.Tenant
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) { out, err = tx.Tenant(id); return })
	if errors.Is(err, store.ErrNotFound) {
		return nil, noTenantError{id}
	}
	return out, err
}

// RemoveTenant deletes a tenant with its users, groups, tokens, domains,
// provisioning events and saved Entra connection, in one transaction, and
// returns what it held; ErrNoTenant if there is none. A running agent stops
// accepting the tenant's tokens within authCacheTTL.
func (s *Service) RemoveTenant(ctx context.Context, id string) (*store.TenantSummary, error) {
	var removed *store.TenantSummary
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, id); err != nil {
			return err
		}
		ts, err := tx.Tenants(s.now())
		if err != nil {
			return err
		}
		for i := range ts {
			if ts[i].ID == id {
				removed = &ts[i]
			}
		}
		if err := tx.DeleteTenant(id); err != nil {
			return err
		}
		// The key under which `roster entra connect` saves the tenant's
		// connection (cmd/roster/entra.go): a tenant added again later
		// under the same id must not inherit it.
		return tx.DeleteSetting("entra:" + id)
	})
	if err != nil {
		return nil, fmt.Errorf("remove tenant: %w", err)
	}
	s.authMu.Lock()
	for k, c := range s.authCache {
		if c.tok.TenantID == id {
			delete(s.authCache, k)
		}
	}
	s.authMu.Unlock()
	s.forgetDomains(id)
	return removed, nil
}

// Issued is a newly issued token: the only time its secret is available.
type Issued struct {
	Token  token.Secret
	Record *store.Token
}

// IssueToken creates a Secret Token for a tenant. expires may be nil (never).
func (s *Service) IssueToken(ctx context.Context, tenantID, name string, readOnly bool, expires *time.Time) (*Issued, error) {
	return s.issue(ctx, tenantID, name, readOnly, false, expires)
}

// IssueAppToken creates a read-write token for the organisation's own
// applications: it may change users and groups, but never the attributes
// that Entra manages for a user.
func (s *Service) IssueAppToken(ctx context.Context, tenantID, name string, expires *time.Time) (*Issued, error) {
	return s.issue(ctx, tenantID, name, false, true, expires)
}

func (s *Service) issue(ctx context.Context, tenantID, name string, readOnly, app bool, expires *time.Time) (*Issued, error) {
	sec, id, err := token.New()
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	now := s.now()
	if name == "" {
		name = "token-" + now.UTC().Format("20060102-150405")
	}
	rec := &store.Token{ID: id, TenantID: tenantID, Name: name, Hash: token.Hash(sec.Reveal()), ReadOnly: readOnly, App: app, Created: now, Expires: expires}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		if err := tenantExists(tx, tenantID); err != nil {
			return err
		}
		return tx.InsertToken(rec)
	})
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	return &Issued{Token: sec, Record: rec}, nil
}

// Tokens lists the tokens of a tenant ("" for all), without secrets;
// ErrNoTenant for a tenant that does not exist.
func (s *Service) Tokens(ctx context.Context, tenantID string) ([]*store.Token, error) {
	var out []*store.Token
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		if err = tenantFilter(tx, tenantID); err == nil {
			out, err = tx.Tokens(tenantID)
		}
		return err
	})
	return out, err
}

// RevokeToken revokes a token by public id (or by the full token, or
// "roster_<id>" as shown in listings).
func (s *Service) RevokeToken(ctx context.Context, ref string) (*store.Token, error) {
	id := ref
	if pid, err := token.Parse(ref); err == nil {
		id = pid
	}
	id = strings.TrimSuffix(strings.TrimPrefix(id, token.Prefix), "…")
	var out *store.Token
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.RevokeToken(id, s.now()); err != nil {
			return err
		}
		var err error
		out, err = tx.Token(id)
		return err
	})
	s.authMu.Lock()
	delete(s.authCache, id)
	s.authMu.Unlock()
	return out, err
}

// Principal is an authenticated caller.
type Principal struct {
	Tenant    *store.Tenant
	TokenID   string
	TokenName string
	ReadOnly  bool
	// App is true for an app token: it may not change Entra-managed attributes.
	App bool
}

// ErrUnauthenticated is returned by Authenticate for a missing, malformed,
// unknown, revoked or expired token, or one of another tenant.
var ErrUnauthenticated = errors.New("invalid or expired Secret Token")

// Authenticate checks a bearer token against the tenant named in the URL. A
// token of another tenant is rejected exactly like an unknown one: it can
// never read or write another tenant's data.
func (s *Service) Authenticate(ctx context.Context, tenantID, bearer string) (*Principal, error) {
	id, err := token.Parse(bearer)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	now := s.now()
	s.authMu.Lock()
	c, ok := s.authCache[id]
	s.authMu.Unlock()
	if !ok || now.Sub(c.fetched) >= authCacheTTL {
		var tok *store.Token
		var tn *store.Tenant
		err := s.db.Read(ctx, func(tx *store.Tx) error {
			var err error
			if tok, err = tx.Token(id); err != nil {
				return err
			}
			tn, err = tx.Tenant(tok.TenantID)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			// Compare anyway so unknown ids cost the same as wrong secrets.
			token.Equal(bearer, make([]byte, 32))
			return nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		c = cachedToken{tok: tok, tenant: tn, fetched: now, touched: c.touched}
		s.authMu.Lock()
		s.authCache[id] = c
		s.authMu.Unlock()
	}
	if !token.Equal(bearer, c.tok.Hash) || !c.tok.Active(now) || c.tok.TenantID != tenantID {
		return nil, ErrUnauthenticated
	}
	if now.Sub(c.touched) > time.Minute {
		s.authMu.Lock()
		c.touched = now
		s.authCache[id] = c
		s.authMu.Unlock()
		go func() { // last-used is advisory; never slow a request for it
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.TouchToken(id, now) }); err != nil && !errors.Is(err, store.ErrClosed) {
				s.log.Warn("record token use", "token_id", id, "err", err)
			}
		}()
	}
	return &Principal{Tenant: c.tenant, TokenID: id, TokenName: c.tok.Name, ReadOnly: c.tok.ReadOnly, App: c.tok.App}, nil
}

// Call describes the request a use case serves: who, where, and what to log.
type Call struct {
	TenantID  string
	TokenName string
	// BaseURL is the tenant's SCIM base URL (the Tenant URL), used for meta.location.
	BaseURL string
	Method  string
	Path    string
	Start   time.Time
	// App is true when the caller uses an app token rather than a
	// provisioning (Entra) token: it may not change Entra-managed attributes.
	App bool
	// Extensions are the tenant's declared custom extension attributes.
	Extensions []store.ExtensionAttribute
}

// Record stores a provisioning event for a request rejected before it reached
// a use case (bad token, malformed body…). err is rendered as the outcome;
// status StatusClientClosed records a request whose client went away.
func (s *Service) Record(ctx context.Context, c Call, status int, err error) {
	ev := s.event(c, "", "", "")
	ev.Status = status
	var se *scim.Error
	switch {
	case status == StatusClientClosed:
		markCancelled(ev)
	case errors.As(err, &se):
		ev.Status, ev.ScimType, ev.Detail = se.Status, se.ScimType, se.Detail
	case err != nil:
		ev.Detail = err.Error()
	}
	if werr := s.db.Write(ctx, func(tx *store.Tx) error { return tx.InsertEvent(ev) }); werr != nil {
		s.log.Error("record event", "err", werr)
	}
}

// RecordAuthFailure stores a request refused for its credentials (err, a
// 401) from the client address client. Such events are counted per tenant,
// client address and minute: a flood of wrong tokens adds one row per
// address and minute, with the number of attempts, however many requests
// it sends.
func (s *Service) RecordAuthFailure(ctx context.Context, c Call, client string, err error) {
	ev := s.event(c, "", "", "")
	ev.Status = scim.StatusUnauthorized
	var se *scim.Error
	if errors.As(err, &se) {
		ev.Status, ev.ScimType, ev.Detail = se.Status, se.ScimType, se.Detail
	}
	ev.Detail = strings.TrimSpace(ev.Detail + " (client " + client + ")")
	key := c.TenantID + "|" + client + "|" + strconv.FormatInt(ev.At.Unix()/60, 10)
	if werr := s.db.Write(ctx, func(tx *store.Tx) error { return tx.CountEvent(ev, key) }); werr != nil {
		s.log.Error("record event", "err", werr)
	}
}

func (s *Service) event(c Call, kind store.Kind, id, name string) *store.Event {
	now := s.now()
	return &store.Event{At: now, TenantID: c.TenantID, TokenName: c.TokenName, Method: c.Method, Path: c.Path,
		ResourceType: string(kind), ResourceID: id, Name: name, Duration: now.Sub(c.Start)}
}

// Events returns provisioning events; ErrNoTenant when q names a tenant
// that does not exist.
func (s *Service) Events(ctx context.Context, q store.EventQuery) ([]*store.Event, error) {
	var out []*store.Event
	err := s.db.Read(ctx, func(tx *store.Tx) (err error) {
		if err = tenantFilter(tx, q.TenantID); err == nil {
			out, err = tx.Events(q)
		}
		return err
	})
	return out, err
}

// UpdateTenant stores a tenant's name and settings; ErrNoTenant if there is
// no such tenant.
func (s *Service) UpdateTenant(ctx context.Context, t *store.Tenant) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.UpdateTenant(t) })
	if errors.Is(err, store.ErrNotFound) {
		return noTenantError{t.ID}
	}
	return err
}
