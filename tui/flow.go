package tui

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// The flow: the questions of the setup, in order, with where each is asked,
// when it applies, its default and its check. The full-screen wizard builds
// its forms from them, --plain asks them line by line (as huh's accessible
// mode runs a form), and --answers reads them from the file: the same check
// runs in all three, where the answer is given.

// Kinds of question.
const (
	askText   = iota // a line of text
	askChoice        // one of choices (by number in --plain)
	askYesNo         // y or n
	askList          // comma-separated values
)

// question is one answer the setup needs.
type question struct {
	key         string // its key in the answers file
	step        string // the wizard step that asks it
	label       string
	short       string // the wizard's label, where its screen says the rest ("": label)
	placeholder string
	kind        int
	choices     []choice
	def         string                  // the default when nothing was answered before
	deflt       func(a *Answers) string // the default from the answers before it (instead of def)
	fileOnly    bool                    // only in the answers file: the wizard asks it its own way
	when        func(a *Answers) bool   // nil: always asked
	get         func(a *Answers) string // the answer as typed
	set         func(a *Answers, v string)
	check       func(c *checks, v string) string // the problem with v as a sentence, or ""
}

// checks is what a question's check may consult: the answers given so far
// and, outside static validation (LoadAnswers), the backend.
type checks struct {
	ctx context.Context
	b   Backend // nil: only what needs no backend
	a   *Answers
}

// defaultFor is q's default after the answers a.
func (q *question) defaultFor(a *Answers) string {
	if q.deflt != nil {
		return q.deflt(a)
	}
	return q.def
}

// applies reports whether q is asked with the answers a.
func (q *question) applies(a *Answers) bool { return q.when == nil || q.when(a) }

func tlsIs(modes ...string) func(a *Answers) bool {
	return func(a *Answers) bool { return slices.Contains(modes, a.TLS) }
}

func graphPath(a *Answers) bool { return a.SignIn != SignInManual }

