package scimhttp_test

// Replays the Microsoft Entra provisioning request shapes recorded in
// testdata/entra/*.json (see docs/entra.md for the sources) against a
// real agent over HTTP. Each fixture names the Entra quirk it pins down in its
// "quirk" field and says whether the requests are the legacy (default), the
// aadOptscim062020 ("flag") or both forms.
//
// Fixture format:
//
//	{"quirk": "...", "form": "legacy"|"flag"|"both", "steps": [step, ...]}
//
// A step:
//
//	name           required; shown in failures
//	method, path   required; path is relative to the Tenant URL and carries the query
//	               string exactly as Entra puts it on the wire
//	headers        request headers; a GET without them carries no Content-Type and no
//	               Accept, as Entra sends it
//	body | rawBody JSON body sent as written (key order kept), or a raw string
//	auth           "" (Bearer <token>), "none" (no Authorization) or "bad" (wrong token)
//	status         required; exact HTTP status
//	expect         deep subset of the JSON response: objects recursively subset, arrays
//	               same length and element-wise subset in order, scalars equal
//	expectCount    dotted path -> exact array length
//	absent         dotted paths that must not exist in the response
//	expectHeaders  header -> required prefix of its value
//	save           variable -> dotted path of a response value
//
// ${var} in path, headers, body, rawBody and expect string values is replaced by a
// variable saved by an earlier step. Dotted paths first try the whole remaining
// string as a key (URNs contain dots), then the longest prefix before a dot;
// numeric segments index arrays.
//
// startTestAgent(t, b) (tenantURL, token string) is provided by another test file of
// this package; every fixture file gets its own agent, on each backend (SQLite and
// PostgreSQL, see onBackends).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const entraFixtureGlob = "testdata/entra/*.json"

// entraBodyContentType is what Entra puts on every POST/PATCH (docs/entra.md#media-types);
// used when a step with a body does not set Content-Type itself.
const entraBodyContentType = "application/scim+json; charset=utf-8"

// entraBadToken is sent for "auth": "bad".
const entraBadToken = "not-the-secret-token-0000000000000000"

type entraFixture struct {
	Quirk string      `json:"quirk"`
	Form  string      `json:"form"`
	Steps []entraStep `json:"steps"`
}

type entraStep struct {
	Name          string            `json:"name"`
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	Headers       map[string]string `json:"headers"`
	Body          json.RawMessage   `json:"body"`
	RawBody       *string           `json:"rawBody"`
	Auth          string            `json:"auth"`
	Status        int               `json:"status"`
	Expect        json.RawMessage   `json:"expect"`
	ExpectCount   map[string]int    `json:"expectCount"`
	Absent        []string          `json:"absent"`
	ExpectHeaders map[string]string `json:"expectHeaders"`
	Save          map[string]string `json:"save"`
}

func (s *entraStep) hasBody() bool { return len(s.Body) > 0 && string(s.Body) != "null" }

func (s *entraStep) hasExpect() bool { return len(s.Expect) > 0 && string(s.Expect) != "null" }

func (s *entraStep) checksBody() bool {
	return s.hasExpect() || len(s.ExpectCount) > 0 || len(s.Absent) > 0 || len(s.Save) > 0
}

var entraVarRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func loadEntraFixture(path string) (*entraFixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f entraFixture
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode %s: trailing data after the fixture object", filepath.Base(path))
	}
	return &f, nil
}

func entraFixtureFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(entraFixtureGlob)
	if err != nil {
		t.Fatalf("glob %s: %v", entraFixtureGlob, err)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures match %s", entraFixtureGlob)
	}
	sort.Strings(files)
	return files
}

func TestEntraReplay(t *testing.T) {
	onBackends(t, func(t *testing.T, b backend) {
		replayEntraFixtures(t, b)
	})
}

func replayEntraFixtures(t *testing.T, b backend) {
	for _, file := range entraFixtureFiles(t) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			f, err := loadEntraFixture(file)
			if err != nil {
				t.Fatal(err)
			}
			tenantURL, token := startTestAgent(t, b)
			r := &entraReplayer{
				file:   name,
				base:   strings.TrimRight(tenantURL, "/"),
				token:  token,
				vars:   map[string]string{},
				client: entraHTTPClient(),
			}
			for i := range f.Steps {
				r.run(t, i, &f.Steps[i])
			}
		})
	}
}

// entraHTTPClient does not follow redirects: Entra's engine expects answers at the
// URLs it calls, and a redirect is a finding in itself.
func entraHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type entraReplayer struct {
	file   string
	base   string
	token  string
	vars   map[string]string
	client *http.Client
}

