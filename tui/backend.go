package tui

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/rosterhq/roster/graph/mappings"
)

// Backend is everything the wizard does outside the terminal. cmd/roster
// implements it over the agent, the store, the DNS checker and the Graph
// package; tui only ever sees these methods and the plain types below.
//
// Every method honours ctx: the wizard cancels it when the owner presses esc
// (or ctrl+c) during a long operation. An error may carry advice for the owner
// by wrapping it in a *HintError.
type Backend interface {
	// LoadState returns the saved progress of an earlier run, or the zero State
	// (and no error) when there is none.
	LoadState(ctx context.Context) (State, error)
	// SaveState stores the progress; the wizard calls it after each step.
	SaveState(ctx context.Context, s State) error
	// Existing describes what is already set up in the data directory.
	Existing(ctx context.Context) (Existing, error)

	// NormalizeDomain returns the canonical form of an email domain, or an
	// error saying why it is not one (the wizard checks each domain as it is
	// typed, before adding it).
	NormalizeDomain(name string) (string, error)
	// CheckAgent reports why the agent could not run with o, without starting
	// it or writing anything: a certificate or key that cannot be read or do
	// not match, a listen address that is not valid, or (in service mode) a
	// data directory the service cannot use. The wizard asks it where each
	// answer is given, and --answers before it changes anything.
	CheckAgent(ctx context.Context, o AgentOptions) error

	// SetReach records how Entra will reach the agent (its public URL above
	// all), so that Tenant URLs issued afterwards use it.
	SetReach(ctx context.Context, r Reach) error
	// PrepareTenant creates the tenant when it does not exist yet and
	// returns its Tenant URL. It issues no credential: the wizard issues
	// only the one the owner chooses, once it is chosen.
	PrepareTenant(ctx context.Context, tenant string) (string, error)
	// IssueToken issues a new Secret Token for the tenant (created if missing)
	// and returns it with the tenant's Tenant URL; the token is shown once.
	IssueToken(ctx context.Context, tenant string) (Issued, error)

	// Domains lists the tenant's email domains.
	Domains(ctx context.Context, tenant string) ([]Domain, error)
	// AddDomain adds an email domain and returns the TXT record to publish.
	AddDomain(ctx context.Context, tenant, domain string) (Domain, error)
	// CheckDomain looks the TXT record up now and returns the domain's new state.
	CheckDomain(ctx context.Context, tenant, domain string) (Domain, error)

	// SignIn signs in to Microsoft Graph. With the device-code method, prompt
	// is called (from any goroutine) with the code to show while SignIn blocks.
	SignIn(ctx context.Context, o SignInOptions, prompt func(DeviceCode)) (Account, error)
	// FindApps lists the enterprise applications whose display name starts with name.
	FindApps(ctx context.Context, name string) ([]App, error)
	// CreateApp creates a non-gallery enterprise application and waits until
	// Entra has finished creating it (this may take a minute).
	CreateApp(ctx context.Context, name string) (App, error)
	// SearchPrincipals finds users and groups whose name starts with query.
	SearchPrincipals(ctx context.Context, query string) ([]Principal, error)
	// Configure writes the Tenant URL, the credential, the mappings, the
	// scope, the notification email and the assignments to the enterprise
	// app, and returns the credential Entra holds now. With CredentialOAuth2
	// it issues the OAuth client (or, on a re-run, rotates its secret).
	Configure(ctx context.Context, o ConnectOptions) (Connected, error)
	// TestConnection asks Entra to test the connection to the agent (the
	// portal's Test Connection button).
	TestConnection(ctx context.Context) error
	// StartProvisioning starts the app's provisioning job.
	StartProvisioning(ctx context.Context) error
	// ProvisionOnDemand provisions one user (UPN, object ID or display name)
	// now and returns Entra's step results.
	ProvisionOnDemand(ctx context.Context, user string) (OnDemandResult, error)

	// StartAgent starts the agent in this process (foreground) or installs
	// and starts it as a system service.
	StartAgent(ctx context.Context, o AgentOptions) (AgentInfo, error)
	// WaitFirstRequest blocks until Entra's first request reaches the agent
	// (the manual path's confirmation).
	WaitFirstRequest(ctx context.Context) (FirstRequest, error)
}

// HintError is an error with advice on what to do about it; the wizard shows
// both.
type HintError struct {
	Err  error
	Hint string
}

