package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func testCredentials(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})))

	// A synchronised user has no portal login yet.
	require.Equal(t, store.Credentials{Address: "alice@example.com", Enabled: true}, e.creds("AL@example.com"))
	require.Equal(t, store.Account{}, e.account("alice@example.com"))

	reg := registration("alice", true)
	e.register("al@example.com", reg)
	want := store.Credentials{
		Address:      "alice@example.com",
		Enabled:      true,
		Account:      store.Account{Registered: true, HasPassword: true, ForceChange: true},
		PasswordHash: reg.PasswordHash,
		Question:     reg.Question,
		AnswerHash:   reg.AnswerHash,
	}
	for _, addr := range []string{"alice@example.com", "al@example.com", "Alice@Example.COM"} {
		require.Equal(t, want, e.creds(addr), "by %q", addr)
	}
	require.Equal(t, want.Account, e.account("al@example.com"), "User shows the same account")

	entries := e.auditOf("alice@example.com", store.ActionRegister)
	require.Len(t, entries, 1)
	require.Equal(t, adminActor, entries[0].Actor)
	require.Equal(t, "alice@example.com", entries[0].Address)
	requireRedacted(t, entries[0])
	e.requireNoSecrets(secretsOf(reg)...)

	// A user disabled in the directory can no longer log in: Credentials shows
	// it at once.
	e.applyOK(action(store.ActionDisable, "alice@example.com"))
	require.False(t, e.creds("al@example.com").Enabled)
	e.applyOK(action(store.ActionEnable, "alice@example.com"))
	require.True(t, e.creds("al@example.com").Enabled)
	e.applyOK(update("alice@example.com", set(store.FieldEnabled, false)))
	require.False(t, e.creds("al@example.com").Enabled)
}

// testAccountsNotFound calls every method that names a user, role-assignment and
// token look-ups with names nothing has.
func testAccountsNotFound(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1"))
	for _, nobody := range []string{"nobody@example.com", "nobody@example.org"} {
		inv := store.Invitation{Address: nobody, TokenHash: tokenHash("t-" + nobody), Created: t0, Expires: t0.Add(time.Hour)}
		calls := []struct {
			name string
			call func() error
		}{
			{"Credentials", func() error { _, err := e.s.Credentials(e.ctx, nobody); return err }},
			{"SetPassword", func() error { return e.s.SetPassword(e.ctx, nobody, pwHash("x"), true, adminActor) }},
			{"LoginSucceeded", func() error { return e.s.LoginSucceeded(e.ctx, nobody, t0) }},
			{"LoginFailed", func() error { _, err := e.s.LoginFailed(e.ctx, nobody, "wrong password", t0); return err }},
			{"BeginLogin", func() error { _, err := e.s.BeginLogin(e.ctx, nobody, t0); return err }},
			{"FinishLogin", func() error { _, err := e.s.FinishLogin(e.ctx, nobody, "", t0); return err }},
			{"Unlock", func() error { return e.s.Unlock(e.ctx, nobody, adminActor) }},
			{"Register", func() error { return e.s.Register(e.ctx, nobody, registration("x", false), adminActor) }},
			{"Unregister", func() error { return e.s.Unregister(e.ctx, nobody, adminActor) }},
			{"CreateInvitation", func() error { return e.s.CreateInvitation(e.ctx, inv, adminActor) }},
			{"SetRoles", func() error { return e.s.SetRoles(e.ctx, nobody, []string{"Sales"}, adminActor) }},
			{"Invitation", func() error { _, err := e.s.Invitation(e.ctx, inv.TokenHash); return err }},
			{"RedeemInvitation", func() error {
				_, err := e.s.RedeemInvitation(e.ctx, inv.TokenHash, t0, registration("x", false), redeemer)
				return err
			}},
			{"TokenByHash", func() error { _, err := e.s.TokenByHash(e.ctx, tokenHash("nothing"), t0); return err }},
			{"RevokeToken", func() error { return e.s.RevokeToken(e.ctx, "nothing", adminActor) }},
		}
		for _, c := range calls {
			require.ErrorIs(t, c.call(), store.ErrNotFound, "%s(%s)", c.name, nobody)
		}
		e.notFound(nobody)
		require.Empty(t, e.audit(store.AuditQuery{Address: nobody}), "nothing is audited for %s", nobody)
	}
	require.Len(t, e.audit(store.AuditQuery{Address: "alice@example.com"}), 1, "only alice's create")
}