// flowQuestions returns the setup's questions in the order the flow asks them.
func flowQuestions() []question {
	var optional []string
	for _, m := range Mappings() {
		if !m.Required {
			optional = append(optional, m.Source)
		}
	}
	str := func(f func(a *Answers) *string) (func(a *Answers) string, func(a *Answers, v string)) {
		return func(a *Answers) string { return *f(a) }, func(a *Answers, v string) { *f(a) = v }
	}
	list := func(f func(a *Answers) *[]string) (func(a *Answers) string, func(a *Answers, v string)) {
		return func(a *Answers) string { return strings.Join(*f(a), ", ") }, func(a *Answers, v string) { *f(a) = splitList(v) }
	}
	tlsGet, tlsSet := str(func(a *Answers) *string { return &a.TLS })
	emailGet, emailSet := str(func(a *Answers) *string { return &a.ACMEEmail })
	certGet, certSet := str(func(a *Answers) *string { return &a.CertFile })
	keyGet, keySet := str(func(a *Answers) *string { return &a.KeyFile })
	urlGet, urlSet := str(func(a *Answers) *string { return &a.PublicURL })
	listenGet, listenSet := str(func(a *Answers) *string { return &a.Listen })
	domGet, domSet := list(func(a *Answers) *[]string { return &a.Domains })
	agentGet, agentSet := str(func(a *Answers) *string { return &a.Agent })
	signGet, signSet := str(func(a *Answers) *string { return &a.SignIn })
	tidGet, tidSet := str(func(a *Answers) *string { return &a.TenantID })
	cidGet, cidSet := str(func(a *Answers) *string { return &a.ClientID })
	envGet, envSet := str(func(a *Answers) *string { return &a.ClientSecretEnv })
	appGet, appSet := str(func(a *Answers) *string { return &a.App })
	mapGet, mapSet := list(func(a *Answers) *[]string { return &a.Mappings })
	scopeGet, scopeSet := str(func(a *Answers) *string { return &a.Scope })
	notifGet, notifSet := str(func(a *Answers) *string { return &a.NotificationEmail })
	credGet, credSet := str(func(a *Answers) *string { return &a.Credential })
	subGet, subSet := str(func(a *Answers) *string { return &a.Subject })
	audGet, audSet := str(func(a *Answers) *string { return &a.Audience })
	federation := func(a *Answers) bool { return graphPath(a) && a.Credential == CredentialFederation }
	assignGet, assignSet := list(func(a *Answers) *[]string { return &a.Assign })
	podGet, podSet := str(func(a *Answers) *string { return &a.ProvisionOnDemand })
	waitGet, waitSet := str(func(a *Answers) *string { return &a.WaitFirstRequest })
	return []question{
		{key: "tls", step: StepReach, label: "How will Entra reach the agent?", kind: askChoice, choices: (&reachStep{}).choices(),
			get: tlsGet, set: tlsSet, check: plainCheck(oneOf("acme, files, proxy or onprem", TLSACME, TLSFiles, TLSProxy, TLSOnPrem))},
		{key: "public_url", step: StepReach, label: "Public hostname", placeholder: "scim.example.com", when: tlsIs(TLSACME, TLSFiles),
			get: func(a *Answers) string {
				if h, ok := strings.CutPrefix(strings.TrimRight(a.PublicURL, "/"), "https://"); ok {
					return h
				}
				return a.PublicURL // not https: the check says so
			},
			set: func(a *Answers, v string) { a.PublicURL = "https://" + v }, check: plainCheck(checkHost)},
		{key: "acme_email", step: StepReach, label: "Email for the certificate authority (expiry notices)", placeholder: "admin@example.com",
			when: tlsIs(TLSACME), get: emailGet, set: emailSet, check: plainCheck(checkEmail(false))},
		{key: "cert_file", step: StepReach, label: "Certificate file (PEM, full chain)", placeholder: "/etc/ssl/roster.crt",
			when: tlsIs(TLSFiles), get: certGet, set: certSet, check: plainCheck(checkReadable("the certificate"))},
		{key: "key_file", step: StepReach, label: "Key file (PEM)", placeholder: "/etc/ssl/roster.key",
			when: tlsIs(TLSFiles), get: keyGet, set: keySet, check: checkKeyPair},
		{key: "public_url", step: StepReach, label: "Public URL (what Entra calls)", placeholder: "https://scim.example.com",
			when: tlsIs(TLSProxy), get: urlGet, set: urlSet, check: plainCheck(checkPublicURL)},
		{key: "public_url", step: StepReach, label: "Local URL the on-premises agent calls", placeholder: "http://localhost:8080", def: "http://localhost:8080",
			when: tlsIs(TLSOnPrem), get: urlGet, set: urlSet, check: plainCheck(checkURL("http", "https"))},
		{key: "listen", step: StepReach, label: "Address the agent listens on (your proxy forwards here)", placeholder: "127.0.0.1:8080", deflt: defaultListen,
			when: tlsIs(TLSProxy), get: listenGet, set: listenSet, check: plainCheck(checkListen)},
		{key: "listen", step: StepReach, label: "Address the agent listens on", placeholder: "127.0.0.1:8080", deflt: defaultListen,
			when: tlsIs(TLSOnPrem), get: listenGet, set: listenSet, check: plainCheck(checkListen)},
		{key: "domains", step: StepDomains, label: "Email domains to prove, comma-separated (empty: none)", kind: askList,
			get: domGet, set: domSet, check: checkDomainList},
		{key: "agent", step: StepAgent, label: "How should the agent run?", kind: askChoice, choices: (&agentStep{}).choices(), def: AgentForeground,
			get: agentGet, set: agentSet, check: checkAgentMode},
		{key: "sign_in", step: StepSignIn, label: "How do you want to configure Entra?", kind: askChoice, choices: (&signInStep{}).choices(),
			get: signGet, set: signSet, check: plainCheck(oneOf("device-code, azure-cli, client-secret or manual", SignInDeviceCode, SignInAzureCLI, SignInClientSecret, SignInManual))},
		{key: "tenant_id", step: StepSignIn, label: "Directory (tenant) ID or domain", fileOnly: true, when: signInIs(SignInClientSecret),
			get: tidGet, set: tidSet, check: plainCheck(notEmpty("the directory (tenant) ID, required with sign_in client-secret"))},
		{key: "client_id", step: StepSignIn, label: "Application (client) ID", fileOnly: true, when: signInIs(SignInClientSecret),
			get: cidGet, set: cidSet, check: plainCheck(notEmpty("the application (client) ID, required with sign_in client-secret"))},
		{key: "client_secret_env", step: StepSignIn, label: "Environment variable holding the client secret", fileOnly: true, when: signInIs(SignInClientSecret),
			get: envGet, set: envSet, check: plainCheck(checkSecretEnv)},
		{key: "wait_first_request", step: StepManual, label: "How long to wait for Entra's first request", fileOnly: true, when: signInIs(SignInManual),
			get: waitGet, set: waitSet, check: plainCheck(checkDuration)},
		{key: "app", step: StepApp, label: "Enterprise application name", placeholder: "Roster", def: "Roster", when: graphPath,
			get: appGet, set: appSet, check: plainCheck(notEmpty("a name for the application"))},
		{key: "mappings", step: StepMappings, label: "Optional mappings to add (" + strings.Join(optional, ", ") + "), comma-separated", kind: askList, when: graphPath,
			get: mapGet, set: mapSet, check: plainCheck(checkMappings)},
		{key: "match_on_employee_id", step: StepMappings, label: "Match users on employeeId instead of userPrincipalName?", kind: askYesNo, def: "n", when: graphPath,
			get: func(a *Answers) string { return yesNo(a.MatchOnEmployeeID) }, set: func(a *Answers, v string) { a.MatchOnEmployeeID = yes(v) }},
		{key: "provision_groups", step: StepMappings, label: "Provision groups and their members?", kind: askYesNo, def: "y", when: graphPath,
			get: func(a *Answers) string {
				if a.ProvisionGroups == nil {
					return ""
				}
				return yesNo(*a.ProvisionGroups)
			},
			set: func(a *Answers, v string) { g := yes(v); a.ProvisionGroups = &g }},
		{key: "scope", step: StepSettings, label: "Who does Entra provision?", kind: askChoice, choices: scopeChoices(), def: "assigned", when: graphPath,
			get: scopeGet, set: scopeSet, check: plainCheck(oneOf("assigned or all", "assigned", "all"))},
		{key: "notification_email", step: StepSettings, label: "Notification email for provisioning failures (empty: none)", placeholder: "admin@example.com (optional)", when: graphPath,
			get: notifGet, set: notifSet, check: plainCheck(checkEmail(true))},
		{key: "assign", step: StepAssign, label: "Users and groups to assign (names, UPNs or object IDs, comma-separated)", kind: askList,
			when: func(a *Answers) bool { return graphPath(a) && a.Scope != "all" },
			get:  assignGet, set: assignSet, check: plainCheck(notEmpty("at least one user or group (or choose to provision all users)"))},
		{key: "credential", step: StepCredential, label: "How does Entra authenticate to the agent?", kind: askChoice, choices: credentialChoices(), deflt: func(a *Answers) string { return defaultCredential(a.TLS) }, when: graphPath,
			get: credGet, set: credSet, check: plainCheck(oneOf("oauth2, token or federation", CredentialOAuth2, CredentialToken, CredentialFederation))},
		{key: "subject", step: StepCredential, label: "Federation: the Subject (sub) the portal shows (empty: the one added with `roster oauth federation add`)", short: "Subject (sub)", when: federation,
			get: subGet, set: subSet, check: plainCheck(checkFederationValue("Subject"))},
		{key: "audience", step: StepCredential, label: "Federation: the Audience (aud) the portal shows", short: "Audience (aud)", when: func(a *Answers) bool { return federation(a) && a.Subject != "" },
			get: audGet, set: audSet, check: plainCheck(checkAudience)},
		{key: "provision_on_demand", step: StepProvision, label: "Provision one user on demand now (UPN; empty: skip)", when: graphPath,
			get: podGet, set: podSet},
	}
}

