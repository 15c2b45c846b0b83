package jwtbearer_test

import (
	"errors"
	"testing"

	"github.com/rosterhq/roster/agent/oauth/jwtbearer"
)

// TestEntraDefaults shows the issuer and JWKS URL per cloud, and the tenant
// IDs refused.
func TestEntraDefaults(t *testing.T) {
	const tid = "ce5f061f-abe6-4e40-9615-301f87bcb7f0"
	tests := []struct {
		cloud, tenant   string
		issuer, jwksURL string
		wantErr         error // nil: any error is checked by issuer == ""
	}{
		{"public", tid, "https://login.microsoftonline.com/" + tid + "/v2.0", "https://login.microsoftonline.com/" + tid + "/discovery/v2.0/keys", nil},
		{"", tid, "https://login.microsoftonline.com/" + tid + "/v2.0", "https://login.microsoftonline.com/" + tid + "/discovery/v2.0/keys", nil},
		{"usgov", tid, "https://login.microsoftonline.us/" + tid + "/v2.0", "https://login.microsoftonline.us/" + tid + "/discovery/v2.0/keys", nil},
		{"china", tid, "https://login.partner.microsoftonline.cn/" + tid + "/v2.0", "https://login.partner.microsoftonline.cn/" + tid + "/discovery/v2.0/keys", nil},
		{"Public", "CE5F061F-ABE6-4E40-9615-301F87BCB7F0", "https://login.microsoftonline.com/" + tid + "/v2.0", "https://login.microsoftonline.com/" + tid + "/discovery/v2.0/keys", nil},
		{"public", "contoso.onmicrosoft.com", "", "", jwtbearer.ErrTenantDomain},
		{"public", "contoso.com", "", "", jwtbearer.ErrTenantDomain},
		{"public", "", "", "", nil},
		{"public", "common", "", "", nil},
		{"public", "ce5f061f-abe6-4e40-9615", "", "", nil},
		{"public", tid + "/../other", "", "", nil},
		{"public", "https://login.microsoftonline.com/" + tid, "", "", nil},
		{"germany", tid, "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.cloud+" "+tc.tenant, func(t *testing.T) {
			issuer, jwksURL, err := jwtbearer.EntraDefaults(tc.cloud, tc.tenant)
			if issuer != tc.issuer || jwksURL != tc.jwksURL {
				t.Errorf("EntraDefaults = %q, %q, %v; want %q, %q", issuer, jwksURL, err, tc.issuer, tc.jwksURL)
			}
			switch {
			case tc.issuer != "" && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tc.issuer == "" && err == nil:
				t.Error("err = nil, want an error")
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				t.Logf("refused: %v", err)
			}
		})
	}
}
