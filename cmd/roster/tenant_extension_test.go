package main

import (
	"strings"
	"testing"
)

func TestTenantExtension(t *testing.T) {
	const attr = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode"
	dir := t.TempDir()
	if _, _, err := runCLI(t, dir, "tenant", "add", "acme"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, dir, "tenant", "extension", "list", "acme")
	if err != nil || !strings.Contains(out, "no extension attributes") {
		t.Errorf("empty list: got %q, %v", out, err)
	}
	if out, _, err = runCLI(t, dir, "tenant", "extension", "add", "acme", attr, "--type", "string"); err != nil || !strings.Contains(out, "accepts "+attr) {
		t.Fatalf("add: got %q, %v", out, err)
	}
	out, _, err = runCLI(t, dir, "tenant", "extension", "list", "acme", "--json")
	if err != nil || !strings.Contains(out, `"name": "costCode"`) || !strings.Contains(out, `"type": "string"`) {
		t.Errorf("list --json: got %s, %v", out, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "acme", attr}, "already declared"},
		{[]string{"add", "acme", "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:x", "--type", "complex"}, "use one of"},
		{[]string{"add", "acme", "costCode"}, "not an extension attribute"},
		{[]string{"add", "nope", attr}, "roster tenant list"},
		{[]string{"remove", "acme", attr + "x"}, "not declared"},
	} {
		if _, _, err := runCLI(t, dir, append([]string{"tenant", "extension"}, tt.args...)...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("tenant extension %v: got %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
	if _, _, err := runCLI(t, dir, "tenant", "extension", "remove", "acme", attr); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := runCLI(t, dir, "tenant", "extension", "list", "acme"); !strings.Contains(out, "no extension attributes") {
		t.Errorf("after remove: got %q", out)
	}
}