func testSetPassword(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})))
	temp, own := pwHash("temporary"), pwHash("own")

	// An admin's temporary password must be changed at the next login.
	require.NoError(t, e.s.SetPassword(e.ctx, "AL@example.com", temp, true, adminActor))
	c := e.creds("alice@example.com")
	require.Equal(t, temp, c.PasswordHash)
	require.True(t, c.Account.HasPassword)
	require.True(t, c.Account.ForceChange)
	require.Equal(t, c.Account, e.account("alice@example.com"))

	// The user's own change clears the flag.
	self := store.Actor{Kind: "admin", Name: "alice@example.com"}
	require.NoError(t, e.s.SetPassword(e.ctx, "alice@example.com", own, false, self))
	c = e.creds("al@example.com")
	require.Equal(t, own, c.PasswordHash)
	require.True(t, c.Account.HasPassword)
	require.False(t, c.Account.ForceChange)

	entries := e.auditOf("alice@example.com", store.ActionSetPassword)
	require.Len(t, entries, 2)
	require.Equal(t, self, entries[0].Actor)
	require.Equal(t, adminActor, entries[1].Actor)
	for _, en := range entries {
		require.Equal(t, "alice@example.com", en.Address)
		requireRedacted(t, en)
	}
	e.requireNoSecrets(temp, own)
}

func testLockout(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})))
	e.register("alice@example.com", registration("alice", false))
	audited := len(e.audit(store.AuditQuery{Address: "alice@example.com"}))

	// Failures count up and the LockAfter-th locks. Failed logins are not audited
	// (like successful ones they change no data an admin manages); the lock is,
	// once, with actor kind "system".
	for i := 1; i <= store.LockAfter+1; i++ {
		reason := fmt.Sprintf("wrong password %d", i)
		a, err := e.s.LoginFailed(e.ctx, "AL@example.com", reason, t0.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
		require.Equal(t, i, a.FailedLogins, "failure %d", i)
		require.Equal(t, i >= store.LockAfter, a.Locked, "failure %d", i)
		require.Equal(t, reason, a.LastLoginError)
		require.True(t, a.Registered, "the rest of the account is returned too")
		require.Equal(t, normAccount(a), e.account("alice@example.com"), "failure %d", i)

		locks := e.auditOf("alice@example.com", store.ActionLock)
		if i < store.LockAfter {
			require.Len(t, e.audit(store.AuditQuery{Address: "alice@example.com"}), audited, "failure %d", i)
			continue
		}
		require.Len(t, locks, 1, "failure %d: locking a locked account is no change", i)
		require.Equal(t, "system", locks[0].Actor.Kind)
		require.Equal(t, "alice@example.com", locks[0].Address)
	}
	require.Equal(t, store.LockAfter+1, e.creds("al@example.com").Account.FailedLogins)

	// Clear Lock.
	require.NoError(t, e.s.Unlock(e.ctx, "al@example.com", adminActor))
	a := e.account("alice@example.com")
	require.False(t, a.Locked)
	require.Zero(t, a.FailedLogins)
	unlocks := e.auditOf("alice@example.com", store.ActionUnlock)
	require.Len(t, unlocks, 1)
	require.Equal(t, adminActor, unlocks[0].Actor)
	require.Equal(t, "alice@example.com", unlocks[0].Address)

	// A success resets the count: failures must be consecutive to lock.
	audited = len(e.audit(store.AuditQuery{Address: "alice@example.com"}))
	for round := range 2 {
		for i := 1; i < store.LockAfter; i++ {
			a, err := e.s.LoginFailed(e.ctx, "alice@example.com", "wrong password", t0.Add(time.Hour))
			require.NoError(t, err)
			require.Equal(t, i, a.FailedLogins, "round %d", round)
			require.False(t, a.Locked, "round %d", round)
		}
		at := t0.Add(time.Duration(2+round) * time.Hour)
		require.NoError(t, e.s.LoginSucceeded(e.ctx, "al@example.com", at))
		a = e.account("alice@example.com")
		require.Zero(t, a.FailedLogins)
		require.Empty(t, a.LastLoginError)
		require.False(t, a.Locked)
		require.Equal(t, at, a.LastLogin)
		require.Equal(t, at, a.LastSeen)
	}
	require.Len(t, e.audit(store.AuditQuery{Address: "alice@example.com"}), audited, "logins are not audited")

	// A failure keeps the last successful login.
	a, err := e.s.LoginFailed(e.ctx, "alice@example.com", "wrong password", t0.Add(5*time.Hour))
	require.NoError(t, err)
	require.Equal(t, t0.Add(3*time.Hour), a.LastLogin.UTC())
	require.Equal(t, t0.Add(3*time.Hour), e.account("alice@example.com").LastLogin)
}