// Error returns the wrapped error's message.
func (e *HintError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *HintError) Unwrap() error { return e.Err }

// hintOf returns the hint carried by err, or fallback.
func hintOf(err error, fallback string) string {
	var h *HintError
	if errors.As(err, &h) && h.Hint != "" {
		return h.Hint
	}
	return fallback
}

// Secret is a credential that must not reach a log: it redacts itself.
type Secret string

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String returns the secret in clear (for the screen only).
func (s Secret) String() string { return string(s) }

// TLS choices: how the agent's public endpoint gets its certificate.
const (
	TLSACME   = "acme"   // automatic certificate (ACME, e.g. Let's Encrypt)
	TLSFiles  = "files"  // the owner's own certificate and key files
	TLSProxy  = "proxy"  // a reverse proxy or tunnel terminates TLS
	TLSOnPrem = "onprem" // Entra's on-premises provisioning agent calls a local URL
)

// Reach says how Entra will reach the agent.
type Reach struct {
	PublicURL string `json:"public_url"` // https://scim.example.com (or the local URL on the on-prem path)
	TLS       string `json:"tls"`        // TLSACME, TLSFiles, TLSProxy or TLSOnPrem
	Listen    string `json:"listen,omitempty"`
	CertFile  string `json:"cert_file,omitempty"`
	KeyFile   string `json:"key_file,omitempty"`
	ACMEEmail string `json:"acme_email,omitempty"`
}

// Issued is a freshly issued Secret Token with its Tenant URL.
type Issued struct {
	TenantURL string
	Token     Secret
}

// Existing describes the setup found in the data directory.
type Existing struct {
	DataDir      string
	Tenants      []string
	Tokens       int // active Secret Tokens, all tenants
	Domains      []Domain
	AppConnected bool   // an Entra app is configured to call this agent
	AppName      string // its display name, when known
	AgentRunning bool   // an agent (service) already answers on this machine
}

// Domain states, as the store reports them.
const (
	DomainPending  = "pending"
	DomainVerified = "verified"
	DomainFailed   = "failed"
	DomainLapsed   = "lapsed"
)

// Domain is an email domain with the TXT record that proves it.
type Domain struct {
	Name      string `json:"name"`
	TXTName   string `json:"txt_name"`
	TXTValue  string `json:"txt_value"`
	State     string `json:"state"`
	LastError string `json:"last_error,omitempty"`
}

// Sign-in methods.
const (
	SignInDeviceCode   = "device-code"
	SignInAzureCLI     = "azure-cli"
	SignInClientSecret = "client-secret"
	SignInManual       = "manual" // no Graph: the owner types the values into the portal
)

// SignInOptions choose how to sign in to Microsoft Graph.
type SignInOptions struct {
	Method       string `json:"method"`
	TenantID     string `json:"tenant_id,omitempty"` // directory (tenant) ID or domain; empty: organizations
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret Secret `json:"-"`
	Cloud        string `json:"cloud,omitempty"` // empty: the public cloud
}

// DeviceCode is what the owner types at the verification URL.
type DeviceCode struct {
	UserCode        string
	VerificationURL string
	Message         string
	ExpiresAt       time.Time
}

// Account is the signed-in identity.
type Account struct {
	Name     string // user principal name or app name
	TenantID string
	Domain   string // the tenant's default domain, when known
}

// App is an Entra enterprise application (its service principal).
type App struct {
	ID    string `json:"id"`     // service principal object ID
	AppID string `json:"app_id"` // application (client) ID
	Name  string `json:"name"`
	// Connected marks the app this data directory connected before: the
	// only one adopted without asking.
	Connected bool `json:"connected,omitempty"`
}

// Principal kinds.
const (
	KindUser  = "User"
	KindGroup = "Group"
)

