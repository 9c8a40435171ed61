package api_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

// The Service is the API's logic without HTTP, as the console calls it: these
// tests call it directly and read its refusals through api.Classify.

// console is the actor the tests change things as.
var console = store.Actor{Kind: "admin", Name: "console:root"}

func newService(t *testing.T, lo api.LoginOptions) (*api.Service, *sqlite.Store) {
	t.Helper()
	st := testenv.SQLiteStore(t, "example.com")
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	return api.NewService(api.Options{Store: st, Log: zap.NewNop(), Now: clk.Now, PasswordParams: fast, Login: lo}), st
}

// requireRefused checks Classify's answer for err.
func requireRefused(t *testing.T, err error, status int, code string) api.ErrorInfo {
	t.Helper()
	require.Error(t, err)
	got, info, _ := api.Classify(err)
	require.Equal(t, status, got, "status of %v", err)
	require.Equal(t, code, info.Code, "code of %v", err)
	return info
}

// TestServiceFieldRefusals: a refused value comes back as the API's 422 with
// the field named in Details, where the console shows it.
func TestServiceFieldRefusals(t *testing.T) {
	svc, _ := newService(t, api.LoginOptions{})
	ctx := t.Context()

	_, err := svc.CreateUser(ctx, console, api.CreateUser{Address: "not an address"})
	info := requireRefused(t, err, http.StatusUnprocessableEntity, api.CodeValidation)
	probs, ok := info.Details.([]api.FieldProblem)
	require.True(t, ok, "details are %T", info.Details)
	require.Len(t, probs, 1)
	require.Equal(t, "address", probs[0].Field)
	require.Equal(t, "address: "+probs[0].Message, info.Message)

	_, err = svc.CreateUser(ctx, console, api.CreateUser{Address: "ann@example.com", Kind: "robot"})
	info = requireRefused(t, err, http.StatusUnprocessableEntity, api.CodeValidation)
	require.Equal(t, []api.FieldProblem{{Field: "kind", Message: "use user or group"}}, info.Details)

	_, err = svc.Invite(ctx, console, "ann@example.com", api.Invite{ExpiresIn: "-1h"})
	info = requireRefused(t, err, http.StatusUnprocessableEntity, api.CodeValidation)
	require.Equal(t, []api.FieldProblem{{Field: "expires_in", Message: "must be positive"}}, info.Details)

	_, err = svc.AddDomain(ctx, console, api.Domain{Name: " "})
	info = requireRefused(t, err, http.StatusUnprocessableEntity, api.CodeValidation)
	require.Equal(t, []api.FieldProblem{{Field: "name", Message: "required"}}, info.Details)

	_, err = svc.User(ctx, "nobody@example.com")
	info = requireRefused(t, err, http.StatusNotFound, api.CodeNotFound)
	require.Equal(t, "no user, group or alias nobody@example.com", info.Message)

	// An unexpected failure keeps its cause to the caller's log only.
	status, info, after := api.Classify(errors.New("disk on fire at /var/lib/dirsync"))
	require.Equal(t, http.StatusInternalServerError, status)
	require.NotContains(t, info.Message, "disk")
	require.Zero(t, after)
}

// TestServiceActsAsTheActor: changes are recorded with the actor the caller
// names, not one read from a request.
func TestServiceActsAsTheActor(t *testing.T) {
	svc, st := newService(t, api.LoginOptions{})
	ctx := t.Context()

	u, err := svc.CreateUser(ctx, console, api.CreateUser{Address: "Ann@Example.com", DisplayName: "Ann"})
	require.NoError(t, err)
	require.Equal(t, "ann@example.com", u.Address)
	require.Equal(t, "Ann", u.DisplayName)
	_, err = svc.CreateUser(ctx, console, api.CreateUser{Address: "ann@example.com"})
	requireRefused(t, err, http.StatusConflict, api.CodeDuplicateAddress)

	entries, err := st.Audit(ctx, store.AuditQuery{Address: "ann@example.com"})
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	require.Equal(t, console, store.Actor{Kind: entries[0].Actor.Kind, Name: entries[0].Actor.Name})

	del, err := svc.DeleteUser(ctx, console, "ann@example.com", false)
	require.NoError(t, err)
	require.NotNil(t, del)
	require.False(t, del.Enabled)
	del, err = svc.DeleteUser(ctx, console, "ann@example.com", true)
	require.NoError(t, err)
	require.Nil(t, del, "a purged user has nothing left to show")
	_, err = svc.User(ctx, "ann@example.com")
	requireRefused(t, err, http.StatusNotFound, api.CodeNotFound)
}

