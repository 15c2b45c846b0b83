package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/store"
)

// This file is `roster status`: a local overview read from the store, with
// no call to Microsoft Graph, and the list of what needs attention.

// ExpiryWarning is how long before a token expires `roster status` starts
// to warn about it.
const ExpiryWarning = 30 * 24 * time.Hour

// FailureWindow is how far back `roster status` counts rejected requests.
const FailureWindow = 24 * time.Hour

// AgentState says whether a running agent answered its health probes.
type AgentState struct {
	// Address is the base URL that answered, e.g. http://127.0.0.1:8080.
	Address string `json:"address,omitempty"`
	// Reachable: /healthz answered.
	Reachable bool `json:"reachable"`
	// Ready: /readyz answered 200.
	Ready bool `json:"ready"`
	// Detail says why the agent is not reachable or not ready.
	Detail string `json:"detail,omitempty"`
}

// AgentProber asks whether the agent serving this store answers.
type AgentProber func(ctx context.Context) AgentState

// Request is one provisioning event as the overview shows it.
type Request struct {
	At      time.Time `json:"time"`
	Token   string    `json:"token,omitempty"`
	Method  string    `json:"method"`
	Path    string    `json:"path"`
	Status  int       `json:"status"`
	Outcome string    `json:"outcome"`
}

func newRequest(e *store.Event) *Request {
	return &Request{At: e.At, Token: e.TokenName, Method: e.Method, Path: e.Path, Status: e.Status, Outcome: Outcome(e)}
}

// Outcome says in words how a request ended: "ok", the detail of a success
// that has one, or the SCIM error type and detail of a rejection.
func Outcome(e *store.Event) string {
	var out string
	switch {
	case e.Outcome == store.OutcomeCancelled:
		out = "cancelled: the client went away"
	case e.Status >= 400:
		if out = strings.TrimSpace(e.ScimType + " " + e.Detail); out == "" {
			out = fmt.Sprintf("status %d", e.Status)
		}
	case e.Detail != "":
		out = e.Detail
	default:
		out = "ok"
	}
	if e.Count > 1 { // failed authentications are counted per address and minute
		out += fmt.Sprintf(" (%d times in that minute)", e.Count)
	}
	return out
}

// TenantStatus is one tenant in the overview.
type TenantStatus struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Users        int    `json:"users"`
	Groups       int    `json:"groups"`
	ActiveTokens int    `json:"active_tokens"`
	// LastRequest is the newest request not made with one of the tenant's
	// app or read-only tokens: Entra's, or one rejected before its token
	// was known. Nil when there was none.
	LastRequest *Request `json:"last_request"`
	// Failures is how many requests were rejected (status 400 and above)
	// within FailureWindow; LastFailure is the newest of them.
	Failures    int      `json:"failures_24h"`
	LastFailure *Request `json:"last_failure,omitempty"`
}

// DomainAlert is an email domain that is not (or soon no longer) verified.
type DomainAlert struct {
	Tenant string             `json:"tenant"`
	Domain string             `json:"domain"`
	Status store.DomainStatus `json:"status"`
	// LapsesAt is set for a verified domain whose record has gone missing.
	LapsesAt *time.Time `json:"lapses_at,omitempty"`
	Detail   string     `json:"detail"`
}

// TokenAlert is an active token that expires within ExpiryWarning.
type TokenAlert struct {
	Tenant  string    `json:"tenant"`
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Expires time.Time `json:"expires"`
}

// Status is the local overview of `roster status`.
type Status struct {
	At       time.Time      `json:"time"`
	Agent    AgentState     `json:"agent"`
	Tenants  []TenantStatus `json:"tenants"`
	Domains  []DomainAlert  `json:"domains"`
	Expiring []TokenAlert   `json:"expiring_tokens"`
	// Webhooks are the webhook endpoints that are not delivering (FailingWebhooks).
	Webhooks []WebhookAlert `json:"webhooks"`
	// Attention lists, in sentences, what needs someone to act; empty when
	// all is well.
	Attention []string `json:"attention"`
}

