package setup

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/oauth"
	"github.com/rosterhq/roster/agent/token"
	"github.com/rosterhq/roster/graph/graphapi"
	"github.com/rosterhq/roster/store"
)

// SignIn is how Graph was signed in to, remembered with the connection so
// that later commands sign in the same way. It holds no secret.
type SignIn struct {
	Auth     string
	TenantID string // Entra tenant id or domain
	ClientID string
	Cloud    string
}

// ConnectRequest is everything Connect configures.
type ConnectRequest struct {
	// Tenant is the Roster tenant Entra provisions into (default "default").
	Tenant string
	// App adopts this existing enterprise app explicitly (service principal
	// id, application id or display name).
	App string
	// AppName is the display name of the app to create, or to find when it
	// is the one this data directory connected before (default "Roster").
	AppName string
	// TenantURL is what Entra calls (default: the recorded public URL's).
	TenantURL string
	// Reach says how Entra reaches the agent (on premises, lab).
	Reach Reach
	// Settings are the mappings, scope, notification email and
	// accidental-deletion threshold; Connection's saved ones, or
	// DefaultSettings, are the usual starting point.
	Settings directory.EntraSettings
	// Assign lists users (UPN, name or object id) and groups ("group:"
	// name or id) to assign to the app.
	Assign []string
	// Credential is how Entra authenticates to the agent: oauth2 (an OAuth
	// client whose secret Entra trades for access tokens), token (a Secret
	// Token) or federation (Workload Identity Federation, set up in the
	// portal). "" keeps the kind the tenant is connected with, else
	// DefaultCredential (token when Token is given, or on premises).
	Credential graphapi.CredentialKind
	// Token is a token issued earlier in this run for Entra (the wizard
	// shows it before connecting). Nil: Connect issues one when Entra needs
	// a new one.
	Token *Issued
	// NewToken gives Entra a new token even when the app holds a current one.
	NewToken bool
	// Federation describes the Workload Identity Federation to trust (the
	// Subject and Audience the portal shows); nil uses the tenant's newest
	// active federation client (`roster oauth federation add`).
	Federation *directory.NewFederation
	// AwaitPortal, for federation, shows the portal steps and returns when
	// the administrator says they are done; Connect then confirms with
	// Test Connection. Nil: Connect confirms only if the portal is already
	// set up, else returns the steps in Manual with Pending set.
	AwaitPortal func(ctx context.Context, steps []string) error
	// SkipTest skips Test Connection; NoStart leaves provisioning stopped.
	SkipTest, NoStart bool
	// SignIn is remembered with the connection.
	SignIn SignIn
	// Progress, if not nil, hears each step as it starts.
	Progress func(string)
}

// ConnectResult is what Connect did.
type ConnectResult struct {
	graphapi.ConnectResult
	Tenant    string `json:"tenant"`
	TenantURL string `json:"tenant_url"`
	// TokenID is the Secret Token Entra holds now.
	TokenID string `json:"token_id"`
	// NewToken says whether this run gave Entra a new token.
	NewToken bool `json:"new_token"`
	// RevokedTokenID is the token the new one replaced, revoked.
	RevokedTokenID string `json:"revoked_token_id,omitempty"`
	// Credential is the kind Entra uses now; OAuthClientID its OAuth
	// client (oauth2, federation); TokenURL the agent's token endpoint.
	Credential    graphapi.CredentialKind `json:"credential"`
	OAuthClientID string                  `json:"oauth_client_id,omitempty"`
	TokenURL      string                  `json:"token_url,omitempty"`
	// NewSecretID is the client secret this run gave Entra (a new client's
	// first, or a rotation's); RevokedSecretIDs are the secrets it
	// replaced, revoked after the new one tested OK; RevokedClientID is an
	// OAuth client Entra no longer uses, revoked.
	NewSecretID string `json:"new_secret_id,omitempty"`
	// NewSecret is that secret in clear: Entra holds it; it is never
	// printed unless asked for, and never in JSON.
	NewSecret        token.Secret `json:"-"`
	RevokedSecretIDs []string     `json:"revoked_secret_ids,omitempty"`
	RevokedClientID  string       `json:"revoked_client_id,omitempty"`
	// Pending says the federation still waits for the portal steps in
	// Manual; run Connect again when they are done.
	Pending bool `json:"pending,omitempty"`
}

