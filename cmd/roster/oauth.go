package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/oauth"
	"github.com/rosterhq/roster/agent/scimhttp"
	"github.com/rosterhq/roster/store"
)

func newOAuthCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "oauth",
		Short: "Manage the OAuth 2.0 clients of the token endpoint (client secrets, Workload Identity Federation)",
		Long: `Entra can authenticate to Roster with OAuth 2.0 instead of a long-lived Secret
Token: it asks the tenant's token endpoint, POST /oauth/{tenant}/token, for a
short-lived access token (1 hour by default, oauth.access_token_lifetime) and
sends that to the Tenant URL. It authenticates either with a client secret
('oauth client add'; Entra's "OAuth2 Client Credentials Grant") or, storing no
secret at all, with an assertion signed by the customer's Entra tenant
('oauth federation add'; "Workload Identity Federation"). See docs/oauth.md.`,
	}
	client := &cobra.Command{Use: "client", Short: "Add, list, rotate and revoke OAuth clients"}
	federation := &cobra.Command{Use: "federation", Short: "Trust assertions of an Entra tenant (Workload Identity Federation)"}
	client.AddCommand(newOAuthClientAddCmd(rf), newOAuthClientListCmd(rf), newOAuthClientRotateCmd(rf), newOAuthClientRevokeCmd(rf))
	federation.AddCommand(newOAuthFederationAddCmd(rf))
	cmd.AddCommand(client, federation)
	return cmd
}

// secretLifetime parses --expires: 1y by default, 1 day to 3 years.
func secretLifetime(s string) (time.Duration, error) {
	d, err := parseDays(s)
	if err != nil {
		return 0, usageError{fmt.Errorf("--expires: %w (a client secret lives 1d to 3y, such as 1y or 18w)", err)}
	}
	if d < directory.MinClientSecretLifetime || d > directory.MaxClientSecretLifetime {
		return 0, usageError{fmt.Errorf("--expires %s: a client secret must expire after 1 day to 3 years (1d to 3y, such as 1y or 18w); Microsoft's gallery rules ask for at most 3 years", s)}
	}
	return d, nil
}

