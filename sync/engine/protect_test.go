package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// TestProtectedAccountsHeldNotDropped: the source takes away the access of
// accounts protected by address, by role (glob) and by the store's flag; an
// unprotected leaver is disabled at once, the protected ones are held for
// approval (the run is "held", which raises the held-run alert), run after run
// as the same holds, never silently dropped. Approving the administrator's
// disable applies it despite the protection, and she can no longer sign in.
func TestProtectedAccountsHeldNotDropped(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.eng.SetProtection(engine.Protection{Addresses: []string{"U01@Example.com"}, Roles: []string{"*Admin*"}})
	src := &connectortest.Static{Records: users(20)}
	pol := policy()
	pol.MissingRuns = 1
	pol.MaxDestructivePercent = 100
	rep := e.run(t, src, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	admin := store.Actor{Kind: "admin", Name: "test"}
	require.NoError(t, e.store.SetRoles(ctx, "u02@example.com", []string{"Administrator"}, admin))
	_, err := e.store.Apply(ctx, store.ApplyRequest{Actor: admin, Changes: []store.Change{{Action: store.ActionUpdate,
		Address: "u03@example.com", Changes: []store.FieldChange{{Field: store.FieldProtected, After: true}}, Reason: "test"}}})
	require.NoError(t, err)
	acc := accounts.New(accounts.Options{Store: e.store.(store.Accounts), Log: zap.NewNop(),
		Params: password.Params{Memory: 64, Time: 1, Threads: 1}})
	const pw = "Correct-Horse-42"
	require.NoError(t, acc.Register(ctx, "u02@example.com", accounts.Registration{Password: pw, Question: "Pet?", Answer: "Rex"}, admin))
	_, err = acc.Login(ctx, "u02@example.com", pw)
	require.NoError(t, err)

	// u00, u01 and u03 leave the source; the administrator u02 is disabled in it.
	recs := users(20)[4:]
	disabled := user(2)
	disabled.Disabled = true
	src.Records = append(recs, disabled)
	var ids map[string]string // address → hold id, from the first run
	for i := range 2 {
		rep = e.run(t, src, pol, engine.Options{Full: true})
		require.Equal(t, engine.StatusHeld, rep.Status, "protected accounts' disables wait for an admin: %v", rep.Errors)
		require.False(t, e.enabled(t, "u00@example.com"), "an unprotected leaver is disabled")
		for _, a := range []string{"u01@example.com", "u02@example.com", "u03@example.com"} {
			require.True(t, e.enabled(t, a), "%s is protected: held, not applied", a)
		}
		require.Equal(t, 3, rep.Counts.Held)
		require.Equal(t, 3, rep.Counts.Protected)
		require.Contains(t, rep.HoldReason, "protected")
		why := map[string]string{}
		for _, op := range rep.Protected {
			require.Equal(t, "held", op.Outcome)
			why[op.Address] = op.Error
		}
		require.Contains(t, why["u01@example.com"], "protected.addresses")
		require.Contains(t, why["u02@example.com"], `role "Administrator"`)
		require.Contains(t, why["u03@example.com"], "flagged protected")

		pending, err := e.eng.Held(ctx, "dir", engine.HoldPending)
		require.NoError(t, err)
		require.Len(t, pending, 3, "run %d: one hold per operation, not one more per run", i+1)
		got := map[string]string{}
		for _, h := range pending {
			require.Equal(t, store.ActionDisable, h.Change.Action)
			require.Contains(t, h.Reason, "protected")
			got[h.Change.Address] = h.ID
		}
		if ids == nil {
			ids = got
		}
		require.Equal(t, ids, got, "the same holds, run after run")
	}

	res, err := e.eng.Decide(ctx, engine.Decision{IDs: []string{ids["u02@example.com"]}, Approve: true, By: "alice"})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	require.Equal(t, engine.HoldApplied, res[0].Status)
	require.False(t, e.enabled(t, "u02@example.com"), "approved: the protection does not block it again")
	_, err = acc.Login(ctx, "u02@example.com", pw)
	require.ErrorIs(t, err, accounts.ErrDisabled, "a disabled administrator cannot sign in")

	// The next run does not plan the approved disable again; the others still wait.
	rep = e.run(t, src, pol, engine.Options{Full: true})
	require.Equal(t, engine.StatusHeld, rep.Status, rep.Errors)
	require.Equal(t, 2, rep.Counts.Held)
	require.False(t, e.enabled(t, "u02@example.com"))
}
