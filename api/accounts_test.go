package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

func TestLockoutAfterThreeFailuresThenUnlock(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.registerUser("ann@example.com")

	var res api.LoginResult
	h.login("ann@example.com", goodPass).ok(200, &res)
	require.Equal(t, api.LoginResult{Address: "ann@example.com"}, res)

	h.login("ann@example.com", "Wrong-Password-1").apiErr(401, api.CodeInvalidCredentials)
	h.login("ann@example.com", "Wrong-Password-2").apiErr(401, api.CodeInvalidCredentials)
	// The lock is not told to the caller (it would confirm the address
	// exists): the status check below tells administrators.
	h.login("ann@example.com", "Wrong-Password-3").apiErr(401, api.CodeInvalidCredentials)
	h.login("ann@example.com", goodPass).apiErr(401, api.CodeInvalidCredentials)

	var st api.Status
	h.call("GET", "/v1/users/ann@example.com/status", h.read, nil).ok(200, &st)
	require.True(t, st.Locked)
	require.False(t, st.CanLogIn)
	require.Equal(t, "account locked", st.LastLoginError)
	require.Equal(t, 4, st.FailedLogins)

	var u api.User
	h.call("POST", "/v1/users/ann@example.com/unlock", h.read, nil).apiErr(403, api.CodeForbidden)
	h.call("POST", "/v1/users/ann@example.com/unlock", h.admin, nil).ok(200, &u)
	require.False(t, u.Locked)
	h.login("ann@example.com", goodPass).ok(200, nil)
	st = api.Status{}
	h.call("GET", "/v1/users/ann@example.com/status", h.read, nil).ok(200, &st)
	require.True(t, st.CanLogIn)
	require.NotNil(t, st.LastLogin)
	require.Empty(t, st.LastLoginError)
	require.Equal(t, store.ActionUnlock, h.audit("ann@example.com")[0].Action)
	require.Equal(t, "admin-token", h.audit("ann@example.com")[0].Actor.Name)
	h.call("POST", "/v1/users/nobody@example.com/unlock", h.admin, nil).apiErr(404, api.CodeNotFound)
}

func TestLoginDoesNotEnumerateUsers(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.registerUser("ann@example.com")
	h.createUser(api.CreateUser{Address: "bob@example.com"})
	a := h.login("nobody@example.com", goodPass).apiErr(401, api.CodeInvalidCredentials)
	b := h.login("bob@example.com", goodPass).apiErr(401, api.CodeInvalidCredentials)
	c := h.login("ann@example.com", "Wrong-Password-1").apiErr(401, api.CodeInvalidCredentials)
	require.Equal(t, a, b)
	require.Equal(t, a, c)
	r := h.login("nobody@example.com", goodPass)
	require.Empty(t, r.Header.Get("WWW-Authenticate"), "not a bearer-token failure")
}

func TestDisabledUserCannotLogIn(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.registerUser("ann@example.com")
	h.login("ann@example.com", goodPass).ok(200, nil)
	h.call("DELETE", "/v1/users/ann@example.com", h.admin, nil).ok(200, nil)
	h.login("ann@example.com", goodPass).apiErr(401, api.CodeInvalidCredentials)
	var st api.Status
	h.call("GET", "/v1/users/ann@example.com/status", h.read, nil).ok(200, &st)
	require.False(t, st.CanLogIn)
	require.Equal(t, "account disabled", st.LastLoginError)
}

func TestForcedPasswordChangeFlow(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.registerUser("ann@example.com")
	h.secret("Temporary-Pass-1")
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Password: ptr("Temporary-Pass-1")}).ok(200, nil)

	var res api.LoginResult
	h.login("ann@example.com", "Temporary-Pass-1").ok(200, &res)
	require.True(t, res.MustChangePassword)

	change := func(cur, next string) *response {
		return h.call("POST", "/v1/auth/password", "", api.ChangePassword{Address: "ann@example.com", CurrentPassword: cur, NewPassword: next})
	}
	e := change("Temporary-Pass-1", "weakling").apiErr(422, api.CodeWeakPassword)
	require.NotContains(t, e.Message, "weakling")
	change("Temporary-Pass-1", "Temporary-Pass-1").apiErr(422, api.CodeValidation)
	change("Wrong-Password-1", otherPass).apiErr(401, api.CodeInvalidCredentials)
	change("Temporary-Pass-1", otherPass).ok(200, &res)
	require.False(t, res.MustChangePassword)
	h.login("ann@example.com", otherPass).ok(200, &res)
	require.False(t, res.MustChangePassword)
	h.login("ann@example.com", "Temporary-Pass-1").apiErr(401, api.CodeInvalidCredentials)
	// The user's own change is audited as the user.
	require.Equal(t, store.Actor{Kind: "user", Name: "ann@example.com"}, h.audit("ann@example.com")[0].Actor)
}

