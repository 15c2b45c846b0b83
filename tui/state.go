package tui

import "slices"

// StateVersion is the version of the State layout written by this package.
const StateVersion = 1

// State is the wizard's progress and answers, saved after each step so that
// quitting and running `roster setup` again resumes where the owner left. It
// holds no secret: the Secret Token is shown once and never saved.
type State struct {
	Version int    `json:"version"`
	Step    string `json:"step,omitempty"` // the step to resume at
	Done    bool   `json:"done,omitempty"` // the wizard reached its summary

	Tenant      string `json:"tenant,omitempty"`
	Reach       Reach  `json:"reach"`
	TenantURL   string `json:"tenant_url,omitempty"`
	TokenIssued bool   `json:"token_issued,omitempty"`
	// Credential is how Entra authenticates to the agent on the Graph
	// path: CredentialOAuth2, CredentialToken or CredentialFederation.
	Credential string `json:"credential,omitempty"`
	// Subject and Audience describe a federation as the portal shows them
	// ("": the one added with `roster oauth federation add`).
	Subject  string   `json:"subject,omitempty"`
	Audience string   `json:"audience,omitempty"`
	Domains  []string `json:"domains,omitempty"`

	Path   string        `json:"path,omitempty"` // PathGraph or PathManual
	SignIn SignInOptions `json:"sign_in"`
	App    App           `json:"app"`

	Mappings          []string    `json:"mappings,omitempty"` // sources of the selected mappings
	MatchOnEmployeeID bool        `json:"match_on_employee_id,omitempty"`
	ProvisionGroups   bool        `json:"provision_groups,omitempty"`
	ScopeAllUsers     bool        `json:"scope_all_users,omitempty"`
	NotificationEmail string      `json:"notification_email,omitempty"`
	Assign            []Principal `json:"assign,omitempty"`

	AgentMode    string `json:"agent_mode,omitempty"`
	DataDir      string `json:"data_dir,omitempty"`
	Connected    bool   `json:"connected,omitempty"`
	Provisioning bool   `json:"provisioning,omitempty"`
}

// credentialOf is the state's credential; a state saved before the choice
// existed used the Secret Token.
func credentialOf(s State) string {
	if s.Credential == "" {
		return CredentialToken
	}
	return s.Credential
}

// Paths through the wizard.
const (
	PathGraph  = "graph"  // the wizard configures Entra through Microsoft Graph
	PathManual = "manual" // the owner types the values into the Entra portal
)

// Step identifiers, saved in State.Step.
const (
	StepWelcome    = "welcome"
	StepReach      = "reach"
	StepToken      = "token"
	StepDomains    = "domains"
	StepSignIn     = "signin"
	StepApp        = "app"
	StepMappings   = "mappings"
	StepSettings   = "settings"
	StepAssign     = "assign"
	StepCredential = "credential"
	StepAgent      = "agent"
	StepConnect    = "connect"
	StepProvision  = "provision"
	StepManual     = "manual"
	StepSummary    = "summary"
)

// stepTitles are the headings shown at the top of each step.
var stepTitles = map[string]string{
	StepWelcome:    "Welcome",
	StepReach:      "How Entra will reach the agent",
	StepToken:      "Secret Token",
	StepDomains:    "Email domains",
	StepSignIn:     "Sign in to Microsoft",
	StepApp:        "Enterprise application",
	StepMappings:   "Attribute mappings",
	StepSettings:   "Scope and notifications",
	StepAssign:     "Assign users and groups",
	StepCredential: "How Entra signs in",
	StepAgent:      "Start the agent",
	StepConnect:    "Test Connection",
	StepProvision:  "Start provisioning",
	StepManual:     "Enter the values in the Entra portal",
	StepSummary:    "Done",
}

// order returns the steps the state's answers lead through, in order.
func order(s State) []string {
	// The agent starts before the sign-in: nothing is created in Entra until
	// it answers (and a service install that cannot work is refused first).
	// A credential is issued only once chosen, and only the one chosen: the
	// Secret Token (its own step, where it is shown once) on the manual path
	// or when chosen; an OAuth client or a federation when connecting.
	if s.Path == PathManual {
		return []string{StepWelcome, StepReach, StepDomains, StepAgent, StepSignIn, StepToken, StepManual, StepSummary}
	}
	steps := []string{StepWelcome, StepReach, StepDomains, StepAgent, StepSignIn, StepApp, StepMappings, StepSettings}
	if !s.ScopeAllUsers {
		steps = append(steps, StepAssign)
	}
	steps = append(steps, StepCredential)
	if s.Credential == CredentialToken {
		steps = append(steps, StepToken)
	}
	return append(steps, StepConnect, StepProvision, StepSummary)
}

// nextStep returns the step after cur, or "" at the end.
func nextStep(s State, cur string) string {
	o := order(s)
	i := slices.Index(o, cur)
	if i < 0 || i+1 >= len(o) {
		return ""
	}
	return o[i+1]
}

// prevStep returns the step before cur, or "" at the start.
func prevStep(s State, cur string) string {
	o := order(s)
	i := slices.Index(o, cur)
	if i <= 0 {
		return ""
	}
	return o[i-1]
}

// position returns cur's 1-based position and the number of steps.
func position(s State, cur string) (int, int) {
	o := order(s)
	return slices.Index(o, cur) + 1, len(o)
}

// selectedMappings returns the mappings named by sources, always including
// the required ones; nil sources select the default ones.
func selectedMappings(sources []string) []Mapping {
	if sources == nil {
		sources = defaultMappings()
	}
	var out []Mapping
	for _, m := range Mappings() {
		if m.Required || slices.Contains(sources, m.Source) {
			out = append(out, m)
		}
	}
	return out
}
