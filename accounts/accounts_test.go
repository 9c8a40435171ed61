package accounts_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

// fast keeps argon2 cheap in tests.
var fast = password.Params{Memory: 64, Time: 1, Threads: 1}

var admin = store.Actor{Kind: "admin", Name: "test"}

const (
	goodPass  = "Correct-Horse-42"
	otherPass = "Another-Battery-7"
)

type env struct {
	st  *sqlite.Store
	svc *accounts.Service
	clk *testenv.Clock
}

// newEnv opens a SQLite store with example.com and the given users.
func newEnv(t *testing.T, users ...string) env {
	t.Helper()
	st := testenv.SQLiteStore(t)
	ctx := t.Context()
	require.NoError(t, st.AddDomain(ctx, "example.com", admin))
	var changes []store.Change
	for _, u := range users {
		changes = append(changes, store.Change{Action: store.ActionCreate, Address: u, Origin: store.OriginManual})
	}
	if len(changes) > 0 {
		out, err := st.Apply(ctx, store.ApplyRequest{Actor: admin, Changes: changes})
		require.NoError(t, err)
		for _, o := range out {
			require.NoError(t, o.Err)
		}
	}
	clk := testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	svc := accounts.New(accounts.Options{Store: st, Now: clk.Now, Log: zap.NewNop(), Params: fast})
	return env{st: st, svc: svc, clk: clk}
}

func (e env) register(t *testing.T, addr string) {
	t.Helper()
	require.NoError(t, e.svc.Register(t.Context(), addr,
		accounts.Registration{Password: goodPass, Question: "First pet?", Answer: "Rex"}, admin))
}

func (e env) account(t *testing.T, addr string) store.Account {
	t.Helper()
	c, err := e.st.Credentials(t.Context(), addr)
	require.NoError(t, err)
	return c.Account
}

func TestLoginLocksAfterThreeFailuresUntilUnlocked(t *testing.T) {
	e := newEnv(t, "ann@example.com")
	ctx := t.Context()
	e.register(t, "ann@example.com")

	for range store.LockAfter - 1 {
		_, err := e.svc.Login(ctx, "ann@example.com", "Wrong-Password-1")
		require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
	}
	_, err := e.svc.Login(ctx, "ann@example.com", "Wrong-Password-1")
	require.ErrorIs(t, err, accounts.ErrLocked, "the third failure locks")
	acct := e.account(t, "ann@example.com")
	require.True(t, acct.Locked)
	require.Equal(t, "wrong password", acct.LastLoginError)

	// Locked: even the right password is refused, and the attempt is recorded.
	_, err = e.svc.Login(ctx, "ann@example.com", goodPass)
	require.ErrorIs(t, err, accounts.ErrLocked)
	acct = e.account(t, "ann@example.com")
	require.Equal(t, "account locked", acct.LastLoginError)
	require.Equal(t, store.LockAfter+1, acct.FailedLogins)

	locks, err := e.st.Audit(ctx, store.AuditQuery{Address: "ann@example.com"})
	require.NoError(t, err)
	n := 0
	for _, a := range locks {
		if a.Action == store.ActionLock {
			n++
		}
	}
	require.Equal(t, 1, n, "the lock is audited once")

	require.NoError(t, e.svc.Unlock(ctx, "ann@example.com", admin))
	res, err := e.svc.Login(ctx, "ANN@example.com", goodPass)
	require.NoError(t, err)
	require.Equal(t, accounts.LoginResult{Address: "ann@example.com"}, res)
	acct = e.account(t, "ann@example.com")
	require.False(t, acct.Locked)
	require.Zero(t, acct.FailedLogins)
	require.Empty(t, acct.LastLoginError)
	require.Equal(t, e.clk.Now(), acct.LastLogin)
}

func TestLoginDoesNotTellUnknownFromWrong(t *testing.T) {
	e := newEnv(t, "ann@example.com", "bob@example.com")
	ctx := t.Context()
	e.register(t, "ann@example.com")

	_, unknown := e.svc.Login(ctx, "nobody@example.com", goodPass)
	_, noPassword := e.svc.Login(ctx, "bob@example.com", goodPass)
	_, wrong := e.svc.Login(ctx, "ann@example.com", "Wrong-Password-1")
	for _, err := range []error{unknown, noPassword, wrong} {
		require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
		require.Equal(t, accounts.ErrInvalidCredentials.Error(), err.Error(), "same words for all three")
	}
	require.Zero(t, e.account(t, "bob@example.com").FailedLogins, "nothing to guess without a password")
	require.Equal(t, 1, e.account(t, "ann@example.com").FailedLogins)
}

func TestDisabledUserCannotLogInAtOnce(t *testing.T) {
	e := newEnv(t, "ann@example.com")
	ctx := t.Context()
	e.register(t, "ann@example.com")
	_, err := e.svc.Login(ctx, "ann@example.com", goodPass)
	require.NoError(t, err)

	_, err = e.st.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "ad"},
		Changes: []store.Change{{Action: store.ActionDisable, Address: "ann@example.com"}}})
	require.NoError(t, err)
	_, err = e.svc.Login(ctx, "ann@example.com", goodPass)
	require.ErrorIs(t, err, accounts.ErrDisabled)
	require.Equal(t, "account disabled", e.account(t, "ann@example.com").LastLoginError)
	// A wrong password still says only that.
	_, err = e.svc.Login(ctx, "ann@example.com", "Wrong-Password-1")
	require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
}

