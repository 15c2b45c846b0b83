// Package graph will be the only importer of msgraph-sdk-go: creating and
// configuring the Entra enterprise application, and provisioning on demand.
// It is not built yet. Its exported API will use Roster's own small types, so
// the slow-compiling SDK stays out of every other package (design.md).
package graph
