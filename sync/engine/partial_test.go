package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// openBrakes is a policy under which nothing but the never-act-on-a-partial-read
// invariant can stop a disable: one missing run disables, any share of the
// connector may go, any read size counts as healthy, no window.
func openBrakes() config.Policy {
	pol := policy()
	pol.MaxDestructive, pol.MaxDestructivePercent, pol.MinSourcePercent = 1000, 100, 0
	pol.MissingRuns, pol.Retry.MaxDestructiveWindow = 1, 0
	return pol
}

// TestFailedReadDisablesNobodyAndKeepsState: a read that ends in an error
// applies nothing and keeps the state, even where the brakes would let the
// disables through; only the invariant holds them.
func TestFailedReadDisablesNobodyAndKeepsState(t *testing.T) {
	for _, tc := range []struct {
		name string
		pol  config.Policy
		read []connectors.Record // before the error
	}{
		{"half, then reset, brakes open", openBrakes(), append(users(5), user(50))},
		{"9 of 10, then reset, brakes open", openBrakes(), append(users(9), user(50))},
		// One of ten missing is within the test's usual brakes (10 %, floor 3,
		// 50 % source minimum): they would let it through.
		{"9 of 10, then reset, usual brakes", func() config.Policy { p := policy(); p.MissingRuns = 1; return p }(), append(users(9), user(50))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: users(10)}, tc.pol, engine.Options{}).Status)
			before, err := e.state.Snapshot(context.Background(), "dir")
			require.NoError(t, err)

			// Part of the directory arrives, then the connection drops; a creation is among it.
			rep := e.run(t, &connectortest.Static{Records: tc.read, Err: errors.New("connection reset")}, tc.pol, engine.Options{})
			require.Equal(t, engine.StatusFailed, rep.Status)
			require.Contains(t, rep.Errors[0], "connection reset")
			require.Contains(t, rep.Errors[0], "nobody disabled")
			require.Zero(t, rep.Counts.Disable+rep.Counts.Create)
			for i := range 10 {
				require.True(t, e.enabled(t, fmt.Sprintf("u%02d@example.com", i)))
			}
			_, err = e.store.User(context.Background(), "u50@example.com")
			require.ErrorIs(t, err, store.ErrNotFound, "a failed read applies nothing at all")
			after, err := e.state.Snapshot(context.Background(), "dir")
			require.NoError(t, err)
			require.Equal(t, before, after)

			// The same short read without the error is what the brakes allow:
			// the rows above are held by the invariant alone.
			ok := e.run(t, &connectortest.Static{Records: tc.read}, tc.pol, engine.Options{})
			require.Equal(t, engine.StatusOK, ok.Status, ok.Errors, ok.HoldReason)
			require.Equal(t, 10-len(tc.read)+1, ok.Counts.Disable)
		})
	}
}

// TestIncrementalReadFailingAfterTombstones: an incremental read emits two
// tombstones and a change, then fails. Tombstones disable at once and the
// brakes are open, so only the failed read stands between them and two
// disables: nobody is disabled; the change, which takes nothing away, was
// applied as its batch was planned (a run holds a batch, not the
// directory); the cursor, the snapshot and the retry set stay as they were,
// so the next run reads the same changes again.
func TestIncrementalReadFailingAfterTombstones(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := &connectortest.Static{Records: users(10)}
	inc := connectortest.IncrementalStatic{Static: src}
	pol := openBrakes()
	// Batches of one: each tombstone is joined and planned as it arrives,
	// before the read fails, as a large incremental read's first batches are.
	pol.BatchSize = 1
	require.Equal(t, engine.StatusOK, e.run(t, inc, pol, engine.Options{}).Status)
	cursor, err := e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1", string(cursor))
	snap, err := e.state.Snapshot(ctx, "dir")
	require.NoError(t, err)

	changed := user(6)
	changed.Title = "Boss"
	src.Changes = []connectors.Record{{Anchor: "a04", Deleted: true}, changed, {Anchor: "a05", Deleted: true}}
	src.ChangesErr = errors.New("connection reset after the changes")
	rep := e.run(t, inc, pol, engine.Options{})
	require.Equal(t, engine.StatusFailed, rep.Status)
	require.False(t, rep.Full)
	require.Contains(t, rep.Errors[0], "nobody disabled")
	require.Contains(t, rep.Errors[0], "connection reset after the changes")
	require.Contains(t, rep.Errors[0], "only the 1 creates and updates planned so far applied")
	require.Len(t, rep.Operations, 1)
	require.Equal(t, store.ActionUpdate, rep.Operations[0].Action)
	require.Equal(t, "u06@example.com", rep.Operations[0].Address)
	require.True(t, e.enabled(t, "u04@example.com"))
	require.True(t, e.enabled(t, "u05@example.com"))
	u, err := e.store.User(ctx, "u06@example.com")
	require.NoError(t, err)
	require.Equal(t, "Boss", u.Title, "a change that takes nothing away is applied with its batch")
	cursor, err = e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1", string(cursor), "the cursor does not move past changes that were not applied")
	after, err := e.state.Snapshot(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, snap, after)
	retries, err := e.state.Retries(ctx, "dir")
	require.NoError(t, err)
	require.Empty(t, retries)

	// The source recovers: the same changes, read again from the same cursor, apply.
	src.ChangesErr = nil
	rep = e.run(t, inc, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Equal(t, 2, rep.Counts.Disable)
	require.Equal(t, 0, rep.Counts.Update, "the store has the change already")
	require.Equal(t, 1, rep.Counts.Unchanged)
	require.False(t, e.enabled(t, "u04@example.com"))
	cursor, err = e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1+", string(cursor))
}

// unreachable is the real store, except that every request with changes fails
// as a whole, as a store that went away after the run claimed its fence does.
type unreachable struct{ store.Store }

func (s unreachable) Apply(ctx context.Context, req store.ApplyRequest) ([]store.Outcome, error) {
	if len(req.Changes) > 0 {
		return nil, errors.New("store unreachable")
	}
	return s.Store.Apply(ctx, req)
}

// TestApplyFailureKeepsTheCursor: commit after apply. An incremental run whose
// changes the store refuses as a whole fails, and neither its cursor nor its
// snapshot entries are committed: the next run reads the same changes again.
func TestApplyFailureKeepsTheCursor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := &connectortest.Static{Records: users(10)}
	inc := connectortest.IncrementalStatic{Static: src}
	require.Equal(t, engine.StatusOK, e.run(t, inc, openBrakes(), engine.Options{}).Status)
	snap, err := e.state.Snapshot(ctx, "dir")
	require.NoError(t, err)

	changed := user(2)
	changed.Title = "Boss"
	src.Changes = []connectors.Record{changed, {Anchor: "a03", Deleted: true}}
	down := engine.New(unreachable{e.store}, e.state, nil, zap.NewNop())
	rep := down.Run(ctx, engine.Job{Name: "dir", Source: inc, Policy: openBrakes()}, engine.Options{})
	require.Equal(t, engine.StatusFailed, rep.Status)
	require.Contains(t, rep.Errors[0], "store unreachable")
	cursor, err := e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1", string(cursor), "nothing was applied: the cursor stays")
	after, err := e.state.Snapshot(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, snap, after)

	rep = e.run(t, inc, openBrakes(), engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Equal(t, 1, rep.Counts.Update)
	require.Equal(t, 1, rep.Counts.Disable)
	require.False(t, e.enabled(t, "u03@example.com"))
	cursor, err = e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1+", string(cursor))
}
