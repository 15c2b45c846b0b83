// Package tui will hold the `roster setup` wizard (Bubble Tea): one parent
// router and one model per step. It is not built yet; everything the wizard
// will do is available today as plain subcommands (see `roster --help`).
//
// Import rule (design.md, enforced by cmd/roster's TestImportRules): tui never
// imports store or agent internals; what it persists or starts reaches it as
// interfaces implemented in cmd/roster.
package tui
