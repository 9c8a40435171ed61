package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// TestProtectedAccountsNeverDisabled: users gone from the source are disabled,
// except those protected by address, by role (glob) or by the store's flag;
// those are reported with outcome "protected" and stay enabled, run after run.
func TestProtectedAccountsNeverDisabled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.eng.SetProtection(engine.Protection{Addresses: []string{"U01@Example.com"}, Roles: []string{"*Admin*"}})
	src := &source{records: users(20)}
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

	src.records = users(20)[4:] // u00..u03 leave the source
	for range 2 {
		rep = e.run(t, src, pol, engine.Options{Full: true})
		require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
		require.False(t, e.enabled(t, "u00@example.com"), "an unprotected leaver is disabled")
		for _, a := range []string{"u01@example.com", "u02@example.com", "u03@example.com"} {
			require.True(t, e.enabled(t, a), "%s is protected", a)
		}
		why := map[string]string{}
		for _, op := range rep.Protected {
			require.Equal(t, "protected", op.Outcome)
			why[op.Address] = op.Error
		}
		require.Len(t, why, 3, "reported in every run while the source lacks them")
		require.Contains(t, why["u01@example.com"], "protected.addresses")
		require.Contains(t, why["u02@example.com"], `role "Administrator"`)
		require.Contains(t, why["u03@example.com"], "flagged protected")
		require.Equal(t, 3, rep.Counts.Protected)
	}
}
