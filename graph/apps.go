package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationtemplates"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
)

// CustomAppTemplateID is the application template of a non-gallery app
// ("Create your own application", docs/graph.md#create-the-app).
const CustomAppTemplateID = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func odataQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func appFrom(sp models.ServicePrincipalable) App {
	a := App{ServicePrincipalID: deref(sp.GetId()), AppID: deref(sp.GetAppId()), DisplayName: deref(sp.GetDisplayName())}
	a.UserRoleID = pickRole(sp.GetAppRoles())
	return a
}

// pickRole chooses the app role to assign: "User", else the first enabled
// role, else the zero GUID Graph accepts when an app declares no roles
// (docs/graph.md#assign-users-and-groups).
func pickRole(roles []models.AppRoleable) string {
	first := ""
	for _, r := range roles {
		if r.GetId() == nil || (r.GetIsEnabled() != nil && !*r.GetIsEnabled()) {
			continue
		}
		if strings.EqualFold(deref(r.GetDisplayName()), "User") || strings.EqualFold(deref(r.GetValue()), "User") {
			return r.GetId().String()
		}
		if first == "" {
			first = r.GetId().String()
		}
	}
	if first != "" {
		return first
	}
	return "00000000-0000-0000-0000-000000000000"
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// FindApps returns the enterprise apps (service principals) whose display
// name is name.
func (c *Client) FindApps(ctx context.Context, name string) ([]App, error) {
	f := "displayName eq " + odataQuote(name)
	resp, err := c.sps.Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: &f},
	})
	if err != nil {
		return nil, wrap("find enterprise app "+name, permReadApps, err)
	}
	var apps []App
	for _, sp := range resp.GetValue() {
		apps = append(apps, appFrom(sp))
	}
	return apps, nil
}

// App returns the enterprise app with the given service principal id,
// application (client) id or display name.
func (c *Client) App(ctx context.Context, ref string) (App, error) {
	if guidRE.MatchString(ref) {
		sp, err := c.sps.ByServicePrincipalId(ref).Get(ctx, nil)
		if err == nil {
			return appFrom(sp), nil
		}
		if statusOf(wrap("", permNoneNeeded, err)) != 404 {
			return App{}, wrap("read enterprise app "+ref, permReadApps, err)
		}
		f := "appId eq " + odataQuote(ref)
		resp, err := c.sps.Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: &f},
		})
		if err != nil {
			return App{}, wrap("find enterprise app "+ref, permReadApps, err)
		}
		if v := resp.GetValue(); len(v) > 0 {
			return appFrom(v[0]), nil
		}
	}
	apps, err := c.FindApps(ctx, ref)
	if err != nil {
		return App{}, err
	}
	switch len(apps) {
	case 0:
		return App{}, &Error{Op: "find enterprise app " + ref, Err: ErrNotFound, Status: 404,
			Hint: "check the name or id in Entra admin center → Enterprise applications, or let `roster entra connect` create it"}
	case 1:
		return apps[0], nil
	}
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.ServicePrincipalID)
	}
	return App{}, &Error{Op: "find enterprise app " + ref, Err: fmt.Errorf("%d apps are named %q", len(apps), ref),
		Hint: "pass the service principal id instead: " + strings.Join(ids, ", ")}
}

// CreateApp instantiates a non-gallery enterprise app named name and waits
// until its service principal is usable; directory replication can take a
// minute (docs/graph.md#wait-for-the-service-principal). progress, if not nil, hears what it
// waits for.
func (c *Client) CreateApp(ctx context.Context, name string, progress func(string)) (App, error) {
	return c.createFromTemplate(ctx, CustomAppTemplateID, name, progress)
}

// createFromTemplate instantiates an application template and waits until
// its service principal is usable.
func (c *Client) createFromTemplate(ctx context.Context, templateID, name string, progress func(string)) (App, error) {
	body := applicationtemplates.NewItemInstantiatePostRequestBody()
	body.SetDisplayName(&name)
	res, err := c.tpls.ByApplicationTemplateId(templateID).Instantiate().Post(ctx, body, nil)
	if err != nil {
		return App{}, wrap("create enterprise app "+name, permApps, err)
	}
	sp := res.GetServicePrincipal()
	if sp == nil || sp.GetId() == nil {
		return App{}, &Error{Op: "create enterprise app " + name, Err: errors.New("the answer from Graph has no service principal")}
	}
	app := appFrom(sp)
	if err := c.waitReady(ctx, app.ServicePrincipalID, progress); err != nil {
		return App{}, err
	}
	return app, nil
}

