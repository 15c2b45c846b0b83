package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

// tenantTypes are a tenant's resource types extended by its declarations,
// cached until the declarations change.
type tenantTypes struct {
	decls       []store.ExtensionAttribute
	user, group *schema.ResourceType
}

// ResourceType returns the resource type of kind for the caller's tenant:
// the built-in one, extended by the tenant's declared custom extension
// attributes. Without declarations it allocates nothing.
func (s *Service) ResourceType(c Call, kind store.Kind) *schema.ResourceType {
	if len(c.Extensions) == 0 {
		return typeOf(kind)
	}
	s.typesMu.Lock()
	defer s.typesMu.Unlock()
	tt, ok := s.typesCache[c.TenantID]
	if !ok || !slices.Equal(tt.decls, c.Extensions) {
		decls := declared(c.Extensions)
		tt = tenantTypes{decls: slices.Clone(c.Extensions), user: schema.UserType.WithDeclared(decls), group: schema.GroupType.WithDeclared(decls)}
		s.typesCache[c.TenantID] = tt
	}
	if kind == store.KindGroup {
		return tt.group
	}
	return tt.user
}

// ResourceTypes returns every resource type of the caller's tenant, in
// discovery order.
func (s *Service) ResourceTypes(c Call) []*schema.ResourceType {
	return []*schema.ResourceType{s.ResourceType(c, store.KindUser), s.ResourceType(c, store.KindGroup)}
}

// declared converts stored declarations; one that no longer parses (edited
// by hand) is skipped.
func declared(exts []store.ExtensionAttribute) []schema.Declared {
	out := make([]schema.Declared, 0, len(exts))
	for _, e := range exts {
		if d, err := schema.ParseDeclared(e.Schema+":"+e.Name, e.Type, e.MultiValued); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// ErrExtensionExists is returned by DeclareExtension for an attribute that is
// already declared.
var ErrExtensionExists = errors.New("extension attribute already declared")

// ErrNoExtension is returned by RemoveExtension for an attribute that is not declared.
var ErrNoExtension = errors.New("extension attribute not declared")

// DeclareExtension declares a custom extension attribute of a tenant, given
// fully qualified ("urn:…:extension:Contoso:2.0:User:costCode"), with its type
// (string, boolean, integer, decimal, dateTime or reference). From then on
// the agent type-checks, stores and filters it and lists it in /Schemas; a
// running agent sees it within the time it caches a token's tenant.
func (s *Service) DeclareExtension(ctx context.Context, tenantID, full, typ string, multiValued bool) (store.ExtensionAttribute, error) {
	d, err := schema.ParseDeclared(full, typ, multiValued)
	if err != nil {
		return store.ExtensionAttribute{}, err
	}
	e := store.ExtensionAttribute{Schema: d.Schema, Name: d.Name, Type: string(d.Type), MultiValued: d.MultiValued}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		tn, err := tx.Tenant(tenantID)
		if err != nil {
			return err
		}
		for _, x := range tn.Settings.Extensions {
			if strings.EqualFold(x.Schema, e.Schema) && strings.EqualFold(x.Name, e.Name) {
				return fmt.Errorf("%w: %s", ErrExtensionExists, x.Schema+":"+x.Name)
			}
		}
		tn.Settings.Extensions = append(tn.Settings.Extensions, e)
		return tx.UpdateTenant(tn)
	})
	if err != nil {
		return store.ExtensionAttribute{}, err
	}
	s.forgetTenant(tenantID)
	return e, nil
}

// RemoveExtension removes a declaration. Values already stored stay in the
// documents; they are no longer accepted in requests.
func (s *Service) RemoveExtension(ctx context.Context, tenantID, full string) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		tn, err := tx.Tenant(tenantID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(tn.Settings.Extensions, func(x store.ExtensionAttribute) bool {
			return strings.EqualFold(x.Schema+":"+x.Name, full)
		})
		if i < 0 {
			return fmt.Errorf("%w: %s", ErrNoExtension, full)
		}
		tn.Settings.Extensions = slices.Delete(tn.Settings.Extensions, i, i+1)
		return tx.UpdateTenant(tn)
	})
	if err == nil {
		s.forgetTenant(tenantID)
	}
	return err
}

// forgetTenant drops what this process cached about a tenant's tokens, so a
// change of its settings applies to the next request.
func (s *Service) forgetTenant(tenantID string) {
	s.authMu.Lock()
	for k, v := range s.authCache {
		if v.tenant != nil && v.tenant.ID == tenantID {
			delete(s.authCache, k)
		}
	}
	s.authMu.Unlock()
}
