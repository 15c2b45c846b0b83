package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rosterhq/roster"

// TestImportRules enforces the layout rules of docs/architecture.md#import-rules with `go list -deps`:
// a package's whole dependency closure, not only its direct imports.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps,Imports,Standard", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Deps       []string
		Imports    []string
		Standard   bool
	}
	deps := map[string][]string{}
	imports := map[string][]string{}
	std := map[string]bool{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		deps[p.ImportPath] = p.Deps
		imports[p.ImportPath] = p.Imports
		std[p.ImportPath] = p.Standard
	}
	in := func(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
	rules := []struct {
		name   string
		direct bool // only direct imports count (the rule is about the package's own code)
		from   func(string) bool
		banned func(dep string) bool
	}{
		{"agent never imports the TUI", false,
			func(p string) bool { return in(p, module+"/agent") },
			func(d string) bool { return in(d, module+"/tui") || in(d, "github.com/charmbracelet") }},
		{"tui never imports store or agent", false,
			func(p string) bool { return in(p, module+"/tui") },
			func(d string) bool { return in(d, module+"/store") || in(d, module+"/agent") }},
		{"agent/scim imports only the standard library and its siblings", false,
			func(p string) bool { return in(p, module+"/agent/scim") },
			func(d string) bool { return !std[d] && !in(d, module+"/agent/scim") }},
		{"protocol packages use neither net/http nor database/sql", false,
			func(p string) bool { return in(p, module+"/agent/scim") },
			func(d string) bool { return d == "net/http" || d == "database/sql" }},
		{"directory never sees *http.Request", true,
			func(p string) bool { return in(p, module+"/agent/directory") },
			func(d string) bool { return d == "net/http" }},
		{"handlers never run SQL", true,
			func(p string) bool { return in(p, module+"/agent/scimhttp") || in(p, module+"/agent/feedhttp") },
			func(d string) bool { return d == "database/sql" || in(d, "modernc.org/sqlite") }},
		{"agent/feed imports only the standard library", false,
			func(p string) bool { return in(p, module+"/agent/feed") },
			func(d string) bool { return !std[d] }},
		{"store knows nothing of HTTP or the use cases", false,
			func(p string) bool { return in(p, module+"/store") },
			func(d string) bool {
				return d == "net/http" || in(d, module+"/agent/directory") || in(d, module+"/agent/scimhttp")
			}},
		{"graph's helpers (mappings, graphapi, graphtest) stay free of the slow SDK", false,
			func(p string) bool {
				return in(p, module+"/graph/mappings") || in(p, module+"/graph/graphapi") || in(p, module+"/graph/graphtest")
			},
			func(d string) bool {
				return in(d, "github.com/microsoftgraph") || in(d, "github.com/microsoft/kiota-abstractions-go") || in(d, "github.com/Azure")
			}},
		{"the setup use cases reach Graph only through graphapi, and know no TUI", false,
			func(p string) bool { return in(p, module+"/agent/setup") },
			func(d string) bool {
				return d == module+"/graph" || in(d, module+"/tui") || in(d, "github.com/microsoftgraph") ||
					in(d, "github.com/microsoft/kiota-abstractions-go") || in(d, "github.com/Azure") || in(d, "github.com/charmbracelet")
			}},
		{"only the agent's TLS packages import certmagic", true,
			func(p string) bool { return in(p, module) && !in(p, module+"/agent/tlsserve") },
			func(d string) bool { return in(d, "github.com/caddyserver/certmagic") }},
		{"only graph imports msgraph and kiota", false,
			func(p string) bool { return in(p, module) && !in(p, module+"/graph") && !in(p, module+"/cmd") },
			func(d string) bool {
				return in(d, "github.com/microsoftgraph") || in(d, "github.com/microsoft/kiota-abstractions-go")
			}},
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			checked := 0
			for p, ds := range deps {
				if !r.from(p) {
					continue
				}
				checked++
				if r.direct {
					ds = imports[p]
				}
				for _, d := range ds {
					if r.banned(d) {
						t.Errorf("%s imports %s", p, d)
					}
				}
			}
			if checked == 0 {
				t.Errorf("the rule matched no package: the layout changed and the rule no longer checks anything")
			}
		})
	}
}
