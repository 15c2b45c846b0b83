package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/agent/directory"
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
	// Token is a token issued earlier in this run for Entra (the wizard
	// shows it before connecting). Nil: Connect issues one when Entra needs
	// a new one.
	Token *Issued
	// NewToken gives Entra a new token even when the app holds a current one.
	NewToken bool
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

	// Entra needs a new token for a new app, a new Tenant URL, or when asked.
	same := prev != nil && appRef != "" && appRef == prev.App.ServicePrincipalID && prev.JobID != "" && prev.TokenID != ""
	issued := req.Token
	mine := false
	if issued == nil && (req.NewToken || !same || prev.TenantURL != res.TenantURL) {
		if issued, err = s.issue(ctx, tenant); err != nil {
			return res, err
		}
		mine = true
	}
	o := graphapi.ConnectOptions{App: appRef, AppName: name, OnPremises: req.Reach.OnPremises, TenantURL: res.TenantURL,
		NotificationEmail: req.Settings.NotificationEmail, DeleteThreshold: req.Settings.DeleteThreshold, SyncAll: req.Settings.SyncAll,
		Mappings: MappingOptions(req.Settings), Assign: req.Assign, SkipTest: req.SkipTest, NoStart: req.NoStart}
	if issued != nil {
		o.Credentials = graphapi.Credentials{Kind: graphapi.CredentialToken, Token: issued.Token.Reveal()}
	}
	gres, err := g.Connect(ctx, o, req.Progress)
	res.ConnectResult = gres
	if err != nil {
		if mine { // never saved in Entra
			if _, rerr := s.dir.RevokeToken(context.WithoutCancel(ctx), issued.TokenID); rerr != nil {
				s.log.Warn("could not revoke the unused token", "token", issued.TokenID, "err", rerr)
			}
		}
		return res, err
	}
	conn := &directory.EntraConnection{App: directory.EntraApp(gres.App), JobID: gres.Job.ID, TenantURL: res.TenantURL,
		OnPremises: req.Reach.OnPremises, Auth: req.SignIn.Auth, EntraID: req.SignIn.TenantID, ClientID: req.SignIn.ClientID,
		Cloud: req.SignIn.Cloud, Connected: s.now().UTC(), Settings: &req.Settings}
	if issued != nil {
		conn.TokenID, res.NewToken = issued.TokenID, true
	} else {
		conn.TokenID = prev.TokenID
	}
	res.TokenID = conn.TokenID
	if err := s.dir.SaveEntraConnection(ctx, tenant, conn); err != nil {
		return res, err
	}
	if prev != nil && prev.TokenID != "" && prev.TokenID != conn.TokenID {
		if _, err := s.dir.RevokeToken(ctx, prev.TokenID); err == nil {
			res.RevokedTokenID = prev.TokenID
		} else if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("could not revoke the token Entra no longer holds", "token", prev.TokenID, "err", err)
		}
	}
	return res, nil
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
