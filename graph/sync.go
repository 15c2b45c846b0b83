package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/rosterhq/roster/graph/mappings"
)

// SCIMTemplateID is the synchronization template of a custom SCIM app
// (docs/graph.md#create-the-job).
const SCIMTemplateID = "scim"

func (c *Client) sp(app App) *serviceprincipals.ServicePrincipalItemRequestBuilder {
	return c.sps.ByServicePrincipalId(app.ServicePrincipalID)
}

func (c *Client) job(app App, jobID string) *serviceprincipals.ItemSynchronizationJobsSynchronizationJobItemRequestBuilder {
	return c.sp(app).Synchronization().Jobs().BySynchronizationJobId(jobID)
}

// Assignment is a user or group assigned to the app: in scope when the
// scope is "assigned users and groups only".
type Assignment struct {
	ID            string `json:"id"`
	PrincipalID   string `json:"principal_id"`
	PrincipalType string `json:"principal_type"`
	PrincipalName string `json:"principal_name"`
}

// Assignments lists the users and groups assigned to the app.
func (c *Client) Assignments(ctx context.Context, app App) ([]Assignment, error) {
	top := int32(999)
	resp, err := c.sp(app).AppRoleAssignedTo().Get(ctx, &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{Top: &top},
	})
	if err != nil {
		return nil, wrap("list the app's users and groups", permAssign, err)
	}
	var out []Assignment
	for _, a := range resp.GetValue() {
		x := Assignment{ID: deref(a.GetId()), PrincipalType: deref(a.GetPrincipalType()), PrincipalName: deref(a.GetPrincipalDisplayName())}
		if p := a.GetPrincipalId(); p != nil {
			x.PrincipalID = p.String()
		}
		out = append(out, x)
	}
	return out, nil
}

// Assign assigns a user or group to the app unless it already is; it
// reports whether it made a new assignment.
func (c *Client) Assign(ctx context.Context, app App, p Principal) (bool, error) {
	have, err := c.Assignments(ctx, app)
	if err != nil {
		return false, err
	}
	return c.assign(ctx, app, p, have)
}

// assign assigns p unless have (the app's assignments) already holds it.
func (c *Client) assign(ctx context.Context, app App, p Principal, have []Assignment) (bool, error) {
	for _, a := range have {
		if strings.EqualFold(a.PrincipalID, p.ID) {
			return false, nil
		}
	}
	principal, err := uuid.Parse(p.ID)
	if err != nil {
		return false, fmt.Errorf("assign %s: %q is not an object id", p.DisplayName, p.ID)
	}
	resource, err := uuid.Parse(app.ServicePrincipalID)
	if err != nil {
		return false, fmt.Errorf("assign %s: %q is not a service principal id", p.DisplayName, app.ServicePrincipalID)
	}
	roleID := app.UserRoleID
	if roleID == "" {
		roleID = "00000000-0000-0000-0000-000000000000"
	}
	role, err := uuid.Parse(roleID)
	if err != nil {
		return false, fmt.Errorf("assign %s: app role %q is not an id", p.DisplayName, roleID)
	}
	a := models.NewAppRoleAssignment()
	a.SetPrincipalId(&principal)
	a.SetResourceId(&resource)
	a.SetAppRoleId(&role)
	if _, err := c.sp(app).AppRoleAssignedTo().Post(ctx, a, nil); err != nil {
		return false, wrap("assign "+p.Label()+" to the app", permAssign, err)
	}
	return true, nil
}

// Jobs lists the app's provisioning jobs.
func (c *Client) Jobs(ctx context.Context, app App) ([]Job, error) {
	resp, err := c.sp(app).Synchronization().Jobs().Get(ctx, nil)
	if err != nil {
		return nil, wrap("list provisioning jobs", permSync, err)
	}
	var out []Job
	for _, j := range resp.GetValue() {
		out = append(out, Job{ID: deref(j.GetId()), TemplateID: deref(j.GetTemplateId())})
	}
	return out, nil
}

