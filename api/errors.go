package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/csvimport"
	"github.com/dirsync/dirsync/store"
)

// apiError is an error with its answer decided: handlers return one when they
// know the status and code better than the generic mapping (a bad query
// parameter, a user that does not exist).
type apiError struct {
	Status  int
	Code    string
	Message string
	Details any
	Err     error // the cause, logged for 5xx; never sent
	// RetryAfter, when positive, is sent as Retry-After (whole seconds): 429
	// rate_limited and 503 busy.
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Message }
func (e *apiError) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, message string) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeValidation,
		Message: field + ": " + message, Details: []FieldProblem{{Field: field, Message: message}}}
}

// internalMessage is all a client learns of an unexpected failure; the log has
// the rest.
const internalMessage = "internal error; the daemon's log has the details"

// classify is the one mapping from errors to answers. The messages of typed
// store and account errors are written for admins and carry no secret; an
// unexpected error's text is never sent. A sentinel is answered with the
// message of the error that raised it (see raisedAs), never with what the
// layers above added on the way up.
func classify(err error) *apiError {
	var (
		ae   *apiError
		ce   *store.ConflictError
		nie  *store.NotInternalError
		ure  *store.UnknownRoleError
		we   *password.WeakError
		ve   *accounts.ValidationError
		csve *csvimport.Error
	)
	status := func(code int, c string, msg string) *apiError {
		return &apiError{Status: code, Code: c, Message: msg, Err: err}
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ce):
		code := CodeDuplicateAddress
		if ce.AsAlias {
			code = CodeAliasClash
		}
		return status(http.StatusConflict, code, ce.Error())
	case errors.As(err, &nie):
		return status(http.StatusUnprocessableEntity, CodeUnknownDomain, nie.Error()+": add the domain first (POST /v1/domains)")
	case errors.As(err, &ure):
		e := status(http.StatusUnprocessableEntity, CodeUnknownRole, ure.Error()+": GET /v1/roles lists the roles")
		e.Details = ure.Names
		return e
	case errors.As(err, &we):
		return status(http.StatusUnprocessableEntity, CodeWeakPassword, we.Error())
	case errors.As(err, &ve):
		e := status(http.StatusUnprocessableEntity, CodeValidation, ve.Error())
		details := make([]FieldProblem, len(ve.Problems))
		for i, p := range ve.Problems {
			details[i] = FieldProblem{Field: p.Field, Message: p.Message}
		}
		e.Details = details
		return e
	case errors.As(err, &csve):
		msg := fmt.Sprintf("nothing was imported: the file has %d problems, each listed in details with its row and column", len(csve.Problems))
		if len(csve.Problems) == 1 {
			msg = "nothing was imported: " + csve.Problems[0].String()
		}
		e := status(http.StatusUnprocessableEntity, CodeImportInvalid, msg)
		details := make([]ImportProblem, len(csve.Problems))
		for i, p := range csve.Problems {
			details[i] = ImportProblem{Row: p.Row, Column: p.Column, Message: p.Message}
		}
		e.Details = details
		return e
	case errors.Is(err, store.ErrRoleExists):
		return status(http.StatusConflict, CodeRoleExists, raisedAs(err, store.ErrRoleExists))
	case errors.Is(err, accounts.ErrInvalidCredentials):
		return status(http.StatusUnauthorized, CodeInvalidCredentials, accounts.ErrInvalidCredentials.Error())
	case errors.Is(err, accounts.ErrResetRefused):
		return status(http.StatusUnauthorized, CodeInvalidCredentials, accounts.ErrResetRefused.Error())
	case errors.Is(err, accounts.ErrLocked):
		return status(http.StatusLocked, CodeAccountLocked, accounts.ErrLocked.Error())
	case errors.Is(err, accounts.ErrDisabled):
		return status(http.StatusForbidden, CodeAccountDisabled, accounts.ErrDisabled.Error())
	case errors.Is(err, accounts.ErrNotRegistered):
		return status(http.StatusForbidden, CodeNotRegistered, accounts.ErrNotRegistered.Error()+": ask an administrator for an invitation")
	case errors.Is(err, accounts.ErrAlreadyRegistered):
		return status(http.StatusConflict, CodeAlreadyRegistered, raisedAs(err, accounts.ErrAlreadyRegistered))
	case errors.Is(err, accounts.ErrInvitationUnknown):
		return status(http.StatusNotFound, CodeInvitationInvalid, accounts.ErrInvitationUnknown.Error()+": check the link, or ask for a new invitation")
	case errors.Is(err, store.ErrInvitationExpired):
		return status(http.StatusGone, CodeInvitationExpired, "the invitation has expired: ask an administrator for a new one")
	case errors.Is(err, store.ErrInvitationUsed):
		return status(http.StatusGone, CodeInvitationUsed, "the invitation was already used: each invitation registers once")
	case errors.Is(err, ErrUnknownConnector):
		return status(http.StatusNotFound, CodeUnknownConnector, raisedAs(err, ErrUnknownConnector))
	case errors.Is(err, ErrSyncBusy):
		return status(http.StatusConflict, CodeSyncBusy, raisedAs(err, ErrSyncBusy))
	case errors.Is(err, ErrRunNotFound):
		return status(http.StatusNotFound, CodeNotFound, raisedAs(err, ErrRunNotFound))
	case errors.Is(err, ErrStopping):
		return status(http.StatusServiceUnavailable, CodeUnavailable, raisedAs(err, ErrStopping))
	case errors.Is(err, store.ErrInvalid):
		return status(http.StatusUnprocessableEntity, CodeValidation, trimInvalid(err))
	case errors.Is(err, store.ErrNotFound):
		// Handlers look users up first and say what is missing; this is a race
		// (deleted meanwhile), so the message stays generic.
		return status(http.StatusNotFound, CodeNotFound, "not found (deleted meanwhile?)")
	}
	return status(http.StatusInternalServerError, CodeInternal, internalMessage)
}

