package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// holdU00 syncs ten users from an incremental source, then holds the disable
// of u00, who left it (every disable is held: max_destructive 0). It returns
// the source and the hold's id.
func holdU00(t *testing.T, e *env) (connectortest.IncrementalStatic, config.Policy, string) {
	t.Helper()
	pol := policy()
	pol.MissingRuns = 1
	pol.MaxDestructive = 0
	pol.MaxDestructiveFloor = 0
	src := connectortest.IncrementalStatic{Static: &connectortest.Static{Records: users(10)}}
	require.Equal(t, engine.StatusOK, e.run(t, src, pol, engine.Options{}).Status)
	src.Records = users(10)[1:]
	rep := e.run(t, src, pol, engine.Options{Full: true})
	require.Equal(t, engine.StatusHeld, rep.Status, rep.Errors)
	held, err := e.eng.Held(context.Background(), "dir", engine.HoldPending)
	require.NoError(t, err)
	require.Len(t, held, 1)
	require.Equal(t, "u00@example.com", held[0].Change.Address)
	return src, pol, held[0].ID
}

// TestApprovalRechecksTheOperation: between the hold and its approval the
// world moved on; the approval re-checks the operation against the store and
// the latest snapshot, and an operation no longer planned expires (saying
// why) instead of applying.
func TestApprovalRechecksTheOperation(t *testing.T) {
	admin := store.Actor{Kind: "admin", Name: "bob"}
	tests := []struct {
		name        string
		meanwhile   func(t *testing.T, e *env, src connectortest.IncrementalStatic, pol config.Policy)
		wantWhy     string
		wantEnabled bool
		// settled: the store is as the operation wanted, so the next full
		// run (u00 still out of the source) does not hold it again.
		settled bool
	}{
		{name: "back in the source, seen by an incremental run", wantWhy: "read the object from the source again", wantEnabled: true,
			meanwhile: func(t *testing.T, e *env, src connectortest.IncrementalStatic, pol config.Policy) {
				src.Changes = []connectors.Record{user(0)}
				rep := e.run(t, src, pol, engine.Options{})
				require.False(t, rep.Full)
				require.NotEqual(t, engine.StatusFailed, rep.Status, rep.Errors)
			}},
		{name: "already disabled in the store", wantWhy: "already disabled", settled: true,
			meanwhile: func(t *testing.T, e *env, _ connectortest.IncrementalStatic, _ config.Policy) {
				_, err := e.store.Apply(context.Background(), store.ApplyRequest{Actor: admin,
					Changes: []store.Change{{Action: store.ActionDisable, Address: "u00@example.com", Reason: "by hand"}}})
				require.NoError(t, err)
			}},
		{name: "handed over to another origin", wantWhy: "now belongs to", wantEnabled: true,
			meanwhile: func(t *testing.T, e *env, _ connectortest.IncrementalStatic, _ config.Policy) {
				_, err := e.store.Apply(context.Background(), store.ApplyRequest{Actor: admin,
					Changes: []store.Change{{Action: store.ActionUpdate, Address: "u00@example.com", Reason: "adopted",
						Changes: []store.FieldChange{{Field: store.FieldOrigin, Before: "dir", After: store.OriginManual},
							{Field: store.FieldAnchor, Before: "a00", After: ""}}}}})
				require.NoError(t, err)
			}},
		{name: "deleted from the store", wantWhy: "no longer in the store", settled: true,
			meanwhile: func(t *testing.T, e *env, _ connectortest.IncrementalStatic, _ config.Policy) {
				_, err := e.store.Apply(context.Background(), store.ApplyRequest{Actor: admin,
					Changes: []store.Change{{Action: store.ActionDelete, Address: "u00@example.com", Reason: "by hand"}}})
				require.NoError(t, err)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			src, pol, id := holdU00(t, e)
			tt.meanwhile(t, e, src, pol)

			res, err := e.eng.Decide(ctx, engine.Decision{IDs: []string{id}, Approve: true, By: "alice"})
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.Equal(t, engine.HoldExpired, res[0].Status)
			require.ErrorIs(t, res[0].Err, engine.ErrHoldExpired)
			require.Contains(t, res[0].Err.Error(), tt.wantWhy)
			if u, err := e.store.User(ctx, "u00@example.com"); err == nil {
				require.Equal(t, tt.wantEnabled, u.Enabled, "the expired disable was not applied")
			}
			all, err := e.eng.Held(ctx, "dir", "")
			require.NoError(t, err)
			require.Len(t, all, 1)
			require.Equal(t, engine.HoldExpired, all[0].Status)
			require.Contains(t, all[0].Error, tt.wantWhy)
			require.Equal(t, "alice", all[0].By, "expired at alice's approval")
			if tt.settled {
				src.Changes = nil
				rep := e.run(t, src, pol, engine.Options{Full: true})
				require.Zero(t, rep.Counts.Held, "already in effect: not planned again")
			}
		})
	}
}