func newOAuthClientAddCmd(rf *rootFlags) *cobra.Command {
	var tenant, name, expires string
	var readOnly, asJSON bool
	c := &cobra.Command{
		Use:   "add",
		Short: "Add a client and print its client id and secret (shown once) with the token URL",
		Long: `Add an OAuth client for Entra's "OAuth2 Client Credentials Grant" and print
what to enter in Entra's admin credentials: the Tenant URL, the Token Endpoint,
the Client Identifier and the Client Secret. The secret is shown only now;
Roster stores its SHA-256 hash. Entra may send it either way
(client_secret_basic or client_secret_post); leave the scope empty or use "scim".

Client secrets expire (1 year by default, at most 3 years): rotate before then with
'roster oauth client rotate', which keeps the old secret valid meanwhile.`,
		Example: `  roster oauth client add
  roster oauth client add --tenant contoso --name entra --expires 2y --json
  roster oauth client add --name reports --read-only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return issueClientSecret(cmd, rf, expires, asJSON, func(dir *directory.Service, d time.Duration) (*directory.IssuedClientSecret, error) {
				return dir.AddOAuthClient(cmd.Context(), directory.NewOAuthClient{Tenant: tenant, Name: name, ReadOnly: readOnly, SecretLifetime: d})
			})
		},
	}
	c.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant the client belongs to")
	c.Flags().StringVar(&name, "name", "", "a name to recognise the client by (default: oauth-<date>)")
	c.Flags().StringVar(&expires, "expires", "1y", "lifetime of the secret: 1d to 3y, such as 1y, 18w or 400d")
	c.Flags().BoolVar(&readOnly, "read-only", false, "issue read-only access tokens (writes get 403)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"client_id\": …, \"client_secret\": …, \"token_url\": …}")
	return c
}

// issueClientSecret parses --expires, has issue create a secret of that
// lifetime and prints it, the only time it is shown.
func issueClientSecret(cmd *cobra.Command, rf *rootFlags, expires string, asJSON bool,
	issue func(*directory.Service, time.Duration) (*directory.IssuedClientSecret, error)) error {
	d, err := secretLifetime(expires)
	if err != nil {
		return err
	}
	dir, closeFn, err := rf.open(cmd.Context())
	if err != nil {
		return err
	}
	defer closeFn()
	s, err := issue(dir, d)
	if err != nil {
		return err
	}
	public := lastPublicURL(cmd.Context(), dir)
	tenantURL, tokenURL := scimhttp.TenantURL(public, s.Client.TenantID), oauth.TokenURL(public, s.Client.TenantID)
	if asJSON {
		return printJSON(cmd.OutOrStdout(), map[string]any{"client_id": s.Client.ID, "client_secret": s.Secret.Reveal(), "secret_id": s.Record.ID,
			"secret_expires": s.Record.Expires.UTC().Format(time.RFC3339), "token_url": tokenURL, "tenant_url": tenantURL,
			"tenant": s.Client.TenantID, "name": s.Client.Name, "read_only": s.Client.ReadOnly})
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Tenant URL:      %s\nToken Endpoint:  %s\nClient ID:       %s\nClient Secret:   %s\n\n", tenantURL, tokenURL, s.Client.ID, s.Secret.Reveal())
	fmt.Fprintf(w, "Secret %s of client %q (tenant %q) expires %s.\nThis is the only time the secret is shown: copy it now.\n",
		s.Record.ID, s.Client.Name, s.Client.TenantID, s.Record.Expires.Format("2006-01-02"))
	if len(s.Client.Secrets) > 1 {
		fmt.Fprintf(w, "The client's older secrets stay valid until they expire; once Entra uses the new one, revoke each with\n  roster oauth client revoke %s --secret SECRET_ID\n(the ids are in 'roster oauth client list').\n", s.Client.ID)
	}
	return nil
}

func newOAuthClientListCmd(rf *rootFlags) *cobra.Command {
	var tenant string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List OAuth clients and their secrets (never the secrets themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			return runList(cmd, rf, asJSON,
				func(ctx context.Context, dir *directory.Service) ([]*store.OAuthClient, error) {
					return dir.ListOAuthClients(ctx, tenant)
				},
				func(c *store.OAuthClient) map[string]any { return clientRow(c, now) },
				func(w io.Writer, _ *directory.Service, clients []*store.OAuthClient) error {
					if len(clients) == 0 {
						fmt.Fprintln(w, "No OAuth clients. Add one with 'roster oauth client add' or 'roster oauth federation add'.")
						return nil
					}
					return printClientTable(w, clients, now)
				})
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "only this tenant's clients")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func clientRow(c *store.OAuthClient, now time.Time) map[string]any {
	row := map[string]any{"client_id": c.ID, "tenant": c.TenantID, "name": c.Name, "kind": c.Kind, "read_only": c.ReadOnly,
		"created": c.Created.UTC().Format(time.RFC3339), "revoked": fmtTime(c.Revoked)}
	if c.Kind == store.OAuthFederation {
		row["issuer"], row["subject"], row["audience"], row["jwks_url"] = c.Issuer, c.Subject, c.Audience, c.JWKSURL
		return row
	}
	secrets := []map[string]any{}
	for _, k := range c.Secrets {
		secrets = append(secrets, map[string]any{"id": k.ID, "created": k.Created.UTC().Format(time.RFC3339),
			"expires": k.Expires.UTC().Format(time.RFC3339), "revoked": fmtTime(k.Revoked), "status": secretStatus(k, now)})
	}
	row["secrets"] = secrets
	return row
}

func secretStatus(k *store.OAuthClientSecret, now time.Time) string {
	switch {
	case k.Revoked != nil:
		return "revoked"
	case !k.Active(now):
		return "expired"
	}
	return "active, expires " + k.Expires.Local().Format("2006-01-02")
}

func printClientTable(w io.Writer, clients []*store.OAuthClient, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "CLIENT ID\tTENANT\tNAME\tKIND\tACCESS\tSTATUS\tSECRET / SUBJECT")
	for _, c := range clients {
		access, status := "read-write", "active"
		if c.ReadOnly {
			access = "read-only"
		}
		if c.Revoked != nil {
			status = "revoked"
		}
		if c.Kind == store.OAuthFederation {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\tsub %s (iss %s)\n", c.ID, c.TenantID, c.Name, c.Kind, access, status, c.Subject, c.Issuer)
			continue
		}
		if len(c.Secrets) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t-\n", c.ID, c.TenantID, c.Name, c.Kind, access, status)
		}
		for i, k := range c.Secrets {
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s: %s\n", c.ID, c.TenantID, c.Name, c.Kind, access, status, k.ID, secretStatus(k, now))
			} else {
				fmt.Fprintf(tw, "\t\t\t\t\t\t%s: %s\n", k.ID, secretStatus(k, now))
			}
		}
	}
	return tw.Flush()
}

func newOAuthClientRotateCmd(rf *rootFlags) *cobra.Command {
	var expires string
	var asJSON bool
	c := &cobra.Command{
		Use:   "rotate CLIENT_ID",
		Short: "Issue a new secret to a client (shown once); the old one stays valid until revoked or expired",
		Long: `Issue a new secret to a client and print it once. The client's other secrets
keep working, so Entra never sees an outage: enter the new secret in Entra, run
Test Connection, then revoke the old secret with
'roster oauth client revoke CLIENT_ID --secret OLD_SECRET_ID'.`,
		Example: `  roster oauth client rotate oc_4f1c… --expires 2y`,
		Args:    exactArgs(1, "a client id from 'roster oauth client list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return issueClientSecret(cmd, rf, expires, asJSON, func(dir *directory.Service, d time.Duration) (*directory.IssuedClientSecret, error) {
				return dir.RotateOAuthClient(cmd.Context(), args[0], d)
			})
		},
	}
	c.Flags().StringVar(&expires, "expires", "1y", "lifetime of the new secret: 1d to 3y")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newOAuthClientRevokeCmd(rf *rootFlags) *cobra.Command {
	var secret string
	var asJSON bool
	c := &cobra.Command{
		Use:   "revoke CLIENT_ID",
		Short: "Revoke a client with its secrets and access tokens, or one of its secrets (--secret)",
		Long: `Revoke a client (a secret or a federation client): its secrets and the access
tokens it obtained are revoked with it, and a running agent refuses them within
a second. With --secret, revoke only that secret of the client, as the last
step of a rotation.`,
		Example: `  roster oauth client revoke oc_4f1c…
  roster oauth client revoke oc_4f1c… --secret Ab3dE5gH`,
		Args: exactArgs(1, "a client id from 'roster oauth client list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			var c *store.OAuthClient
			if secret != "" {
				c, err = dir.RevokeOAuthClientSecret(cmd.Context(), args[0], secret)
			} else {
				c, err = dir.RevokeOAuthClient(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), clientRow(c, time.Now()))
			}
			if secret != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Revoked secret %s of OAuth client %s (%q, tenant %q).\n", secret, c.ID, c.Name, c.TenantID)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Revoked OAuth client %s (%q, tenant %q), its secrets and its access tokens.\n", c.ID, c.Name, c.TenantID)
			}
			return nil
		},
	}
	c.Flags().StringVar(&secret, "secret", "", "revoke only this secret (its id from 'roster oauth client list')")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newOAuthFederationAddCmd(rf *rootFlags) *cobra.Command {
	var n directory.NewFederation
	var asJSON bool
	c := &cobra.Command{
		Use:   "add",
		Short: "Trust Entra's signed assertions for a tenant and print the client id and token URL",
		Long: `Add a federation client for Entra's "Workload Identity Federation": Entra
authenticates with an assertion (a JWT) signed by the customer's Entra tenant
instead of a secret (RFC 7523). Copy the values Entra shows for the app
(Issuer, JWKS URL, Subject, Audience) here, then enter the printed Client ID,
Token URL and Tenant URL in Entra and run Test Connection.

The issuer and JWKS URL default from --entra-tenant (the tenant id, a GUID):
https://login.microsoftonline.com/ID/v2.0 and .../ID/discovery/v2.0/keys, or the
sign-in host of --cloud usgov (login.microsoftonline.us) or china
(login.partner.microsoftonline.cn). Both must be https.`,
		Example: `  roster oauth federation add --entra-tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 \
      --subject 6f1b9a3e-… --audience api://b5ba7a93-4452-4522-aeb4-a2b5da870c16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := n.Federation(); err != nil {
				return usageError{err}
			}
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			f, err := dir.AddFederation(cmd.Context(), n)
			if err != nil {
				return err
			}
			public := lastPublicURL(cmd.Context(), dir)
			tenantURL, tokenURL := scimhttp.TenantURL(public, f.TenantID), oauth.TokenURL(public, f.TenantID)
			if asJSON {
				row := clientRow(f, time.Now())
				row["token_url"], row["tenant_url"] = tokenURL, tenantURL
				return printJSON(cmd.OutOrStdout(), row)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Tenant URL:      %s\nToken URL:       %s\nClient ID:       %s\n\n", tenantURL, tokenURL, f.ID)
			fmt.Fprintf(cmd.OutOrStdout(), "Federation %q (tenant %q) accepts assertions of\n  issuer   %s\n  subject  %s\n  audience %s\nsigned by a key of %s.\n",
				f.Name, f.TenantID, f.Issuer, f.Subject, f.Audience, f.JWKSURL)
			return nil
		},
	}
	c.Flags().StringVar(&n.Tenant, "tenant", directory.DefaultTenant, "Roster tenant the federation provisions into")
	c.Flags().StringVar(&n.Name, "name", "", "a name to recognise the client by (default: federation-<date>)")
	c.Flags().StringVar(&n.EntraTenant, "entra-tenant", "", "the customer's Entra tenant id (a GUID); the issuer and JWKS URL default from it")
	c.Flags().StringVar(&n.Subject, "subject", "", "the Subject (sub) the portal shows for the workload identity (the assertions' sub)")
	c.Flags().StringVar(&n.Audience, "audience", "", "the Audience (aud) the portal shows for the workload identity (the assertions' aud)")
	c.Flags().StringVar(&n.Issuer, "issuer", "", "the assertion's issuer (iss) (default https://<cloud host>/<entra-tenant>/v2.0)")
	c.Flags().StringVar(&n.JWKSURL, "jwks-url", "", "where the issuer's signing keys are (default https://<cloud host>/<entra-tenant>/discovery/v2.0/keys)")
	c.Flags().StringVar(&n.Cloud, "cloud", "public", "Entra's cloud: public, usgov or china")
	c.Flags().BoolVar(&n.ReadOnly, "read-only", false, "issue read-only access tokens (writes get 403)")
	c.Flags().BoolVar(&n.AllowHTTP, "allow-private-url", false, "lab only: accept an http:// issuer and JWKS URL (a simulated Entra)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"client_id\": …, \"token_url\": …}")
	return c
}
