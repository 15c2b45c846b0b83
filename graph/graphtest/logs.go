package graphtest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// logEntry is one provisioningObjectSummary (docs/graph.md#provisioning-logs).
type logEntry struct {
	at  time.Time
	obj map[string]any
}

// finishOnDemand answers a provisionOnDemand call and, as the real service
// does, writes its outcome to the provisioning logs.
func (s *Server) finishOnDemand(w http.ResponseWriter, spID, spName string, pair map[string]any) {
	var v map[string]any
	if raw, _ := pair["value"].(string); json.Unmarshal([]byte(raw), &v) == nil {
		at := time.Now().UTC()
		action, _ := v["action"].(string)
		obj := map[string]any{
			"id":                     newGUID(),
			"activityDateTime":       at.Format(time.RFC3339Nano),
			"jobId":                  v["jobId"],
			"cycleId":                v["cycleId"],
			"changeId":               v["changeId"],
			"provisioningAction":     strings.ToLower(action),
			"provisioningStatusInfo": statusInfo(v["statusInfo"]),
			"provisioningSteps":      v["provisioningSteps"],
			"modifiedProperties":     v["modifiedProperties"],
			"servicePrincipal":       map[string]any{"id": spID, "displayName": spName},
			"sourceIdentity":         v["sourceIdentity"],
			"targetIdentity":         v["targetIdentity"],
			"sourceSystem":           v["sourceSystem"],
			"targetSystem":           v["targetSystem"],
			"initiatedBy":            map[string]any{"id": "", "displayName": "Provision on demand", "initiatorType": "user"},
			"durationInMilliseconds": 100,
		}
		s.mu.Lock()
		s.logs = append(s.logs, logEntry{at: at, obj: obj})
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, pair)
}

// statusInfo turns the on-demand statusInfo into provisioningStatusInfo:
// status success|failure|skipped, with errorInformation on failure.
func statusInfo(v any) map[string]any {
	m, _ := v.(map[string]any)
	st, _ := m["status"].(string)
	out := map[string]any{"status": strings.ToLower(st), "errorInformation": nil}
	if code, _ := m["errorCode"].(string); code != "" {
		reason, _ := m["reason"].(string)
		out["errorInformation"] = map[string]any{"errorCode": code, "reason": reason, "errorCategory": "NonServiceFailure", "recommendedAction": nil}
	}
	return out
}

var (
	logJobFilter  = regexp.MustCompile(`(?i)^jobId eq '([^']*)'$`)
	logTimeFilter = regexp.MustCompile(`(?i)^activityDateTime (ge|gt) (\S+)$`)
	logSPFilter   = regexp.MustCompile(`(?i)^servicePrincipal/id eq '([^']*)'$`)
)

// listProvisioningLogs serves GET /auditLogs/provisioning, newest first,
// with $filter clauses joined by "and": jobId eq '…', servicePrincipal/id
// eq '…', activityDateTime ge|gt <ISO time>; and $top (default 50).
func (s *Server) listProvisioningLogs(w http.ResponseWriter, r *http.Request, _ map[string]string, _ []byte) {
	q := r.URL.Query()
	var preds []func(logEntry) bool
	if f := strings.TrimSpace(q.Get("$filter")); f != "" {
		for _, c := range strings.Split(f, " and ") {
			c = strings.TrimSpace(strings.Trim(strings.TrimSpace(c), "()"))
			switch {
			case logJobFilter.MatchString(c):
				want := logJobFilter.FindStringSubmatch(c)[1]
				preds = append(preds, func(e logEntry) bool { return e.obj["jobId"] == want })
			case logSPFilter.MatchString(c):
				want := logSPFilter.FindStringSubmatch(c)[1]
				preds = append(preds, func(e logEntry) bool { return e.obj["servicePrincipal"].(map[string]any)["id"] == want })
			case logTimeFilter.MatchString(c):
				m := logTimeFilter.FindStringSubmatch(c)
				t, err := time.Parse(time.RFC3339Nano, m[2])
				if err != nil {
					graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: cannot parse '"+m[2]+"' as a date.")
					return
				}
				strict := strings.EqualFold(m[1], "gt")
				preds = append(preds, func(e logEntry) bool { return e.at.After(t) || (!strict && e.at.Equal(t)) })
			default:
				graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause (the fake supports jobId, servicePrincipal/id and activityDateTime): "+c)
				return
			}
		}
	}
	top := 50
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid $top value.")
			return
		}
		top = n
	}
	s.mu.Lock()
	entries := append([]logEntry(nil), s.logs...)
	s.mu.Unlock()
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at.After(entries[j].at) })
	out := []map[string]any{}
	for _, e := range entries {
		ok := true
		for _, p := range preds {
			ok = ok && p(e)
		}
		if ok && len(out) < top {
			out = append(out, e.obj)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": s.context("auditLogs/provisioning"), "value": out})
}

// Throttle makes the next n requests answer 429 Too Many Requests with a
// Retry-After of retryAfter (whole seconds), as Graph does when a client
// exceeds its limits (provisionOnDemand allows 5 requests per 10 seconds).
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.retryAfter = n, retryAfter
}

// Forbid makes requests whose method is method (or any, if "") and whose
// path after /v1.0/ contains pathPart answer 403 Authorization_RequestDenied,
// as Graph does when the caller lacks a permission or directory role.
func (s *Server) Forbid(method, pathPart string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden = append(s.forbidden, [2]string{method, pathPart})
}

// limited answers throttled or forbidden requests; it reports whether it did.
func (s *Server) limited(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	retry := s.retryAfter
	forbidden := false
	for _, f := range s.forbidden {
		if (f[0] == "" || f[0] == r.Method) && strings.Contains(r.URL.Path, f[1]) {
			forbidden = true
		}
	}
	s.mu.Unlock()
	switch {
	case throttled:
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())))
		graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests. Retry after the time in the Retry-After header.")
		return true
	case forbidden:
		graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return true
	}
	return false
}
