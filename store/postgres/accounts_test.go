package postgres

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

var (
	admin = store.Actor{Kind: "admin", Name: "root"}
	t0    = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
)

// accountStore opens a store with users u0..u{n-1}@example.com.
func accountStore(t *testing.T, n int) *Store {
	t.Helper()
	s := openTest(t, testSchema(t))
	require.NoError(t, s.AddDomain(t.Context(), "example.com", admin))
	out, err := s.Apply(t.Context(), store.ApplyRequest{Actor: admin, Changes: userCreates(0, n, false)})
	require.NoError(t, err)
	for _, o := range out {
		require.True(t, o.Applied)
	}
	return s
}

// TestDefaultRolesSeeded: a new store holds store.DefaultRoles (permissions
// sorted, as Roles returns them).
func TestDefaultRolesSeeded(t *testing.T) {
	s := openTest(t, testSchema(t))
	want := make([]store.Role, len(store.DefaultRoles))
	for i, r := range store.DefaultRoles {
		r.Permissions = slices.Sorted(slices.Values(r.Permissions))
		want[i] = r
	}
	slices.SortFunc(want, func(a, b store.Role) int { return strings.Compare(a.Name, b.Name) })
	require.Equal(t, want, must(s.Roles(t.Context())))
}

// TestConcurrentLoginFailures: failures racing on one account each count, and
// exactly one of them locks it and is audited.
func TestConcurrentLoginFailures(t *testing.T) {
	s := accountStore(t, 1)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = s.LoginFailed(t.Context(), "user0@example.com", "wrong password", t0) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	acct := must(s.User(t.Context(), "user0@example.com")).Account
	require.True(t, acct.Locked)
	require.Equal(t, n, acct.FailedLogins)
	require.Equal(t, "wrong password", acct.LastLoginError)
	locks := must(s.Audit(t.Context(), store.AuditQuery{Address: "user0@example.com", ActorKind: "system"}))
	require.Len(t, locks, 1)
	require.Equal(t, store.ActionLock, locks[0].Action)
	require.Equal(t, store.Actor{Kind: "system", Name: "login"}, locks[0].Actor)
	require.Equal(t, t0, locks[0].Time)

	// Unlocked, the count starts again and the next lock is audited too.
	require.NoError(t, s.Unlock(t.Context(), "user0@example.com", admin))
	for i := range store.LockAfter {
		acct = must(s.LoginFailed(t.Context(), "user0@example.com", "wrong password", t0))
		require.Equal(t, i+1 == store.LockAfter, acct.Locked, "failure %d", i+1)
	}
	require.Len(t, must(s.Audit(t.Context(), store.AuditQuery{Address: "user0@example.com", ActorKind: "system"})), 2)
}

// TestConcurrentRedeem: of several redeemers of one invitation exactly one
// wins; the others learn it is used.
func TestConcurrentRedeem(t *testing.T) {
	s := accountStore(t, 1)
	ctx := t.Context()
	require.NoError(t, s.CreateInvitation(ctx, store.Invitation{Address: "user0@example.com", TokenHash: "h1",
		Created: t0, Expires: t0.Add(time.Hour)}, admin))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.RedeemInvitation(ctx, "h1", t0.Add(time.Minute), store.Registration{PasswordHash: "$argon2id$x"}, redeemer)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.ErrorIs(t, err, store.ErrInvitationUsed)
	}
	require.Equal(t, 1, won)
	require.Len(t, must(s.Audit(ctx, store.AuditQuery{Address: "user0@example.com", ActorKind: "user"})), 1, "one redeem audited")
	inv := must(s.Invitation(ctx, "h1"))
	require.Equal(t, t0.Add(time.Minute), inv.Used)
	require.True(t, must(s.User(ctx, "user0@example.com")).Account.Registered)
}

