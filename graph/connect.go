package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/applicationtemplates"
)

// OnPremSCIMTemplateName is the gallery app that provisions through
// Microsoft's on-premises provisioning agent instead of calling the Tenant
// URL from the internet (on-premises-scim-provisioning.md).
const OnPremSCIMTemplateName = "On-premises SCIM app"

// errNeedsToken is returned by Connect without credentials for an app or job
// that does not exist yet: it needs the Tenant URL and credentials.
var errNeedsToken = &Error{Op: "configure provisioning", Err: errors.New("a new app or provisioning job needs the Tenant URL and credentials (an OAuth client or a Secret Token)"),
	Hint: "give Entra new credentials (roster entra connect --new-token) and run this again"}

// FederationSteps are the portal steps that set up Workload Identity
// Federation on the app's provisioning: Graph v1.0 and beta have no call for
// it on a non-gallery app, so Connect lists them in ConnectResult.Manual.
// The flow is Microsoft's
// (https://github.com/AzureAD/SCIMReferenceCode/blob/master/Workload-Identity-Federation-for-SCIM-Provisioning.md,
// "WIF Configuration Flow").
func FederationSteps(appName, tenantURL string, cred Credentials) []string {
	return []string{
		"In the Microsoft Entra admin center → Enterprise applications → " + appName + " → Provisioning → Admin Credentials (Connectivity), choose the authentication method \"Workload Identity Federation\" and select (or register) its workload identity",
		"Check the Issuer, Subject (sub) and Audience (aud) the portal shows against what `roster oauth client list` shows for client " + cred.ClientID + "; if they differ, add the federation again with the portal's values (roster oauth federation add --subject … --audience …)",
		"Paste these values: Client ID " + cred.ClientID + ", Token URL " + cred.TokenURL + ", Tenant URL " + tenantURL + "; then select Test Connection and Save",
	}
}

