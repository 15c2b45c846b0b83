package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// notInRepo are reference files that were never part of the repository;
// code must cite docs/ (or an RFC or a public URL) instead. The names are
// built so that this file does not cite them itself.
var notInRepo = []string{
	"entra-scim" + ".md", "graph-provisioning" + ".md", "dns-tls-service" + ".md", "design" + ".md",
	"../" + "shared/", "/work/" + "shared",
}

var (
	// docCitation is a cited docs page with an optional #section.
	docCitation = regexp.MustCompile(`docs/([A-Za-z0-9_.-]+\.md)(#[A-Za-z0-9_-]+)?`)
	// mdLink is a relative Markdown link inside docs/: (page.md#section) or (#section).
	mdLink  = regexp.MustCompile(`\]\(([A-Za-z0-9_.-]+\.md)?(#[A-Za-z0-9_-]+)?\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
)

// slug is GitHub's anchor for a Markdown heading: lower case, punctuation
// other than '-' and '_' dropped, spaces turned into '-'.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the heading anchors of a Markdown text.
func anchors(md string) []string {
	var out []string
	for _, m := range heading.FindAllStringSubmatch(md, -1) {
		out = append(out, slug(m[1]))
	}
	return out
}

// citationProblems checks the Go sources (path → text) against the docs
// pages (name → Markdown): every docs/ citation names an existing page and
// section, no source names a file that is not in the repository, and every
// link between docs pages resolves.
func citationProblems(goFiles, docs map[string]string) []string {
	var probs []string
	check := func(where, page, frag string) {
		md, ok := docs[page]
		switch {
		case !ok:
			probs = append(probs, where+": docs/"+page+" does not exist")
		case frag != "" && !slices.Contains(anchors(md), strings.TrimPrefix(frag, "#")):
			probs = append(probs, where+": docs/"+page+" has no section "+frag)
		}
	}
	for path, src := range goFiles {
		for i, line := range strings.Split(src, "\n") {
			where := path + ":" + strconv.Itoa(i+1)
			for _, bad := range notInRepo {
				if strings.Contains(line, bad) {
					probs = append(probs, where+": cites "+bad+", which is not in the repository; cite docs/, an RFC or a public URL")
				}
			}
			for _, m := range docCitation.FindAllStringSubmatch(line, -1) {
				check(where, m[1], m[2])
			}
		}
	}
	for page, md := range docs {
		for _, m := range mdLink.FindAllStringSubmatch(md, -1) {
			target := m[1]
			if target == "" {
				target = page
			}
			if m[1] == "" && m[2] == "" {
				continue
			}
			if strings.HasSuffix(target, ".md") {
				check("docs/"+page, target, m[2])
			}
		}
	}
	slices.Sort(probs)
	return probs
}

// TestDocCitations fails when a .go file (or a .sql, .json or .md file,
// such as the Entra fixtures in testdata) cites a docs page or section that
// does not exist, or one of the reference files that were never in the
// repository.
func TestDocCitations(t *testing.T) {
	root := filepath.Join("..", "..")
	goFiles := map[string]string{} // every source, fixture and document
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && slices.Contains([]string{".go", ".sql", ".json", ".md"}, filepath.Ext(p)) {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			goFiles[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	entries, err := os.ReadDir(filepath.Join(root, "docs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") {
			b, err := os.ReadFile(filepath.Join(root, "docs", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			docs[e.Name()] = string(b)
		}
	}
	if len(goFiles) < 50 || len(docs) == 0 {
		t.Fatalf("found %d .go files and %d docs pages: the walk is not at the repository root", len(goFiles), len(docs))
	}
	for _, p := range citationProblems(goFiles, docs) {
		t.Error(p)
	}

	// The checker itself finds each kind of problem. The citations are built
	// from parts so that this file does not make them itself.
	d := "docs" + "/"
	bad := citationProblems(map[string]string{
		"x.go": "// see " + d + "entra.md#string-booleans and " + d + "entra.md#no-such-section\n" +
			"// and " + d + "missing.md, and " + notInRepo[0] + " §5\n",
	}, map[string]string{"entra.md": "# Entra\n## String booleans\n[x](graph.md#y)\n"})
	want := []string{
		d + "entra.md: " + d + "graph.md does not exist",
		"x.go:1: " + d + "entra.md has no section #no-such-section",
		"x.go:2: cites " + notInRepo[0] + ", which is not in the repository; cite docs/, an RFC or a public URL",
		"x.go:2: " + d + "missing.md does not exist",
	}
	if !slices.Equal(bad, want) {
		t.Errorf("citationProblems on a bad input =\n%s\nwant\n%s", strings.Join(bad, "\n"), strings.Join(want, "\n"))
	}
}
