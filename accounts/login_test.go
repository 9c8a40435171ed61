package accounts_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

// racingStore holds every Credentials answer until n callers have asked (or
// a second has passed), so n parallel logins all read the account before any
// of them records a failure: the worst interleaving, made certain. With
// holdSuccess it also holds the recording of a successful login until
// release is closed.
type racingStore struct {
	store.Accounts
	n           int
	mu          sync.Mutex
	arrived     int
	all         chan struct{}
	holdSuccess bool
	atSuccess   chan struct{}
	release     chan struct{}
}

func newRacingStore(st store.Accounts, n int) *racingStore {
	return &racingStore{Accounts: st, n: n, all: make(chan struct{}),
		atSuccess: make(chan struct{}), release: make(chan struct{})}
}

func (r *racingStore) Credentials(ctx context.Context, address string) (store.Credentials, error) {
	c, err := r.Accounts.Credentials(ctx, address)
	r.mu.Lock()
	r.arrived++
	if r.arrived == r.n {
		close(r.all)
	}
	r.mu.Unlock()
	select {
	case <-r.all:
	case <-time.After(time.Second):
	}
	return c, err
}

func (r *racingStore) success() {
	if r.holdSuccess {
		close(r.atSuccess)
		<-r.release
	}
}

func (r *racingStore) LoginSucceeded(ctx context.Context, address string, at time.Time) error {
	r.success()
	return r.Accounts.LoginSucceeded(ctx, address, at)
}

func (r *racingStore) FinishLogin(ctx context.Context, address, reason string, at time.Time) (store.Account, error) {
	if reason == "" {
		r.success()
	}
	return r.Accounts.FinishLogin(ctx, address, reason, at)
}

// openStore is a SQLite store with example.com and ann, registered with goodPass.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st := testenv.SQLiteStore(t)
	require.NoError(t, st.AddDomain(t.Context(), "example.com", admin))
	_, err := st.Apply(t.Context(), store.ApplyRequest{Actor: admin, Changes: []store.Change{
		{Action: store.ActionCreate, Address: "ann@example.com", Origin: store.OriginManual}}})
	require.NoError(t, err)
	svc := accounts.New(accounts.Options{Store: st, Log: zap.NewNop(), Params: fast})
	require.NoError(t, svc.Register(t.Context(), "ann@example.com",
		accounts.Registration{Password: goodPass, Question: "First pet?", Answer: "Rex"}, admin))
	return st
}

// TestParallelGuessesAreCountedFirst: however many wrong guesses arrive at
// once, at most LockAfter are verified before the lock, and all are answered
// alike.
func TestParallelGuessesAreCountedFirst(t *testing.T) {
	st := openStore(t)
	const n = 24
	core, logs := observer.New(zap.InfoLevel)
	svc := accounts.New(accounts.Options{Store: newRacingStore(st, n), Log: zap.New(core), Params: fast,
		Limiter: password.NewLimiter(n, n, time.Minute)})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = svc.Login(t.Context(), "ann@example.com", "Wrong-Guess-"+string(rune('A'+i))) })
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
		require.Equal(t, accounts.ErrInvalidCredentials.Error(), err.Error())
	}
	verified := logs.FilterMessage("login refused").FilterField(zap.String("reason", "wrong password")).Len()
	require.LessOrEqual(t, verified, store.LockAfter, "guesses verified against the real hash")

	c, err := st.Credentials(t.Context(), "ann@example.com")
	require.NoError(t, err)
	require.True(t, c.Account.Locked)
	require.Equal(t, n, c.Account.FailedLogins, "every guess counts")

	_, err = svc.Login(t.Context(), "ann@example.com", goodPass)
	require.ErrorIs(t, err, accounts.ErrLocked, "the right password after the lock")
	require.ErrorIs(t, err, accounts.ErrInvalidCredentials, "answered like any other refusal")
}

// TestRightPasswordDuringLockDoesNotSignIn: a right password whose check was
// under way while wrong guesses locked the account is refused.
func TestRightPasswordDuringLockDoesNotSignIn(t *testing.T) {
	st := openStore(t)
	rs := newRacingStore(st, 1)
	rs.holdSuccess = true
	svc := accounts.New(accounts.Options{Store: rs, Log: zap.NewNop(), Params: fast})
	right := make(chan error, 1)
	go func() { _, err := svc.Login(t.Context(), "ann@example.com", goodPass); right <- err }()
	select {
	case <-rs.atSuccess:
	case <-time.After(10 * time.Second):
		t.Fatal("the right password never reached its success")
	}
	// Meanwhile the guesser locks the account (a separate service: the held
	// one answers the right password only).
	guesser := accounts.New(accounts.Options{Store: st, Log: zap.NewNop(), Params: fast})
	for range store.LockAfter {
		_, err := guesser.Login(t.Context(), "ann@example.com", "Wrong-Password-1")
		require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
	}
	c, err := st.Credentials(t.Context(), "ann@example.com")
	require.NoError(t, err)
	require.True(t, c.Account.Locked)
	close(rs.release)

	err = <-right
	require.ErrorIs(t, err, accounts.ErrLocked, "no sign-in into a locked account")
	c, err = st.Credentials(t.Context(), "ann@example.com")
	require.NoError(t, err)
	require.True(t, c.Account.Locked, "the lock stands")
	require.True(t, c.Account.LastLogin.IsZero(), "no login recorded")
	require.NotZero(t, c.Account.FailedLogins, "the status check still shows the failures")
}