// EnsureJob returns the app's SCIM provisioning job, creating it from the
// "scim" template if there is none; it reports whether it created one.
func (c *Client) EnsureJob(ctx context.Context, app App) (Job, bool, error) {
	jobs, err := c.Jobs(ctx, app)
	if err != nil {
		return Job{}, false, err
	}
	for _, j := range jobs {
		if strings.HasPrefix(strings.ToLower(j.ID), SCIMTemplateID) || strings.EqualFold(j.TemplateID, SCIMTemplateID) ||
			strings.HasPrefix(strings.ToLower(j.ID), "customappsso") {
			return j, false, nil
		}
	}
	if len(jobs) > 0 {
		return Job{}, false, &Error{Op: "find the provisioning job", Err: fmt.Errorf("the app has provisioning job %s, which is not a SCIM job", jobs[0].ID),
			Hint: "use an app created as a non-gallery app (\"Create your own application\"), or let Roster create one"}
	}
	j := models.NewSynchronizationJob()
	tpl := SCIMTemplateID
	j.SetTemplateId(&tpl)
	created, err := c.sp(app).Synchronization().Jobs().Post(ctx, j, nil)
	if err != nil {
		return Job{}, false, wrap("create the provisioning job", permSync, err)
	}
	return Job{ID: deref(created.GetId()), TemplateID: deref(created.GetTemplateId())}, true, nil
}

func secretPair(key models.SynchronizationSecret, value string) models.SynchronizationSecretKeyStringValuePairable {
	p := models.NewSynchronizationSecretKeyStringValuePair()
	p.SetKey(&key)
	p.SetValue(&value)
	return p
}

// OAuth2ClientCredentialsGrant is the AuthenticationType secret that makes
// Entra's provisioning service trade Oauth2ClientId and Oauth2ClientSecret
// at Oauth2TokenExchangeUri for access tokens; without it Graph does not
// attempt the exchange
// (https://github.com/AzureAD/SCIMReferenceCode/blob/master/Microsoft.SCIM.LogicAppValidationTemplate/StandardLogicApp/scim-onboarding.agent.md,
// "Configure provisioning credentials").
const OAuth2ClientCredentialsGrant = "OAuth2ClientCredentialsGrant"

// credentialPairs are the secrets that carry cred, for both Test Connection
// and saving: BaseAddress and SecretToken, or AuthenticationType, BaseAddress,
// Oauth2ClientId, Oauth2ClientSecret and Oauth2TokenExchangeUri — never
// both sets, as Graph answers 500 to a payload that mixes bearer and OAuth
// keys (scim-onboarding.agent.md, above). Empty credentials have no pairs.
func credentialPairs(tenantURL string, cred Credentials) []models.SynchronizationSecretKeyStringValuePairable {
	if cred.Empty() {
		return nil
	}
	if cred.Kind == CredentialOAuth2 {
		return []models.SynchronizationSecretKeyStringValuePairable{
			secretPair(models.AUTHENTICATIONTYPE_SYNCHRONIZATIONSECRET, OAuth2ClientCredentialsGrant),
			secretPair(models.BASEADDRESS_SYNCHRONIZATIONSECRET, tenantURL),
			secretPair(models.OAUTH2CLIENTID_SYNCHRONIZATIONSECRET, cred.ClientID),
			secretPair(models.OAUTH2CLIENTSECRET_SYNCHRONIZATIONSECRET, cred.ClientSecret),
			secretPair(models.OAUTH2TOKENEXCHANGEURI_SYNCHRONIZATIONSECRET, cred.TokenURL),
		}
	}
	return []models.SynchronizationSecretKeyStringValuePairable{
		secretPair(models.BASEADDRESS_SYNCHRONIZATIONSECRET, tenantURL),
		secretPair(models.SECRETTOKEN_SYNCHRONIZATIONSECRET, cred.Token),
	}
}