// RaisedAs is raisedAs for the adapters (daemon/apiwire) that translate
// another package's sentinel into the API's, keeping the message the API
// would have given.
func RaisedAs(err, target error) string { return raisedAs(err, target) }

// raisedAs is the message of the error that wrapped target where target was
// raised ("unknown connector \"x\": configured connectors are [a b]"), written
// for the caller by the code that knew what went wrong. What outer layers
// added ("redis 10.0.0.5:6379: ...") is left out: it was written for the log.
//
//nolint:errorlint // the walk compares by identity on purpose: it looks for the layer holding target itself, which errors.Is cannot tell
func raisedAs(err, target error) string {
	for e := err; e != nil; {
		if e == target {
			return e.Error()
		}
		switch x := e.(type) {
		case interface{ Unwrap() error }:
			if x.Unwrap() == target {
				return e.Error()
			}
			e = x.Unwrap()
		case interface{ Unwrap() []error }:
			var next error
			for _, c := range x.Unwrap() {
				if c == target {
					return e.Error()
				}
				if next == nil && errors.Is(c, target) {
					next = c
				}
			}
			e = next
		default:
			e = nil // a type whose Is method matches: nothing of its own to trust
		}
	}
	return target.Error()
}

// trimInvalid is an ErrInvalid's explanation without the sentinel's own words
// ("invalid change: ") in front.
func trimInvalid(err error) string {
	msg := err.Error()
	if errors.Is(err, store.ErrInvalid) {
		msg = raisedAs(err, store.ErrInvalid)
	}
	if i := strings.Index(msg, store.ErrInvalid.Error()+": "); i >= 0 {
		return msg[i+len(store.ErrInvalid.Error())+2:]
	}
	return msg
}

// writeError answers with err's status and the JSON error shape (Classify),
// and logs what the client is not told.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, info, retryAfter := Classify(err)
	if status >= 500 {
		level := zap.ErrorLevel
		if errors.Is(err, context.Canceled) {
			level = zap.InfoLevel // the client went away
		}
		if errors.Is(err, password.ErrBusy) {
			level = zap.WarnLevel // a sign-in flood, answered 503: no fault of the daemon's
		}
		// An apiError's text is its answer; the log wants what caused it.
		cause := err
		var ae *apiError
		if errors.As(err, &ae) && ae.Err != nil {
			cause = ae.Err
		}
		s.log.Log(level, "request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.Error(cause))
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	}
	if info.Code == CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dirsync"`)
	}
	writeJSON(w, status, ErrorBody{Error: info})
}