// DefaultCredential is the credential a new connection uses: OAuth 2.0
// client credentials, which Microsoft's gallery rules ask for instead of
// long-lived bearer tokens
// (https://learn.microsoft.com/entra/identity/enterprise-apps/app-gallery-user-provisioning-requirements).
const DefaultCredential = graphapi.CredentialOAuth2

// OAuthClientName names the OAuth clients Connect issues for Entra.
const OAuthClientName = "entra"

// TokenURL is the agent's OAuth token endpoint for a tenant beside its
// Tenant URL (oauth.TokenURL of the public URL the Tenant URL is under).
func TokenURL(tenantURL, tenant string) string {
	base := strings.TrimRight(tenantURL, "/")
	if b, ok := strings.CutSuffix(base, "/scim/"+tenant+"/v2"); ok {
		base = b
	} else if u, err := url.Parse(base); err == nil && u.Host != "" {
		base = u.Scheme + "://" + u.Host
	}
	return oauth.TokenURL(base, tenant)
}

// AppExistsError is returned when an enterprise app with the wanted name
// exists but this data directory did not connect it: adopting it silently
// could take provisioning away from another agent, and creating a second
// one silently would leave two apps of the same name.
type AppExistsError struct {
	Name string
	Apps []graphapi.App
}

func (e *AppExistsError) Error() string {
	var ids []string
	for _, a := range e.Apps {
		ids = append(ids, a.ServicePrincipalID)
	}
	return fmt.Sprintf("an enterprise app named %q already exists (service principal %s), and this data directory did not connect it: "+
		"adopting it would point its provisioning at this agent, away from whatever it serves now. "+
		"To use it anyway, name it explicitly (--app %s); to create a separate app, choose another name (--app-name)",
		e.Name, strings.Join(ids, ", "), ids[0])
}