func (r *entraReplayer) run(t *testing.T, i int, s *entraStep) {
	t.Helper()
	where := fmt.Sprintf("%s step %d %q", r.file, i+1, s.Name)

	path, err := r.substPath(s.Path)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", where, s.Method, s.Path, err)
	}
	where = fmt.Sprintf("%s: %s %s", where, s.Method, path)

	var body []byte
	switch {
	case s.hasBody():
		text, err := r.subst(string(s.Body), entraJSONStringEscape)
		if err != nil {
			t.Fatalf("%s: body: %v", where, err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(text)); err != nil {
			t.Fatalf("%s: body after substitution is not JSON: %v", where, err)
		}
		body = buf.Bytes()
	case s.RawBody != nil:
		text, err := r.subst(*s.RawBody, nil)
		if err != nil {
			t.Fatalf("%s: rawBody: %v", where, err)
		}
		body = []byte(text)
	}

	var reqBody io.Reader
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	req, err := http.NewRequest(s.Method, r.base+path, reqBody)
	if err != nil {
		t.Fatalf("%s: build request: %v", where, err)
	}
	for k, v := range s.Headers {
		v, err := r.subst(v, nil)
		if err != nil {
			t.Fatalf("%s: header %s: %v", where, k, err)
		}
		req.Header.Set(k, v)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", entraBodyContentType)
	}
	switch s.Auth {
	case "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	case "bad":
		req.Header.Set("Authorization", "Bearer "+entraBadToken)
	case "none":
	default:
		t.Fatalf("%s: unknown auth %q", where, s.Auth)
	}

	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: read response: %v", where, err)
	}

	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if resp.StatusCode != s.Status {
		fail("status: got %d, want %d", resp.StatusCode, s.Status)
	}
	for k, want := range s.ExpectHeaders {
		if got := resp.Header.Get(k); !strings.HasPrefix(got, want) {
			fail("header %s: got %q, want prefix %q", k, got, want)
		}
	}

	if len(errs) == 0 && s.checksBody() {
		if resp.StatusCode == http.StatusNoContent {
			fail("fixture checks the body of a 204 response, which has none")
		} else {
			var doc any
			if err := json.Unmarshal(respBody, &doc); err != nil {
				fail("response body is not JSON: %v", err)
			} else {
				errs = append(errs, r.checkBody(s, doc)...)
			}
		}
	}

	if len(errs) > 0 {
		t.Fatalf("%s\n  %s\n  response %d %s\n%s", where, strings.Join(errs, "\n  "),
			resp.StatusCode, resp.Header.Get("Content-Type"), entraShowBody(respBody))
	}
}

func (r *entraReplayer) checkBody(s *entraStep, doc any) []string {
	var errs []string
	if s.hasExpect() {
		var want any
		if err := json.Unmarshal(s.Expect, &want); err != nil {
			return []string{fmt.Sprintf("expect is not JSON: %v", err)}
		}
		want, err := r.substValues(want)
		if err != nil {
			return []string{fmt.Sprintf("expect: %v", err)}
		}
		errs = append(errs, entraSubset("", want, doc)...)
	}
	for _, p := range entraSortedKeys(s.ExpectCount) {
		want := s.ExpectCount[p]
		v, ok := entraLookup(doc, p)
		arr, isArr := v.([]any)
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("expectCount %s: missing, want an array of %d", p, want))
		case !isArr:
			errs = append(errs, fmt.Sprintf("expectCount %s: got %s, want an array of %d", p, entraJSON(v), want))
		case len(arr) != want:
			errs = append(errs, fmt.Sprintf("expectCount %s: got %d elements, want %d", p, len(arr), want))
		}
	}
	for _, p := range s.Absent {
		if v, ok := entraLookup(doc, p); ok {
			errs = append(errs, fmt.Sprintf("absent %s: present with %s", p, entraJSON(v)))
		}
	}
	for _, name := range entraSortedKeys(s.Save) {
		p := s.Save[name]
		v, ok := entraLookup(doc, p)
		if !ok {
			errs = append(errs, fmt.Sprintf("save %s from %s: missing", name, p))
			continue
		}
		switch v := v.(type) {
		case string:
			if v == "" {
				errs = append(errs, fmt.Sprintf("save %s from %s: empty string", name, p))
			}
			r.vars[name] = v
		case float64:
			r.vars[name] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			r.vars[name] = strconv.FormatBool(v)
		default:
			errs = append(errs, fmt.Sprintf("save %s from %s: got %s, want a scalar", name, p, entraJSON(v)))
		}
	}
	return errs
}