// TestConnection asks Entra's provisioning service to call the agent at
// tenantURL with cred, as the portal's Test Connection button does: Entra
// queries the agent for a user that does not exist and expects an empty
// list (docs/graph.md#test-connection). With OAuth credentials Entra first
// obtains an access token from the token URL.
//
// Empty credentials test the credentials saved in the app instead
// (useSavedCredentials).
func (c *Client) TestConnection(ctx context.Context, app App, jobID, tenantURL string, cred Credentials) error {
	creds := credentialPairs(tenantURL, cred)
	no := len(creds) == 0
	var err error
	if jobID != "" {
		body := serviceprincipals.NewItemSynchronizationJobsItemValidateCredentialsPostRequestBody()
		body.SetCredentials(creds)
		body.SetUseSavedCredentials(&no)
		err = c.job(app, jobID).ValidateCredentials().Post(ctx, body, nil)
	} else {
		body := serviceprincipals.NewItemSynchronizationJobsValidateCredentialsPostRequestBody()
		body.SetCredentials(creds)
		body.SetUseSavedCredentials(&no)
		tpl := SCIMTemplateID
		body.SetTemplateId(&tpl)
		err = c.sp(app).Synchronization().Jobs().ValidateCredentials().Post(ctx, body, nil)
	}
	if err == nil {
		return nil
	}
	werr := wrap("Test Connection", permSync, err)
	var e *Error
	if errors.As(werr, &e) && e.Status == 400 {
		what, check := "the saved credentials", "the saved credentials must be a current Roster token (`roster token list`) or OAuth client (`roster oauth client list`) of that tenant"
		switch {
		case cred.Kind == CredentialOAuth2 && !no:
			what, check = "that OAuth client", "the token URL "+cred.TokenURL+" must be reachable the same way, and the client must be a current Roster OAuth client of that tenant (`roster oauth client list`)"
		case !no:
			what, check = "that token", "the token must be a current Roster token of that tenant (`roster token list`)"
		}
		e.Hint = "Entra's provisioning service could not use the Tenant URL " + tenantURL + " with " + what + ". " +
			"It calls the agent from the internet: the URL must be public HTTPS with a publicly trusted certificate (TLS 1.2+), " +
			"reachable from Microsoft's datacenters (check firewall and DNS), and " + check + ". " +
			"If the agent cannot be reached from the internet, use Entra's on-premises provisioning agent (`roster entra connect --on-premises`)."
	}
	return werr
}

// Secrets are the provisioning settings saved on the app (portal: Admin
// Credentials, Notification Email, Scope; docs/graph.md#save-credentials-and-settings).
type Secrets struct {
	TenantURL string
	// Credentials are the admin credentials; empty ones keep those saved.
	Credentials Credentials
	// NotificationEmail receives Entra's quarantine and failure mails; ""
	// turns notification off.
	NotificationEmail string
	// DeleteThreshold is "Prevent accidental deletion": a cycle that would
	// delete more users than this stops; 0 turns it off.
	DeleteThreshold int
	// SyncAll provisions every user and group of the tenant, instead of only
	// those assigned to the app.
	SyncAll bool
}

// SaveSecrets saves the Tenant URL, credentials, notification settings and
// scope in one PUT. SyncNotificationSettings and SyncAll always travel with
// the credentials: without them Graph answers 204 and silently drops the
// whole payload (scim-onboarding.agent.md, see OAuth2ClientCredentialsGrant).
// With empty credentials the Tenant URL and credentials already saved in
// the app are left alone: only the notification settings and scope are
// sent, relying on the service merging keys (hashicorp/terraform-provider-azuread
// internal/services/synchronization/synchronization.go clears a key by
// sending it empty, which only makes sense if absent keys are kept).
func (c *Client) SaveSecrets(ctx context.Context, app App, s Secrets) error {
	notify, _ := json.Marshal(map[string]any{
		"Enabled": s.NotificationEmail != "", "Recipients": s.NotificationEmail,
		"DeleteThresholdEnabled": s.DeleteThreshold > 0, "DeleteThresholdValue": s.DeleteThreshold,
	})
	body := serviceprincipals.NewItemSynchronizationSecretsPutRequestBody()
	body.SetValue(append(credentialPairs(s.TenantURL, s.Credentials),
		secretPair(models.SYNCNOTIFICATIONSETTINGS_SYNCHRONIZATIONSECRET, string(notify)),
		secretPair(models.SYNCALL_SYNCHRONIZATIONSECRET, strconv.FormatBool(s.SyncAll))))
	if _, err := c.sp(app).Synchronization().Secrets().PutAsSecretsPutResponse(ctx, body, nil); err != nil {
		return wrap("save the Tenant URL, credentials and settings", permSync, err)
	}
	return nil
}