// Connect connects a tenant to Entra, the same way for the wizard and the
// CLI: check the Tenant URL (before anything is created in Entra), choose
// the app (the one this data directory connected before, an explicit one,
// or a new one — never another app of the same name silently), issue a
// Secret Token when Entra needs a new one, configure the app through Graph,
// save the connection, and revoke the token the new one replaced, by its
// saved id. A re-run with the same app and Tenant URL writes the settings,
// mappings and assignments and keeps Entra's token.
func (s *Service) Connect(ctx context.Context, g graphapi.Client, req ConnectRequest) (ConnectResult, error) {
	tenant := orDefault(req.Tenant)
	res := ConnectResult{Tenant: tenant}
	say := func(f string, a ...any) {
		if req.Progress != nil {
			req.Progress(fmt.Sprintf(f, a...))
		}
	}
	if err := ValidateSettings(req.Settings); err != nil {
		return res, err
	}
	if _, err := s.dir.Tenant(ctx, tenant); errors.Is(err, store.ErrNotFound) {
		return res, fmt.Errorf("no tenant %q: see 'roster tenant list', or start 'roster agent' once to create the default tenant", tenant)
	} else if err != nil {
		return res, err
	}
	res.TenantURL = req.TenantURL
	if req.Token != nil && res.TenantURL == "" {
		res.TenantURL = req.Token.TenantURL
	}
	if res.TenantURL == "" {
		var err error
		if res.TenantURL, err = s.TenantURL(ctx, tenant); err != nil {
			return res, err
		}
	}
	say("checking that the agent answers at %s", res.TenantURL)
	if err := s.Preflight(ctx, res.TenantURL, req.Reach); err != nil {
		return res, err
	}
	prev, err := s.dir.EntraConnection(ctx, tenant)
	if errors.Is(err, directory.ErrNotConnected) {
		prev, err = nil, nil
	}
	if err != nil {
		return res, err
	}
	name := req.AppName
	if name == "" {
		name = graphapi.DefaultAppName
	}
	appRef, err := s.chooseApp(ctx, g, req.App, name, prev, say)
	if err != nil {
		return res, err
	}

	kind := req.Credential
	switch {
	case kind == "" && req.Token != nil:
		kind = graphapi.CredentialToken
	case kind == "" && prev != nil:
		kind = connectionKind(prev)
	case kind == "" && req.Reach.OnPremises:
		// The on-premises route's documented credential is the Secret
		// Token (https://learn.microsoft.com/entra/identity/app-provisioning/on-premises-scim-provisioning).
		kind = graphapi.CredentialToken
	case kind == "":
		kind = DefaultCredential
	}
	if _, err := graphapi.ParseCredentialKind(string(kind)); err != nil {
		return res, err
	}
	if req.Token != nil && kind != graphapi.CredentialToken {
		return res, fmt.Errorf("a Secret Token was issued for Entra, but the credential is %s", kind)
	}
	res.Credential = kind
	res.TokenURL = TokenURL(res.TenantURL, tenant)
	// same: a re-run on the app and job this data directory connected.
	same := prev != nil && appRef != "" && appRef == prev.App.ServicePrincipalID && prev.JobID != ""
	if f := req.Federation; f != nil && f.EntraTenant == "" && f.Issuer == "" {
		// The assertions come from the signed-in Entra tenant.
		acct, err := g.Account(ctx)
		if err != nil {
			return res, err
		}
		f.EntraTenant = acct.TenantID
	}
	cr, err := s.credentials(ctx, tenant, kind, req, prev, same, res.TenantURL != prevURL(prev))
	if err != nil {
		return res, err
	}
	cr.cred.TokenURL = res.TokenURL
	o := graphapi.ConnectOptions{App: appRef, AppName: name, OnPremises: req.Reach.OnPremises, TenantURL: res.TenantURL,
		Credentials: cr.cred, NotificationEmail: req.Settings.NotificationEmail, DeleteThreshold: req.Settings.DeleteThreshold,
		SyncAll: req.Settings.SyncAll, Mappings: MappingOptions(req.Settings), Assign: req.Assign, SkipTest: req.SkipTest, NoStart: req.NoStart}
	if kind == graphapi.CredentialToken && cr.cred.Token == "" {
		o.Credentials = graphapi.Credentials{} // Entra keeps its token
	}
	gres, err := g.Connect(ctx, o, req.Progress)
	res.ConnectResult = gres
	if err != nil {
		if !gres.Saved { // Entra never held the new credentials
			s.discard(context.WithoutCancel(ctx), cr)
		}
		return res, err
	}
	if kind == graphapi.CredentialFederation {
		if err := s.confirmFederation(ctx, g, req, &res); err != nil {
			return res, err
		}
	}
	conn := &directory.EntraConnection{App: directory.EntraApp(gres.App), JobID: gres.Job.ID, TenantURL: res.TenantURL,
		Credential: string(kind), OAuthClientID: cr.clientID, OAuthSecretID: cr.secretID,
		OnPremises: req.Reach.OnPremises, Auth: req.SignIn.Auth, EntraID: req.SignIn.TenantID, ClientID: req.SignIn.ClientID,
		Cloud: req.SignIn.Cloud, Connected: s.now().UTC(), Settings: &req.Settings}
	switch {
	case cr.tokenID != "":
		conn.TokenID, res.NewToken = cr.tokenID, true
	case kind == graphapi.CredentialToken:
		conn.TokenID = prev.TokenID
	}
	if kind == graphapi.CredentialOAuth2 && cr.secretID == "" {
		conn.OAuthSecretID = prev.OAuthSecretID
	}
	res.TokenID, res.OAuthClientID, res.NewSecretID, res.NewSecret = conn.TokenID, conn.OAuthClientID, cr.secretID, cr.secret
	if err := s.dir.SaveEntraConnection(ctx, tenant, conn); err != nil {
		return res, err
	}
	s.retire(ctx, &res, prev, conn)
	if gres.Tested {
		res.RevokedSecretIDs = s.retireSecrets(ctx, conn)
	}
	return res, nil
}

