package jwtbearer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/agent/domainproof"
)

// Entra's sign-in hosts per cloud (https://learn.microsoft.com/en-us/entra/identity-platform/authentication-national-cloud).
var entraHosts = map[string]string{
	"public": "login.microsoftonline.com",
	"usgov":  "login.microsoftonline.us",
	"china":  "login.partner.microsoftonline.cn",
}

// ErrTenantDomain is returned by EntraDefaults for a tenant given by domain
// name: Entra's tokens name the tenant by its ID in iss, so an issuer built
// from a domain would never match.
var ErrTenantDomain = errors.New("the Entra tenant must be given by its tenant ID")

// EntraDefaults returns the issuer and JWKS URL of the Entra tenant tenantID
// in cloud ("public", the default when empty; "usgov"; or "china"), as the
// Entra portal shows them for Workload Identity Federation:
// https://<host>/<tenant ID>/v2.0 and https://<host>/<tenant ID>/discovery/v2.0/keys.
// tenantID must be a GUID (written back in the canonical lower-case form in
// which Entra writes it in iss); a DNS domain such as contoso.onmicrosoft.com is recognised but
// refused with ErrTenantDomain, because the iss of Entra's tokens always
// carries the tenant ID, never a domain.
func EntraDefaults(cloud, tenantID string) (issuer, jwksURL string, err error) {
	if cloud == "" {
		cloud = "public"
	}
	host, ok := entraHosts[strings.ToLower(cloud)]
	if !ok {
		return "", "", fmt.Errorf("unknown Entra cloud %q: use public, usgov or china", cloud)
	}
	id, err := uuid.Parse(tenantID)
	_, domainErr := domainproof.NormalizeDomain(tenantID)
	switch {
	case err == nil:
		tenantID = id.String()
	case domainErr == nil:
		return "", "", fmt.Errorf("%w (a GUID, shown as Tenant ID on the Entra admin center's Overview page), not by the domain %q: Entra's tokens name the tenant by its ID", ErrTenantDomain, tenantID)
	default:
		return "", "", fmt.Errorf("the Entra tenant %q is not a tenant ID (a GUID such as ce5f061f-abe6-4e40-9615-301f87bcb7f0)", tenantID)
	}
	base := "https://" + host + "/" + tenantID
	return base + "/v2.0", base + "/discovery/v2.0/keys", nil
}