func TestForcedChangeFlow(t *testing.T) {
	e := newEnv(t, "ann@example.com")
	ctx := t.Context()
	e.register(t, "ann@example.com")
	require.NoError(t, e.svc.SetTemporaryPassword(ctx, "ann@example.com", "Temporary-Pass-1", nil, admin))

	res, err := e.svc.Login(ctx, "ann@example.com", "Temporary-Pass-1")
	require.NoError(t, err)
	require.True(t, res.MustChangePassword)

	_, err = e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Temporary-Pass-1", Next: "short"})
	var weak *password.WeakError
	require.ErrorAs(t, err, &weak)
	require.NotContains(t, err.Error(), "short")
	_, err = e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Temporary-Pass-1", Next: "Temporary-Pass-1"})
	var ve *accounts.ValidationError
	require.ErrorAs(t, err, &ve)
	_, err = e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Temporary-Pass-1", Next: "Ann-Is-Mine-123"})
	require.ErrorAs(t, err, &weak, "the account's own name")

	res, err = e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Temporary-Pass-1", Next: otherPass})
	require.NoError(t, err)
	require.False(t, res.MustChangePassword)
	res, err = e.svc.Login(ctx, "ann@example.com", otherPass)
	require.NoError(t, err)
	require.False(t, res.MustChangePassword)
	_, err = e.svc.Login(ctx, "ann@example.com", "Temporary-Pass-1")
	require.ErrorIs(t, err, accounts.ErrInvalidCredentials)

	// Without forcing, and forcing again without a new password.
	no := false
	require.NoError(t, e.svc.SetTemporaryPassword(ctx, "ann@example.com", goodPass, &no, admin))
	require.False(t, e.account(t, "ann@example.com").ForceChange)
	require.NoError(t, e.svc.SetForceChange(ctx, "ann@example.com", true, admin))
	res, err = e.svc.Login(ctx, "ann@example.com", goodPass)
	require.NoError(t, err)
	require.True(t, res.MustChangePassword)
}

func TestChangePasswordWrongCurrentCountsTowardsLock(t *testing.T) {
	e := newEnv(t, "ann@example.com")
	ctx := t.Context()
	e.register(t, "ann@example.com")
	for range store.LockAfter - 1 {
		_, err := e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Wrong-Password-1", Next: otherPass})
		require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
	}
	_, err := e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Wrong-Password-1", Next: otherPass})
	require.ErrorIs(t, err, accounts.ErrLocked)
	_, err = e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: goodPass, Next: otherPass})
	require.ErrorIs(t, err, accounts.ErrLocked)
}

func TestRegisterValidatesAndFoldsTheAnswer(t *testing.T) {
	e := newEnv(t, "ann@example.com")
	ctx := t.Context()

	err := e.svc.Register(ctx, "ann@example.com", accounts.Registration{Password: goodPass}, admin)
	var ve *accounts.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, []accounts.FieldProblem{{Field: "security_question", Message: "required"},
		{Field: "security_answer", Message: "required"}}, ve.Problems)
	err = e.svc.Register(ctx, "ann@example.com", accounts.Registration{Password: "weakweak", Question: "Q?", Answer: "A"}, admin)
	var weak *password.WeakError
	require.ErrorAs(t, err, &weak)
	err = e.svc.Register(ctx, "nobody@example.com", accounts.Registration{Password: goodPass, Question: "Q?", Answer: "A"}, admin)
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, e.svc.Register(ctx, "ann@example.com",
		accounts.Registration{Password: goodPass, Question: "First pet?", Answer: "  Rex The Dog "}, admin))
	require.True(t, e.account(t, "ann@example.com").Registered)
	require.NoError(t, e.svc.VerifyAnswer(ctx, "ann@example.com", "rex the dog"))
	require.NoError(t, e.svc.VerifyAnswer(ctx, "ann@example.com", "REX THE DOG"))
	require.ErrorIs(t, e.svc.VerifyAnswer(ctx, "ann@example.com", "rex"), accounts.ErrWrongAnswer)
	require.ErrorIs(t, e.svc.VerifyAnswer(ctx, "nobody@example.com", "rex"), accounts.ErrWrongAnswer)

	err = e.svc.Register(ctx, "ann@example.com", accounts.Registration{Password: goodPass, Question: "Q?", Answer: "A"}, admin)
	require.ErrorIs(t, err, accounts.ErrAlreadyRegistered)

	require.NoError(t, e.svc.Unregister(ctx, "ann@example.com", admin))
	acct := e.account(t, "ann@example.com")
	require.False(t, acct.Registered)
	require.False(t, acct.HasPassword)
	_, err = e.svc.Login(ctx, "ann@example.com", goodPass)
	require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
	_, err = e.st.User(ctx, "ann@example.com")
	require.NoError(t, err, "the record is kept")
}

// TestAuditHoldsNoSecret runs every flow and then reads the whole audit log.
func TestAuditHoldsNoSecret(t *testing.T) {
	e := newEnv(t, "ann@example.com", "bob@example.com")
	ctx := t.Context()
	e.register(t, "ann@example.com")
	require.NoError(t, e.svc.SetTemporaryPassword(ctx, "ann@example.com", otherPass, nil, admin))
	_, err := e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: otherPass, Next: "Third-Secret-99"})
	require.NoError(t, err)
	inv, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{}, admin)
	require.NoError(t, err)
	_, err = e.svc.Redeem(ctx, inv.Token, accounts.Registration{Password: "Zebra-Secret-77", Question: "Q?", Answer: "Zanzibar"})
	require.NoError(t, err)

	entries, err := e.st.Audit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	raw, err := json.Marshal(entries)
	require.NoError(t, err)
	for _, secret := range []string{goodPass, otherPass, "Third-Secret-99", "Zebra-Secret-77", "Zanzibar", "zanzibar",
		"Rex", "$argon2id", inv.Token, accounts.HashToken(inv.Token)} {
		require.NotContains(t, string(raw), secret)
	}
}