// checkFederationValue checks a Subject or Audience as copied from the
// portal: one value, without spaces (empty is allowed where it is optional).
func checkFederationValue(what string) func(string) string {
	return func(v string) string {
		switch {
		case strings.ContainsAny(v, " \t"):
			return "The " + what + " is one value without spaces: copy it from the portal whole."
		case len(v) > 600:
			return "The " + what + " is longer than 600 characters: copy only the value the portal shows."
		}
		return ""
	}
}

// checkAudience checks the Audience, which a Subject needs.
func checkAudience(v string) string {
	if v == "" {
		return "Enter the Audience (aud) the portal shows: it is needed with a Subject."
	}
	return checkFederationValue("Audience")(v)
}

// plainCheck is a check that needs neither the backend nor other answers.
func plainCheck(f func(string) string) func(*checks, string) string {
	return func(_ *checks, v string) string { return f(v) }
}

func signInIs(m string) func(a *Answers) bool { return func(a *Answers) bool { return a.SignIn == m } }

func scopeChoices() []choice {
	return []choice{
		{"assigned", "Only the users and groups assigned to the app", "Recommended: you pick them on the next screen."},
		{"all", "All users and groups in the directory", ""},
	}
}

// questionsOf returns the questions of step that apply to a and are asked
// on screen (not only in the answers file).
func questionsOf(step string, a *Answers) []question {
	var out []question
	for _, q := range flowQuestions() {
		if q.step == step && !q.fileOnly && q.applies(a) {
			out = append(out, q)
		}
	}
	return out
}