// Status reads the overview at now from one snapshot of the store and asks
// probe (nil: not asked) whether the agent answers.
func (s *Service) Status(ctx context.Context, now time.Time, probe AgentProber) (*Status, error) {
	st := &Status{At: now, Tenants: []TenantStatus{}, Domains: []DomainAlert{}, Expiring: []TokenAlert{}, Webhooks: []WebhookAlert{}, Attention: []string{}}
	attend := func(format string, a ...any) { st.Attention = append(st.Attention, fmt.Sprintf(format, a...)) }
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		ts, err := tx.Tenants(now)
		if err != nil {
			return err
		}
		toks, err := tx.Tokens("")
		if err != nil {
			return err
		}
		for _, t := range ts {
			row := TenantStatus{ID: t.ID, Name: t.Name, Users: t.Users, Groups: t.Groups, ActiveTokens: t.ActiveTokens}
			var own []string // the tenant's app and read-only tokens: not Entra's
			for _, k := range toks {
				if k.TenantID == t.ID && (k.App || k.ReadOnly) && !slices.Contains(own, k.Name) {
					own = append(own, k.Name)
				}
			}
			last, err := tx.Events(store.EventQuery{TenantID: t.ID, ExcludeTokens: own, Limit: 1})
			if err != nil {
				return err
			}
			if len(last) > 0 {
				row.LastRequest = newRequest(last[0])
			}
			failed := store.EventQuery{TenantID: t.ID, Failed: true, Since: now.Add(-FailureWindow), Limit: 1}
			if row.Failures, err = tx.CountEvents(failed); err != nil {
				return err
			}
			if lf, err := tx.Events(failed); err != nil {
				return err
			} else if len(lf) > 0 {
				row.LastFailure = newRequest(lf[0])
			}
			switch {
			case row.LastRequest != nil && row.LastRequest.Status >= 400:
				attend("Tenant %q: the last request (%s %s) was rejected with %d: %s. See 'roster log --failed --tenant %s'.",
					t.ID, row.LastRequest.Method, row.LastRequest.Path, row.LastRequest.Status, row.LastRequest.Outcome, t.ID)
			case row.Failures > 0:
				attend("Tenant %q: %d request(s) rejected in the last 24 hours. See 'roster log --failed --since 24h --tenant %s'.", t.ID, row.Failures, t.ID)
			}
			st.Tenants = append(st.Tenants, row)
		}
		for _, k := range toks {
			if k.Active(now) && k.Expires != nil && k.Expires.Sub(now) <= ExpiryWarning {
				st.Expiring = append(st.Expiring, TokenAlert{Tenant: k.TenantID, ID: k.ID, Name: k.Name, Expires: *k.Expires})
				attend("Tenant %q: token %q (id %s) expires on %s. Issue a new one with 'roster token issue --tenant %s' and give it to Entra.",
					k.TenantID, k.Name, k.ID, k.Expires.UTC().Format("2006-01-02 15:04 MST"), k.TenantID)
			}
		}
		ds, err := tx.Domains("")
		if err != nil {
			return err
		}
		for _, d := range ds {
			a := DomainAlert{Tenant: d.TenantID, Domain: d.Domain, Status: d.Status, Detail: d.Detail}
			switch {
			case d.Status == store.DomainVerified && d.MissingSince != nil:
				lapse := d.MissingSince.Add(LapseGrace)
				a.LapsesAt = &lapse
				attend("Tenant %q: the TXT record of %s is missing; the domain lapses on %s unless it is published again (%s).",
					d.TenantID, d.Domain, lapse.UTC().Format("2006-01-02 15:04 MST"), d.RecordName)
			case d.Status == store.DomainVerified:
				continue
			case d.Status == store.DomainPending:
				attend("Tenant %q: %s is not verified yet: publish the TXT record %s (see 'roster domain list'), then run 'roster domain verify %s --tenant %s'.",
					d.TenantID, d.Domain, d.RecordName, d.Domain, d.TenantID)
			default:
				attend("Tenant %q: %s is %s: %s", d.TenantID, d.Domain, d.Status, d.Detail)
			}
			st.Domains = append(st.Domains, a)
		}
		hooks, err := tx.Webhooks("")
		if err != nil {
			return err
		}
		for _, w := range failingWebhooks(hooks) {
			st.Webhooks = append(st.Webhooks, newWebhookAlert(w))
			attend("%s", webhookAttention(w))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	if probe != nil {
		st.Agent = probe(ctx)
		switch {
		case !st.Agent.Reachable:
			st.Attention = append([]string{"The agent does not answer (" + st.Agent.Detail + "): start it with 'roster agent' or 'systemctl start roster'."}, st.Attention...)
		case !st.Agent.Ready:
			st.Attention = append([]string{"The agent at " + st.Agent.Address + " answers but is not ready: " + st.Agent.Detail + "."}, st.Attention...)
		}
	}
	return st, nil
}
