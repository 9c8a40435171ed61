package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/sync/engine"
)

// TestHoldsApproveRejectExpire: four disables held; two approved (applied,
// exactly those), one rejected (held again by the next run, still rejected),
// and when the source has the rest back, the pending one expires.
func TestHoldsApproveRejectExpire(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pol := policy()
	pol.MaxDestructive = 3
	pol.MaxDestructivePercent = 100
	pol.MissingRuns = 1
	all := users(10)
	require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: all}, pol, engine.Options{}).Status)

	// Four users leave the scope, a new one arrives.
	extra := connectors.Record{Kind: connectors.KindUser, Ref: "uid=new", Anchor: "anew", Mail: "new@example.com"}
	rep := e.run(t, &connectortest.Static{Records: append(append([]connectors.Record{}, all[4:]...), extra)}, pol, engine.Options{})
	require.Equal(t, engine.StatusHeld, rep.Status)
	require.Equal(t, 4, rep.Counts.Held)
	require.Equal(t, 1, rep.Counts.Create, "the create goes ahead")
	held, err := e.eng.Held(ctx, "dir", engine.HoldPending)
	require.NoError(t, err)
	require.Len(t, held, 4)
	for _, h := range held {
		require.Equal(t, rep.RunID, h.RunID)
		require.Contains(t, h.Reason, "exceed the limit of 3")
	}
	ids := map[string]string{} // address → hold id
	for _, h := range held {
		ids[h.Change.Address] = h.ID
	}

	res, err := e.eng.Decide(ctx, engine.Decision{IDs: []string{ids["u01@example.com"], ids["u02@example.com"]}, Approve: true, By: "alice"})
	require.NoError(t, err)
	require.Len(t, res, 2)
	for _, r := range res {
		require.NoError(t, r.Err)
		require.Equal(t, engine.HoldApplied, r.Status)
	}
	require.False(t, e.enabled(t, "u01@example.com"))
	require.False(t, e.enabled(t, "u02@example.com"))
	require.True(t, e.enabled(t, "u03@example.com"), "not approved: untouched")
	res, err = e.eng.Decide(ctx, engine.Decision{IDs: []string{ids["u03@example.com"]}, By: "alice"})
	require.NoError(t, err)
	require.Equal(t, engine.HoldRejected, res[0].Status)

	// Deciding again, or an unknown ID, is a specific error.
	res, err = e.eng.Decide(ctx, engine.Decision{IDs: []string{ids["u01@example.com"], ids["u03@example.com"], "hnope"}, Approve: true, By: "bob"})
	require.NoError(t, err)
	require.Len(t, res, 3)
	errs := map[string]error{}
	for _, r := range res {
		errs[r.ID] = r.Err
	}
	require.ErrorIs(t, errs[ids["u01@example.com"]], engine.ErrHoldDecided)
	require.Contains(t, errs[ids["u01@example.com"]].Error(), "applied by alice")
	require.ErrorIs(t, errs[ids["u03@example.com"]], engine.ErrHoldDecided)
	require.Contains(t, errs[ids["u03@example.com"]].Error(), "rejected by alice")
	require.ErrorIs(t, errs["hnope"], engine.ErrHoldNotFound)

	// The same source again: the approved ones are done (not planned again), the
	// rejected one stays rejected, the pending one is still pending.
	rep = e.run(t, &connectortest.Static{Records: append(append([]connectors.Record{}, all[4:]...), extra)}, pol, engine.Options{})
	require.Zero(t, rep.Counts.Disable)
	require.Equal(t, 2, rep.Counts.Held, "u03 (rejected) and u00 (pending)")
	byStatus := func() map[string][]string {
		all, err := e.eng.Held(ctx, "dir", "")
		require.NoError(t, err)
		m := map[string][]string{}
		for _, h := range all {
			m[h.Status] = append(m[h.Status], h.Change.Address)
		}
		return m
	}
	got := byStatus()
	require.ElementsMatch(t, []string{"u01@example.com", "u02@example.com"}, got[engine.HoldApplied])
	require.Equal(t, []string{"u03@example.com"}, got[engine.HoldRejected])
	require.Equal(t, []string{"u00@example.com"}, got[engine.HoldPending])

	// The users are back in scope: the pending hold expires by itself.
	rep = e.run(t, &connectortest.Static{Records: append(append([]connectors.Record{}, all...), extra)}, pol, engine.Options{})
	require.Zero(t, rep.Counts.Held)
	got = byStatus()
	require.Equal(t, []string{"u00@example.com"}, got[engine.HoldExpired])
	require.Empty(t, got[engine.HoldPending])
	require.True(t, e.enabled(t, "u00@example.com"))
	res, err = e.eng.Decide(ctx, engine.Decision{IDs: []string{ids["u00@example.com"]}, Approve: true, By: "alice"})
	require.NoError(t, err)
	require.ErrorIs(t, res[0].Err, engine.ErrHoldDecided)
	require.Contains(t, res[0].Err.Error(), "expired by run "+rep.RunID)
}
