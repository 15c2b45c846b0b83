package store

import (
	"errors"
	"testing"
	"time"
)

// TestOAuthClients: a client's revocation revokes its secrets and its live
// access tokens, not other tokens; the purge deletes only expired or
// revoked access tokens; deleting the tenant deletes its clients.
func TestOAuthClients(t *testing.T) {
	db := openTest(t, Options{})
	addTenant(t, db, "acme")
	later := t0.Add(time.Hour)
	c := &OAuthClient{ID: "oc_1", TenantID: "acme", Name: "entra", Kind: OAuthSecret, Created: t0}
	mustWrite(t, db, func(tx *Tx) error {
		if err := tx.InsertOAuthClient(c); err != nil {
			return err
		}
		for _, id := range []string{"s1", "s2"} {
			if err := tx.InsertOAuthClientSecret(&OAuthClientSecret{ID: id, ClientID: "oc_1", Hash: []byte(id), Created: t0, Expires: t0.Add(24 * time.Hour)}); err != nil {
				return err
			}
		}
		for _, k := range []*Token{
			{ID: "secret", TenantID: "acme", Name: "entra", Hash: []byte("x"), Created: t0},
			{ID: "live", TenantID: "acme", Name: "entra", Hash: []byte("x"), Created: t0, Expires: &later, ClientID: "oc_1"},
			{ID: "expired", TenantID: "acme", Name: "entra", Hash: []byte("x"), Created: t0, Expires: &t0, ClientID: "oc_1"},
		} {
			if err := tx.InsertToken(k); err != nil {
				return err
			}
		}
		return nil
	})
	mustRead(t, db, func(tx *Tx) error {
		got, err := tx.OAuthClient("oc_1")
		if err != nil || len(got.Secrets) != 2 || !got.Active() || !got.Secrets[0].Active(t0) || got.Secrets[0].Active(t0.Add(24*time.Hour)) {
			t.Errorf("OAuthClient = %+v, %v", got, err)
		}
		toks, err := tx.Tokens("acme")
		if err != nil || len(toks) != 1 || toks[0].ID != "secret" {
			t.Errorf("Tokens lists access tokens: %v, %v", toks, err)
		}
		k, err := tx.Token("live")
		if err != nil || k.ClientID != "oc_1" {
			t.Errorf("Token(live) = %+v, %v", k, err)
		}
		ts, err := tx.Tenants(t0)
		if err != nil || ts[0].ActiveTokens != 1 {
			t.Errorf("ActiveTokens counts access tokens: %+v, %v", ts, err)
		}
		return nil
	})
	mustWrite(t, db, func(tx *Tx) error {
		ids, err := tx.RevokeOAuthClient("oc_1", t0.Add(time.Minute))
		if err != nil || len(ids) != 2 {
			t.Errorf("RevokeOAuthClient = %v, %v; want the two unrevoked access tokens", ids, err)
		}
		if _, err := tx.RevokeOAuthClient("oc_nope", t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown client: %v", err)
		}
		if err := tx.RevokeOAuthClientSecret("oc_1", "nope", t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown secret: %v", err)
		}
		return nil
	})
	mustRead(t, db, func(tx *Tx) error {
		got, _ := tx.OAuthClient("oc_1")
		for _, k := range got.Secrets {
			if k.Revoked == nil {
				t.Errorf("secret %s not revoked with its client", k.ID)
			}
		}
		for id, revoked := range map[string]bool{"secret": false, "live": true} {
			k, _ := tx.Token(id)
			if (k.Revoked != nil) != revoked {
				t.Errorf("token %s revoked = %v, want %v", id, k.Revoked != nil, revoked)
			}
		}
		return nil
	})
	mustWrite(t, db, func(tx *Tx) error {
		n, err := tx.PurgeAccessTokens(t0.Add(time.Hour + time.Second))
		if err != nil || n != 2 {
			t.Errorf("PurgeAccessTokens = %d, %v; want 2", n, err)
		}
		if _, err := tx.Token("secret"); err != nil {
			t.Errorf("the purge took a Secret Token: %v", err)
		}
		return tx.DeleteTenant("acme")
	})
	mustRead(t, db, func(tx *Tx) error {
		if _, err := tx.OAuthClient("oc_1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("client after the tenant's deletion: %v", err)
		}
		if cs, err := tx.OAuthClients(""); err != nil || len(cs) != 0 {
			t.Errorf("OAuthClients = %v, %v", cs, err)
		}
		return nil
	})
}
