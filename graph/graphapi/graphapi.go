// Package graphapi holds the plain types of Roster's Microsoft Graph
// operations and the Client interface that package graph implements over
// msgraph-sdk-go. It imports no SDK, so the setup use cases and their tests
// reach Graph through it without compiling the SDK.
package graphapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rosterhq/roster/graph/mappings"
)

// Client is what the setup use cases need from Microsoft Graph;
// *graph.Client implements it.
type Client interface {
	// SignIn acquires a token now (a device code prompt appears here).
	SignIn(ctx context.Context) error
	// Account says who the token belongs to.
	Account(ctx context.Context) (Account, error)
	// FindApps returns the enterprise apps whose display name is name.
	FindApps(ctx context.Context, name string) ([]App, error)
	// SearchApps returns the enterprise apps whose display name starts with prefix.
	SearchApps(ctx context.Context, prefix string) ([]App, error)
	// App returns the app with this service principal id, app id or name.
	App(ctx context.Context, ref string) (App, error)
	// CreateApp creates a non-gallery enterprise app and waits until it is usable.
	CreateApp(ctx context.Context, name string, progress func(string)) (App, error)
	// DeleteApp deletes the app's application object (and with it the
	// service principal and its provisioning job).
	DeleteApp(ctx context.Context, app App) error
	// SearchPrincipals finds users and groups whose properties contain query.
	SearchPrincipals(ctx context.Context, query string, limit int) ([]Principal, error)
	// User finds a user by object id, userPrincipalName or display name.
	User(ctx context.Context, ref string) (Principal, error)
	// Group finds a group by object id or display name.
	Group(ctx context.Context, ref string) (Principal, error)
	// Connect converges the app's provisioning configuration on o.
	Connect(ctx context.Context, o ConnectOptions, progress func(string)) (ConnectResult, error)
	// TestConnection asks Entra to call tenantURL with cred; empty
	// credentials test the credentials saved in the app.
	TestConnection(ctx context.Context, app App, jobID, tenantURL string, cred Credentials) error
	// Status reads the job's status.
	Status(ctx context.Context, app App, jobID string) (Status, error)
	// Start starts or resumes provisioning.
	Start(ctx context.Context, app App, jobID string) error
	// Pause stops provisioning until Start.
	Pause(ctx context.Context, app App, jobID string) error
	// Restart restarts provisioning with the given scope.
	Restart(ctx context.Context, app App, jobID string, scope RestartScope) error
	// ProvisionOnDemand provisions one user or group now.
	ProvisionOnDemand(ctx context.Context, app App, jobID string, p Principal) (OnDemandResult, error)
	// Logs reads the provisioning logs of a job, newest first.
	Logs(ctx context.Context, q LogQuery) ([]LogEntry, error)
}

