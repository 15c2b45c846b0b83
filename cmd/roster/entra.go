package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/setup"
	"github.com/rosterhq/roster/graph"
	"github.com/rosterhq/roster/graph/graphapi"
)

// graphFlags are the sign-in flags every Graph command shares.
type graphFlags struct {
	auth, entraTenant, clientID, certFile, cloud, graphURL, caFile, loginURL string
	verbose                                                                  bool
	dataDir                                                                  func() string // the --data-dir in effect
}

func (g *graphFlags) register(cmd *cobra.Command) {
	g.dataDir = func() string {
		if f := cmd.Flag("data-dir"); f != nil {
			return f.Value.String()
		}
		return ""
	}
	f := cmd.Flags()
	f.StringVar(&g.auth, "auth", "", "how to sign in to Microsoft Graph: device-code, azure-cli, client-secret, client-certificate, managed-identity or token\n(default: token when ROSTER_GRAPH_TOKEN is set, else the method used at connect, else device-code)")
	f.StringVar(&g.entraTenant, "entra-tenant", os.Getenv("AZURE_TENANT_ID"), "Entra tenant id or domain to sign in to (env AZURE_TENANT_ID)")
	f.StringVar(&g.clientID, "client-id", os.Getenv("AZURE_CLIENT_ID"), "app registration (client) id to sign in with (env AZURE_CLIENT_ID); the client secret comes from ROSTER_GRAPH_CLIENT_SECRET")
	f.StringVar(&g.certFile, "certificate", "", "PEM or PKCS#12 file for --auth client-certificate (password in ROSTER_GRAPH_CERT_PASSWORD)")
	f.StringVar(&g.cloud, "cloud", "", "national cloud: global, usgov, usgov-dod or china (default global)")
	f.StringVar(&g.graphURL, "graph-url", os.Getenv("ROSTER_GRAPH_URL"), "Graph endpoint including /v1.0, for proxies and tests (env ROSTER_GRAPH_URL)")
	f.StringVar(&g.loginURL, "login-url", os.Getenv("ROSTER_LOGIN_URL"), "sign-in authority to use instead of the cloud's (https://…), for private clouds and proxies (env ROSTER_LOGIN_URL)")
	f.StringVar(&g.caFile, "graph-ca-file", os.Getenv("ROSTER_GRAPH_CA_FILE"), "extra CA certificates (PEM) to trust for Graph and sign-in, e.g. of a TLS-inspecting proxy (env ROSTER_GRAPH_CA_FILE)")
	f.BoolVar(&g.verbose, "verbose", false, "log every Graph request to stderr")
}

// config builds the Graph configuration from flags, the environment and
// what connect saved (st may be nil); secret overrides ROSTER_GRAPH_CLIENT_SECRET.
func (g *graphFlags) config(st *directory.EntraConnection, secret string, stderr io.Writer) (graph.Config, error) {
	o := graph.Options{Auth: g.auth, TenantID: g.entraTenant, ClientID: g.clientID, CertificateFile: g.certFile,
		Cloud: g.cloud, BaseURL: g.graphURL, LoginURL: g.loginURL, CAFile: g.caFile, ClientSecret: secret}
	if g.dataDir != nil {
		o.DataDir = g.dataDir()
	}
	if st != nil {
		o.Saved = &graph.Saved{Auth: st.Auth, TenantID: st.EntraID, ClientID: st.ClientID, Cloud: st.Cloud}
	}
	cfg, err := o.Config()
	switch {
	case errors.Is(err, graph.ErrNoCertificate):
		return cfg, usageError{fmt.Errorf("--graph-ca-file %w", err)}
	case err != nil:
		return cfg, usageError{fmt.Errorf("--graph-ca-file: %w", err)}
	}
	cfg.DeviceCodePrompt = func(_ context.Context, dc graph.DeviceCode) error {
		fmt.Fprintf(stderr, "To sign in to Microsoft Graph, open %s and enter the code %s\n", dc.VerificationURL, dc.UserCode)
		return nil
	}
	cfg.Notice = func(msg string) { fmt.Fprintln(stderr, msg) }
	if g.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func (g *graphFlags) client(st *directory.EntraConnection, stderr io.Writer) (*graph.Client, graph.Config, error) {
	cfg, err := g.config(st, "", stderr)
	if err != nil {
		return nil, cfg, err
	}
	c, err := graph.New(cfg)
	return c, cfg, err
}

// signIn is what the setup use cases remember of a Graph configuration.
func signIn(cfg graph.Config) setup.SignIn { return setup.SignIn(cfg.Saved()) }

func newEntraCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "entra",
		Short: "Create and run the Entra enterprise app that provisions into Roster (Microsoft Graph)",
		Long: `Configure Microsoft Entra provisioning through Microsoft Graph, instead of the
Entra admin center: the enterprise app, its users and groups, the Tenant URL
and credentials (an OAuth client by default, a Secret Token, or Workload
Identity Federation), Test Connection, attribute mappings, scope, notification
email, and starting, pausing and watching provisioning.

Sign-in (--auth): device code by default (open a URL, enter a code), or the
Azure CLI's login, an app registration's secret or certificate, a managed
identity, or a pre-acquired access token in ROSTER_GRAPH_TOKEN. A device code
sign-in is remembered between commands where the system can keep the tokens
encrypted (see 'roster entra logout'). The signed-in account needs the
Application Administrator or Cloud Application Administrator role; an app
registration needs Application.ReadWrite.OwnedBy,
Synchronization.ReadWrite.All, AppRoleAssignment.ReadWrite.All,
User.Read.All, Group.Read.All and, for logs, AuditLog.Read.All.`,
	}
	cmd.AddCommand(newEntraConnectCmd(rf), newEntraStatusCmd(rf), newEntraLogsCmd(rf),
		newEntraPauseResumeCmd(rf, false), newEntraPauseResumeCmd(rf, true), newEntraDisconnectCmd(rf), newEntraLogoutCmd(rf))
	return cmd
}