// TestServiceListUsers: the url.Values are GET /v1/users' parameters, checked
// the same way.
func TestServiceListUsers(t *testing.T) {
	svc, _ := newService(t, api.LoginOptions{})
	ctx := t.Context()
	for _, a := range []string{"bob@example.com", "ann@example.com"} {
		_, err := svc.CreateUser(ctx, console, api.CreateUser{Address: a})
		require.NoError(t, err)
	}

	_, err := svc.ListUsers(ctx, url.Values{"sortby": {"address"}})
	info := requireRefused(t, err, http.StatusBadRequest, api.CodeBadRequest)
	require.Contains(t, info.Message, `unknown query parameter "sortby"`)
	_, err = svc.ListUsers(ctx, url.Values{"kind": {"robot"}})
	requireRefused(t, err, http.StatusBadRequest, api.CodeBadRequest)
	_, err = svc.ListUsers(ctx, url.Values{"limit": {"1", "2"}})
	requireRefused(t, err, http.StatusBadRequest, api.CodeBadRequest)

	list, err := svc.ListUsers(ctx, url.Values{"registration": {"all"}, "sort": {"address"}, "order": {"desc"}})
	require.NoError(t, err)
	var got []string
	for _, u := range list.Users {
		got = append(got, u.Address)
	}
	require.Equal(t, []string{"bob@example.com", "ann@example.com"}, got)
}

// TestServiceDomainCounts: each domain counts the objects whose primary
// address is in it, through the Service and GET /v1/domains alike.
func TestServiceDomainCounts(t *testing.T) {
	svc, _ := newService(t, api.LoginOptions{})
	ctx := t.Context()
	d, err := svc.AddDomain(ctx, console, api.Domain{Name: "Example.org"})
	require.NoError(t, err)
	require.Equal(t, api.Domain{Name: "example.org", Users: 0}, d)
	_, err = svc.AddDomain(ctx, console, api.Domain{Name: "example.org"})
	requireRefused(t, err, http.StatusConflict, api.CodeDomainExists)
	for _, a := range []string{"ann@example.com", "bob@example.com", "cat@example.org"} {
		_, err := svc.CreateUser(ctx, console, api.CreateUser{Address: a})
		require.NoError(t, err)
	}
	_, err = svc.CreateUser(ctx, console, api.CreateUser{Address: "team@example.com", Kind: store.KindGroup,
		Aliases: []string{"team@example.org"}})
	require.NoError(t, err)

	want := api.DomainList{Domains: []api.Domain{{Name: "example.com", Users: 3}, {Name: "example.org", Users: 1}}}
	got, err := svc.Domains(ctx)
	require.NoError(t, err)
	require.Equal(t, want, got)

	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com"})
	var list api.DomainList
	h.call("GET", "/v1/domains", h.read, nil).ok(http.StatusOK, &list)
	require.Equal(t, api.DomainList{Domains: []api.Domain{{Name: "example.com", Users: 1}}}, list)
}

// TestServiceSignIn: the console's sign-in gets the API's refusals, rate
// limits included, with how long to wait.
func TestServiceSignIn(t *testing.T) {
	svc, _ := newService(t, api.LoginOptions{PerAccount: 1.0 / 3600, PerAccountBurst: 3})
	ctx := t.Context()
	_, err := svc.CreateUser(ctx, console, api.CreateUser{Address: "ann@example.com"})
	require.NoError(t, err)
	_, err = svc.Register(ctx, console, "ann@example.com", api.Register{Password: goodPass, Question: "First pet?", Answer: "Rex"})
	require.NoError(t, err)

	req := httptest.NewRequest("POST", "/console/login", nil)
	req.RemoteAddr = "198.51.100.7:4000"
	res, err := svc.SignIn(req, "ann@example.com", goodPass)
	require.NoError(t, err)
	require.Equal(t, api.LoginResult{Address: "ann@example.com"}, res)

	_, err = svc.SignIn(req, "ann@example.com", "Wrong-Password-1")
	_, _, after := api.Classify(err)
	requireRefused(t, err, http.StatusUnauthorized, api.CodeInvalidCredentials)
	require.Zero(t, after)

	_, err = svc.ChangePassword(req, api.ChangePassword{Address: "ann@example.com", CurrentPassword: "Wrong-Password-1",
		NewPassword: otherPass})
	requireRefused(t, err, http.StatusUnauthorized, api.CodeInvalidCredentials)

	// The account's burst of 3 is spent: the right password waits too.
	_, err = svc.SignIn(req, "ann@example.com", goodPass)
	info := requireRefused(t, err, http.StatusTooManyRequests, api.CodeRateLimited)
	_, _, after = api.Classify(err)
	require.Greater(t, after, time.Duration(0))
	require.Equal(t, after.Truncate(time.Second), after, "whole seconds, as Retry-After")
	require.Contains(t, info.Message, "too many sign-in attempts on this address")
}