// waitReady polls the new service principal until Graph answers 200.
func (c *Client) waitReady(ctx context.Context, spID string, progress func(string)) error {
	wait := c.cfg.PollInterval
	if wait <= 0 {
		wait = time.Second
	}
	deadline := time.Now().Add(5 * time.Minute)
	for attempt := 1; ; attempt++ {
		_, err := c.sps.ByServicePrincipalId(spID).Get(ctx, nil)
		if err == nil {
			return nil
		}
		if statusOf(wrap("", permNoneNeeded, err)) != 404 {
			return wrap("wait for the new enterprise app", permReadApps, err)
		}
		if time.Now().After(deadline) {
			return &Error{Op: "wait for the new enterprise app", Err: fmt.Errorf("service principal %s still not found after 5 minutes", spID),
				Hint: "Entra is slow to replicate; run the command again later — it will adopt the app instead of creating another"}
		}
		if progress != nil {
			progress(fmt.Sprintf("waiting for Entra to finish creating the app (attempt %d)", attempt))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 8*time.Second)
	}
}

type rawPrincipal struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
}

// SearchPrincipals finds users (by name, UPN or mail) and groups (by name)
// whose properties contain query, at most limit of each.
func (c *Client) SearchPrincipals(ctx context.Context, query string, limit int) ([]Principal, error) {
	if limit <= 0 {
		limit = 25
	}
	q := strings.ReplaceAll(query, `"`, "")
	var out []Principal
	for _, set := range []struct{ path, kind, search string }{
		{"/users", "User", fmt.Sprintf(`"displayName:%s" OR "userPrincipalName:%s" OR "mail:%s"`, q, q, q)},
		{"/groups", "Group", fmt.Sprintf(`"displayName:%s"`, q)},
	} {
		params := url.Values{"$top": {fmt.Sprint(limit)}, "$select": {"id,displayName,userPrincipalName,mail"}}
		if q != "" {
			params.Set("$search", set.search)
		}
		var resp struct {
			Value []rawPrincipal `json:"value"`
		}
		if err := c.getJSON(ctx, "search "+strings.ToLower(set.kind)+"s", permDirectory, set.path, params, &resp); err != nil {
			return nil, err
		}
		for _, r := range resp.Value {
			out = append(out, Principal{ID: r.ID, Kind: set.kind, DisplayName: r.DisplayName, UserPrincipalName: r.UserPrincipalName, Mail: r.Mail})
		}
	}
	return out, nil
}

// User returns the user with the given object id, userPrincipalName or
// (when unique) display name.
func (c *Client) User(ctx context.Context, ref string) (Principal, error) {
	var r rawPrincipal
	err := c.getJSON(ctx, "find user "+ref, permDirectory, "/users/"+url.PathEscape(ref),
		url.Values{"$select": {"id,displayName,userPrincipalName,mail"}}, &r)
	if err != nil && statusOf(err) == 404 && !strings.Contains(ref, "@") && !guidRE.MatchString(ref) {
		// Not a UPN or id: try it as a display name ("Alice Smith").
		var resp struct {
			Value []rawPrincipal `json:"value"`
		}
		if lerr := c.getJSON(ctx, "find user "+ref, permDirectory, "/users",
			url.Values{"$filter": {"displayName eq " + odataQuote(ref)}, "$select": {"id,displayName,userPrincipalName,mail"}}, &resp); lerr != nil {
			return Principal{}, lerr
		}
		switch len(resp.Value) {
		case 1:
			r, err = resp.Value[0], nil
		case 0:
		default:
			var upns []string
			for _, v := range resp.Value {
				upns = append(upns, v.UserPrincipalName)
			}
			return Principal{}, &Error{Op: "find user " + ref, Err: fmt.Errorf("%d users are named %q", len(resp.Value), ref),
				Hint: "use the userPrincipalName instead: " + strings.Join(upns, ", ")}
		}
	}
	if err != nil {
		if statusOf(err) == 404 {
			err.(*Error).Hint = "check the userPrincipalName (user@contoso.com), display name or object id in Entra admin center → Users"
		}
		return Principal{}, err
	}
	return Principal{ID: r.ID, Kind: "User", DisplayName: r.DisplayName, UserPrincipalName: r.UserPrincipalName, Mail: r.Mail}, nil
}