// subst replaces ${var} in s; escape, when not nil, is applied to each value.
func (r *entraReplayer) subst(s string, escape func(string) string) (string, error) {
	var missing []string
	out := entraVarRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := r.vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		if escape != nil {
			return escape(v)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("variables not saved by an earlier step: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// substPath escapes substituted values for where they land: path segment before
// the '?', form-encoded query value after it.
func (r *entraReplayer) substPath(p string) (string, error) {
	pathPart, query, hasQuery := strings.Cut(p, "?")
	pathPart, err := r.subst(pathPart, url.PathEscape)
	if err != nil {
		return "", err
	}
	if !hasQuery {
		return pathPart, nil
	}
	query, err = r.subst(query, url.QueryEscape)
	if err != nil {
		return "", err
	}
	return pathPart + "?" + query, nil
}

func (r *entraReplayer) substValues(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return r.subst(v, nil)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, err := r.substValues(x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := r.substValues(x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	}
	return v, nil
}

// entraJSONStringEscape escapes s for use inside a JSON string literal.
func entraJSONStringEscape(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := strings.TrimSuffix(buf.String(), "\n")
	return out[1 : len(out)-1]
}

// entraSubset reports every place where got does not contain want.
func entraSubset(path string, want, got any) []string {
	at := path
	if at == "" {
		at = "(body)"
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %s, want an object %s", at, entraJSON(got), entraJSON(want))}
		}
		var errs []string
		for _, k := range entraSortedKeys(w) {
			child := k
			if path != "" {
				child = path + "." + k
			}
			gv, ok := g[k]
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: missing, want %s", child, entraJSON(w[k])))
				continue
			}
			errs = append(errs, entraSubset(child, w[k], gv)...)
		}
		return errs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %s, want an array %s", at, entraJSON(got), entraJSON(want))}
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %d elements %s, want %d %s", at, len(g), entraJSON(got), len(w), entraJSON(want))}
		}
		var errs []string
		for i := range w {
			errs = append(errs, entraSubset(fmt.Sprintf("%s.%d", path, i), w[i], g[i])...)
		}
		return errs
	default:
		// Scalars: string, float64, bool or nil; types must agree ("False" is not false).
		if want != got {
			return []string{fmt.Sprintf("%s: got %s, want %s", at, entraJSON(got), entraJSON(want))}
		}
		return nil
	}
}

// entraLookup resolves a dotted path in a decoded JSON document. At an object the
// whole remaining path is tried as a key first, then each prefix ending before a
// dot, longest first (so "urn:…:2.0:User.manager" works); at an array the next
// segment must be an index.
func entraLookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	switch x := v.(type) {
	case map[string]any:
		if val, ok := x[path]; ok {
			return val, true
		}
		for i := len(path) - 1; i > 0; i-- {
			if path[i] != '.' {
				continue
			}
			if val, ok := x[path[:i]]; ok {
				if res, ok := entraLookup(val, path[i+1:]); ok {
					return res, true
				}
			}
		}
	case []any:
		seg, rest, _ := strings.Cut(path, ".")
		n, err := strconv.Atoi(seg)
		if err != nil || n < 0 || n >= len(x) {
			return nil, false
		}
		return entraLookup(x[n], rest)
	}
	return nil, false
}

func entraSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func entraJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

func entraShowBody(b []byte) string {
	const limit = 8 << 10
	if len(b) == 0 {
		return "  (empty body)"
	}
	s := string(b)
	if len(s) > limit {
		s = s[:limit] + "… (truncated)"
	}
	return "  body: " + s
}