func TestRegisterAndUnregister(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com"})
	h.secret("Rex The Dog", "rex the dog")
	path := "/v1/users/ann@example.com/register"

	e := h.call("POST", path, h.admin, api.Register{Password: goodPass}).apiErr(422, api.CodeValidation)
	require.Len(t, e.Details, 2)
	h.call("POST", path, h.admin, api.Register{Password: "weak", Question: "Q?", Answer: "A"}).apiErr(422, api.CodeWeakPassword)
	h.call("POST", "/v1/users/nobody@example.com/register", h.admin, api.Register{Password: goodPass, Question: "Q?", Answer: "A"}).
		apiErr(404, api.CodeNotFound)

	var u api.User
	h.call("POST", path, h.admin, api.Register{Password: goodPass, Question: "First pet?", Answer: "Rex The Dog"}).ok(200, &u)
	require.True(t, u.Registered)
	require.True(t, u.HasPassword)
	h.login("ann@example.com", goodPass).ok(200, nil)
	h.call("POST", path, h.admin, api.Register{Password: goodPass, Question: "Q?", Answer: "A"}).apiErr(409, api.CodeAlreadyRegistered)

	h.call("POST", "/v1/users/ann@example.com/unregister", h.admin, nil).ok(200, &u)
	require.False(t, u.Registered)
	require.False(t, u.HasPassword)
	h.login("ann@example.com", goodPass).apiErr(401, api.CodeInvalidCredentials)
	h.call("GET", "/v1/users/ann@example.com", h.read, nil).ok(200, nil)
	require.Equal(t, store.ActionUnregister, h.audit("ann@example.com")[0].Action)
}

func TestInvitations(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "bob@example.com"})
	h.createUser(api.CreateUser{Address: "cy@example.com"})
	h.registerUser("ann@example.com")

	var inv api.Invitation
	h.call("POST", "/v1/users/bob@example.com/invite", h.admin, nil).ok(http.StatusCreated, &inv)
	require.Equal(t, "bob@example.com", inv.Address)
	require.Equal(t, h.clk.Now().Add(72*time.Hour), inv.Expires)
	require.NotEmpty(t, inv.Token)
	h.secret(inv.Token, api.HashToken(inv.Token)) // shown once: never again

	redeem := func(in api.Redeem) *response { return h.call("POST", "/v1/auth/register", "", in) }
	redeem(api.Redeem{Token: inv.Token, Password: goodPass}).apiErr(422, api.CodeValidation)
	redeem(api.Redeem{Token: inv.Token, Password: "weak", Question: "City?", Answer: "Oslo"}).apiErr(422, api.CodeWeakPassword)
	var res api.LoginResult
	redeem(api.Redeem{Token: inv.Token, Password: goodPass, Question: "City?", Answer: "Oslo"}).ok(200, &res)
	require.Equal(t, "bob@example.com", res.Address)
	h.login("bob@example.com", goodPass).ok(200, nil)
	redeem(api.Redeem{Token: inv.Token, Password: goodPass, Question: "City?", Answer: "Oslo"}).apiErr(410, api.CodeInvitationUsed)
	redeem(api.Redeem{Token: "dst_nonsense", Password: goodPass, Question: "City?", Answer: "Oslo"}).apiErr(404, api.CodeInvitationInvalid)
	redeem(api.Redeem{}).apiErr(422, api.CodeValidation)

	// Expiry: the clock moves past it.
	h.call("POST", "/v1/users/cy@example.com/invite", h.admin, api.Invite{ExpiresIn: "1h"}).ok(201, &inv)
	h.secret(inv.Token)
	h.clk.Advance(time.Hour + time.Second)
	redeem(api.Redeem{Token: inv.Token, Password: goodPass, Question: "City?", Answer: "Oslo"}).apiErr(410, api.CodeInvitationExpired)

	// Preset: the user only confirms.
	h.call("POST", "/v1/users/cy@example.com/invite", h.admin, api.Invite{Password: otherPass, Question: "City?"}).
		apiErr(422, api.CodeValidation)
	h.call("POST", "/v1/users/cy@example.com/invite", h.admin, api.Invite{Password: otherPass, Question: "City?", Answer: "Oslo"}).ok(201, &inv)
	h.secret(inv.Token)
	require.True(t, inv.Preset)
	redeem(api.Redeem{Token: inv.Token}).ok(200, &res)
	require.True(t, res.MustChangePassword)
	h.login("cy@example.com", otherPass).ok(200, nil)

	for _, c := range []struct {
		path   string
		in     api.Invite
		status int
		code   string
	}{
		{"ann@example.com", api.Invite{}, 409, api.CodeAlreadyRegistered},
		{"nobody@example.com", api.Invite{}, 404, api.CodeNotFound},
		{"bob@example.com", api.Invite{ExpiresIn: "721h"}, 422, api.CodeValidation},
		{"bob@example.com", api.Invite{ExpiresIn: "soon"}, 422, api.CodeValidation},
	} {
		h.call("POST", "/v1/users/"+c.path+"/invite", h.admin, c.in).apiErr(c.status, c.code)
	}
	h.call("POST", "/v1/users/bob@example.com/invite", h.sync, nil).apiErr(403, api.CodeForbidden)
}

