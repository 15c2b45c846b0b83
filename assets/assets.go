// Package assets embeds the non-Go files shipped inside the roster binary.
package assets

import _ "embed"

// ExampleCurl is a short, copyable walk-through of the SCIM API with curl,
// shown at the end of `roster agent --help`.
//
//go:embed curl-example.txt
var ExampleCurl string

// ExampleConfig is the agent's example configuration file, every setting
// with its default and a comment; `roster config example` prints it.
//
//go:embed config.example.json
var ExampleConfig string

// SystemdUnit is the text/template of the hardened systemd unit that
// `roster service install` writes (fields ExecStart, User, Group); the
// agent/sysservice package renders it.
//
//go:embed roster.service
var SystemdUnit string