// check runs the check of the flow's question key on v, without the backend
// (for the wizard's own widgets), and returns the problem as a sentence.
func check(key, v string) string {
	for _, q := range flowQuestions() {
		if q.key == key && q.check != nil {
			return sentence(q.check(&checks{}, v))
		}
	}
	return ""
}

// checkAnswers checks every question that applies to a, with the backend
// when b is not nil, and returns the problems as "key: problem".
func checkAnswers(ctx context.Context, b Backend, a *Answers) []string {
	c := &checks{ctx: ctx, b: b, a: a}
	var problems []string
	for _, q := range flowQuestions() {
		if !q.applies(a) || q.check == nil {
			continue
		}
		v := q.get(a)
		if v == "" {
			v = q.defaultFor(a)
		}
		if p := q.check(c, v); p != "" {
			problems = append(problems, q.key+": "+sentence(p))
		}
	}
	return problems
}

// ---- checks (each returns the problem as a sentence, or "") ----

func oneOf(what string, ids ...string) func(string) string {
	return func(v string) string {
		if v == "" {
			return "Choose one of " + what + "."
		}
		if !slices.Contains(ids, v) {
			return fmt.Sprintf("“%s” is not one of %s.", v, what)
		}
		return ""
	}
}

func checkReadable(what string) func(string) string {
	return func(v string) string {
		if v == "" {
			return "Enter the path of " + what + " (a PEM file)."
		}
		f, err := os.Open(v)
		if err != nil {
			return sentence("Cannot read " + what + ": " + err.Error())
		}
		f.Close()
		return ""
	}
}

// checkKeyPair checks that the key is readable and (with a backend) that it
// belongs to the certificate answered before.
func checkKeyPair(c *checks, v string) string {
	if p := checkReadable("the key")(v); p != "" {
		return p
	}
	if c.b == nil || c.a == nil {
		return ""
	}
	r := c.a.reach()
	r.KeyFile = v
	if err := c.b.CheckAgent(c.ctx, AgentOptions{Mode: AgentForeground, Reach: r}); err != nil {
		return problemOf(err)
	}
	return ""
}

// checkAgentMode checks (with a backend) that the agent can run this way with
// the answers given before: a service needs the service's data directory.
func checkAgentMode(c *checks, v string) string {
	if p := oneOf("foreground or service", AgentForeground, AgentService)(v); p != "" {
		return p
	}
	if c.b == nil || c.a == nil {
		return ""
	}
	if err := c.b.CheckAgent(c.ctx, AgentOptions{Mode: v, Reach: c.a.reach()}); err != nil {
		return problemOf(err)
	}
	return ""
}

// problemOf is an error and its advice as sentences.
func problemOf(err error) string {
	p := sentence(err.Error())
	if h := hintOf(err, ""); h != "" && !strings.Contains(p, h) {
		p += " " + sentence(h)
	}
	return p
}

func checkDomainList(c *checks, v string) string {
	for _, d := range splitList(v) {
		if c.b == nil {
			if p := checkHost(d); p != "" {
				return sentence(fmt.Sprintf("%q: %s", d, strings.Replace(p, "hostname", "domain", 1)))
			}
			continue
		}
		if _, p := checkDomain(c.b, d); p != "" {
			return p
		}
	}
	return ""
}

