package graph

import (
	"errors"
	"fmt"
	"net/http"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

var odataErrorFactory = odataerrors.CreateODataErrorFromDiscriminatorValue

// permission names the permissions an operation needs, for the hint of a
// 403 (docs/graph.md#permissions).
type permission struct {
	delegated, application string
}

var (
	permApps       = permission{"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy or Application.ReadWrite.All"}
	permReadApps   = permission{"Application.Read.All", "Application.Read.All"}
	permSync       = permission{"Synchronization.ReadWrite.All", "Application.ReadWrite.OwnedBy or Synchronization.ReadWrite.All"}
	permAssign     = permission{"AppRoleAssignment.ReadWrite.All and Application.Read.All", "AppRoleAssignment.ReadWrite.All and Application.Read.All"}
	permDirectory  = permission{"User.Read.All and Group.Read.All (or Directory.Read.All)", "User.Read.All and Group.Read.All (or Directory.Read.All)"}
	permAuditLogs  = permission{"AuditLog.Read.All and Directory.Read.All, plus a reader role such as Reports Reader", "AuditLog.Read.All and Directory.Read.All"}
	permNoneNeeded = permission{}
)

// wrap turns an SDK error into an *Error with a hint for the statuses people
// meet: 401, 403 (which permission), 404, 429 (throttled), 5xx.
func wrap(op string, perm permission, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Err: err}
	var od *odataerrors.ODataError
	var api *abs.ApiError
	switch {
	case errors.As(err, &od):
		e.Status = od.ResponseStatusCode
		if main := od.GetErrorEscaped(); main != nil {
			if c := main.GetCode(); c != nil {
				e.Code = *c
			}
			if m := main.GetMessage(); m != nil {
				e.Message = *m
			}
			if in := main.GetInnerError(); in != nil && in.GetRequestId() != nil {
				e.RequestID = *in.GetRequestId()
			}
		}
	case errors.As(err, &api):
		e.Status = api.ResponseStatusCode
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		e.Hint = "Graph did not accept the sign-in: sign in again (the token may have expired), or check the tenant and client id"
	case e.Status == http.StatusForbidden && perm != permNoneNeeded:
		e.Hint = fmt.Sprintf("the signed-in account lacks a permission: grant the delegated permission %s (and the Application Administrator or Cloud Application Administrator role), or the application permission %s with admin consent", perm.delegated, perm.application)
	case e.Status == http.StatusForbidden:
		e.Hint = "the signed-in account lacks a permission or directory role for this"
	case e.Status == http.StatusNotFound:
		e.Err = fmt.Errorf("%w: %w", ErrNotFound, err)
	case e.Status == http.StatusTooManyRequests:
		e.Hint = "Graph is throttling requests (provision on demand allows 5 per 10 seconds); Roster already retried after the time Graph asked for — wait a minute and run the command again"
	case e.Status >= 500:
		e.Hint = "Microsoft Graph had a problem; try again in a few minutes"
	}
	return e
}

// statusOf returns the HTTP status of a wrapped Graph error, or 0.
func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	var od *odataerrors.ODataError
	if errors.As(err, &od) {
		return od.ResponseStatusCode
	}
	return 0
}
