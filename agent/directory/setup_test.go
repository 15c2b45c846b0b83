package directory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/store"
)

func TestSetupRecords(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.Location(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := New(db, nil, nil)

	if _, err := s.EntraConnection(ctx, "default"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("connection before any: %v, want ErrNotConnected", err)
	}
	want := &EntraConnection{App: EntraApp{ServicePrincipalID: "sp1", AppID: "app1", DisplayName: "Roster"}, JobID: "scim.1",
		TenantURL: "https://scim.contoso.com/scim/default/v2", TokenID: "tok1", Auth: "device-code",
		Connected: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Settings: &EntraSettings{ProvisionGroups: true, Omit: []string{"manager"}, DeleteThreshold: 500}}
	if err := s.SaveEntraConnection(ctx, "default", want); err != nil {
		t.Fatal(err)
	}
	got, err := s.EntraConnection(ctx, "default")
	if err != nil || got.App != want.App || got.TokenID != "tok1" || !got.Connected.Equal(want.Connected) ||
		got.Settings == nil || len(got.Settings.Omit) != 1 || got.Settings.DeleteThreshold != 500 {
		t.Errorf("connection = %+v, %v", got, err)
	}
	if _, err := s.EntraConnection(ctx, "other"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("another tenant's connection: %v", err)
	}
	if err := s.DeleteEntraConnection(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EntraConnection(ctx, "default"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("connection after delete: %v", err)
	}

	var st struct{ Step string }
	if ok, err := s.SetupState(ctx, &st); ok || err != nil {
		t.Errorf("setup state before any = %v, %v", ok, err)
	}
	if err := s.SaveSetupState(ctx, map[string]string{"Step": "app"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SetupState(ctx, &st); !ok || err != nil || st.Step != "app" {
		t.Errorf("setup state = %+v, %v, %v", st, ok, err)
	}

	if u, err := s.PublicURL(ctx); u != "" || err != nil {
		t.Errorf("public URL before any = %q, %v", u, err)
	}
	if err := s.SetPublicURL(ctx, "https://scim.contoso.com/"); err != nil {
		t.Fatal(err)
	}
	if u, err := s.PublicURL(ctx); u != "https://scim.contoso.com" || err != nil {
		t.Errorf("public URL = %q, %v", u, err)
	}
}
