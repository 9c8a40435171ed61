package entra

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/dirsync/dirsync/connectors"
)

// Graph's error codes for a delta token it no longer accepts.
var expiredCodes = map[string]bool{"syncStateNotFound": true, "syncStateInvalid": true, "resyncRequired": true}

// status returns the HTTP status of a Graph error (0 when there is none).
func status(err error) int {
	var od *odataerrors.ODataError
	if errors.As(err, &od) {
		return od.ResponseStatusCode
	}
	var api *abstractions.ApiError
	if errors.As(err, &api) {
		return api.ResponseStatusCode
	}
	return 0
}

// graphError explains a failed Graph request: what was asked (page n of it),
// Graph's code and message, and what an admin can do about it. An expired delta
// token comes back as connectors.ErrCursorExpired so the engine runs a full read.
func graphError(what string, page int, err error) error {
	var auth *azidentity.AuthenticationFailedError
	if errors.As(err, &auth) {
		return &requestError{err: err, msg: fmt.Sprintf("graph sign-in for %s failed: %s (check tenant_id, client_id and the client secret or certificate; a secret may have expired)",
			what, signInReason(auth.Error()))}
	}
	code, msg := "", ""
	var od *odataerrors.ODataError
	if errors.As(err, &od) && od.GetErrorEscaped() != nil {
		code, msg = deref(od.GetErrorEscaped().GetCode()), deref(od.GetErrorEscaped().GetMessage())
	}
	st := status(err)
	where := what
	if page > 1 {
		where = fmt.Sprintf("%s (page %d)", what, page)
	}
	if expiredCodes[code] || st == 410 {
		return fmt.Errorf("%w: graph %s answered %d %s: %s", connectors.ErrCursorExpired, where, st, code, msg)
	}
	if st == 0 {
		return fmt.Errorf("graph %s: %w", where, err)
	}
	hint := ""
	switch {
	case st == 401:
		hint = " (the token was refused: check the tenant and that the app registration still exists)"
	case st == 403:
		hint = " (grant the app the User.Read.All, GroupMember.Read.All and RoleManagement.Read.Directory application permissions, with admin consent)"
	case st == 429 || st == 503 || st == 504:
		hint = " (Graph kept throttling past max_retries or max_retry_wait; the run stops here and changes nothing)"
	case st >= 500:
		hint = " (a Graph service error; the run stops here and changes nothing)"
	}
	return &requestError{msg: fmt.Sprintf("graph %s answered %d %s: %s%s", where, st, code, msg, hint), err: err}
}

// signInReason picks Entra's own explanation (AADSTS code and first sentence
// line) out of azidentity's multi-line error, which dumps the whole response.
func signInReason(msg string) string {
	if _, after, ok := strings.Cut(msg, `"error_description": "`); ok {
		if i := strings.IndexAny(after, `"\`); i > 0 {
			return after[:i]
		}
	}
	first, _, _ := strings.Cut(msg, "\n")
	return strings.TrimSpace(first)
}

// requestError is a Graph error explained once: its message already carries
// Graph's own, which the wrapped error would only repeat.
type requestError struct {
	msg string
	err error
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.err }
