package directory

import (
	"context"
	"reflect"
	"slices"
	"strings"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

// Entra-managed attributes (issue 3; the seeds: "these items on the profile
// screen are deactivated and cannot be changed"). Every attribute a
// provisioning token writes to a user becomes managed; app tokens may change
// the others but never these.

// attributePaths lists a user document's attributes: top-level names, and
// "urn:…:attr" for the attributes of an extension object.
func attributePaths(doc map[string]any) []string {
	var out []string
	for k, v := range doc {
		if k == "schemas" {
			continue
		}
		if ext, ok := v.(map[string]any); ok && schema.UserType.IsExtension(k) {
			for sub := range ext {
				out = append(out, k+":"+sub)
			}
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// valueAt returns the value of an attribute path in a document.
func valueAt(doc map[string]any, path string) any {
	if i := strings.LastIndexByte(path, ':'); i > 0 && schema.UserType.IsExtension(path[:i]) {
		ext, _ := doc[path[:i]].(map[string]any)
		return ext[path[i+1:]]
	}
	return doc[path]
}

// changedPaths lists the attribute paths whose values differ between two documents.
func changedPaths(before, after map[string]any) []string {
	var out []string
	for _, p := range mergePaths(attributePaths(before), attributePaths(after)) {
		if !reflect.DeepEqual(valueAt(before, p), valueAt(after, p)) {
			out = append(out, p)
		}
	}
	return out
}

func mergePaths(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// nextManaged returns the managed attributes after a write by c: a
// provisioning token adds what it wrote (every attribute of a replaced
// document, the changed ones of a PATCH); an app token may not change any
// managed attribute.
func nextManaged(c Call, managed []string, before, after map[string]any, replaced bool) ([]string, error) {
	if !c.App {
		if replaced {
			return mergePaths(managed, attributePaths(after)), nil
		}
		return mergePaths(managed, changedPaths(before, after)), nil
	}
	var touched []string
	for _, p := range changedPaths(before, after) {
		if slices.Contains(managed, p) {
			touched = append(touched, p)
		}
	}
	if len(touched) > 0 {
		verb, them := "are", "them"
		if len(touched) == 1 {
			verb, them = "is", "it"
		}
		return nil, scim.BadRequest(scim.Mutability, "%s %s managed by Microsoft Entra ID for this user: an app token cannot change %s; change %s in Entra, which provisions %s here",
			strings.Join(touched, ", "), verb, them, them, them)
	}
	return managed, nil
}

// UserStatus is what `roster users show` adds to a user's document: which
// attributes Entra manages, and the state of the user's email domains.
type UserStatus struct {
	Managed []string
	Domains []DomainState
}

// DomainState is one of a user's email domains and its verification state
// ("" when the tenant does not have that domain).
type DomainState struct {
	Domain string
	Status store.DomainStatus
}

// UserStatus returns the managed attributes and email-domain states of a user.
func (s *Service) UserStatus(ctx context.Context, c Call, id string) (*UserStatus, error) {
	out := &UserStatus{}
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		r, err := tx.Resource(c.TenantID, store.KindUser, id)
		if err != nil {
			return err
		}
		out.Managed = r.Managed
		ds, err := tx.Domains(c.TenantID)
		if err != nil {
			return err
		}
		for _, name := range emailDomains(r.Doc) {
			st := DomainState{Domain: name}
			for _, d := range ds {
				if name == d.Domain || strings.HasSuffix(name, "."+d.Domain) {
					st.Status = d.Status
					if d.Status == store.DomainVerified {
						break
					}
				}
			}
			out.Domains = append(out.Domains, st)
		}
		return nil
	})
	if err != nil {
		return nil, toSCIM(store.KindUser, id, nil, err)
	}
	return out, nil
}
