package accounts_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/store"
)

var cli = store.Actor{Kind: "cli", Name: "admins create"}

func (e env) bootstrap(t *testing.T, addr, name, pw string) (accounts.BootstrapResult, error) {
	t.Helper()
	return e.svc.BootstrapAdmin(t.Context(), e.st, accounts.BootstrapRequest{Address: addr, Name: name, Password: pw, Actor: cli})
}

func (e env) apply(t *testing.T, ch store.Change) {
	t.Helper()
	out, err := e.st.Apply(t.Context(), store.ApplyRequest{Actor: admin, Changes: []store.Change{ch}})
	require.NoError(t, err)
	require.NoError(t, out[0].Err)
}

func (e env) auditCount(t *testing.T, addr string) int {
	t.Helper()
	entries, err := e.st.Audit(t.Context(), store.AuditQuery{Address: addr, Limit: 1000})
	require.NoError(t, err)
	return len(entries)
}

func TestBootstrapAdminCreatesAnAdministratorWhoSignsInAtOnce(t *testing.T) {
	e := newEnv(t)
	res, err := e.bootstrap(t, "Root@Example.com", "  Dana Root ", goodPass)
	require.NoError(t, err)
	require.Equal(t, accounts.BootstrapResult{Address: "root@example.com", Created: true, Registered: true,
		PasswordSet: true, Granted: true}, res)

	u, err := e.st.User(t.Context(), "root@example.com")
	require.NoError(t, err)
	require.Equal(t, store.KindUser, u.Kind)
	require.Equal(t, store.OriginManual, u.Origin)
	require.True(t, u.Enabled)
	require.Equal(t, "Dana Root", u.DisplayName)
	require.True(t, u.Account.Registered)
	require.False(t, u.Account.ForceChange, "the password is the administrator's own, not a temporary one")
	require.Equal(t, []string{accounts.AdminRole}, u.Account.Roles)
	roles, err := e.st.Roles(t.Context())
	require.NoError(t, err)
	i := slices.IndexFunc(roles, func(r store.Role) bool { return r.Name == accounts.AdminRole })
	require.GreaterOrEqual(t, i, 0)
	require.Contains(t, roles[i].Permissions, store.PermissionConsole, "the role lets its holder into the console")

	login, err := e.svc.Login(t.Context(), "root@example.com", goodPass)
	require.NoError(t, err)
	require.False(t, login.MustChangePassword)

	entries, err := e.st.Audit(t.Context(), store.AuditQuery{Address: "root@example.com", Limit: 100})
	require.NoError(t, err)
	var actions []store.Action
	for _, en := range entries {
		require.Equal(t, cli, en.Actor)
		require.NotContains(t, fmt.Sprintf("%+v", en), goodPass, "no secret in the audit log")
		actions = append(actions, en.Action)
	}
	require.ElementsMatch(t, []store.Action{store.ActionCreate, store.ActionRegister, store.ActionSetRoles}, actions)
}

func TestBootstrapAdminTwiceChangesNothingTheSecondTime(t *testing.T) {
	e := newEnv(t)
	_, err := e.bootstrap(t, "root@example.com", "", goodPass)
	require.NoError(t, err)
	before := e.auditCount(t, "root@example.com")

	res, err := e.bootstrap(t, "root@example.com", "", goodPass)
	require.NoError(t, err)
	require.Equal(t, accounts.BootstrapResult{Address: "root@example.com"}, res)
	require.Equal(t, before, e.auditCount(t, "root@example.com"), "nothing written, nothing audited")

	// Another password is set (still not temporary); nothing else changes.
	res, err = e.bootstrap(t, "root@example.com", "", otherPass)
	require.NoError(t, err)
	require.Equal(t, accounts.BootstrapResult{Address: "root@example.com", PasswordSet: true}, res)
	_, err = e.svc.Login(t.Context(), "root@example.com", goodPass)
	require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
	login, err := e.svc.Login(t.Context(), "root@example.com", otherPass)
	require.NoError(t, err)
	require.False(t, login.MustChangePassword)
}

