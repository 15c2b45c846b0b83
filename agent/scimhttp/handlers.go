package scimhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/filter"
	"github.com/rosterhq/roster/agent/scim/schema"
	"github.com/rosterhq/roster/store"
)

// readBody reads at most MaxBodyBytes; larger bodies get 413.
func readBody(w http.ResponseWriter, r *request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, scim.Errorf(http.StatusRequestEntityTooLarge, "", "request body is larger than %d bytes", MaxBodyBytes)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || (err != nil && r.Context().Err() != nil) {
		return nil, fmt.Errorf("%w: %w", errClientGone, err)
	}
	if err != nil {
		return nil, scim.BadRequest(scim.InvalidSyntax, "could not read the request body: %v", err)
	}
	if err := checkBody(body); err != nil {
		return nil, err
	}
	return body, nil
}

// errClientGone is the failure of a request whose client went away before
// it had sent the whole body.
var errClientGone = errors.New("the client went away while sending the body")

// decodeObject parses a JSON object body. Content-Type is not checked:
// Entra sends application/scim+json, other clients application/json or nothing.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, scim.BadRequest(scim.InvalidSyntax, "the body is not a JSON object: %v", err)
	}
	if doc == nil {
		return nil, scim.BadRequest(scim.InvalidSyntax, "the body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, scim.BadRequest(scim.InvalidSyntax, "unexpected data after the JSON object")
	}
	return doc, nil
}

func requireWrite(r *request) error {
	if r.p.ReadOnly {
		return scim.Errorf(http.StatusForbidden, "", "this Secret Token is read-only; issue a read-write token with `roster token issue` for provisioning")
	}
	return nil
}