func checkMappings(v string) string {
	var optional []string
	for _, m := range Mappings() {
		if !m.Required {
			optional = append(optional, m.Source)
		}
	}
	for _, m := range splitList(v) {
		if !slices.Contains(optional, m) {
			return fmt.Sprintf("“%s” is not an optional mapping: choose from %s (the required five are always on).", m, strings.Join(optional, ", "))
		}
	}
	return ""
}

func checkListen(v string) string {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return "Enter a host:port such as 127.0.0.1:8080."
	}
	return ""
}

func checkSecretEnv(v string) string {
	switch {
	case v == "":
		return "Name the environment variable that holds the client secret."
	case os.Getenv(v) == "":
		return "$" + v + " is empty."
	}
	return ""
}

func checkDuration(v string) string {
	if v == "" {
		return ""
	}
	if _, err := time.ParseDuration(v); err != nil {
		return "Enter a duration such as 10m."
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "y"
	}
	return "n"
}

// answersOf turns saved progress back into answers: the defaults when the
// setup runs again.
func answersOf(st State) Answers {
	a := Answers{Tenant: st.Tenant, TLS: st.Reach.TLS, PublicURL: st.Reach.PublicURL, Listen: st.Reach.Listen,
		CertFile: st.Reach.CertFile, KeyFile: st.Reach.KeyFile, ACMEEmail: st.Reach.ACMEEmail, Domains: st.Domains,
		Agent: st.AgentMode, TenantID: st.SignIn.TenantID, ClientID: st.SignIn.ClientID, Cloud: st.SignIn.Cloud,
		App: st.App.Name, MatchOnEmployeeID: st.MatchOnEmployeeID, NotificationEmail: st.NotificationEmail,
		Credential: st.Credential, Subject: st.Subject, Audience: st.Audience}
	switch {
	case st.Path == PathManual:
		a.SignIn = SignInManual
	case st.SignIn.Method != "":
		a.SignIn = st.SignIn.Method
	}
	if st.Mappings != nil {
		g := st.ProvisionGroups
		a.ProvisionGroups = &g
		for _, m := range st.Mappings {
			if slices.ContainsFunc(Mappings(), func(x Mapping) bool { return x.Source == m && !x.Required }) {
				a.Mappings = append(a.Mappings, m)
			}
		}
		a.Scope = "assigned"
		if st.ScopeAllUsers {
			a.Scope = "all"
		}
	}
	for _, p := range st.Assign {
		name := p.Name
		if p.Kind == KindUser && strings.Contains(p.Detail, "@") {
			name = p.Detail
		}
		a.Assign = append(a.Assign, name)
	}
	return a
}

// remember copies the answers into the saved progress (what a new run offers
// as defaults). Assignments are kept once resolved, by the flow.
func remember(st *State, a *Answers) {
	if a.Tenant != "" {
		st.Tenant = a.Tenant
	}
	if a.TLS != "" {
		st.Reach = a.reach()
	}
	st.Domains = append([]string(nil), a.Domains...)
	st.AgentMode = a.Agent
	switch a.SignIn {
	case "":
	case SignInManual:
		st.Path = PathManual
	default:
		st.Path = PathGraph
		st.SignIn = SignInOptions{Method: a.SignIn, TenantID: a.TenantID, ClientID: a.ClientID, Cloud: a.Cloud}
	}
	if a.App != "" && a.App != st.App.Name {
		st.App = App{Name: a.App}
	}
	st.Mappings = nil // the defaults
	if a.Mappings != nil {
		st.Mappings = append([]string{}, a.Mappings...)
	}
	if a.MatchOnEmployeeID && st.Mappings != nil && !slices.Contains(st.Mappings, "employeeId") {
		st.Mappings = append(st.Mappings, "employeeId")
	}
	st.MatchOnEmployeeID = a.MatchOnEmployeeID
	st.ProvisionGroups = a.ProvisionGroups == nil || *a.ProvisionGroups
	st.ScopeAllUsers = a.Scope == "all"
	st.NotificationEmail = a.NotificationEmail
	if a.Credential != "" { // a re-run offers the kind chosen last
		st.Credential, st.Subject, st.Audience = a.Credential, a.Subject, a.Audience
	}
}