func newEntraConnectCmd(rf *rootFlags) *cobra.Command {
	var (
		gf                                                  graphFlags
		tenant, app, appName, tenantURL, email, scope, file string
		threshold                                           int
		assign, omit                                        []string
		onPrem, byEmployeeID, noGroups, skipTest, noStart   bool
		newToken, allowPrivate, asJSON                      bool
		credential, subject, audience, issuer, jwksURL      string
	)
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Create (or adopt) the Entra enterprise app and configure provisioning into this agent",
		Long: `Create the non-gallery enterprise app in Entra (or adopt an existing one), and
configure its provisioning into a Roster tenant, as the Entra admin center's
~20 steps would:

  1. check that the agent answers at the Tenant URL (before anything is
     created in Entra)
  2. find the app this data directory connected before, or create it and
     wait until Entra is ready
  3. create the SCIM provisioning job
  4. Test Connection: Entra calls the Tenant URL with the credentials
  5. save the Tenant URL, credentials, notification email,
     accidental-deletion threshold and scope (in one call), and test the
     saved credentials
  6. set the attribute mappings: userPrincipalName→userName (matching),
     displayName, jobTitle→title, mail→emails[type eq "work"].value,
     department→enterprise department, plus givenName, surname, employeeId
     and manager unless --omit
  7. assign the users and groups given with --assign
  8. start provisioning

Credentials (--credential), how Entra authenticates to the agent:

  oauth2      (default) OAuth 2.0 client credentials: Roster issues an OAuth
              client; Entra trades its id and secret at the agent's token
              endpoint (<public URL>/oauth/<tenant>/token) for access tokens
              that live an hour. Running connect again rotates the secret
              without downtime: Entra gets a new secret, Test Connection
              proves it, and only then is the old secret revoked.
  token       a long-lived Secret Token (the fallback, for Entra setups
              without OAuth). Entra keeps its token unless the app or Tenant
              URL changes or --new-token is given; a new token replaces the
              one Entra held, which is then revoked.
  federation  Workload Identity Federation: no secret at all; Entra presents
              an assertion its tenant signed. Graph cannot configure it, so
              connect creates the app and prints the portal steps with the
              values to paste (Client ID, Token URL, Tenant URL), then waits
              for you and confirms with Test Connection (without a terminal,
              run connect again when the steps are done). Give the Subject
              and Audience the portal shows with --subject and --audience,
              or add them before with 'roster oauth federation add'.

A re-run without --credential keeps the kind the tenant is connected with;
--on-premises defaults to the Secret Token, the on-premises route's documented
credential.
Switching kinds revokes the credentials Entra no longer uses.

Running it again (or after 'roster setup') changes the same app in place:
it never creates a second app or job, starts from the settings saved by the
last run (flags change them), leaves mappings that already match alone, and
does not restart a running job.

An existing app with the same name that this data directory did not connect
is never adopted silently: name it with --app to adopt it, or choose another
--app-name.

Entra calls the Tenant URL from the internet: it must be public HTTPS with a
publicly trusted certificate (see 'roster agent --help'); a loopback or
private address is refused. If the agent cannot be reachable, --on-premises
uses Entra's "On-premises SCIM app" with Microsoft's provisioning agent,
which you install and assign in the portal.`,
		Example: `  roster entra connect --assign alice@contoso.com --assign group:Sales --notify ops@contoso.com
  roster entra connect --credential token
  roster entra connect --credential federation --subject <sub> --audience api://<app-id>
  roster entra connect --app "Contoso SCIM" --match-on-employee-id --no-groups
  ROSTER_GRAPH_TOKEN=ey... roster entra connect --json
  roster entra connect --file entra.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			changed := cmd.Flags().Changed
			// Apply the file, then flags that were set explicitly.
			var cf setup.ConnectFile
			if file != "" {
				var err error
				var pe *fs.PathError
				if cf, err = setup.LoadConnectFile(file); errors.As(err, &pe) {
					return usageError{fmt.Errorf("--file: %w", err)}
				} else if err != nil {
					return usageError{fmt.Errorf("--file %w", err)}
				}
				setStr := func(name string, dst *string, v string) {
					if v != "" && !changed(name) {
						*dst = v
					}
				}
				setStr("tenant", &tenant, cf.Tenant)
				setStr("app", &app, cf.App)
				setStr("app-name", &appName, cf.AppName)
				setStr("tenant-url", &tenantURL, cf.TenantURL)
				setStr("auth", &gf.auth, cf.Auth)
				setStr("entra-tenant", &gf.entraTenant, cf.EntraTenant)
				setStr("client-id", &gf.clientID, cf.ClientID)
				setStr("cloud", &gf.cloud, cf.Cloud)
				if !changed("assign") {
					assign = cf.Assign
				}
				setStr("credential", &credential, cf.Credential)
				setStr("subject", &subject, cf.Subject)
				setStr("audience", &audience, cf.Audience)
				onPrem = onPrem || cf.OnPremises
				noStart = noStart || cf.NoStart
			}
			var kind graph.CredentialKind
			if credential != "" {
				k, err := graphapi.ParseCredentialKind(credential)
				if err != nil {
					return usageError{fmt.Errorf("--credential: %w", err)}
				}
				kind = k
			}
			var fed *directory.NewFederation
			if subject != "" || audience != "" || issuer != "" || jwksURL != "" {
				if kind != graph.CredentialFederation {
					return usageError{errors.New("--subject, --audience, --issuer and --jwks-url describe Workload Identity Federation: add --credential federation")}
				}
				if subject == "" || audience == "" {
					return usageError{errors.New("--credential federation needs both --subject and --audience (as the portal shows them), or neither to use the federation added with 'roster oauth federation add'")}
				}
				fed = &directory.NewFederation{Subject: subject, Audience: audience, Issuer: issuer, JWKSURL: jwksURL, AllowHTTP: allowPrivate}
				if gf.entraTenant != "" && gf.entraTenant != "organizations" && gf.entraTenant != "common" {
					fed.EntraTenant = gf.entraTenant
				}
			}
			if scope != "assigned" && scope != "all" {
				return usageError{fmt.Errorf("--scope %q: use assigned (only assigned users and groups) or all", scope)}
			}

			dir, closeFn, err := rf.open(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			svc := setup.New(dir, setup.Options{})
			prev, err := dir.EntraConnection(ctx, tenant)
			if err != nil && !errors.Is(err, directory.ErrNotConnected) {
				return err
			}
			// Settings: those saved by the last run (or the defaults), then
			// the file, then the flags given.
			set := svc.Settings(ctx, tenant)
			cf.Apply(&set)
			if changed("notify") {
				set.NotificationEmail = email
			}
			if changed("delete-threshold") {
				set.DeleteThreshold = threshold
			}
			if changed("scope") {
				set.SyncAll = scope == "all"
			}
			if changed("omit") {
				set.Omit = omit
			}
			if changed("match-on-employee-id") {
				set.MatchOnEmployeeID = byEmployeeID
			}
			if changed("no-groups") {
				set.ProvisionGroups = !noGroups
			}
			if err := setup.ValidateSettings(set); err != nil {
				return usageError{err}
			}
			client, cfg, err := gf.client(prev, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			req := setup.ConnectRequest{Tenant: tenant, App: app, AppName: appName, TenantURL: tenantURL,
				Reach: setup.Reach{OnPremises: onPrem, AllowPrivateURL: allowPrivate}, Settings: set, Assign: assign,
				Credential: kind, Federation: fed,
				NewToken: newToken, SkipTest: skipTest, NoStart: noStart, SignIn: signIn(cfg),
				Progress: func(s string) { fmt.Fprintf(stderr, "• %s…\n", s) }}
			if in := cmd.InOrStdin(); isTerminal(in) && !asJSON {
				req.AwaitPortal = func(_ context.Context, steps []string) error { return awaitPortal(in, stderr, steps) }
			}
			res, err := svc.Connect(ctx, client, req)
			if err != nil {
				if len(res.Manual) > 0 {
					printManual(stderr, res.Manual)
				}
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"tenant": res.Tenant, "tenant_url": res.TenantURL, "result": res.ConnectResult,
					"credential": res.Credential, "token_id": res.TokenID, "new_token": res.NewToken, "revoked_token": res.RevokedTokenID,
					"oauth_client_id": res.OAuthClientID, "token_url": res.TokenURL, "new_secret_id": res.NewSecretID,
					"revoked_secret_ids": res.RevokedSecretIDs, "revoked_client_id": res.RevokedClientID, "pending": res.Pending,
					"explain": res.Status.Explain()})
			}
			printConnect(cmd.OutOrStdout(), set, res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "default", "Roster tenant to provision into")
	f.StringVar(&app, "app", "", "adopt this existing enterprise app (service principal id, app id or name) instead of finding or creating --app-name")
	f.StringVar(&appName, "app-name", graph.DefaultAppName, "display name of the enterprise app to create (or the one this data directory connected before)")
	f.StringVar(&tenantURL, "tenant-url", "", "Tenant URL Entra calls (default: the agent's public URL + /scim/<tenant>/v2)")
	f.StringVar(&email, "notify", "", "email address for Entra's failure and quarantine notifications (default: the last run's)")
	f.IntVar(&threshold, "delete-threshold", setup.DefaultDeleteThreshold, "prevent accidental deletion: stop a cycle that would delete more users than this (0 = off; default: the last run's)")
	f.StringVar(&scope, "scope", "assigned", "which users Entra provisions: assigned (only users and groups assigned to the app) or all (default: the last run's)")
	f.StringSliceVar(&assign, "assign", nil, "assign a user (UPN or object id) or group (group:NAME or group:ID) to the app; repeatable")
	f.BoolVar(&byEmployeeID, "match-on-employee-id", false, "userName comes from employeeId and users are matched on it (instead of userPrincipalName)")
	f.BoolVar(&noGroups, "no-groups", false, "do not provision groups (only users)")
	f.StringSliceVar(&omit, "omit", nil, "optional attributes not to map: givenName, surname, employeeId, manager")
	f.BoolVar(&onPrem, "on-premises", false, "use Entra's On-premises SCIM app and Microsoft's provisioning agent instead of a public Tenant URL")
	f.BoolVar(&allowPrivate, "allow-private-url", false, "accept a loopback or private Tenant URL without --on-premises (labs and tests only: Entra's cloud service cannot call it)")
	f.StringVar(&credential, "credential", "", "how Entra authenticates to the agent: oauth2 (OAuth client credentials, the default), token (a long-lived Secret Token) or federation (Workload Identity Federation); default: the tenant's current kind, else oauth2 (token with --on-premises)")
	f.StringVar(&subject, "subject", "", "with --credential federation: the Subject (sub) the portal shows for the workload identity")
	f.StringVar(&audience, "audience", "", "with --credential federation: the Audience (aud) the portal shows for the workload identity")
	f.StringVar(&issuer, "issuer", "", "with --credential federation: the assertions' issuer (default: https://login.microsoftonline.com/<Entra tenant id>/v2.0, or the national cloud's)")
	f.StringVar(&jwksURL, "jwks-url", "", "with --credential federation: where the issuer's signing keys are (default: the issuer's /discovery/v2.0/keys)")
	f.BoolVar(&newToken, "new-token", false, "give Entra new credentials even if it holds current ones: a new Secret Token (the old one is revoked); OAuth clients get a new secret on every run anyway")
	f.BoolVar(&skipTest, "skip-test", false, "skip Test Connection (not recommended)")
	f.BoolVar(&noStart, "no-start", false, "configure everything but leave provisioning stopped")
	f.StringVar(&file, "file", "", "read these settings from a JSON file (flags override it); keys: tenant, app, app_name, tenant_url, notification_email, delete_threshold, scope, assign, match_on_employee_id, provision_groups, omit, on_premises, no_start, auth, entra_tenant, client_id, cloud, credential, subject, audience")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	gf.register(cmd)
	return cmd
}

// awaitPortal shows the portal steps of Workload Identity Federation and
// waits until the administrator presses Enter.
func awaitPortal(in io.Reader, w io.Writer, steps []string) error {
	printManual(w, steps)
	fmt.Fprint(w, "\nPress Enter when they are saved in the portal (Ctrl-C to stop; running this command again later confirms them too): ")
	if _, err := bufio.NewReader(in).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the portal steps: %w", err)
	}
	return nil
}

func printManual(w io.Writer, steps []string) {
	fmt.Fprintln(w, "\nStill to do by hand (no Graph API for it):")
	for i, s := range steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
}

func printConnect(w io.Writer, set directory.EntraSettings, r setup.ConnectResult) {
	row := func(label, format string, a ...any) { fmt.Fprintf(w, "%-17s %s\n", label, fmt.Sprintf(format, a...)) }
	verb := func(created bool) string {
		if created {
			return "created"
		}
		return "found"
	}
	row("Enterprise app", "%s (%s): %s", r.App.DisplayName, r.App.ServicePrincipalID, verb(r.AppCreated))
	row("Provisioning job", "%s: %s", r.Job.ID, verb(r.JobCreated))
	if r.Tested {
		row("Test Connection", "succeeded: Entra reached %s", r.TenantURL)
	}
	row("Tenant URL", "%s (tenant %s)", r.TenantURL, r.Tenant)
	switch r.Credential {
	case graph.CredentialOAuth2:
		cred := "OAuth client " + r.OAuthClientID + ", token URL " + r.TokenURL
		if r.NewSecretID != "" {
			cred += "; new secret " + r.NewSecretID + " saved in Entra"
		}
		if len(r.RevokedSecretIDs) > 0 {
			cred += "; the previous secret was revoked after Test Connection"
		}
		row("Credentials", "%s", cred)
	case graph.CredentialFederation:
		state := "confirmed by Test Connection"
		if r.Pending {
			state = "waiting for the portal steps below; run this command again when they are done"
		}
		row("Credentials", "Workload Identity Federation, OAuth client %s, token URL %s: %s", r.OAuthClientID, r.TokenURL, state)
	default:
		tok := "Secret Token: Entra keeps its token"
		if r.NewToken {
			tok = "Secret Token: a new token saved in Entra"
		}
		if r.RevokedTokenID != "" {
			tok += "; the previous Entra token was revoked"
		}
		row("Credentials", "%s", tok)
	}
	if r.RevokedClientID != "" {
		row("", "OAuth client %s, which Entra no longer uses, was revoked", r.RevokedClientID)
	}
	scope := "assigned users and groups only"
	if set.SyncAll {
		scope = "all users and groups"
	}
	row("Scope", "%s", scope)
	if len(r.MappingChanges) == 0 {
		row("Mappings", "already as wanted")
	} else {
		row("Mappings", "changed:")
		for _, c := range r.MappingChanges {
			row("", "- %s", c)
		}
	}
	for _, p := range r.Assigned {
		row("Assigned", "%s", p.Label())
	}
	for _, p := range r.AlreadyAssigned {
		row("Already assigned", "%s", p.Label())
	}
	if r.Started {
		row("Provisioning", "started")
	}
	row("Status", "%s", r.Status.Explain())
	if len(r.Manual) > 0 {
		printManual(w, r.Manual)
	}
	fmt.Fprintln(w, "\nNext: roster provision USER   provision one user now")
	fmt.Fprintln(w, "      roster entra status     the ~40-minute cycles' progress")
}

func newEntraStatusCmd(rf *rootFlags) *cobra.Command {
	var (
		gf     graphFlags
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the provisioning job's state, last cycle, counts and any quarantine, in words",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEntra(cmd, rf, &gf, tenant, func(ctx context.Context, svc *setup.Service, c *graph.Client) error {
				st, s, err := svc.Status(ctx, c, tenant)
				if err != nil {
					return err
				}
				cred := st.Credential
				if cred == "" {
					cred = string(graph.CredentialToken) // saved before the choice existed
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"tenant": tenant, "app": st.App, "credential": cred,
						"oauth_client_id": st.OAuthClientID, "token_id": st.TokenID, "status": s, "explain": s.Explain()})
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "App        %s (%s)\nJob        %s\n", st.App.DisplayName, st.App.ServicePrincipalID, s.JobID)
				switch graph.CredentialKind(cred) {
				case graph.CredentialOAuth2:
					fmt.Fprintf(w, "Credential OAuth client %s (its secret rotates on each 'roster entra connect')\n", st.OAuthClientID)
				case graph.CredentialFederation:
					fmt.Fprintf(w, "Credential Workload Identity Federation, OAuth client %s\n", st.OAuthClientID)
				default:
					fmt.Fprintf(w, "Credential Secret Token %s\n", st.TokenID)
				}
				fmt.Fprintf(w, "State      %s\n           %s\n", s.Code, s.Explain())
				now := time.Now()
				if e := s.LastExecution; e != nil && !e.Ended.IsZero() && e.Ended.Year() > 1 {
					fmt.Fprintf(w, "Last cycle %s, %s ago: %d imported, %d exported, %d escrowed\n", e.State, roundDur(now.Sub(e.Ended)), e.Imported, e.Exported, e.Escrowed)
					if e.Error != "" {
						fmt.Fprintf(w, "           error: %s\n", e.Error)
					}
				} else {
					fmt.Fprintln(w, "Last cycle none yet")
				}
				if q := s.Quarantine; q != nil {
					fmt.Fprintf(w, "Quarantine %s since %s; next attempt %s\n", q.Reason, q.Since.Format(time.RFC3339), q.NextAttempt.Format(time.RFC3339))
					if q.Error != "" {
						fmt.Fprintf(w, "           %s\n", q.Error)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "default", "Roster tenant whose Entra connection to show")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	gf.register(cmd)
	return cmd
}

// withEntra opens the store, signs in to Graph the way the tenant's saved
// connection did (flags override it) and runs fn with the setup use cases.
func withEntra(cmd *cobra.Command, rf *rootFlags, gf *graphFlags, tenant string, fn func(context.Context, *setup.Service, *graph.Client) error) error {
	ctx := cmd.Context()
	dir, closeFn, err := rf.open(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	svc := setup.New(dir, setup.Options{})
	st, err := svc.Connection(ctx, tenant)
	if err != nil {
		return err
	}
	c, _, err := gf.client(st, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	return fn(ctx, svc, c)
}

func newEntraLogsCmd(rf *rootFlags) *cobra.Command {
	var (
		gf                  graphFlags
		tenant, user, since string
		failed, asJSON      bool
		top                 int
	)
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show Entra's provisioning logs for this app, newest first",
		Long: `Show Entra's provisioning logs (what Entra did or tried to do) for the
connected app. 'roster log' shows the same traffic from the agent's side.
Entra's logs can lag a few minutes behind.`,
		Example: `  roster entra logs --since 24h
  roster entra logs --user alice@contoso.com --failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := graph.LogQuery{User: user, Failed: failed, Top: top}
			if since != "" {
				d, err := parseDays(since)
				if err != nil {
					return usageError{fmt.Errorf("--since: %w", err)}
				}
				q.Since = time.Now().Add(-d)
			}
			return withEntra(cmd, rf, &gf, tenant, func(ctx context.Context, svc *setup.Service, c *graph.Client) error {
				logs, err := svc.Logs(ctx, c, tenant, q)
				if err != nil {
					return err
				}
				if asJSON {
					if logs == nil {
						logs = []graph.LogEntry{}
					}
					return printJSON(cmd.OutOrStdout(), logs)
				}
				if len(logs) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No provisioning log entries match.")
					return nil
				}
				tw := newTable(cmd.OutOrStdout())
				fmt.Fprintln(tw, "TIME\tACTION\tSTATUS\tIDENTITY\tDETAIL")
				for _, e := range logs {
					detail := e.Reason
					if detail == "" && len(e.Steps) > 0 {
						detail = e.Steps[len(e.Steps)-1].Description
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Action, e.Status, dash(e.Identity), dash(detail))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "default", "Roster tenant whose Entra logs to show")
	cmd.Flags().StringVar(&user, "user", "", "only entries about this user (name, UPN or id; case-insensitive)")
	cmd.Flags().StringVar(&since, "since", "", "only entries newer than this, e.g. 24h or 7d")
	cmd.Flags().BoolVar(&failed, "failed", false, "only failures")
	cmd.Flags().IntVar(&top, "top", 50, "at most this many entries (up to 500)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	gf.register(cmd)
	return cmd
}

func newEntraPauseResumeCmd(rf *rootFlags, resume bool) *cobra.Command {
	var (
		gf                 graphFlags
		tenant             string
		allowDeletes, full bool
		asJSON             bool
	)
	use, short := "pause", "Pause provisioning: Entra stops calling the agent until resume"
	if resume {
		use, short = "resume", "Start or resume provisioning (also lifts a quarantine)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !resume && (allowDeletes || full) {
				return usageError{errors.New("--allow-deletes and --full apply to resume")}
			}
			return withEntra(cmd, rf, &gf, tenant, func(ctx context.Context, svc *setup.Service, c *graph.Client) error {
				var (
					s   graph.Status
					err error
				)
				switch {
				case !resume:
					s, err = svc.Pause(ctx, c, tenant)
				case allowDeletes:
					s, err = svc.Resume(ctx, c, tenant, graph.RestartForceDelete)
				case full:
					s, err = svc.Resume(ctx, c, tenant, graph.RestartFull)
				default:
					s, err = svc.Resume(ctx, c, tenant, "")
				}
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"tenant": tenant, "status": s, "explain": s.Explain()})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", s.Code, s.Explain())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "default", "Roster tenant whose provisioning to "+use)
	if resume {
		cmd.Flags().BoolVar(&allowDeletes, "allow-deletes", false, "after a TooManyDeletes quarantine: let the held-back deletions through (restart with ForceDeletes)")
		cmd.Flags().BoolVar(&full, "full", false, "restart from scratch: the next cycle re-reads every user (initial cycle)")
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	gf.register(cmd)
	return cmd
}

func newEntraLogoutCmd(rf *rootFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Forget the remembered Microsoft Graph sign-in; the next Graph command asks again",
		Long: `A device code sign-in is remembered between commands: which account signed
in is saved in graph-signin.json in the data dir (it holds no secret), and the
tokens in azidentity's persistent cache, encrypted with a key in the kernel
keyring on Linux (the keychain on macOS, DPAPI on Windows). Where no such
storage exists nothing is remembered.

logout removes both, so the next Graph command asks for a new sign-in. The
token cache is shared by every data dir of this user, which then sign in
again too. It does not end the session at Microsoft; to revoke a signed-in
account's sessions there, an administrator uses Revoke sessions in the Entra
admin center.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rf.dataDir == "" {
				return usageError{errors.New("--data-dir must not be empty")}
			}
			removed, err := graph.ForgetSignIn(graph.SignInRecordFile(rf.dataDir))
			if err != nil {
				return fmt.Errorf("forget the Graph sign-in: %w", err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"signed_out": removed})
			}
			if removed {
				fmt.Fprintln(cmd.OutOrStdout(), "Signed out of Microsoft Graph: the saved sign-in and the cached tokens are removed.")
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "No remembered Microsoft Graph sign-in to remove.")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newProvisionCmd(rf *rootFlags) *cobra.Command {
	var (
		gf     graphFlags
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "provision USER|group:GROUP",
		Short: "Provision one user now, without waiting for Entra's next cycle (provision on demand)",
		Long: `Ask Entra to provision one user into the agent now, and show each step's
result as the Entra admin center does: import from Entra, scoping, matching
in the agent, and the action (create, update or skip).

USER is a userPrincipalName (alice@contoso.com), a display name or an object
id; group:NAME (or group:ID) provisions a group and those of its members that
are already provisioned. Entra allows 5 on-demand requests per 10 seconds;
Roster waits and retries when throttled.`,
		Example: `  roster provision alice@contoso.com
  roster provision group:Sales
  roster provision 6e7b768e-07e2-4810-8459-485f84f8f204 --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("provision takes one user (UPN, name or object id) or group:NAME, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEntra(cmd, rf, &gf, tenant, func(ctx context.Context, svc *setup.Service, c *graph.Client) error {
				u, res, err := svc.ProvisionOnDemand(ctx, c, tenant, args[0])
				if u.ID == "" {
					return err // the user or group was not found
				}
				if asJSON {
					if jerr := printJSON(cmd.OutOrStdout(), map[string]any{"user": u, "result": res}); jerr != nil {
						return jerr
					}
				} else if res.Result != "" {
					printOnDemand(cmd.OutOrStdout(), u, res)
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "default", "Roster tenant to provision into")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	gf.register(cmd)
	return cmd
}

func printOnDemand(w io.Writer, u graph.Principal, r graph.OnDemandResult) {
	fmt.Fprintf(w, "Provision on demand: %s\n\n", u.Label())
	for _, s := range r.Steps {
		mark := "✓"
		switch strings.ToLower(s.Status) {
		case "failure":
			mark = "✗"
		case "skipped", "warning":
			mark = "–"
		}
		fmt.Fprintf(w, "  %s %-9s %s\n", mark, s.Type, s.Description)
	}
	fmt.Fprintf(w, "\nResult: %s", r.Result)
	if r.Action != "" && r.Action != "Other" {
		fmt.Fprintf(w, " (%s)", strings.ToLower(r.Action))
	}
	if r.TargetID != "" {
		fmt.Fprintf(w, ", id %s in Roster", r.TargetID)
	}
	fmt.Fprintln(w)
	if r.ErrorMessage != "" {
		fmt.Fprintf(w, "        %s (%s)\n", r.ErrorMessage, r.ErrorCode)
	}
}

func newEntraDisconnectCmd(rf *rootFlags) *cobra.Command {
	var (
		gf                     graphFlags
		tenant                 string
		yes, deleteApp, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "disconnect",
		Short: "Stop Entra provisioning into this agent, forget the connection and revoke Entra's token",
		Long: `End a tenant's connection to Entra: pause the provisioning job, forget the
saved connection (app, job, sign-in method) and revoke the Secret Token that
Entra held, so Entra can no longer call the agent. Users and groups already
provisioned stay in Roster.

The enterprise app stays in Entra (paused) unless --delete-app is given,
which deletes it with its provisioning job and assignments. 'roster entra
connect' (or 'roster setup') connects again.`,
		Example: `  roster entra disconnect
  roster entra disconnect --tenant tokyo --delete-app --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEntra(cmd, rf, &gf, tenant, func(ctx context.Context, svc *setup.Service, c *graph.Client) error {
				conn, err := svc.Connection(ctx, tenant)
				if err != nil {
					return err
				}
				what := "pause provisioning of"
				if deleteApp {
					what = "DELETE"
				}
				q := fmt.Sprintf("This will %s the enterprise app %q (%s), forget the connection of tenant %q and revoke Entra's Secret Token. Continue?",
					what, conn.App.DisplayName, conn.App.ServicePrincipalID, tenant)
				if err := confirm(cmd, yes, q); err != nil {
					return err
				}
				res, err := svc.Disconnect(ctx, c, tenant, deleteApp)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				w := cmd.OutOrStdout()
				switch {
				case res.AppDeleted:
					fmt.Fprintf(w, "Deleted the enterprise app %s (%s).\n", res.App.DisplayName, res.App.ServicePrincipalID)
				case res.Paused:
					fmt.Fprintf(w, "Paused provisioning of %s (%s); the app stays in Entra.\n", res.App.DisplayName, res.App.ServicePrincipalID)
				default:
					fmt.Fprintf(w, "The app %s (%s) was already gone from Entra.\n", res.App.DisplayName, res.App.ServicePrincipalID)
				}
				if res.RevokedTokenID != "" {
					fmt.Fprintf(w, "Revoked Entra's Secret Token %s.\n", res.RevokedTokenID)
				}
				if res.RevokedClientID != "" {
					fmt.Fprintf(w, "Revoked Entra's OAuth client %s (its secrets and access tokens).\n", res.RevokedClientID)
				}
				fmt.Fprintf(w, "Tenant %s is no longer connected to Entra.\n", tenant)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "default", "Roster tenant to disconnect from Entra")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&deleteApp, "delete-app", false, "also delete the enterprise app from Entra (with its provisioning job and assignments)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	gf.register(cmd)
	return cmd
}
