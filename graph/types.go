package graph

import "github.com/rosterhq/roster/graph/graphapi"

// The plain types of this package's API live in graph/graphapi, which does
// not import the SDK; these aliases keep their names here.
type (
	// Error is a failed Graph operation, in plain words.
	Error = graphapi.Error
	// App is an Entra enterprise application.
	App = graphapi.App
	// Principal is a user or group of the Entra directory.
	Principal = graphapi.Principal
	// Account is who Roster signed in as.
	Account = graphapi.Account
	// Job is a provisioning (synchronization) job of an app.
	Job = graphapi.Job
	// RestartScope says what a restart resets.
	RestartScope = graphapi.RestartScope
	// Execution is one provisioning cycle.
	Execution = graphapi.Execution
	// Quarantine is why Entra stopped calling the agent.
	Quarantine = graphapi.Quarantine
	// Status is the state of a provisioning job.
	Status = graphapi.Status
	// Step is one step of a provisioning run.
	Step = graphapi.Step
	// OnDemandResult is the outcome of provisioning one user on demand.
	OnDemandResult = graphapi.OnDemandResult
	// LogEntry is one entry of Entra's provisioning logs.
	LogEntry = graphapi.LogEntry
	// LogQuery selects provisioning log entries.
	LogQuery = graphapi.LogQuery
	// ConnectOptions is everything Connect configures.
	ConnectOptions = graphapi.ConnectOptions
	// ConnectResult is what Connect found, created and changed.
	ConnectResult = graphapi.ConnectResult
	// Credentials are what Entra authenticates to the agent with.
	Credentials = graphapi.Credentials
	// CredentialKind says which kind of credentials.
	CredentialKind = graphapi.CredentialKind
)

// Credential kinds.
const (
	CredentialOAuth2     = graphapi.CredentialOAuth2
	CredentialToken      = graphapi.CredentialToken
	CredentialFederation = graphapi.CredentialFederation
)

// Restart scopes.
const (
	RestartFull        = graphapi.RestartFull
	RestartQuarantine  = graphapi.RestartQuarantine
	RestartForceDelete = graphapi.RestartForceDelete
)

// DefaultAppName is the enterprise app's display name unless told otherwise.
const DefaultAppName = graphapi.DefaultAppName

// ErrNotFound is wrapped by errors for objects Graph does not have.
var ErrNotFound = graphapi.ErrNotFound

var _ graphapi.Client = (*Client)(nil)