// testLoginAttempts: an attempt is counted before its password is verified,
// so of many parallel guesses exactly LockAfter are let through and the next
// one locks; a correct password verified while the lock was taken does not
// sign in.
func testLoginAttempts(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})))
	e.register("alice@example.com", registration("alice", false))
	locks := func() int { return len(e.auditOf("alice@example.com", store.ActionLock)) }

	// One at a time: each attempt is a failure until its outcome says otherwise.
	for i := 1; i <= store.LockAfter; i++ {
		a, err := e.s.BeginLogin(e.ctx, "AL@example.com", t0)
		require.NoError(t, err)
		require.False(t, a.Locked, "attempt %d may be verified", i)
		require.Equal(t, i, a.FailedLogins, "attempt %d is counted first", i)
		a, err = e.s.FinishLogin(e.ctx, "al@example.com", "wrong password", t0)
		require.NoError(t, err)
		require.Equal(t, i == store.LockAfter, a.Locked, "attempt %d", i)
		require.Equal(t, "wrong password", a.LastLoginError)
		require.Equal(t, normAccount(a), e.account("alice@example.com"))
	}
	require.Equal(t, 1, locks(), "the lock is audited once")
	a, err := e.s.BeginLogin(e.ctx, "alice@example.com", t0)
	require.NoError(t, err)
	require.True(t, a.Locked, "a locked account is not verified")
	require.Equal(t, store.ReasonLocked, a.LastLoginError, "the status check shows someone keeps trying")
	require.Equal(t, store.LockAfter+1, a.FailedLogins)
	require.Equal(t, 1, locks())

	// A success reported after the lock changes nothing.
	a, err = e.s.FinishLogin(e.ctx, "alice@example.com", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, a.Locked)
	require.True(t, e.account("alice@example.com").LastLogin.IsZero(), "no login recorded")

	// Many guesses at once: exactly LockAfter are let through, whatever the
	// interleaving; a success among them after the lock does not sign in.
	for round := range 3 {
		require.NoError(t, e.s.Unlock(e.ctx, "alice@example.com", adminActor))
		const n = 16
		results := make([]store.Account, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], errs[i] = e.s.BeginLogin(e.ctx, "alice@example.com", t0) })
		}
		wg.Wait()
		through := 0
		for i := range n {
			require.NoError(t, errs[i])
			if !results[i].Locked {
				through++
			}
		}
		require.Equal(t, store.LockAfter, through, "round %d: attempts verified", round)
		a := e.account("alice@example.com")
		require.True(t, a.Locked, "round %d", round)
		require.Equal(t, n, a.FailedLogins, "round %d: every attempt counts", round)
		require.Equal(t, 2+round, locks(), "round %d: one lock audited", round)
		a, err = e.s.FinishLogin(e.ctx, "alice@example.com", "", t0)
		require.NoError(t, err)
		require.True(t, a.Locked, "round %d: the right password after the lock", round)
	}

	// A success reported before any lock resets the count.
	require.NoError(t, e.s.Unlock(e.ctx, "alice@example.com", adminActor))
	_, err = e.s.BeginLogin(e.ctx, "alice@example.com", t0)
	require.NoError(t, err)
	at := t0.Add(time.Hour)
	a, err = e.s.FinishLogin(e.ctx, "al@example.com", "", at)
	require.NoError(t, err)
	require.False(t, a.Locked)
	require.Zero(t, a.FailedLogins)
	require.Empty(t, a.LastLoginError)
	require.Equal(t, at, a.LastLogin.UTC())
	require.Equal(t, at, e.account("alice@example.com").LastSeen)
}

// testLoginFailedConcurrent: every failure counts, however many arrive at once,
// and each caller sees the count its own failure made.
func testLoginFailedConcurrent(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1"))
	const n = 10
	accounts := make([]store.Account, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			accounts[i], errs[i] = e.s.LoginFailed(e.ctx, "alice@example.com", "wrong password", t0)
		})
	}
	wg.Wait()
	counts := make([]int, n)
	for i := range n {
		require.NoError(t, errs[i])
		counts[i] = accounts[i].FailedLogins
		require.Equal(t, counts[i] >= store.LockAfter, accounts[i].Locked, "the call that saw %d failures", counts[i])
	}
	slices.Sort(counts)
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, counts)
	a := e.account("alice@example.com")
	require.Equal(t, n, a.FailedLogins)
	require.True(t, a.Locked)
	require.Len(t, e.auditOf("alice@example.com", store.ActionLock), 1)
}