// connectionKind is the credential kind of a saved connection.
func connectionKind(c *directory.EntraConnection) graphapi.CredentialKind {
	if c.Credential == "" {
		return graphapi.CredentialToken
	}
	return graphapi.CredentialKind(c.Credential)
}

func prevURL(c *directory.EntraConnection) string {
	if c == nil {
		return ""
	}
	return c.TenantURL
}

// credentialRun is what Connect gives Entra in this run and must take back
// if Entra never holds it.
type credentialRun struct {
	cred graphapi.Credentials
	// tokenID is a Secret Token issued here (mine: by Connect, not the wizard).
	tokenID string
	mine    bool
	// clientID is the OAuth client Entra uses; newClient says Connect
	// created it; secretID is the secret issued here.
	clientID  string
	newClient bool
	secretID  string
	secret    token.Secret
}

// credentials issues what Entra needs for kind: a Secret Token when Entra
// needs a new one; a new OAuth client, or on a re-run a new secret of the
// same client (rotation: the old secret stays valid until the new one has
// tested OK); the federation client to trust.
func (s *Service) credentials(ctx context.Context, tenant string, kind graphapi.CredentialKind, req ConnectRequest,
	prev *directory.EntraConnection, same, urlChanged bool) (credentialRun, error) {
	var cr credentialRun
	switch kind {
	case graphapi.CredentialToken:
		cr.cred.Kind = kind
		issued := req.Token
		if issued == nil && (req.NewToken || !same || urlChanged || connectionKind(prev) != kind || prev.TokenID == "") {
			var err error
			if issued, err = s.issue(ctx, tenant); err != nil {
				return cr, err
			}
			cr.mine = true
		}
		if issued != nil {
			cr.cred.Token, cr.tokenID = issued.Token.Reveal(), issued.TokenID
		}
	case graphapi.CredentialOAuth2:
		cr.cred.Kind = kind
		var is *directory.IssuedClientSecret
		var err error
		if same && connectionKind(prev) == kind && prev.OAuthClientID != "" {
			is, err = s.dir.RotateOAuthClient(ctx, prev.OAuthClientID, 0)
			if err != nil {
				s.log.Warn("cannot rotate the OAuth client Entra holds; issuing a new client", "client", prev.OAuthClientID, "err", err)
			}
		}
		if is == nil {
			if is, err = s.dir.AddOAuthClient(ctx, directory.NewOAuthClient{Tenant: tenant, Name: OAuthClientName}); err != nil {
				return cr, fmt.Errorf("issue an OAuth client for Entra: %w", err)
			}
			cr.newClient = true
		}
		cr.clientID, cr.secretID, cr.secret = is.Client.ID, is.Record.ID, is.Secret
		cr.cred.ClientID, cr.cred.ClientSecret = is.Client.ID, is.Secret.Reveal()
	case graphapi.CredentialFederation:
		cr.cred.Kind = kind
		c, created, err := s.federationClient(ctx, tenant, req.Federation, prev)
		if err != nil {
			return cr, err
		}
		cr.clientID, cr.newClient = c.ID, created
		cr.cred.ClientID = c.ID
	}
	return cr, nil
}

