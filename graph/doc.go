// Package graph creates and configures the Microsoft Entra enterprise
// application that provisions users and groups into a Roster agent, through
// Microsoft Graph (docs/graph.md): it instantiates the non-gallery
// app, assigns users and groups, saves the Tenant URL and Secret Token, runs
// Test Connection, edits the attribute mappings, starts, pauses and restarts
// the provisioning job, reads its status and provisioning logs, and
// provisions one user on demand.
//
// It is the only package that imports msgraph-sdk-go, which compiles slowly
// (minutes, ~4.5 GB); its exported API uses Roster's own small types, so no
// other package needs the SDK. Only the request builders it uses are
// imported (serviceprincipals, applicationtemplates), never the root client
// package, which halves the build (docs/graph.md#build-cost). The job's
// schema is read and written as raw JSON (package graph/mappings), because
// the SDK's typed models lose nested edits and the SDK has no PUT for it
// (docs/graph.md#schema-put, docs/graph.md#no-backing-store).
package graph