// TestRefusalsLookAlike: unknown, no password, wrong, locked and disabled
// are one answer; the reason is in the log and the account.
func TestRefusalsLookAlike(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	e := newEnv(t, "ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com")
	svc := accounts.New(accounts.Options{Store: e.st, Now: e.clk.Now, Log: zap.New(core), Params: fast})
	ctx := t.Context()
	for _, u := range []string{"ann@example.com", "cat@example.com", "dan@example.com"} {
		e.register(t, u)
	}
	for range store.LockAfter {
		_, _ = svc.Login(ctx, "cat@example.com", "Wrong-Password-1")
	}
	_, err := e.st.Apply(ctx, store.ApplyRequest{Actor: admin,
		Changes: []store.Change{{Action: store.ActionDisable, Address: "dan@example.com"}}})
	require.NoError(t, err)

	cases := []struct {
		name, address, pw, reason string
		is                        error
	}{
		{"unknown", "nobody@example.com", goodPass, "unknown address", accounts.ErrInvalidCredentials},
		{"no password", "bob@example.com", goodPass, "no password set", accounts.ErrInvalidCredentials},
		{"wrong", "ann@example.com", "Wrong-Password-1", "wrong password", accounts.ErrInvalidCredentials},
		{"locked", "cat@example.com", goodPass, "account locked", accounts.ErrLocked},
		{"disabled", "dan@example.com", goodPass, "account disabled", accounts.ErrDisabled},
	}
	for _, c := range cases {
		_, err := svc.Login(ctx, c.address, c.pw)
		require.ErrorIs(t, err, accounts.ErrInvalidCredentials, c.name)
		require.ErrorIs(t, err, c.is, c.name)
		require.Equal(t, accounts.ErrInvalidCredentials.Error(), err.Error(), "%s: the same words", c.name)
		got := logs.TakeAll()
		require.NotEmpty(t, got, c.name)
		last := got[len(got)-1].ContextMap()
		require.Equal(t, c.reason, last["reason"], c.name)
		for _, en := range got {
			for _, v := range en.ContextMap() {
				require.NotEqual(t, c.pw, v, "%s: the password is never logged", c.name)
			}
		}
		if c.address != "nobody@example.com" && c.address != "bob@example.com" {
			require.Equal(t, c.reason, e.account(t, c.address).LastLoginError, "%s: the status check tells the truth", c.name)
		}
	}
}

// TestBusyRefusesBeforeCounting: with every argon2 slot taken and no room to
// wait, a login is refused with ErrBusy and nothing is recorded.
func TestBusyRefusesBeforeCounting(t *testing.T) {
	st := openStore(t)
	lim := password.NewLimiter(1, 0, time.Millisecond)
	svc := accounts.New(accounts.Options{Store: st, Log: zap.NewNop(), Params: fast, Limiter: lim})
	hold, held := make(chan struct{}), make(chan struct{})
	go func() { _ = lim.Do(context.Background(), func() { close(held); <-hold }) }()
	<-held
	_, err := svc.Login(t.Context(), "ann@example.com", "Wrong-Password-1")
	require.ErrorIs(t, err, password.ErrBusy)
	_, err = svc.ChangePassword(t.Context(), accounts.Change{Address: "ann@example.com", Current: goodPass, Next: otherPass})
	require.ErrorIs(t, err, password.ErrBusy)
	_, err = svc.Redeem(t.Context(), "no-such-token", accounts.Registration{})
	require.ErrorIs(t, err, accounts.ErrInvitationUnknown, "a token is checked without argon2")
	c, err := st.Credentials(t.Context(), "ann@example.com")
	require.NoError(t, err)
	require.Zero(t, c.Account.FailedLogins, "a refused attempt is not a failed one")

	// An administrator's hashing waits for the slot instead.
	done := make(chan error, 1)
	go func() { done <- svc.SetTemporaryPassword(t.Context(), "ann@example.com", otherPass, nil, admin) }()
	select {
	case err := <-done:
		t.Fatalf("ran without a slot: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(hold)
	require.NoError(t, <-done)
}