func intParam(q *query, name string, def int) (int, error) {
	s := strings.TrimSpace(q.get(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, scim.BadRequest(scim.InvalidValue, "%s must be an integer, not %q", name, s)
	}
	return n, nil
}

// projection parses the attributes and excludedAttributes lists of a
// request. Each entry must be an attribute path (RFC 7644 §3.10; a value
// filter is allowed and means the attribute it filters): else 400
// invalidSyntax.
func projection(rt *schema.ResourceType, attributes, excluded string) (schema.Projection, error) {
	for _, list := range [2]string{attributes, excluded} {
		for list != "" {
			var n string
			n, list, _ = strings.Cut(list, ",")
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			if _, err := filter.ParsePath(n); err != nil {
				return schema.Projection{}, scim.BadRequest(scim.InvalidSyntax, "attributes and excludedAttributes take attribute paths; %q is not one: %s", n, detailOf(err))
			}
		}
	}
	return schema.NewProjection(rt, attributes, excluded), nil
}

// checkProjection refuses a write whose attributes or excludedAttributes
// (which shape its response) are malformed, before anything is written.
func (s *Server) checkProjection(r *request, kind store.Kind) error {
	_, err := projection(s.dir.ResourceType(r.call, kind), r.q.get("attributes"), r.q.get("excludedAttributes"))
	return err
}

func detailOf(err error) string {
	var se *scim.Error
	if errors.As(err, &se) {
		return se.Detail
	}
	return err.Error()
}

func (s *Server) list(w http.ResponseWriter, r *request, kind store.Kind) error {
	q := &r.q
	start, err := intParam(q, "startIndex", 1)
	if err != nil {
		return err
	}
	count, err := intParam(q, "count", -1)
	if err != nil {
		return err
	}
	if count < 0 && q.get("count") != "" {
		count = 0 // RFC 7644 §3.4.2.4: a negative count is 0; -1 means "absent" here
	}
	proj, err := projection(s.dir.ResourceType(r.call, kind), q.get("attributes"), q.get("excludedAttributes"))
	if err != nil {
		return err
	}
	p := directory.ListParams{
		Filter: q.get("filter"), SortBy: q.get("sortBy"), SortOrder: q.get("sortOrder"),
		StartIndex: start, Count: count, Projection: proj,
	}
	if cur, ok := q.lookup("cursor"); ok { // RFC 9865 cursor pagination
		p.Cursor = &cur
	}
	resp, err := s.dir.List(r.Context(), r.call, kind, p)
	if err != nil {
		return err
	}
	return writeList(w, resp)
}

// writeList writes a ListResponse. Resources rendered as JSON already
// (json.RawMessage, compact by construction) are written as they are, one
// after another, without copying them into one body first: encoding/json
// would scan and re-compact each of them.
func writeList(w http.ResponseWriter, resp *scim.ListResponse) error {
	parts := make([][]byte, len(resp.Resources))
	var head [160]byte
	h := append(head[:0], `{"schemas":["`+scim.MessageListResponse+`"]`...)
	if !resp.TotalUnknown {
		h = append(h, `,"totalResults":`...)
		h = strconv.AppendInt(h, int64(resp.TotalResults), 10)
	}
	if !resp.Cursor {
		h = append(h, `,"startIndex":`...)
		h = strconv.AppendInt(h, int64(resp.StartIndex), 10)
	}
	if resp.NextCursor != "" { // unreserved characters only (RFC 9865 §2)
		h = append(h, `,"nextCursor":"`+resp.NextCursor+`"`...)
	}
	h = append(h, `,"itemsPerPage":`...)
	h = strconv.AppendInt(h, int64(resp.ItemsPerPage), 10)
	h = append(h, `,"Resources":[`...)
	const tail = "]}\n"
	size := len(h) + len(tail)
	for i, res := range resp.Resources {
		if raw, ok := res.(json.RawMessage); ok {
			parts[i] = raw
		} else {
			b, err := marshal(res)
			if err != nil {
				return err
			}
			parts[i] = b
		}
		size += len(parts[i])
		if i > 0 {
			size++ // the comma
		}
	}
	w.Header().Set("Content-Type", scim.MediaType)
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	// Write errors mean the client went away; there is no one to tell.
	w.Write(h) //nolint:errcheck
	for i, part := range parts {
		if i > 0 {
			w.Write(comma) //nolint:errcheck
		}
		w.Write(part) //nolint:errcheck
	}
	io.WriteString(w, tail) //nolint:errcheck
	return nil
}

var comma = []byte{','}

// marshal is json.Marshal without HTML escaping (SCIM bodies are not HTML).
func marshal(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// searchRequest is the body of POST /.search (RFC 7644 §3.4.3).
type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             *string  `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
	Cursor             *string  `json:"cursor"` // RFC 9865 §3
}

// search answers POST .search on a resource type, or at the service root
// (kind "") across users and groups (RFC 7644 §3.4.3).
func (s *Server) search(w http.ResponseWriter, r *request, kind store.Kind) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var sr searchRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		return scim.BadRequest(scim.InvalidSyntax, "the body is not a SearchRequest: %v", err)
	}
	p := directory.ListParams{SortBy: sr.SortBy, SortOrder: sr.SortOrder, StartIndex: 1, Count: -1}
	if sr.Filter != nil {
		if strings.TrimSpace(*sr.Filter) == "" {
			return scim.BadRequest(scim.InvalidFilter, "the filter is empty; leave it out to list every resource")
		}
		p.Filter = *sr.Filter
	}
	if sr.StartIndex != nil {
		p.StartIndex = *sr.StartIndex
	}
	if sr.Count != nil {
		p.Count = max(*sr.Count, 0)
	}
	p.Cursor = sr.Cursor
	attrs, excl := strings.Join(sr.Attributes, ","), strings.Join(sr.ExcludedAttributes, ",")
	var resp *scim.ListResponse
	if kind == "" {
		users, groups := p, p
		if users.Projection, err = projection(s.dir.ResourceType(r.call, store.KindUser), attrs, excl); err != nil {
			return err
		}
		if groups.Projection, err = projection(s.dir.ResourceType(r.call, store.KindGroup), attrs, excl); err != nil {
			return err
		}
		resp, err = s.dir.ListAll(r.Context(), r.call, users, groups)
	} else {
		if p.Projection, err = projection(s.dir.ResourceType(r.call, kind), attrs, excl); err != nil {
			return err
		}
		resp, err = s.dir.List(r.Context(), r.call, kind, p)
	}
	if err != nil {
		return err
	}
	return writeList(w, resp)
}

func (s *Server) writeResource(w http.ResponseWriter, r *request, kind store.Kind, status int, got *directory.Got) {
	q := &r.q
	proj, err := projection(s.dir.ResourceType(r.call, kind), q.get("attributes"), q.get("excludedAttributes"))
	if err != nil {
		proj = schema.Projection{} // refused before the write (checkProjection)
	}
	w.Header().Set("ETag", directory.ETag(got.Version))
	if status == http.StatusCreated {
		if meta, ok := got.Doc["meta"].(map[string]any); ok {
			if loc, ok := meta["location"].(string); ok {
				w.Header().Set("Location", loc)
			}
		}
	}
	writeJSON(w, status, proj.Apply(s.dir.ResourceType(r.call, kind), got.Doc))
}

func (s *Server) create(w http.ResponseWriter, r *request, kind store.Kind) error {
	if err := requireWrite(r); err != nil {
		return err
	}
	if err := s.checkProjection(r, kind); err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	doc, err := decodeObject(body)
	if err != nil {
		return err
	}
	got, err := s.dir.Create(r.Context(), r.call, kind, doc)
	if err != nil {
		return err
	}
	s.writeResource(w, r, kind, http.StatusCreated, got)
	return nil
}

func (s *Server) get(w http.ResponseWriter, r *request, kind store.Kind, id string) error {
	q := &r.q
	proj, err := projection(s.dir.ResourceType(r.call, kind), q.get("attributes"), q.get("excludedAttributes"))
	if err != nil {
		return err
	}
	got, err := s.dir.Get(r.Context(), r.call, kind, id, proj)
	if err != nil {
		return err
	}
	etag := directory.ETag(got.Version)
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == "*" || strings.Contains(inm, strings.TrimPrefix(etag, "W/"))) {
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("ETag", etag)
	writeJSON(w, http.StatusOK, got.Doc)
	return nil
}

func (s *Server) replace(w http.ResponseWriter, r *request, kind store.Kind, id string) error {
	if err := requireWrite(r); err != nil {
		return err
	}
	if err := s.checkProjection(r, kind); err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	doc, err := decodeObject(body)
	if err != nil {
		return err
	}
	got, err := s.dir.Replace(r.Context(), r.call, kind, id, doc, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	s.writeResource(w, r, kind, http.StatusOK, got)
	return nil
}

func (s *Server) patch(w http.ResponseWriter, r *request, kind store.Kind, id string) error {
	if err := requireWrite(r); err != nil {
		return err
	}
	if err := s.checkProjection(r, kind); err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	got, err := s.dir.Patch(r.Context(), r.call, kind, id, body, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	// Groups answer 204: returning all members is "not advisable"
	// (docs/entra.md#groups-are-created-empty); users answer 200 with the
	// resource unless the tenant asks for 204.
	if kind == store.KindGroup || r.p.Tenant.Settings.PatchUserNoContent {
		w.Header().Set("ETag", directory.ETag(got.Version))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.writeResource(w, r, kind, http.StatusOK, got)
	return nil
}

func (s *Server) delete(w http.ResponseWriter, r *request, kind store.Kind, id string) error {
	if err := requireWrite(r); err != nil {
		return err
	}
	if err := s.dir.Delete(r.Context(), r.call, kind, id, r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// discovery serves /Schemas, /ResourceTypes and /ServiceProviderConfig from
// the same definitions that validate requests (RFC 7644 §4).
func (s *Server) discovery(w http.ResponseWriter, r *request, seg []string) error {
	base := r.call.BaseURL
	switch {
	case strings.EqualFold(seg[0], "ServiceProviderConfig"):
		if len(seg) > 1 {
			break
		}
		writeJSON(w, http.StatusOK, schema.ServiceProviderConfig(base, schema.Capabilities{MaxResults: directory.MaxResults, MaxPayloadSize: MaxBodyBytes,
			DefaultCursorPage: directory.DefaultCursorPage}))
		return nil
	case strings.EqualFold(seg[0], "Schemas"):
		schemas := schema.SchemasOf(s.dir.ResourceTypes(r.call))
		docs := make([]discoveryDoc, len(schemas))
		for i, sc := range schemas {
			docs[i] = discoveryDoc{sc.ID, sc.Document(base)}
		}
		return serveDiscovery(w, seg, "schema", docs)
	case strings.EqualFold(seg[0], "ResourceTypes"):
		types := s.dir.ResourceTypes(r.call)
		docs := make([]discoveryDoc, len(types))
		for i, rt := range types {
			docs[i] = discoveryDoc{rt.ID, rt.Document(base)}
		}
		return serveDiscovery(w, seg, "resource type", docs)
	}
	return scim.Errorf(http.StatusNotFound, "", "no such endpoint: %s", r.URL.Path)
}

type discoveryDoc struct {
	id  string
	doc map[string]any
}

// serveDiscovery answers /Schemas and /ResourceTypes: the list, or one by id.
func serveDiscovery(w http.ResponseWriter, seg []string, what string, docs []discoveryDoc) error {
	if len(seg) == 1 {
		list := make([]any, len(docs))
		for i, d := range docs {
			list[i] = d.doc
		}
		return writeList(w, &scim.ListResponse{Schemas: []string{scim.MessageListResponse}, TotalResults: len(list), StartIndex: 1, ItemsPerPage: len(list), Resources: list})
	}
	for _, d := range docs {
		if strings.EqualFold(d.id, seg[1]) {
			writeJSON(w, http.StatusOK, d.doc)
			return nil
		}
	}
	return scim.Errorf(http.StatusNotFound, "", "no %s %q", what, seg[1])
}