// Schema returns the job's synchronization schema as raw JSON.
func (c *Client) Schema(ctx context.Context, app App, jobID string) ([]byte, error) {
	ri, err := c.job(app, jobID).Schema().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, err
	}
	b, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	if err != nil {
		return nil, wrap("read the attribute mappings", permSync, err)
	}
	raw, _ := b.([]byte)
	return raw, nil
}

// PutSchema replaces the job's schema with raw JSON. The SDK has only PATCH
// for it, which the real service answers 404, so the request is sent as PUT
// (docs/graph.md#schema-put).
func (c *Client) PutSchema(ctx context.Context, app App, jobID string, schema []byte) error {
	ri, err := c.job(app, jobID).Schema().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return err
	}
	ri.Method = abs.PUT
	ri.Headers.Add("Accept", "application/json")
	ri.SetStreamContentAndContentType(schema, "application/json")
	if err := c.adapter.SendNoContent(ctx, ri, errorMapping); err != nil {
		return wrap("save the attribute mappings", permSync, err)
	}
	return nil
}

// ApplyMappings makes the job's attribute mappings match o, writing the
// schema only when something changes; it returns the changes.
func (c *Client) ApplyMappings(ctx context.Context, app App, jobID string, o mappings.Options) ([]mappings.Change, error) {
	schema, err := c.Schema(ctx, app, jobID)
	if err != nil {
		return nil, err
	}
	out, changes, err := mappings.Apply(schema, o)
	if err != nil {
		return nil, &Error{Op: "edit the attribute mappings", Err: err}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	return changes, c.PutSchema(ctx, app, jobID, out)
}

// Start starts (or resumes) provisioning; it also clears a quarantine.
func (c *Client) Start(ctx context.Context, app App, jobID string) error {
	return wrap("start provisioning", permSync, c.job(app, jobID).Start().Post(ctx, nil))
}

// Pause stops provisioning until Start.
func (c *Client) Pause(ctx context.Context, app App, jobID string) error {
	return wrap("pause provisioning", permSync, c.job(app, jobID).Pause().Post(ctx, nil))
}

// Restart restarts provisioning with the given scope.
func (c *Client) Restart(ctx context.Context, app App, jobID string, scope RestartScope) error {
	var s models.SynchronizationJobRestartScope
	switch scope {
	case RestartFull, "":
		s = models.FULL_SYNCHRONIZATIONJOBRESTARTSCOPE
	case RestartQuarantine:
		s = models.QUARANTINESTATE_SYNCHRONIZATIONJOBRESTARTSCOPE
	case RestartForceDelete:
		s = models.FORCEDELETES_SYNCHRONIZATIONJOBRESTARTSCOPE
	default:
		return fmt.Errorf("restart scope %q: use Full, QuarantineState or ForceDeletes", scope)
	}
	crit := models.NewSynchronizationJobRestartCriteria()
	crit.SetResetScope(&s)
	body := serviceprincipals.NewItemSynchronizationJobsItemRestartPostRequestBody()
	body.SetCriteria(crit)
	return wrap("restart provisioning", permSync, c.job(app, jobID).Restart().Post(ctx, body, nil))
}

func execution(e models.SynchronizationTaskExecutionable) *Execution {
	if e == nil {
		return nil
	}
	x := &Execution{Imported: deref(e.GetCountImported()), Exported: deref(e.GetCountExported()), Escrowed: deref(e.GetCountEscrowed())}
	if st := e.GetState(); st != nil {
		x.State = st.String()
	}
	if t := e.GetTimeBegan(); t != nil {
		x.Began = *t
	}
	if t := e.GetTimeEnded(); t != nil {
		x.Ended = *t
	}
	if er := e.GetError(); er != nil && deref(er.GetCode()) != "" && deref(er.GetCode()) != "None" {
		x.Error = strings.TrimSpace(deref(er.GetCode()) + ": " + deref(er.GetMessage()))
	}
	return x
}

// Status reads the job's status.
func (c *Client) Status(ctx context.Context, app App, jobID string) (Status, error) {
	j, err := c.job(app, jobID).Get(ctx, nil)
	if err != nil {
		return Status{}, wrap("read the provisioning status", permSync, err)
	}
	s := Status{JobID: deref(j.GetId())}
	if sch := j.GetSchedule(); sch != nil {
		if st := sch.GetState(); st != nil {
			s.Schedule = st.String()
		}
		if iv := sch.GetInterval(); iv != nil {
			s.Interval = iv.String()
		}
	}
	st := j.GetStatus()
	if st == nil {
		return s, nil
	}
	if code := st.GetCode(); code != nil {
		s.Code = code.String()
	}
	s.Failures = deref(st.GetCountSuccessiveCompleteFailures())
	s.LastExecution = execution(st.GetLastExecution())
	s.LastSuccessful = execution(st.GetLastSuccessfulExecution())
	if t := st.GetSteadyStateLastAchievedTime(); t != nil && t.Year() > 1 {
		s.SteadySince = *t
	}
	if q := st.GetQuarantine(); q != nil {
		x := &Quarantine{}
		if r := q.GetReason(); r != nil {
			x.Reason = r.String()
		}
		if t := q.GetCurrentBegan(); t != nil {
			x.Since = *t
		}
		if t := q.GetNextAttempt(); t != nil {
			x.NextAttempt = *t
		}
		if er := q.GetError(); er != nil {
			x.Error = strings.TrimSpace(deref(er.GetCode()) + ": " + deref(er.GetMessage()))
		}
		s.Quarantine = x
	}
	return s, nil
}

type rawRun struct {
	Action             string `json:"action"`
	ProvisioningSteps  []rawStep
	StatusInfo         struct{ Status, ErrorCode, Reason string }
	ProvisioningStatus struct {
		Status           string
		ErrorInformation *struct{ ErrorCode, Reason string }
	} `json:"provisioningStatusInfo"`
	TargetIdentity struct{ ID *string }
}

type rawStep struct {
	Name, ProvisioningStepType, Type, Status, Description string
	Details                                               map[string]any
}

func (r rawStep) step() Step {
	s := Step{Name: r.Name, Type: r.Type, Status: r.Status, Description: r.Description}
	if s.Type == "" {
		s.Type = r.ProvisioningStepType
	}
	for k, v := range r.Details {
		if s.Details == nil {
			s.Details = map[string]string{}
		}
		s.Details[k] = fmt.Sprint(v)
	}
	return s
}

// ProvisionOnDemand provisions one user now, without waiting for the next
// cycle, and returns each step's result (docs/graph.md#provision-on-demand).
func (c *Client) ProvisionOnDemand(ctx context.Context, app App, jobID string, user Principal) (OnDemandResult, error) {
	schema, err := c.Schema(ctx, app, jobID)
	if err != nil {
		return OnDemandResult{}, err
	}
	ruleID, err := mappings.RuleID(schema)
	if err != nil {
		return OnDemandResult{}, &Error{Op: "provision on demand", Err: err}
	}
	subj := models.NewSynchronizationJobSubject()
	subj.SetObjectId(&user.ID)
	kind := user.Kind
	if kind == "" {
		kind = "User"
	}
	subj.SetObjectTypeName(&kind)
	param := models.NewSynchronizationJobApplicationParameters()
	param.SetRuleId(&ruleID)
	param.SetSubjects([]models.SynchronizationJobSubjectable{subj})
	body := serviceprincipals.NewItemSynchronizationJobsItemProvisionOnDemandPostRequestBody()
	body.SetParameters([]models.SynchronizationJobApplicationParametersable{param})
	res, err := c.job(app, jobID).ProvisionOnDemand().Post(ctx, body, nil)
	if err != nil {
		return OnDemandResult{}, wrap("provision "+user.Label()+" on demand", permSync, err)
	}
	return parseOnDemand(deref(res.GetKey()), deref(res.GetValue()))
}

// parseOnDemand reads the stringKeyStringValuePair whose key and value are
// JSON encoded as strings; the shapes vary, so it parses defensively.
func parseOnDemand(key, value string) (OnDemandResult, error) {
	var out OnDemandResult
	var k struct {
		Result  string
		Details struct{ ErrorCode, ErrorMessage string }
	}
	if json.Unmarshal([]byte(key), &k) == nil {
		out.Result, out.ErrorCode, out.ErrorMessage = k.Result, k.Details.ErrorCode, k.Details.ErrorMessage
	}
	var v rawRun
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		// The cross-tenant shape: an array of runs.
		var arr []rawRun
		if json.Unmarshal([]byte(value), &arr) != nil || len(arr) == 0 {
			return out, &Error{Op: "provision on demand", Err: fmt.Errorf("cannot read Graph's answer: %w", err)}
		}
		v = arr[0]
	}
	out.Action = v.Action
	for _, s := range v.ProvisioningSteps {
		out.Steps = append(out.Steps, s.step())
	}
	if out.Result == "" {
		out.Result = v.StatusInfo.Status
	}
	if out.ErrorCode == "" {
		out.ErrorCode, out.ErrorMessage = v.StatusInfo.ErrorCode, v.StatusInfo.Reason
	}
	out.TargetID = deref(v.TargetIdentity.ID)
	return out, nil
}