// federationClient returns the federation client to trust: a new one from
// n, or the one the connection uses, or the tenant's newest active one.
func (s *Service) federationClient(ctx context.Context, tenant string, n *directory.NewFederation, prev *directory.EntraConnection) (*store.OAuthClient, bool, error) {
	clients, err := s.dir.ListOAuthClients(ctx, tenant)
	if err != nil {
		return nil, false, err
	}
	if n != nil {
		n.Tenant = tenant
		if n.Name == "" {
			n.Name = OAuthClientName
		}
		want, err := n.Federation()
		if err != nil {
			return nil, false, err
		}
		// Running again with the same federation (after the portal steps,
		// or a re-run) keeps its client: the Client ID pasted in the portal
		// stays right.
		for _, c := range clients {
			if c.Kind == store.OAuthFederation && c.Active() && c.Issuer == want.Issuer && c.Subject == want.Subject &&
				c.Audience == want.Audience && c.JWKSURL == want.JWKSURL && c.ReadOnly == want.ReadOnly {
				return c, false, nil
			}
		}
		c, err := s.dir.AddFederation(ctx, *n)
		return c, err == nil, err
	}
	var newest *store.OAuthClient
	for _, c := range clients {
		if c.Kind != store.OAuthFederation || !c.Active() {
			continue
		}
		if prev != nil && c.ID == prev.OAuthClientID {
			return c, false, nil
		}
		if newest == nil || c.Created.After(newest.Created) {
			newest = c
		}
	}
	if newest == nil {
		return nil, false, errors.New("a Workload Identity Federation needs the Subject and Audience that Entra shows for it: " +
			"pass --subject and --audience (and --entra-tenant), or add it first with 'roster oauth federation add'")
	}
	return newest, false, nil
}

// discard takes back what this run issued and Entra never saved.
func (s *Service) discard(ctx context.Context, cr credentialRun) {
	var err error
	switch {
	case cr.mine && cr.tokenID != "":
		_, err = s.dir.RevokeToken(ctx, cr.tokenID)
	case cr.newClient:
		_, err = s.dir.RevokeOAuthClient(ctx, cr.clientID)
	case cr.secretID != "":
		_, err = s.dir.RevokeOAuthClientSecret(ctx, cr.clientID, cr.secretID)
	}
	if err != nil {
		s.log.Warn("could not revoke the unused credentials", "token", cr.tokenID, "client", cr.clientID, "err", err)
	}
}

// retire revokes what Entra no longer uses once the new credentials are
// saved: the Secret Token or OAuth client of the previous connection.
func (s *Service) retire(ctx context.Context, res *ConnectResult, prev, conn *directory.EntraConnection) {
	if prev == nil {
		return
	}
	if prev.TokenID != "" && prev.TokenID != conn.TokenID {
		if _, err := s.dir.RevokeToken(ctx, prev.TokenID); err == nil {
			res.RevokedTokenID = prev.TokenID
		} else if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("could not revoke the token Entra no longer holds", "token", prev.TokenID, "err", err)
		}
	}
	if prev.OAuthClientID != "" && prev.OAuthClientID != conn.OAuthClientID {
		if _, err := s.dir.RevokeOAuthClient(ctx, prev.OAuthClientID); err == nil {
			res.RevokedClientID = prev.OAuthClientID
		} else if !errors.Is(err, directory.ErrOAuthClientNotFound) {
			s.log.Warn("could not revoke the OAuth client Entra no longer uses", "client", prev.OAuthClientID, "err", err)
		}
	}
}

// retireSecrets ends a rotation: called once the secret Entra holds
// (c.OAuthSecretID) passed Test Connection, it revokes the client's other
// secrets, so that Entra is never left without a working one. It returns
// the ids it revoked.
func (s *Service) retireSecrets(ctx context.Context, c *directory.EntraConnection) []string {
	if connectionKind(c) != graphapi.CredentialOAuth2 || c.OAuthClientID == "" || c.OAuthSecretID == "" {
		return nil
	}
	cl, err := s.dir.OAuthClient(ctx, c.OAuthClientID)
	if err != nil {
		s.log.Warn("could not read the OAuth client to revoke its old secrets", "client", c.OAuthClientID, "err", err)
		return nil
	}
	var out []string
	for _, sec := range cl.Secrets {
		if sec.ID == c.OAuthSecretID || sec.Revoked != nil {
			continue
		}
		if _, err := s.dir.RevokeOAuthClientSecret(ctx, cl.ID, sec.ID); err != nil {
			s.log.Warn("could not revoke the OAuth client's old secret", "client", cl.ID, "secret", sec.ID, "err", err)
			continue
		}
		out = append(out, sec.ID)
	}
	return out
}