func TestBootstrapAdminRepairsAnExistingUser(t *testing.T) {
	e := newEnv(t, "ann@example.com")
	ctx := t.Context()
	e.apply(t, store.Change{Action: store.ActionUpdate, Kind: store.KindUser, Address: "ann@example.com",
		Changes: []store.FieldChange{{Field: store.FieldAliases, After: []string{"boss@example.com"}}}})
	require.NoError(t, e.st.SetRoles(ctx, "ann@example.com", []string{"Sales"}, admin))
	e.register(t, "ann@example.com")
	require.NoError(t, e.svc.SetTemporaryPassword(ctx, "ann@example.com", otherPass, nil, admin))
	for range store.LockAfter {
		_, _ = e.svc.Login(ctx, "ann@example.com", "Wrong-Guess-99")
	}
	e.apply(t, store.Change{Action: store.ActionDisable, Kind: store.KindUser, Address: "ann@example.com"})
	u, err := e.st.User(ctx, "ann@example.com")
	require.NoError(t, err)
	require.True(t, u.Account.Locked)
	require.True(t, u.Account.ForceChange)

	// Named by its alias; the password it already has, but it is a temporary one.
	res, err := e.bootstrap(t, "boss@example.com", "Not Used", otherPass)
	require.NoError(t, err)
	require.Equal(t, accounts.BootstrapResult{Address: "ann@example.com", Enabled: true, PasswordSet: true,
		Granted: true, Unlocked: true}, res)

	u, err = e.st.User(ctx, "ann@example.com")
	require.NoError(t, err)
	require.True(t, u.Enabled)
	require.Empty(t, u.DisplayName, "an existing user's name is left alone")
	require.False(t, u.Account.Locked)
	require.Zero(t, u.Account.FailedLogins)
	require.False(t, u.Account.ForceChange)
	require.Equal(t, []string{accounts.AdminRole, "Sales"}, u.Account.Roles, "its other roles are kept")
	c, err := e.st.Credentials(ctx, "ann@example.com")
	require.NoError(t, err)
	require.Equal(t, "First pet?", c.Question, "a registered user keeps its security question")
	require.NoError(t, e.svc.VerifyAnswer(ctx, "ann@example.com", "rex"))

	login, err := e.svc.Login(ctx, "ann@example.com", otherPass)
	require.NoError(t, err)
	require.False(t, login.MustChangePassword)
}

func TestBootstrapAdminWithoutSecurityQuestionHasNoAnswerToGuess(t *testing.T) {
	e := newEnv(t)
	_, err := e.bootstrap(t, "root@example.com", "", goodPass)
	require.NoError(t, err)
	c, err := e.st.Credentials(t.Context(), "root@example.com")
	require.NoError(t, err)
	require.Empty(t, c.Question)
	require.Empty(t, c.AnswerHash)
	require.ErrorIs(t, e.svc.VerifyAnswer(t.Context(), "root@example.com", ""), accounts.ErrWrongAnswer)
}

func TestBootstrapAdminRefusalsWriteNothing(t *testing.T) {
	e := newEnv(t)
	e.apply(t, store.Change{Action: store.ActionCreate, Kind: store.KindGroup, Address: "team@example.com", Origin: store.OriginManual})

	_, err := e.bootstrap(t, "root@example.com", "", "short")
	var weak *password.WeakError
	require.ErrorAs(t, err, &weak)
	require.Contains(t, weak.Reason, "use at least 10")
	_, err = e.bootstrap(t, "root@example.com", "", "Root-Password-1")
	require.ErrorAs(t, err, &weak)
	require.Equal(t, "it contains the account's own name", weak.Reason)

	_, err = e.bootstrap(t, "root@example.org", "", goodPass)
	var nie *store.NotInternalError
	require.ErrorAs(t, err, &nie)
	require.Equal(t, "example.org", nie.Domain)

	var v *accounts.ValidationError
	_, err = e.bootstrap(t, "team@example.com", "", goodPass)
	require.ErrorAs(t, err, &v)
	require.Contains(t, v.Error(), "distribution list")
	_, err = e.bootstrap(t, "not an address", "", goodPass)
	require.ErrorAs(t, err, &v)
	_, err = e.bootstrap(t, "root@example.com", "", "")
	require.ErrorAs(t, err, &v)

	for _, addr := range []string{"root@example.com", "root@example.org"} {
		_, err := e.st.User(t.Context(), addr)
		require.ErrorIs(t, err, store.ErrNotFound, addr)
	}
	require.Equal(t, 1, e.auditCount(t, "team@example.com"), "the group only has its creation")
}