// TestFixturesWellFormed checks every fixture without a server: required fields,
// known values, and that each ${var} is saved by an earlier step.
func TestFixturesWellFormed(t *testing.T) {
	nameRE := regexp.MustCompile(`^[0-9]{2}_[a-z0-9_]+\.json$`)
	methods := map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}
	forms := map[string]bool{"legacy": true, "flag": true, "both": true}
	for _, file := range entraFixtureFiles(t) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			if !nameRE.MatchString(name) {
				t.Errorf("file name %q does not look like NN_snake_case.json", name)
			}
			f, err := loadEntraFixture(file)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(f.Quirk) == "" {
				t.Errorf("quirk is empty")
			}
			if !forms[f.Form] {
				t.Errorf("form %q, want legacy, flag or both", f.Form)
			}
			if len(f.Steps) == 0 {
				t.Fatalf("no steps")
			}
			saved := map[string]bool{}
			names := map[string]int{}
			for i := range f.Steps {
				s := &f.Steps[i]
				where := fmt.Sprintf("step %d %q", i+1, s.Name)
				if s.Name == "" {
					t.Errorf("%s: name is empty", where)
				} else if j, dup := names[s.Name]; dup {
					t.Errorf("%s: same name as step %d", where, j)
				} else {
					names[s.Name] = i + 1
				}
				if !methods[s.Method] {
					t.Errorf("%s: method %q", where, s.Method)
				}
				if !strings.HasPrefix(s.Path, "/") {
					t.Errorf("%s: path %q does not start with /", where, s.Path)
				}
				if s.Status < 100 || s.Status > 599 {
					t.Errorf("%s: status %d", where, s.Status)
				}
				if s.hasBody() && s.RawBody != nil {
					t.Errorf("%s: both body and rawBody", where)
				}
				if (s.hasBody() || s.RawBody != nil) && (s.Method == "GET" || s.Method == "DELETE") {
					t.Errorf("%s: %s with a body", where, s.Method)
				}
				if s.Auth != "" && s.Auth != "none" && s.Auth != "bad" {
					t.Errorf("%s: auth %q, want none or bad", where, s.Auth)
				}
				if s.Status == http.StatusNoContent && s.checksBody() {
					t.Errorf("%s: expects 204 but checks the body", where)
				}
				if s.hasExpect() {
					var v any
					if err := json.Unmarshal(s.Expect, &v); err != nil {
						t.Errorf("%s: expect: %v", where, err)
					}
				}
				for p, n := range s.ExpectCount {
					if p == "" || n < 0 {
						t.Errorf("%s: expectCount %q: %d", where, p, n)
					}
				}
				for _, p := range s.Absent {
					if p == "" {
						t.Errorf("%s: empty absent path", where)
					}
				}

				used := map[string]bool{}
				collect := func(text string) {
					for _, m := range entraVarRE.FindAllStringSubmatch(text, -1) {
						used[m[1]] = true
					}
				}
				collect(s.Path)
				for _, v := range s.Headers {
					collect(v)
				}
				if s.hasBody() {
					collect(string(s.Body))
				}
				if s.RawBody != nil {
					collect(*s.RawBody)
				}
				if s.hasExpect() {
					collect(string(s.Expect))
				}
				for _, v := range entraSortedKeys(used) {
					if !saved[v] {
						t.Errorf("%s: uses ${%s} before any step saves it", where, v)
					}
				}
				for v, p := range s.Save {
					if !entraVarRE.MatchString("${" + v + "}") {
						t.Errorf("%s: bad variable name %q", where, v)
					}
					if p == "" {
						t.Errorf("%s: save %s has an empty path", where, v)
					}
					saved[v] = true
				}
			}
		})
	}
}

// TestEntraReplayHelpers pins the matching rules the fixtures rely on.
func TestEntraReplayHelpers(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{
		"id": "u1",
		"active": false,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1"}},
		"Resources": [{"id": "a", "members": [{"value": "x"}]}],
		"name.givenName": "literal"
	}`), &doc); err != nil {
		t.Fatal(err)
	}
	lookups := []struct {
		path string
		want any
		ok   bool
	}{
		{"id", "u1", true},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager.value", "m1", true},
		{"Resources.0.id", "a", true},
		{"Resources.0.members.0.value", "x", true},
		{"Resources.1.id", nil, false},
		{"Resources.0.missing", nil, false},
		{"name.givenName", "literal", true},
		{"active.x", nil, false},
	}
	for _, tc := range lookups {
		got, ok := entraLookup(doc, tc.path)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("entraLookup(%q) = %v, %v; want %v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}

	subsets := []struct {
		want string
		ok   bool
	}{
		{`{"id": "u1"}`, true},
		{`{"active": false}`, true},
		{`{"active": "False"}`, false},
		{`{"Resources": [{"id": "a"}]}`, true},
		{`{"Resources": []}`, false},
		{`{"Resources": [{"id": "a"}, {"id": "b"}]}`, false},
		{`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1"}}}`, true},
		{`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "m1"}}`, false},
		{`{"Id": "u1"}`, false},
	}
	for _, tc := range subsets {
		var want any
		if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
			t.Fatal(err)
		}
		errs := entraSubset("", want, doc)
		if (len(errs) == 0) != tc.ok {
			t.Errorf("entraSubset(%s) errors %q; want ok=%v", tc.want, errs, tc.ok)
		}
	}

	var num any
	_ = json.Unmarshal([]byte(`{"totalResults": 1}`), &num)
	var wantNum any
	_ = json.Unmarshal([]byte(`{"totalResults": 1.0}`), &wantNum)
	if errs := entraSubset("", wantNum, num); len(errs) != 0 {
		t.Errorf("numbers compare as float64: %q", errs)
	}

	r := &entraReplayer{vars: map[string]string{"id": `a b"c/d`}}
	if got, err := r.substPath(`/Users/${id}?filter=id+eq+%22${id}%22`); err != nil ||
		got != `/Users/a%20b%22c%2Fd?filter=id+eq+%22a+b%22c%2Fd%22` {
		t.Errorf("substPath = %q, %v", got, err)
	}
	if got, err := r.subst(`{"value":"${id}"}`, entraJSONStringEscape); err != nil || got != `{"value":"a b\"c/d"}` {
		t.Errorf("subst body = %q, %v", got, err)
	}
	if _, err := r.subst(`${nope}`, nil); err == nil {
		t.Errorf("subst of an unsaved variable did not fail")
	}
}