func testRegisterUnregister(t *testing.T, e *env) {
	e.applyOK(
		create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"}),
			set(store.FieldDisplayName, "Alice"), set(store.FieldTitle, "CEO"), set(store.FieldDefaultLead, true)),
		create("bob@example.com", "B-1"),
	)
	reg, again := registration("alice", true), registration("alice-again", false)
	e.register("al@example.com", reg)
	require.NoError(t, e.s.SetRoles(e.ctx, "alice@example.com", []string{"Sales"}, adminActor))
	e.lock("alice@example.com")
	aliceInv := store.Invitation{Address: "alice@example.com", TokenHash: tokenHash("alice-invite"), Created: t0, Expires: t0.Add(48 * time.Hour)}
	bobInv := store.Invitation{Address: "bob@example.com", TokenHash: tokenHash("bob-invite"), Created: t0, Expires: t0.Add(48 * time.Hour)}
	for _, inv := range []store.Invitation{aliceInv, bobInv} {
		require.NoError(t, e.s.CreateInvitation(e.ctx, inv, adminActor))
	}
	before := e.user("alice@example.com")
	require.True(t, before.Account.Registered)
	require.True(t, before.Account.Locked)

	require.NoError(t, e.s.Unregister(e.ctx, "AL@example.com", adminActor))

	// Portal access is gone: registration, password, security question and
	// answer, lock (and with it the failure count, as Unlock clears both).
	c := e.creds("alice@example.com")
	require.False(t, c.Account.Registered)
	require.False(t, c.Account.HasPassword)
	require.False(t, c.Account.Locked)
	require.Zero(t, c.Account.FailedLogins)
	require.Empty(t, c.PasswordHash)
	require.Empty(t, c.Question)
	require.Empty(t, c.AnswerHash)
	_, err := e.s.Invitation(e.ctx, aliceInv.TokenHash)
	require.ErrorIs(t, err, store.ErrNotFound, "outstanding invitations are dropped")
	_, err = e.s.RedeemInvitation(e.ctx, aliceInv.TokenHash, t0.Add(time.Hour), reg, redeemer)
	require.ErrorIs(t, err, store.ErrNotFound)
	got, err := e.s.Invitation(e.ctx, bobInv.TokenHash)
	require.NoError(t, err, "another user's invitation stays")
	require.Equal(t, "bob@example.com", got.Address)

	// The user record is kept, with the fields Unregister does not name: roles
	// and the default-lead flag included.
	after := e.user("al@example.com")
	require.Equal(t, []string{"Sales"}, after.Account.Roles)
	require.True(t, after.Account.DefaultLead)
	before.Account, after.Account = store.Account{}, store.Account{}
	before.Updated, after.Updated = time.Time{}, time.Time{}
	require.Equal(t, before, after)

	entries := e.auditOf("alice@example.com", store.ActionUnregister)
	require.Len(t, entries, 1)
	require.Equal(t, adminActor, entries[0].Actor)
	require.Equal(t, "alice@example.com", entries[0].Address)

	// Registering again works.
	e.register("alice@example.com", again)
	c = e.creds("al@example.com")
	require.True(t, c.Account.Registered)
	require.False(t, c.Account.ForceChange)
	require.Equal(t, again.PasswordHash, c.PasswordHash)
	require.Equal(t, again.AnswerHash, c.AnswerHash)
	require.Len(t, e.auditOf("alice@example.com", store.ActionRegister), 2)
	e.requireNoSecrets(append(secretsOf(reg, again), aliceInv.TokenHash, bobInv.TokenHash)...)
}

func testDefaultLead(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1", set(store.FieldDefaultLead, true)), create("bob@example.com", "B-1"))
	require.True(t, e.account("alice@example.com").DefaultLead)
	require.False(t, e.account("bob@example.com").DefaultLead)
	crt := e.auditOf("alice@example.com", store.ActionCreate)
	require.Len(t, crt, 1)
	require.Equal(t, store.FieldChange{Field: store.FieldDefaultLead, After: true}, field(t, crt[0].Changes, store.FieldDefaultLead))

	e.applyOK(update("alice@example.com", set(store.FieldDefaultLead, false)),
		update("bob@example.com", set(store.FieldDefaultLead, true)))
	require.False(t, e.account("alice@example.com").DefaultLead)
	require.True(t, e.account("bob@example.com").DefaultLead)
	for addr, want := range map[string]store.FieldChange{
		"alice@example.com": {Field: store.FieldDefaultLead, Before: true, After: false},
		"bob@example.com":   {Field: store.FieldDefaultLead, Before: false, After: true},
	} {
		upd := e.auditOf(addr, store.ActionUpdate)
		require.Len(t, upd, 1, addr)
		require.Equal(t, []store.FieldChange{want}, upd[0].Changes, addr)
	}

	// Setting what is there is not applied; a non-bool is refused.
	out := e.applyOne(update("bob@example.com", set(store.FieldDefaultLead, true)))
	require.NoError(t, out.Err)
	require.False(t, out.Applied)
	out = e.applyOne(update("bob@example.com", set(store.FieldDefaultLead, "yes")))
	require.False(t, out.Applied)
	require.ErrorIs(t, out.Err, store.ErrInvalid)
	require.True(t, e.account("bob@example.com").DefaultLead)
}
