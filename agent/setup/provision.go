package setup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/graph/graphapi"
	"github.com/rosterhq/roster/store"
)

// TestConnection asks Entra to call the agent with the Tenant URL and
// credentials saved in the tenant's app (the portal's Test Connection
// button). Passed, it ends a pending OAuth secret rotation: the client's
// secrets other than the one Entra holds are revoked.
func (s *Service) TestConnection(ctx context.Context, g graphapi.Client, tenant string) error {
	c, err := s.Connection(ctx, tenant)
	if err != nil {
		return err
	}
	if err := g.TestConnection(ctx, appOf(c), c.JobID, c.TenantURL, graphapi.Credentials{}); err != nil {
		return err
	}
	s.retireSecrets(ctx, c)
	return nil
}

// StartProvisioning starts the tenant's provisioning job unless it runs
// already ("Don't create scripts to call the start job continuously",
// https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-start);
// it reports whether it started it.
func (s *Service) StartProvisioning(ctx context.Context, g graphapi.Client, tenant string) (bool, error) {
	c, err := s.Connection(ctx, tenant)
	if err != nil {
		return false, err
	}
	st, err := g.Status(ctx, appOf(c), c.JobID)
	if err != nil {
		return false, err
	}
	if st.Code == "Active" || st.Code == "NotRun" {
		return false, nil
	}
	return true, g.Start(ctx, appOf(c), c.JobID)
}

// Status reads the provisioning status of the tenant's app.
func (s *Service) Status(ctx context.Context, g graphapi.Client, tenant string) (*directory.EntraConnection, graphapi.Status, error) {
	c, err := s.Connection(ctx, tenant)
	if err != nil {
		return nil, graphapi.Status{}, err
	}
	st, err := g.Status(ctx, appOf(c), c.JobID)
	return c, st, err
}

// Pause pauses the tenant's provisioning and returns the new status.
func (s *Service) Pause(ctx context.Context, g graphapi.Client, tenant string) (graphapi.Status, error) {
	c, err := s.Connection(ctx, tenant)
	if err != nil {
		return graphapi.Status{}, err
	}
	if err := g.Pause(ctx, appOf(c), c.JobID); err != nil {
		return graphapi.Status{}, err
	}
	return g.Status(ctx, appOf(c), c.JobID)
}

// Resume starts or resumes the tenant's provisioning; a non-empty scope
// restarts it instead (after a quarantine, or from scratch). It returns the
// new status.
func (s *Service) Resume(ctx context.Context, g graphapi.Client, tenant string, scope graphapi.RestartScope) (graphapi.Status, error) {
	c, err := s.Connection(ctx, tenant)
	if err != nil {
		return graphapi.Status{}, err
	}
	if scope == "" {
		err = g.Start(ctx, appOf(c), c.JobID)
	} else {
		err = g.Restart(ctx, appOf(c), c.JobID, scope)
	}
	if err != nil {
		return graphapi.Status{}, err
	}
	return g.Status(ctx, appOf(c), c.JobID)
}

// Logs reads Entra's provisioning logs of the tenant's job.
func (s *Service) Logs(ctx context.Context, g graphapi.Client, tenant string, q graphapi.LogQuery) ([]graphapi.LogEntry, error) {
	c, err := s.Connection(ctx, tenant)
	if err != nil {
		return nil, err
	}
	q.JobID = c.JobID
	return g.Logs(ctx, q)
}

// ProvisionOnDemand provisions one user (UPN, display name or object id)
// or group ("group:" name or id) into the tenant now.
func (s *Service) ProvisionOnDemand(ctx context.Context, g graphapi.Client, tenant, ref string) (graphapi.Principal, graphapi.OnDemandResult, error) {
	c, err := s.Connection(ctx, tenant)
	if err != nil {
		return graphapi.Principal{}, graphapi.OnDemandResult{}, err
	}
	var p graphapi.Principal
	if name, ok := strings.CutPrefix(ref, "group:"); ok {
		p, err = g.Group(ctx, name)
	} else {
		p, err = g.User(ctx, ref)
	}
	if err != nil {
		return p, graphapi.OnDemandResult{}, err
	}
	res, err := g.ProvisionOnDemand(ctx, appOf(c), c.JobID, p)
	if err == nil && res.Result == "Failure" {
		err = fmt.Errorf("provisioning %s failed: %s", p.Label(), res.ErrorMessage)
	}
	return p, res, err
}

// DisconnectResult is what Disconnect did.
type DisconnectResult struct {
	App            directory.EntraApp `json:"app"`
	Paused         bool               `json:"paused"`
	AppDeleted     bool               `json:"app_deleted"`
	RevokedTokenID string             `json:"revoked_token_id,omitempty"`
	// RevokedClientID is the OAuth client Entra used, revoked with its
	// secrets and access tokens.
	RevokedClientID string `json:"revoked_client_id,omitempty"`
}

// Disconnect ends the tenant's connection to Entra: it pauses provisioning
// (or, with deleteApp, deletes the enterprise app), forgets the saved
// connection and revokes the Secret Token or OAuth client Entra held. An app or job that
// is gone already does not stop it.
func (s *Service) Disconnect(ctx context.Context, g graphapi.Client, tenant string, deleteApp bool) (DisconnectResult, error) {
	tenant = orDefault(tenant)
	c, err := s.Connection(ctx, tenant)
	if err != nil {
		return DisconnectResult{}, err
	}
	res := DisconnectResult{App: c.App}
	if deleteApp {
		err = g.DeleteApp(ctx, appOf(c))
		res.AppDeleted = err == nil
	} else {
		err = g.Pause(ctx, appOf(c), c.JobID)
		res.Paused = err == nil
	}
	if err != nil && !errors.Is(err, graphapi.ErrNotFound) {
		return res, err
	}
	if err := s.dir.DeleteEntraConnection(ctx, tenant); err != nil {
		return res, err
	}
	if c.TokenID != "" {
		if _, err := s.dir.RevokeToken(ctx, c.TokenID); err == nil {
			res.RevokedTokenID = c.TokenID
		} else if !errors.Is(err, store.ErrNotFound) {
			return res, fmt.Errorf("revoke the Secret Token Entra held: %w", err)
		}
	}
	if c.OAuthClientID != "" {
		if _, err := s.dir.RevokeOAuthClient(ctx, c.OAuthClientID); err == nil {
			res.RevokedClientID = c.OAuthClientID
		} else if !errors.Is(err, directory.ErrOAuthClientNotFound) {
			return res, fmt.Errorf("revoke the OAuth client Entra used: %w", err)
		}
	}
	return res, nil
}