// IsLoopback reports whether host names this machine (localhost, 127.0.0.1, ::1).
func IsLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Error is a failed Graph operation, in plain words: what Roster was doing,
// what Graph said, and what to do next.
type Error struct {
	// Op is what Roster was doing, e.g. "create the enterprise app".
	Op string
	// Status is the HTTP status Graph answered (0 if none).
	Status int
	// Code and Message are Graph's error code and message.
	Code, Message string
	// RequestID identifies the request for Microsoft support.
	RequestID string
	// Hint is the next step for the person running Roster.
	Hint string
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.Message != "":
		b.WriteString(e.Message)
		if e.Code != "" {
			fmt.Fprintf(&b, " (%s", e.Code)
			if e.Status != 0 {
				fmt.Fprintf(&b, ", HTTP %d", e.Status)
			}
			b.WriteString(")")
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Status != 0:
		fmt.Fprintf(&b, "HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Hint != "" {
		b.WriteString("\n  → ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotFound is wrapped by errors for objects Graph does not have.
var ErrNotFound = errors.New("not found")

// App is an Entra enterprise application: its application object and its
// service principal, which provisioning is configured on.
type App struct {
	ServicePrincipalID string `json:"service_principal_id"`
	AppID              string `json:"app_id"`
	DisplayName        string `json:"display_name"`
	// UserRoleID is the app role to assign users and groups with.
	UserRoleID string `json:"user_role_id,omitempty"`
}

// Principal is a user or group of the Entra directory.
type Principal struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"` // "User" or "Group"
	DisplayName string `json:"display_name"`
	// UserPrincipalName and Mail are set for users.
	UserPrincipalName string `json:"user_principal_name,omitempty"`
	Mail              string `json:"mail,omitempty"`
}

// Label is how a principal is shown to people.
func (p Principal) Label() string {
	if p.UserPrincipalName != "" {
		return fmt.Sprintf("%s <%s>", p.DisplayName, p.UserPrincipalName)
	}
	return p.DisplayName + " (group)"
}

// Account is who Roster signed in as, read from the access token's claims
// (unverified: for display only).
type Account struct {
	Name     string `json:"name"` // user principal name, or the app's name for app-only sign-in
	TenantID string `json:"tenant_id"`
}

// Job is a provisioning (synchronization) job of an app.
type Job struct {
	ID         string `json:"id"`
	TemplateID string `json:"template_id"`
}

// RestartScope says what a restart resets.
type RestartScope string

// Restart scopes (models.SynchronizationJobRestartScope).
const (
	RestartFull        RestartScope = "Full"            // forget state; the next cycle is an initial cycle
	RestartQuarantine  RestartScope = "QuarantineState" // clear quarantine only
	RestartForceDelete RestartScope = "ForceDeletes"    // allow deletions held back by the accidental-deletion threshold
)

// Execution is one provisioning cycle.
type Execution struct {
	State    string    `json:"state"` // Succeeded, Failed, EntryLevelErrors
	Began    time.Time `json:"began"`
	Ended    time.Time `json:"ended"`
	Imported int64     `json:"imported"`
	Exported int64     `json:"exported"`
	Escrowed int64     `json:"escrowed"`
	Error    string    `json:"error,omitempty"`
}

// Quarantine is why Entra stopped calling the agent, and until when.
type Quarantine struct {
	Reason      string    `json:"reason"`
	Since       time.Time `json:"since"`
	NextAttempt time.Time `json:"next_attempt"`
	Error       string    `json:"error,omitempty"`
}

// Explain says what the quarantine reason means and what to do.
func (q Quarantine) Explain() string {
	switch strings.ToLower(q.Reason) {
	case "encounteredbaseescrowthreshold", "encounteredtotalescrowthreshold", "encounteredescrowproportionthreshold":
		return "too many users failed to provision (escrows): look at `roster entra logs --failed` and `roster log --failed`, fix the cause, then `roster entra resume`"
	case "encounteredquarantineexception":
		return "Entra could not reach the agent or the token was rejected: check that the Tenant URL is reachable over public HTTPS and the token is current, then `roster entra resume`"
	case "toomanydeletes":
		return "a cycle would have deleted more users than the accidental-deletion threshold: if the deletions are intended, `roster entra resume --allow-deletes`; otherwise fix the scope or assignments first"
	case "quarantinedondemand":
		return "an administrator put the job into quarantine: `roster entra resume` lifts it"
	case "ingestioninterrupted":
		return "the cycle was interrupted: it is retried automatically"
	}
	return "Entra stopped provisioning after repeated failures: check `roster entra logs --failed`, then `roster entra resume`"
}

// Status is the state of a provisioning job in words and numbers.
type Status struct {
	JobID          string      `json:"job_id"`
	Code           string      `json:"code"`     // NotConfigured, NotRun, Active, Paused, Quarantine
	Schedule       string      `json:"schedule"` // Active, Disabled, Paused
	Interval       string      `json:"interval,omitempty"`
	LastExecution  *Execution  `json:"last_execution,omitempty"`
	LastSuccessful *Execution  `json:"last_successful,omitempty"`
	SteadySince    time.Time   `json:"steady_since,omitzero"`
	Quarantine     *Quarantine `json:"quarantine,omitempty"`
	Failures       int64       `json:"successive_failures"`
}

// Explain says what the status code means.
func (s Status) Explain() string {
	switch s.Code {
	case "NotConfigured":
		return "provisioning is not configured: the Tenant URL and token are not saved (run `roster entra connect`)"
	case "NotRun":
		return "provisioning is started; the first cycle has not completed yet (cycles run about every 40 minutes)"
	case "Active":
		return "provisioning is running; Entra calls the agent about every 40 minutes"
	case "Paused":
		return "provisioning is paused: Entra does not call the agent until `roster entra resume`"
	case "Quarantine":
		if s.Quarantine != nil {
			return "provisioning is in quarantine (" + s.Quarantine.Reason + "): " + s.Quarantine.Explain()
		}
		return "provisioning is in quarantine"
	}
	return "status " + s.Code
}

// Step is one step of a provisioning run, as the portal shows it.
type Step struct {
	Name        string            `json:"name"`
	Type        string            `json:"type"` // Import, Scoping, Matching, Processing, ReferenceResolution, Export
	Status      string            `json:"status"`
	Description string            `json:"description"`
	Details     map[string]string `json:"details,omitempty"`
}

// OnDemandResult is the outcome of provisioning one user on demand.
type OnDemandResult struct {
	Result       string `json:"result"` // Success, Skipped, Failure
	Action       string `json:"action"` // Create, Update, Delete, Other
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	TargetID     string `json:"target_id,omitempty"`
	Steps        []Step `json:"steps"`
}

// LogEntry is one entry of Entra's provisioning logs.
type LogEntry struct {
	Time       time.Time `json:"time"`
	Action     string    `json:"action"` // create, update, delete, disable, stagedDelete, other
	Status     string    `json:"status"` // success, failure, skipped, warning
	Identity   string    `json:"identity"`
	SourceID   string    `json:"source_id"`
	TargetID   string    `json:"target_id,omitempty"`
	ErrorCode  string    `json:"error_code,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	JobID      string    `json:"job_id"`
	CycleID    string    `json:"cycle_id,omitempty"`
	Steps      []Step    `json:"steps,omitempty"`
	Initiator  string    `json:"initiated_by,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"`
}

// LogQuery selects provisioning log entries.
type LogQuery struct {
	JobID string
	Since time.Time
	// User keeps entries whose source or target identity's name or id
	// contains it (case-insensitive), filtered here because Graph's filters
	// are case-sensitive.
	User string
	// Failed keeps failures only.
	Failed bool
	// Top is the most entries to return (default 50, at most 500).
	Top int
}

// DefaultAppName is the enterprise app's display name unless told otherwise.
const DefaultAppName = "Roster"

// ConnectOptions is everything `roster entra connect` configures.
type ConnectOptions struct {
	// App adopts an existing enterprise app by service principal id,
	// application id or display name; "" finds or creates AppName.
	App string
	// AppName is the display name of the app to find or create.
	AppName string
	// OnPremises uses the "On-premises SCIM app" gallery app, which reaches
	// the agent through Microsoft's provisioning agent (installed and
	// assigned in the portal) rather than over the internet.
	OnPremises bool
	// TenantURL is the agent's Tenant URL.
	TenantURL string
	// Credentials are what Entra authenticates to the agent with. Empty
	// credentials keep those already saved in the app (a re-run that
	// changes only settings); the app and its job must exist. Federation
	// credentials create the app and job but save no credentials: Graph
	// cannot, so Manual lists the portal steps.
	Credentials Credentials
	// NotificationEmail, DeleteThreshold and SyncAll: see Secrets.
	NotificationEmail string
	DeleteThreshold   int
	SyncAll           bool
	// Mappings says which attribute mappings the job gets.
	Mappings mappings.Options
	// Assign lists users (UPN or object id) and groups (name or object id,
	// prefixed "group:") to assign to the app.
	Assign []string
	// SkipTest skips Test Connection (not recommended).
	SkipTest bool
	// NoStart leaves provisioning stopped.
	NoStart bool
}

// Validate reports every problem with the options at once.
func (o ConnectOptions) Validate() error {
	var errs []error
	u, err := url.Parse(o.TenantURL)
	switch {
	case o.TenantURL == "":
		errs = append(errs, errors.New("the Tenant URL is required (the agent prints it; `roster token issue` too)"))
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, fmt.Errorf("the Tenant URL %q is not an http(s) URL", o.TenantURL))
	case u.Scheme != "https" && !o.OnPremises && !IsLoopback(u.Hostname()):
		errs = append(errs, fmt.Errorf("the Tenant URL %q must use https: Entra calls it from the internet and accepts only public HTTPS (or use --on-premises)", o.TenantURL))
	}
	if err := o.Credentials.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.DeleteThreshold < 0 {
		errs = append(errs, errors.New("the accidental-deletion threshold must be 0 (off) or more"))
	}
	if o.NotificationEmail != "" && !strings.Contains(o.NotificationEmail, "@") {
		errs = append(errs, fmt.Errorf("notification email %q is not an email address", o.NotificationEmail))
	}
	if err := o.Mappings.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CredentialKind says how Entra's provisioning service authenticates to the
// agent: the choices of the portal's Admin Credentials.
type CredentialKind string

// Credential kinds, the best first.
const (
	// CredentialOAuth2 is "OAuth2 Client Credentials Grant": Entra trades a
	// client id and secret at the agent's token endpoint for short-lived
	// access tokens (RFC 6749 §4.4).
	CredentialOAuth2 CredentialKind = "oauth2"
	// CredentialToken is the long-lived Secret Token, the fallback.
	CredentialToken CredentialKind = "token"
	// CredentialFederation is Workload Identity Federation: Entra presents a
	// JWT its tenant signed as a client assertion (RFC 7523 §2.2) and stores
	// no secret. Graph has no call to configure it on a non-gallery app, so
	// it is set up in the portal.
	CredentialFederation CredentialKind = "federation"
)

// CredentialKinds lists the kinds, the recommended one first.
var CredentialKinds = []CredentialKind{CredentialOAuth2, CredentialToken, CredentialFederation}

// ParseCredentialKind reads a kind as typed on a command line or in an
// answers file; "" is the default, oauth2.
func ParseCredentialKind(s string) (CredentialKind, error) {
	switch k := CredentialKind(strings.ToLower(strings.TrimSpace(s))); k {
	case "":
		return CredentialOAuth2, nil
	case CredentialOAuth2, CredentialToken, CredentialFederation:
		return k, nil
	case "oauth", "client_credentials":
		return CredentialOAuth2, nil
	case "secret-token", "bearer":
		return CredentialToken, nil
	case "wif":
		return CredentialFederation, nil
	}
	return "", fmt.Errorf("credential %q: use oauth2 (OAuth 2.0 client credentials, recommended), token (a long-lived Secret Token) or federation (Workload Identity Federation)", s)
}

// Credentials are what Entra's provisioning service authenticates to the
// agent with, per Kind.
type Credentials struct {
	Kind CredentialKind
	// Token is the Secret Token (CredentialToken).
	Token string
	// ClientID, ClientSecret and TokenURL are the OAuth client and the
	// agent's token endpoint (CredentialOAuth2; ClientID and TokenURL also
	// for CredentialFederation, for the portal steps).
	ClientID, ClientSecret, TokenURL string
}

// Empty reports whether there is nothing to send to Entra: the saved
// credentials are kept (or, for federation, set in the portal).
func (c Credentials) Empty() bool {
	switch c.Kind {
	case CredentialOAuth2:
		return c.ClientSecret == ""
	case CredentialFederation:
		return true
	}
	return c.Token == ""
}

// Validate reports what is missing for the kind.
func (c Credentials) Validate() error {
	switch c.Kind {
	case "", CredentialToken:
		if c.ClientSecret != "" {
			return errors.New("a Secret Token credential carries no OAuth client secret")
		}
	case CredentialOAuth2:
		if c.Token != "" {
			return errors.New("OAuth credentials carry no Secret Token: Entra answers 500 to a save that mixes the two")
		}
		if c.ClientSecret != "" && (c.ClientID == "" || c.TokenURL == "") {
			return errors.New("OAuth credentials need the client id, the client secret and the token URL")
		}
		if c.TokenURL != "" {
			if u, err := url.Parse(c.TokenURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
				return fmt.Errorf("the token URL %q is not an http(s) URL", c.TokenURL)
			}
		}
	case CredentialFederation:
		if c.Token != "" || c.ClientSecret != "" {
			return errors.New("a Workload Identity Federation stores no secret: pass neither a token nor a client secret")
		}
	default:
		_, err := ParseCredentialKind(string(c.Kind))
		return err
	}
	return nil
}

// ConnectResult is what Connect found, created and changed.
type ConnectResult struct {
	App        App  `json:"app"`
	AppCreated bool `json:"app_created"`
	Job        Job  `json:"job"`
	JobCreated bool `json:"job_created"`
	Tested     bool `json:"tested"`
	// Saved says the credentials were saved in the app (a failure after
	// that leaves Entra holding them).
	Saved           bool              `json:"credentials_saved"`
	MappingChanges  []mappings.Change `json:"mapping_changes"`
	Assigned        []Principal       `json:"assigned"`
	AlreadyAssigned []Principal       `json:"already_assigned"`
	Started         bool              `json:"started"`
	Status          Status            `json:"status"`
	// Manual lists what must still be done by hand (the on-premises agent).
	Manual []string `json:"manual,omitempty"`
}