// Logs reads the provisioning logs of a job, newest first
// (docs/graph.md#provisioning-logs).
func (c *Client) Logs(ctx context.Context, q LogQuery) ([]LogEntry, error) {
	top := q.Top
	if top <= 0 {
		top = 50
	}
	top = min(top, 500)
	filter := []string{"jobId eq " + odataQuote(q.JobID)}
	if !q.Since.IsZero() {
		filter = append(filter, "activityDateTime ge "+q.Since.UTC().Format(time.RFC3339))
	}
	params := url.Values{"$filter": {strings.Join(filter, " and ")}, "$top": {strconv.Itoa(top)}, "$orderby": {"activityDateTime desc"}}
	var resp struct {
		Value []struct {
			ActivityDateTime   time.Time `json:"activityDateTime"`
			ProvisioningAction string    `json:"provisioningAction"`
			JobID              string    `json:"jobId"`
			CycleID            string    `json:"cycleId"`
			DurationMS         int64     `json:"durationInMilliseconds"`
			Status             struct {
				Status           string
				ErrorInformation *struct{ ErrorCode, Reason string }
			} `json:"provisioningStatusInfo"`
			SourceIdentity struct{ ID, DisplayName string }
			TargetIdentity struct{ ID, DisplayName string }
			InitiatedBy    struct{ DisplayName string }
			Steps          []rawStep `json:"provisioningSteps"`
		} `json:"value"`
	}
	if err := c.getJSON(ctx, "read the provisioning logs", permAuditLogs, "/auditLogs/provisioning", params, &resp); err != nil {
		return nil, err
	}
	user := strings.ToLower(q.User)
	var out []LogEntry
	for _, v := range resp.Value {
		e := LogEntry{Time: v.ActivityDateTime, Action: v.ProvisioningAction, Status: v.Status.Status,
			Identity: v.SourceIdentity.DisplayName, SourceID: v.SourceIdentity.ID, TargetID: v.TargetIdentity.ID,
			JobID: v.JobID, CycleID: v.CycleID, Initiator: v.InitiatedBy.DisplayName, DurationMS: v.DurationMS}
		if ei := v.Status.ErrorInformation; ei != nil {
			e.ErrorCode, e.Reason = ei.ErrorCode, ei.Reason
		}
		for _, s := range v.Steps {
			e.Steps = append(e.Steps, s.step())
		}
		if q.Failed && !strings.EqualFold(e.Status, "failure") {
			continue
		}
		if user != "" && !strings.Contains(strings.ToLower(strings.Join([]string{
			v.SourceIdentity.DisplayName, v.SourceIdentity.ID, v.TargetIdentity.DisplayName, v.TargetIdentity.ID,
			matchingValue(e.Steps)}, "\x00")), user) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// matchingValue returns the UPN or other reportable identifier a run's
// steps mention, so that --user matches user@contoso.com.
func matchingValue(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.Description)
		for _, v := range s.Details {
			b.WriteString(" " + v)
		}
	}
	return b.String()
}