// Connect creates or adopts the enterprise app and converges its
// provisioning configuration on o: job, Test Connection, Tenant URL and
// token, notification and scope, mappings, assignments, start. Running it
// again with the same options changes nothing and never creates a second
// app or job. progress, if not nil, hears each step as it starts.
func (c *Client) Connect(ctx context.Context, o ConnectOptions, progress func(string)) (ConnectResult, error) {
	say := func(f string, a ...any) {
		if progress != nil {
			progress(fmt.Sprintf(f, a...))
		}
	}
	var res ConnectResult
	if err := o.Validate(); err != nil {
		return res, err
	}
	name := o.AppName
	if name == "" {
		name = DefaultAppName
	}
	// Resolve the principals first: a typo should not leave a half-made app.
	var principals []Principal
	for _, ref := range o.Assign {
		say("looking up %s", ref)
		var p Principal
		var err error
		if g, ok := strings.CutPrefix(ref, "group:"); ok {
			p, err = c.Group(ctx, g)
		} else {
			p, err = c.User(ctx, ref)
		}
		if err != nil {
			return res, err
		}
		principals = append(principals, p)
	}

	switch {
	case o.App != "":
		say("finding enterprise app %s", o.App)
		app, err := c.App(ctx, o.App)
		if err != nil {
			return res, err
		}
		res.App = app
	default:
		say("finding enterprise app %q", name)
		apps, err := c.FindApps(ctx, name)
		if err != nil {
			return res, err
		}
		switch len(apps) {
		case 0:
			if needsCredentials(o.Credentials) {
				return res, errNeedsToken
			}
			say("creating enterprise app %q", name)
			tpl := CustomAppTemplateID
			if o.OnPremises {
				if tpl, err = c.templateByName(ctx, OnPremSCIMTemplateName); err != nil {
					return res, err
				}
			}
			app, err := c.createFromTemplate(ctx, tpl, name, progress)
			if err != nil {
				return res, err
			}
			res.App, res.AppCreated = app, true
		case 1:
			res.App = apps[0]
		default:
			var ids []string
			for _, a := range apps {
				ids = append(ids, a.ServicePrincipalID)
			}
			return res, &Error{Op: "find enterprise app " + name, Err: fmt.Errorf("%d apps are named %q", len(apps), name),
				Hint: "pass --app with one of these service principal ids: " + strings.Join(ids, ", ")}
		}
	}

	say("finding the provisioning job")
	if needsCredentials(o.Credentials) {
		jobs, err := c.Jobs(ctx, res.App)
		if err != nil {
			return res, err
		}
		if len(jobs) == 0 {
			return res, errNeedsToken
		}
	}
	job, created, err := c.EnsureJob(ctx, res.App)
	if err != nil {
		return res, err
	}
	res.Job, res.JobCreated = job, created

	if o.OnPremises {
		res.Manual = append(res.Manual,
			"Install Microsoft's provisioning agent (https://aka.ms/OnPremProvisioningAgent) on a Windows server that can reach "+o.TenantURL+", choosing \"On-premises provisioning\"",
			"In Entra admin center → Enterprise applications → "+res.App.DisplayName+" → Provisioning → On-Premises Connectivity, assign that agent, then wait 10 minutes (Graph v1.0 has no call for this)")
	}
	federation := o.Credentials.Kind == CredentialFederation
	if federation {
		res.Manual = append(res.Manual, FederationSteps(res.App.DisplayName, o.TenantURL, o.Credentials)...)
	}
	testing := !o.SkipTest && !federation
	if testing {
		say("Test Connection: Entra calls %s", o.TenantURL)
		if err := c.TestConnection(ctx, res.App, job.ID, o.TenantURL, o.Credentials); err != nil {
			if o.OnPremises {
				var e *Error
				if errors.As(err, &e) {
					e.Hint = "with the on-premises route, Entra reaches the agent through Microsoft's provisioning agent: install it and assign it to the app first (see below), then run this again"
				}
			}
			return res, err
		}
		res.Tested = true
	}

	sent := !o.Credentials.Empty()
	switch {
	case !sent:
		say("saving the notification email and scope (Entra keeps its Tenant URL and credentials)")
	case o.Credentials.Kind == CredentialOAuth2:
		say("saving the Tenant URL, OAuth client, notification email and scope")
	default:
		say("saving the Tenant URL, token, notification email and scope")
	}
	if err := c.SaveSecrets(ctx, res.App, Secrets{TenantURL: o.TenantURL, Credentials: o.Credentials,
		NotificationEmail: o.NotificationEmail, DeleteThreshold: o.DeleteThreshold, SyncAll: o.SyncAll}); err != nil {
		return res, err
	}
	res.Saved = sent
	if testing && sent {
		// Graph answers 204 to a save it dropped (see SaveSecrets): only a
		// Test Connection with the saved credentials proves they are there.
		say("Test Connection with the saved credentials")
		if err := c.TestConnection(ctx, res.App, job.ID, o.TenantURL, Credentials{}); err != nil {
			return res, err
		}
	}

	say("setting the attribute mappings")
	if res.MappingChanges, err = c.ApplyMappings(ctx, res.App, job.ID, o.Mappings); err != nil {
		return res, err
	}

	var have []Assignment
	if len(principals) > 0 {
		if have, err = c.Assignments(ctx, res.App); err != nil {
			return res, err
		}
	}
	for _, p := range principals {
		say("assigning %s", p.Label())
		added, err := c.assign(ctx, res.App, p, have)
		if err != nil {
			return res, err
		}
		if added {
			res.Assigned = append(res.Assigned, p)
		} else {
			res.AlreadyAssigned = append(res.AlreadyAssigned, p)
		}
	}

	st, err := c.Status(ctx, res.App, job.ID)
	if err != nil {
		return res, err
	}
	// Start only a job that is not running: "Don't create scripts to call
	// the start job continuously" (docs/graph.md#start-pause-restart). A job in
	// quarantine is left for `roster entra resume`, after a look at why.
	if !o.NoStart && !federation && (st.Code == "NotConfigured" || st.Code == "Paused" || st.Schedule == "Disabled") && st.Code != "Quarantine" {
		say("starting provisioning")
		if err := c.Start(ctx, res.App, job.ID); err != nil {
			return res, err
		}
		res.Started = true
		if st, err = c.Status(ctx, res.App, job.ID); err != nil {
			return res, err
		}
	}
	res.Status = st
	return res, nil
}

// needsCredentials reports whether Connect has nothing to authenticate Entra
// with, so that the app and its job must exist already. Federation
// credentials are set in the portal later; they need no existing app.
func needsCredentials(c Credentials) bool {
	return c.Empty() && c.Kind != CredentialFederation
}

// templateByName finds a gallery application template by display name.
func (c *Client) templateByName(ctx context.Context, name string) (string, error) {
	f := "displayName eq " + odataQuote(name)
	resp, err := c.tpls.Get(ctx, &applicationtemplates.ApplicationTemplatesRequestBuilderGetRequestConfiguration{
		QueryParameters: &applicationtemplates.ApplicationTemplatesRequestBuilderGetQueryParameters{Filter: &f},
	})
	if err != nil {
		return "", wrap("find the "+name+" gallery app", permReadApps, err)
	}
	for _, t := range resp.GetValue() {
		if strings.EqualFold(deref(t.GetDisplayName()), name) && t.GetId() != nil {
			return *t.GetId(), nil
		}
	}
	return "", &Error{Op: "find the " + name + " gallery app", Err: ErrNotFound, Status: 404,
		Hint: "the on-premises SCIM app is not in this cloud's gallery; use the internet route (public HTTPS) instead"}
}
