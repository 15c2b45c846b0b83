// Package feed defines the directory's change feed: the record that every
// committed write appends to a tenant's log, the type names consumers filter
// on, and the interface through which the pull API, the snapshot and webhook
// delivery read the log. It holds no storage of its own (that is package
// store, reached through agent/directory) and imports only the standard
// library.
//
// The record is modelled on Standard Webhooks' payload
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md)
// and maps one to one onto an RFC 9967 Security Event Token.
package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Change types. A consumer filters on them with patterns such as "user.*".
const (
	UserCreated         = "user.created"
	UserUpdated         = "user.updated"
	UserDeactivated     = "user.deactivated"
	UserReactivated     = "user.reactivated"
	UserDeleted         = "user.deleted"
	GroupCreated        = "group.created"
	GroupUpdated        = "group.updated"
	GroupDeleted        = "group.deleted"
	GroupMembersChanged = "group.members_changed"
)

// Types lists every change type, users first.
var Types = []string{
	UserCreated, UserUpdated, UserDeactivated, UserReactivated, UserDeleted,
	GroupCreated, GroupUpdated, GroupDeleted, GroupMembersChanged,
}

// Resource names the resource a change is about.
type Resource struct {
	Type        string `json:"type"` // "User" or "Group"
	ID          string `json:"id"`
	ExternalID  string `json:"externalId,omitempty"`
	UserName    string `json:"userName,omitempty"`    // users
	DisplayName string `json:"displayName,omitempty"` // groups
}

// Change is one record of a tenant's change log.
type Change struct {
	// Seq orders a tenant's changes: strictly increasing, never seen out of
	// order by a reader (it is assigned inside the write's transaction).
	Seq int64 `json:"seq"`
	// ID is unique and stable across replays: the webhook-id of a delivery.
	ID     string    `json:"id"`
	Tenant string    `json:"tenant"`
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`
	// Resource names what changed.
	Resource Resource `json:"resource"`
	// Data is the resource after the change: users whole, groups without
	// their members; absent for deletions. Never a password.
	Data json.RawMessage `json:"data,omitempty"`
	// Added and Removed are member ids: for group.members_changed, for
	// group.updated when the members changed too, and (Added) for
	// group.created's initial members (docs/change-feed.md).
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Paths are the attribute paths that changed, for updates.
	Paths []string `json:"paths,omitempty"`
}

// ErrExpired means the consumer asked for changes older than the retained
// log: it must start again from a snapshot, never continue across the gap.
var ErrExpired = errors.New("the change log no longer holds changes after that seq; start again from a snapshot")

// Filter selects change types by patterns: an exact type ("user.created"),
// a prefix with a star ("user.*"), or "*". The zero Filter matches all.
type Filter []string

// ParseFilter parses a comma-separated list of patterns and refuses unknown
// types, so that a typo is an error rather than a feed that stays silent.
func ParseFilter(s string) (Filter, error) {
	var f Filter
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !validPattern(p) {
			return nil, fmt.Errorf("unknown change type %q (one of %s, or a prefix such as user.*)", p, strings.Join(Types, ", "))
		}
		f = append(f, p)
	}
	return f, nil
}

func validPattern(p string) bool {
	if p == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		for _, t := range Types {
			if strings.HasPrefix(t, prefix) {
				return true
			}
		}
		return false
	}
	for _, t := range Types {
		if t == p {
			return true
		}
	}
	return false
}

// Match reports whether the change type t is selected.
func (f Filter) Match(t string) bool {
	if len(f) == 0 {
		return true
	}
	for _, p := range f {
		if p == "*" || p == t {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}

// Source reads a tenant's change log. agent/directory implements it over the
// store; the pull API, the snapshot and webhook delivery use it.
type Source interface {
	// Changes returns up to limit changes with Seq > after that f selects,
	// in Seq order. It returns ErrExpired when changes after `after` have
	// already been pruned.
	Changes(ctx context.Context, tenant string, after int64, limit int, f Filter) ([]Change, error)
	// Wait returns once the tenant's log holds a change with Seq > after, or
	// when ctx ends (then with ctx's error). It may return early; callers
	// read with Changes and wait again.
	Wait(ctx context.Context, tenant string, after int64) error
}