// TestAccountSecretsStayOut: no error or audit value shows a hash.
func TestAccountSecretsStayOut(t *testing.T) {
	s := accountStore(t, 2)
	ctx := t.Context()
	const pw, answer, tok = "$argon2id$v=19$PWSECRET", "$argon2id$v=19$ANSWERSECRET", "TOKENSECRET"
	require.NoError(t, s.Register(ctx, "user0@example.com", store.Registration{PasswordHash: pw, Question: "pet?", AnswerHash: answer}, admin))
	require.NoError(t, s.SetPassword(ctx, "user0@example.com", pw+"2", true, admin))
	require.NoError(t, s.CreateInvitation(ctx, store.Invitation{Address: "user1@example.com", TokenHash: tok, Expires: t0}, admin))
	err := s.CreateInvitation(ctx, store.Invitation{Address: "user0@example.com", TokenHash: tok, Expires: t0}, admin)
	require.ErrorIs(t, err, store.ErrConflict)
	require.NotContains(t, err.Error(), tok)
	_, err = s.RedeemInvitation(ctx, tok, t0.Add(time.Second), store.Registration{PasswordHash: pw}, redeemer)
	require.ErrorIs(t, err, store.ErrInvitationExpired)
	require.NotContains(t, err.Error(), tok)
	_, err = s.CreateToken(ctx, store.Token{Name: "ci", Hash: tok, Scopes: []string{store.ScopeRead}}, admin)
	require.NoError(t, err)
	_, err = s.CreateToken(ctx, store.Token{Name: "ci2", Hash: tok}, admin)
	require.ErrorIs(t, err, store.ErrConflict)
	require.NotContains(t, err.Error(), tok)
	require.NoError(t, s.Unregister(ctx, "user0@example.com", admin))

	for _, e := range must(s.Audit(ctx, store.AuditQuery{Limit: 1000})) {
		for _, c := range e.Changes {
			for _, v := range []any{c.Before, c.After} {
				if str, ok := v.(string); ok {
					for _, secret := range []string{"PWSECRET", "ANSWERSECRET", tok} {
						require.NotContains(t, str, secret, "%s %s", e.Action, e.Address)
					}
				}
			}
		}
	}
	c := must(s.Credentials(ctx, "user0@example.com"))
	require.Empty(t, c.PasswordHash)
	require.False(t, c.Account.Registered)
}

func TestSetRolesCaseInsensitive(t *testing.T) {
	s := accountStore(t, 1)
	ctx := t.Context()
	require.NoError(t, s.SetRoles(ctx, "user0@example.com", []string{"sales", "ACCOUNTS", "Sales"}, admin))
	require.Equal(t, []string{"Accounts", "Sales"}, must(s.User(ctx, "user0@example.com")).Account.Roles)
	err := s.SetRoles(ctx, "user0@example.com", []string{"Sales", "Nope", "nope2"}, admin)
	var unknown *store.UnknownRoleError
	require.True(t, errors.As(err, &unknown), "%v", err)
	require.Equal(t, []string{"Nope", "nope2"}, unknown.Names)
	require.ErrorIs(t, s.AddRole(ctx, store.Role{Name: "SALES"}, admin), store.ErrRoleExists)
	require.ErrorIs(t, s.AddRole(ctx, store.Role{Name: "X", Permissions: []string{"fly"}}, admin), store.ErrInvalid)
	require.NoError(t, s.AddRole(ctx, store.Role{Name: "Ops Admin", Permissions: []string{"sync", "support", "sync"}, Default: true}, admin))
	roles := must(s.Roles(ctx))
	i := slices.IndexFunc(roles, func(r store.Role) bool { return r.Name == "Ops Admin" })
	require.Equal(t, store.Role{Name: "Ops Admin", Permissions: []string{"support", "sync"}}, roles[i])
	entries := must(s.Audit(ctx, store.AuditQuery{Address: "Ops Admin"}))
	require.Len(t, entries, 1)
	require.Equal(t, []string{"support", "sync"}, entries[0].Changes[1].After)
}

// redeemer is the end user redeeming an invitation.
var redeemer = store.Actor{Kind: "user", Name: "invitee"}
