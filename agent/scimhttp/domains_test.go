package scimhttp_test

import (
	"context"
	"github.com/rosterhq/roster/agent/scim"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rosterhq/roster/agent/domainproof"
	"github.com/rosterhq/roster/agent/domainproof/dnstest"
	"github.com/rosterhq/roster/store"
)

// TestDomainEnforcement runs the domain proof end to end: a real DNS server on
// 127.0.0.1, the real checker, and SCIM writes through HTTP.
func TestDomainEnforcement(t *testing.T) {
	ctx := context.Background()
	a := newTestAgent(t)
	base, tok := a.tenant(t, "acme", store.TenantSettings{})
	c := newClient(base, tok)
	dnsSrv := dnstest.Start(t)
	dnsSrv.AddZone(t, "contoso.test.", "127.0.0.1")
	checker := &domainproof.Checker{Nameservers: []string{dnsSrv.Addr}, Timeout: time.Second}

	// No domains yet: every domain is accepted.
	wantStatus(t, c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "early@fabrikam.test"}, nil), http.StatusCreated)

	d, err := a.dir.AddDomain(ctx, "acme", "Contoso.TEST.")
	if err != nil {
		t.Fatal(err)
	}
	if d.Domain != "contoso.test" || d.RecordName != "_roster-challenge.contoso.test" || !strings.HasPrefix(d.Value, "roster-verification=") {
		t.Fatalf("AddDomain = %+v", d)
	}

	t.Run("pending domain refuses users, naming the domain and the command", func(t *testing.T) {
		r := c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "alice@contoso.test"}, nil)
		wantSCIMError(t, r, http.StatusBadRequest, "invalidValue")
		if detail := errDetail(t, r); !strings.Contains(detail, `"contoso.test"`) || !strings.Contains(detail, "roster domain verify contoso.test --tenant acme") {
			t.Errorf("detail = %q", detail)
		}
		evs, _ := a.dir.Events(ctx, store.EventQuery{TenantID: "acme", Failed: true})
		if len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Detail, "contoso.test") {
			t.Errorf("the rejection is not in the provisioning events: %+v", evs)
		}
	})
	t.Run("a domain the tenant does not have is refused once it has one", func(t *testing.T) {
		r := c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "bob@fabrikam.test"}, nil)
		wantSCIMError(t, r, http.StatusBadRequest, "invalidValue")
		if detail := errDetail(t, r); !strings.Contains(detail, "roster domain add fabrikam.test") {
			t.Errorf("detail = %q", detail)
		}
	})

	// Verify: not published yet, then published.
	got, res, err := a.dir.VerifyDomain(ctx, "acme", "contoso.test", checker)
	if err != nil || got.Status != store.DomainPending || res.Status != domainproof.Absent {
		t.Fatalf("verify before publishing: %v %v %v", got, res, err)
	}
	dnsSrv.Add(t, d.RecordName+` 300 IN TXT "`+d.Value+`"`)
	got, res, err = a.dir.VerifyDomain(ctx, "acme", "contoso.test", checker)
	if err != nil || got.Status != store.DomainVerified {
		t.Fatalf("verify after publishing: %+v %+v %v", got, res, err)
	}

	var alice string
	t.Run("verified domain and its subdomains are accepted", func(t *testing.T) {
		r := c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "alice@contoso.test"}, nil)
		wantStatus(t, r, http.StatusCreated)
		alice, _ = r.obj(t)["id"].(string)
		wantStatus(t, c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "carol@eu.contoso.test"}, nil), http.StatusCreated)
	})
	t.Run("the work email's domain counts too", func(t *testing.T) {
		r := c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "dave@contoso.test",
			"emails": []any{map[string]any{"type": "work", "value": "dave@fabrikam.test"}}}, nil)
		wantSCIMError(t, r, http.StatusBadRequest, "invalidValue")
		r = c.do(t, http.MethodPatch, "/Users/"+alice, patchBody(op("Replace", `emails[type eq "work"].value`, "alice@fabrikam.test")), nil)
		wantSCIMError(t, r, http.StatusBadRequest, "invalidValue")
	})

	// The record disappears; the agent's periodic check finds it missing for
	// longer than the grace period (backdated here) and lapses the domain.
	dnsSrv.Remove(d.RecordName, dns.TypeTXT)
	missing, due := time.Now().Add(-8*24*time.Hour), time.Now()
	got.MissingSince, got.NextCheck = &missing, &due
	if err := a.db.Write(ctx, func(tx *store.Tx) error { return tx.UpdateDomain(got) }); err != nil {
		t.Fatal(err)
	}
	if n, err := a.dir.CheckDueDomains(ctx, checker); err != nil || n != 1 {
		t.Fatalf("CheckDueDomains = %d, %v; want 1 domain checked", n, err)
	}
	if ds, _ := a.dir.Domains(ctx, "acme"); len(ds) != 1 || ds[0].Status != store.DomainLapsed {
		t.Fatalf("after 8 days without the record: %+v", ds[0])
	}
	t.Run("lapsed domain keeps existing users, refuses changes, allows disabling and deleting", func(t *testing.T) {
		wantStatus(t, c.do(t, http.MethodGet, "/Users/"+alice, nil, nil), http.StatusOK)
		r := c.do(t, http.MethodPatch, "/Users/"+alice, patchBody(op("Replace", "title", "CEO")), nil)
		wantSCIMError(t, r, http.StatusBadRequest, "invalidValue")
		if detail := errDetail(t, r); !strings.Contains(detail, "status: lapsed") {
			t.Errorf("detail = %q", detail)
		}
		wantStatus(t, c.do(t, http.MethodPatch, "/Users/"+alice, patchBody(op("Replace", "active", "False")), nil), http.StatusOK)
		wantStatus(t, c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "erin@contoso.test"}, nil), http.StatusBadRequest)
		wantStatus(t, c.do(t, http.MethodDelete, "/Users/"+alice, nil, nil), http.StatusNoContent)
	})

	t.Run("removing the last domain accepts every domain again", func(t *testing.T) {
		if err := a.dir.RemoveDomain(ctx, "acme", "contoso.test"); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, c.do(t, http.MethodPost, "/Users", map[string]any{"schemas": []any{scim.SchemaUser}, "userName": "frank@fabrikam.test"}, nil), http.StatusCreated)
	})
}

func errDetail(t *testing.T, r *reply) string {
	t.Helper()
	d, _ := r.obj(t)["detail"].(string)
	return d
}