func TestRolesAndStatus(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com"})

	var roles api.RoleList
	h.call("GET", "/v1/roles", h.read, nil).ok(200, &roles)
	require.Len(t, roles.Roles, len(store.DefaultRoles))
	require.Equal(t, "Accounts", roles.Roles[0].Name)
	require.True(t, roles.Roles[1].SupportContact, "Administrator")

	var role api.Role
	h.call("POST", "/v1/roles", h.admin, api.Role{Name: "Help Desk Admin", Permissions: []string{"users.read", "support"}}).ok(201, &role)
	require.Equal(t, api.Role{Name: "Help Desk Admin", Permissions: []string{"support", "users.read"}, SupportContact: true}, role)
	h.call("POST", "/v1/roles", h.admin, api.Role{Name: "help desk admin"}).apiErr(409, api.CodeRoleExists)
	e := h.call("POST", "/v1/roles", h.admin, api.Role{Name: "", Permissions: []string{"fly"}}).apiErr(422, api.CodeValidation)
	require.Len(t, e.Details, 2)
	h.call("POST", "/v1/roles", h.read, api.Role{Name: "X"}).apiErr(403, api.CodeForbidden)

	var u api.User
	h.call("PUT", "/v1/users/ann@example.com/roles", h.admin, api.SetRoles{Roles: []string{"help desk admin", "Sales"}}).ok(200, &u)
	require.Equal(t, []string{"Help Desk Admin", "Sales"}, u.Roles)
	require.True(t, u.SupportContact)
	e = h.call("PUT", "/v1/users/ann@example.com/roles", h.admin, api.SetRoles{Roles: []string{"Pilot", "Sales"}}).apiErr(422, api.CodeUnknownRole)
	require.Contains(t, e.Message, "Pilot")
	e = h.call("PUT", "/v1/users/new@example.com/roles", h.admin, api.SetRoles{Roles: []string{"Sales"}}).apiErr(422, api.CodeUserNotSaved)
	require.Contains(t, e.Message, "saved")
	h.call("PUT", "/v1/users/ann@example.com/roles", h.admin, map[string]any{}).apiErr(422, api.CodeValidation)
	h.call("PUT", "/v1/users/ann@example.com/roles", h.admin, api.SetRoles{Roles: []string{}}).ok(200, &u)
	require.Empty(t, u.Roles)
	require.False(t, u.SupportContact)

	var st api.Status
	h.call("GET", "/v1/users/ann@example.com/status", h.read, nil).ok(200, &st)
	require.Equal(t, "manual", st.Origin)
	require.Nil(t, st.LastSync)
	require.False(t, st.CanLogIn)
	require.Equal(t, "admin", st.FieldOwners["display_name"])
	require.Equal(t, "admin", st.FieldOwners["password"])
	h.call("GET", "/v1/users/nobody@example.com/status", h.read, nil).apiErr(404, api.CodeNotFound)
}

func TestDomains(t *testing.T) {
	h := newHarness(t, nil, nil)
	var d api.Domain
	h.call("POST", "/v1/domains", h.admin, api.Domain{Name: "Bücher.Example"}).ok(201, &d)
	require.Equal(t, "xn--bcher-kva.example", d.Name)
	h.call("POST", "/v1/domains", h.admin, api.Domain{Name: "example.com"}).apiErr(409, api.CodeDomainExists)
	h.call("POST", "/v1/domains", h.admin, api.Domain{Name: "localhost"}).apiErr(422, api.CodeValidation)
	h.call("POST", "/v1/domains", h.admin, api.Domain{}).apiErr(422, api.CodeValidation)
	var list api.DomainList
	h.call("GET", "/v1/domains", h.read, nil).ok(200, &list)
	require.Equal(t, []api.Domain{{Name: "example.com"}, {Name: "xn--bcher-kva.example"}}, list.Domains)
	h.createUser(api.CreateUser{Address: "jörg@bücher.example"})
	entries, err := h.st.Audit(t.Context(), store.AuditQuery{Address: "xn--bcher-kva.example"})
	require.NoError(t, err)
	require.Equal(t, store.Actor{Kind: "admin", Name: "admin-token"}, entries[0].Actor)
}