// Principal is a user or group that can be assigned to the app.
type Principal struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`             // KindUser or KindGroup
	Detail string `json:"detail,omitempty"` // UPN of a user, member count or description of a group
}

// Mapping is one attribute mapping from Entra to SCIM.
type Mapping struct {
	Source   string `json:"source"` // Entra attribute
	Target   string `json:"target"` // SCIM attribute path
	Required bool   `json:"required,omitempty"`
}

// Mappings returns the mappings the wizard offers: the five Roster requires,
// then the optional ones (graph/mappings' table, the one definition).
func Mappings() []Mapping {
	var out []Mapping
	for _, m := range mappings.Table(mappings.Options{}) {
		out = append(out, Mapping{Source: m.Source, Target: m.Target, Required: m.Required})
	}
	return out
}

// defaultMappings returns the sources of the mappings selected unless the
// owner chooses: those of mappings.Default, as `roster entra connect` uses.
func defaultMappings() []string {
	var out []string
	for _, m := range mappings.Table(mappings.Default()) {
		out = append(out, m.Source)
	}
	return out
}

// shortTarget abbreviates the enterprise extension prefix for narrow screens.
func shortTarget(t string) string {
	const ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	if len(t) > len(ext) && t[:len(ext)] == ext {
		return "enterprise:" + t[len(ext):]
	}
	return t
}

// ConnectOptions is the provisioning configuration written to the app.
type ConnectOptions struct {
	App       App
	TenantURL string
	Token     Secret
	// Credential is CredentialOAuth2 (the default), CredentialToken or
	// CredentialFederation; Subject and Audience describe a federation
	// ("": the one added with `roster oauth federation add`).
	Credential        string
	Subject, Audience string
	Mappings          []Mapping
	MatchOnEmployeeID bool // match users on employeeId instead of userPrincipalName
	ProvisionGroups   bool
	ScopeAllUsers     bool // false: only assigned users and groups
	NotificationEmail string
	Assign            []Principal
}

// Connected is the credential Configure gave Entra.
type Connected struct {
	Credential string // CredentialOAuth2, CredentialToken or CredentialFederation
	// ClientID and TokenURL are the OAuth client Entra uses and the agent's
	// token endpoint (oauth2, federation).
	ClientID, TokenURL string
	// ClientSecret is the OAuth client secret this run saved in Entra ("":
	// none new). Entra holds it; the wizard prints it only when asked.
	ClientSecret Secret
	// Portal lists the steps still to do in the Entra portal (federation,
	// which Graph cannot configure); Configure confirms them with Test
	// Connection once they are done. Empty: nothing to do there.
	Portal []string
}

// Credentials: how Entra authenticates to the agent.
const (
	CredentialOAuth2     = "oauth2"     // OAuth 2.0 client credentials (recommended)
	CredentialToken      = "token"      // a long-lived Secret Token
	CredentialFederation = "federation" // Workload Identity Federation, finished in the portal
)

// defaultCredential is the credential offered first: OAuth, except on the
// on-premises route, whose documented credential is the Secret Token.
func defaultCredential(tls string) string {
	if tls == TLSOnPrem {
		return CredentialToken
	}
	return CredentialOAuth2
}

// credentialChoices are the credentials, the recommended one first.
func credentialChoices() []choice {
	return []choice{
		{CredentialOAuth2, "OAuth client credentials (recommended)", "Roster issues an OAuth client and saves it in Entra; Entra trades it for access tokens that live an hour. Re-running setup rotates the secret."},
		{CredentialToken, "Secret Token (long-lived)", "A long-lived bearer token, shown once: the fallback for Entra setups without OAuth."},
		{CredentialFederation, "Workload Identity Federation (finish in the portal)", "No secret at all: Entra presents a token its tenant signed. You paste the values into the Entra portal."},
	}
}

// Agent modes.
const (
	AgentForeground = "foreground" // runs inside this process until it ends
	AgentService    = "service"    // installed and started as a system service
)

// AgentOptions choose how the agent runs.
type AgentOptions struct {
	Mode  string `json:"mode"`
	Reach Reach  `json:"reach"`
}

// AgentInfo describes the running agent.
type AgentInfo struct {
	TenantURL string
	Listen    string
	DataDir   string
	LogFile   string
	Service   string // the service's name, in service mode
}

// FirstRequest is the first request Entra made to the agent.
type FirstRequest struct {
	At     time.Time
	Method string
	Path   string
}

// Step result statuses of a provision-on-demand.
const (
	StepSuccess = "success"
	StepSkipped = "skipped"
	StepFailed  = "failed"
	StepWarning = "warning"
)

// OnDemandResult is what Entra reports for a provision-on-demand.
type OnDemandResult struct {
	Steps []OnDemandStep
}

// OnDemandStep is one step of a provision-on-demand (import, scope, match, action).
type OnDemandStep struct {
	Name        string
	Status      string
	Description string
}