// TestApprovalAppliesAStillPlannedHold: the re-check lets through an
// operation that is still what the source asks for, after runs that planned
// it again and incremental runs that did not read it.
func TestApprovalAppliesAStillPlannedHold(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, pol, id := holdU00(t, e)
	src.Changes = []connectors.Record{user(5)}
	require.Equal(t, engine.StatusOK, e.run(t, src, pol, engine.Options{}).Status, "incremental: u00 not read, nothing held")
	require.Equal(t, engine.StatusHeld, e.run(t, src, pol, engine.Options{Full: true}).Status, "full: held again")
	res, err := e.eng.Decide(ctx, engine.Decision{IDs: []string{id}, Approve: true, By: "alice"})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.Equal(t, engine.HoldApplied, res[0].Status)
	require.False(t, e.enabled(t, "u00@example.com"))
	rep := e.run(t, src, pol, engine.Options{Full: true})
	require.Equal(t, engine.StatusOK, rep.Status, "approved and committed: not planned again")
}

// ageHolds moves every held operation of connector dir back by d, as if it
// had been held that long ago.
func ageHolds(t *testing.T, e *env, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	holds, err := e.state.Holds(ctx, "dir")
	require.NoError(t, err)
	require.Len(t, holds, 1)
	var ops []map[string]any
	require.NoError(t, json.Unmarshal(holds[0].Operations, &ops))
	for _, op := range ops {
		c, err := time.Parse(time.RFC3339Nano, op["created"].(string))
		require.NoError(t, err)
		op["created"] = c.Add(-d)
	}
	holds[0].Operations, err = json.Marshal(ops)
	require.NoError(t, err)
	require.NoError(t, e.state.PutHold(ctx, holds[0]))
}

// TestHoldsExpireAfterMaxAge: a pending hold older than holds.max_age (a week
// by default) cannot be approved: it expires, at the approval or at the next
// run, whichever comes first. A run that still plans the operation holds it
// afresh; max_age 0 keeps holds for ever.
func TestHoldsExpireAfterMaxAge(t *testing.T) {
	tests := []struct {
		name   string
		maxAge time.Duration // 0: the default
		never  bool
		// run, when set, runs before the approval: full or incremental.
		run, full   bool
		wantStatus  string // after the approval
		wantPending bool   // a new pending hold after the run
	}{
		{name: "default week, approved", wantStatus: engine.HoldExpired},
		{name: "one hour, approved", maxAge: time.Hour, wantStatus: engine.HoldExpired},
		{name: "incremental run sweeps it", run: true, wantStatus: engine.HoldExpired},
		{name: "full run holds it afresh", run: true, full: true, wantPending: true, wantStatus: engine.HoldApplied},
		{name: "max_age 0 keeps it", never: true, wantStatus: engine.HoldApplied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			switch {
			case tt.never:
				e.eng.SetHoldMaxAge(0)
			case tt.maxAge > 0:
				e.eng.SetHoldMaxAge(tt.maxAge)
			}
			src, pol, id := holdU00(t, e)
			age := 8 * 24 * time.Hour
			if tt.maxAge > 0 {
				age = tt.maxAge + time.Minute
			}
			ageHolds(t, e, age)
			if tt.run {
				src.Changes = nil
				rep := e.run(t, src, pol, engine.Options{Full: tt.full})
				pending, err := e.eng.Held(ctx, "dir", engine.HoldPending)
				require.NoError(t, err)
				if tt.wantPending {
					require.Len(t, pending, 1, "still planned: held afresh")
					require.Equal(t, id, pending[0].ID)
					require.WithinDuration(t, time.Now(), pending[0].Created, time.Minute)
					require.Equal(t, engine.StatusHeld, rep.Status)
				} else {
					require.Empty(t, pending, "swept by the run")
					expired, err := e.eng.Held(ctx, "dir", engine.HoldExpired)
					require.NoError(t, err)
					require.Len(t, expired, 1)
					require.Contains(t, expired[0].Error, "holds.max_age")
				}
			}
			res, err := e.eng.Decide(ctx, engine.Decision{IDs: []string{id}, Approve: true, By: "alice"})
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.Equal(t, tt.wantStatus, res[0].Status, "%v", res[0].Err)
			require.Equal(t, tt.wantStatus != engine.HoldApplied, e.enabled(t, "u00@example.com"))
			if tt.wantStatus == engine.HoldExpired {
				require.Error(t, res[0].Err)
				require.Contains(t, res[0].Err.Error(), "holds.max_age")
			}
		})
	}
}
