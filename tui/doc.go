// Package tui is the `roster setup` wizard: a Bubble Tea program with one
// parent router (model) and one model per step, from the Secret Token to
// Entra provisioning a first user into the running agent.
//
// Everything the wizard does outside the terminal goes through the Backend
// interface, which cmd/roster implements over the agent, the store, the DNS
// checker and the Graph package. The same flow runs three ways: Run (the
// interactive wizard), RunPlain (line by line, when stdin is not a terminal)
// and RunAnswers (from an answers file, for automation). Its questions are
// defined once (flow.go): their order, when each applies, its default and
// its check, which runs where the answer is given in every mode.
//
// Import rule (docs/architecture.md#import-rules, enforced by cmd/roster's TestImportRules): tui never
// imports store or agent internals; what it persists or starts reaches it as
// interfaces implemented in cmd/roster.
package tui