// confirmFederation waits for the portal steps (when req.AwaitPortal is
// set) and confirms them with Test Connection of the credentials saved in
// the app. Confirmed, it starts provisioning unless req.NoStart.
func (s *Service) confirmFederation(ctx context.Context, g graphapi.Client, req ConnectRequest, res *ConnectResult) error {
	if req.AwaitPortal != nil {
		if err := req.AwaitPortal(ctx, res.Manual); err != nil {
			return err
		}
	}
	app := res.App
	if req.Progress != nil {
		req.Progress("Test Connection with the credentials saved in the portal")
	}
	if err := g.TestConnection(ctx, app, res.Job.ID, res.TenantURL, graphapi.Credentials{}); err != nil {
		if req.AwaitPortal != nil {
			return err
		}
		res.Pending = true // the portal steps are still to do
		return nil
	}
	res.Tested, res.Manual = true, nil
	if !req.NoStart {
		st, err := g.Status(ctx, app, res.Job.ID)
		if err != nil {
			return err
		}
		if st.Code != "Active" && st.Code != "NotRun" && st.Code != "Quarantine" {
			if err := g.Start(ctx, app, res.Job.ID); err != nil {
				return err
			}
			res.Started = true
		}
		if res.Status, err = g.Status(ctx, app, res.Job.ID); err != nil {
			return err
		}
	}
	return nil
}

// chooseApp returns the service principal id of the app to configure, or
// "" to create one named name.
func (s *Service) chooseApp(ctx context.Context, g graphapi.Client, explicit, name string, prev *directory.EntraConnection, say func(string, ...any)) (string, error) {
	if explicit != "" {
		say("finding enterprise app %s", explicit)
		a, err := g.App(ctx, explicit)
		if err != nil {
			return "", err
		}
		return a.ServicePrincipalID, nil
	}
	say("finding enterprise app %q", name)
	found, err := g.FindApps(ctx, name)
	if err != nil {
		return "", err
	}
	apps := mark(found, prev)
	var same []graphapi.App
	for _, a := range apps {
		if a.Connected {
			return a.ServicePrincipalID, nil
		}
		if a.DisplayName == name {
			same = append(same, a.App)
		}
	}
	if len(same) > 0 {
		return "", &AppExistsError{Name: name, Apps: same}
	}
	return "", nil
}

// AppChoice is an enterprise app found by name, and whether it is the one
// this data directory connected.
type AppChoice struct {
	graphapi.App
	Connected bool `json:"connected"`
}

// FindApps returns the enterprise apps whose name starts with prefix, the
// one the tenant is connected to (if any) first and marked.
func (s *Service) FindApps(ctx context.Context, g graphapi.Client, tenant, prefix string) ([]AppChoice, error) {
	prev, err := s.dir.EntraConnection(ctx, orDefault(tenant))
	if err != nil && !errors.Is(err, directory.ErrNotConnected) {
		return nil, err
	}
	apps, err := g.SearchApps(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if _, perr := uuid.Parse(prefix); len(apps) == 0 && perr == nil {
		// An id names one app to adopt explicitly.
		a, err := g.App(ctx, prefix)
		if err != nil && !errors.Is(err, graphapi.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			apps = append(apps, a)
		}
	}
	return mark(apps, prev), nil
}

// mark marks the app prev connected (prev may be nil) and puts it first.
func mark(apps []graphapi.App, prev *directory.EntraConnection) []AppChoice {
	out := make([]AppChoice, 0, len(apps))
	for _, a := range apps {
		out = append(out, AppChoice{App: a, Connected: prev != nil && a.ServicePrincipalID == prev.App.ServicePrincipalID})
	}
	slices.SortStableFunc(out, func(a, b AppChoice) int {
		switch {
		case a.Connected == b.Connected:
			return 0
		case a.Connected:
			return -1
		}
		return 1
	})
	return out
}