// Group returns the group with the given object id, or the one group with
// that display name.
func (c *Client) Group(ctx context.Context, ref string) (Principal, error) {
	var r rawPrincipal
	if guidRE.MatchString(ref) {
		err := c.getJSON(ctx, "find group "+ref, permDirectory, "/groups/"+ref, url.Values{"$select": {"id,displayName"}}, &r)
		if err == nil {
			return Principal{ID: r.ID, Kind: "Group", DisplayName: r.DisplayName}, nil
		}
		if statusOf(err) != 404 {
			return Principal{}, err
		}
	}
	var resp struct {
		Value []rawPrincipal `json:"value"`
	}
	if err := c.getJSON(ctx, "find group "+ref, permDirectory, "/groups",
		url.Values{"$filter": {"displayName eq " + odataQuote(ref)}, "$select": {"id,displayName"}}, &resp); err != nil {
		return Principal{}, err
	}
	switch len(resp.Value) {
	case 0:
		return Principal{}, &Error{Op: "find group " + ref, Status: 404, Err: ErrNotFound, Hint: "check the group's name or object id in Entra admin center → Groups"}
	case 1:
		return Principal{ID: resp.Value[0].ID, Kind: "Group", DisplayName: resp.Value[0].DisplayName}, nil
	}
	return Principal{}, &Error{Op: "find group " + ref, Err: fmt.Errorf("%d groups are named %q", len(resp.Value), ref), Hint: "pass the group's object id instead"}
}

// getJSON sends a GET through the SDK's adapter (auth, retry, telemetry)
// and decodes the raw JSON answer; used where typed builders would pull in
// large SDK packages (users, groups, auditLogs).
func (c *Client) getJSON(ctx context.Context, op string, perm permission, path string, params url.Values, out any) error {
	u, err := url.Parse(strings.TrimRight(c.adapter.GetBaseUrl(), "/") + path)
	if err != nil {
		return err
	}
	u.RawQuery = strings.ReplaceAll(params.Encode(), "+", "%20")
	ri := abs.NewRequestInformation()
	ri.Method = abs.GET
	ri.SetUri(*u)
	ri.Headers.Add("Accept", "application/json")
	if params.Has("$search") {
		ri.Headers.Add("ConsistencyLevel", "eventual")
	}
	b, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	if err != nil {
		return wrap(op, perm, err)
	}
	raw, _ := b.([]byte)
	if err := json.Unmarshal(raw, out); err != nil {
		return &Error{Op: op, Err: fmt.Errorf("read Graph's answer: %w", err)}
	}
	return nil
}

// SearchApps returns the enterprise apps whose display name starts with
// prefix (at most 50).
func (c *Client) SearchApps(ctx context.Context, prefix string) ([]App, error) {
	f := "startswith(displayName," + odataQuote(prefix) + ")"
	top := int32(50)
	resp, err := c.sps.Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: &f, Top: &top},
	})
	if err != nil {
		return nil, wrap("search enterprise apps", permReadApps, err)
	}
	var apps []App
	for _, sp := range resp.GetValue() {
		apps = append(apps, appFrom(sp))
	}
	return apps, nil
}

// DeleteApp deletes the app's application object, which deletes its
// service principal and provisioning job with it.
func (c *Client) DeleteApp(ctx context.Context, app App) error {
	var resp struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	if err := c.getJSON(ctx, "find the application of "+app.DisplayName, permReadApps, "/applications",
		url.Values{"$filter": {"appId eq " + odataQuote(app.AppID)}, "$select": {"id"}}, &resp); err != nil {
		return err
	}
	if len(resp.Value) == 0 {
		return &Error{Op: "delete enterprise app " + app.DisplayName, Err: ErrNotFound, Status: 404,
			Hint: "it was deleted already, or it belongs to another tenant"}
	}
	u, err := url.Parse(strings.TrimRight(c.adapter.GetBaseUrl(), "/") + "/applications/" + url.PathEscape(resp.Value[0].ID))
	if err != nil {
		return err
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.DELETE
	ri.SetUri(*u)
	if err := c.adapter.SendNoContent(ctx, ri, errorMapping); err != nil {
		return wrap("delete enterprise app "+app.DisplayName, permApps, err)
	}
	return nil
}
