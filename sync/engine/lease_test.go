package engine_test

// The run lock, its fencing token, and what a run does when the state
// backend loses or forgets it.

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// A runner paused past its lease must not write once another run has taken the
// connector over, even when that run had nothing to change: the run claims its
// token in the store before it reads.
func TestRunClaimsItsFenceBeforeWriting(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old, err := e.state.Acquire(ctx, "dir", "paused-runner", time.Millisecond)
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond) // the paused runner's lease expires
	rep := e.run(t, &connectortest.Static{}, policy(), engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Empty(t, rep.Operations)

	// The paused runner resumes and writes with its old token.
	_, err = e.store.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "dir"},
		Fence: &store.Fence{Name: "dir", Token: old.Token}, Changes: []store.Change{{Action: store.ActionCreate,
			Kind: store.KindUser, Address: "late@example.com", Anchor: "late"}}})
	require.ErrorIs(t, err, store.ErrStaleFence)
	require.Equal(t, 0, e.count(t))
}

// lostLease refuses every renewal, as a state backend does once another runner
// took the lock over (or cannot be reached).
type lostLease struct{ state.Backend }

func (l lostLease) Renew(ctx context.Context, lease state.Lease, ttl time.Duration) (state.Lease, error) {
	return state.Lease{}, fmt.Errorf("renew: %w", state.ErrStaleLease)
}

func TestLostLockStopsTheRunAndSaysWhy(t *testing.T) {
	e := newEnv(t)
	eng := engine.New(e.store, lostLease{e.state}, nil, zap.NewNop())
	eng.SetRunLease(30 * time.Millisecond)
	blocking := &connectortest.Static{Gate: make(chan struct{})} // never opened: reads nothing until its context ends
	rep := eng.Run(context.Background(), engine.Job{Name: "dir", Source: blocking, Policy: policy()}, engine.Options{})
	require.Equal(t, engine.StatusFailed, rep.Status)
	require.Contains(t, rep.Errors[0], "run lock lost")
	require.Contains(t, rep.Errors[0], "run lease is stale")
	require.Equal(t, 0, e.count(t))
}

// emptiedState forgets the run lock after the snapshot is read, as a Redis that
// restarts empty in the middle of a run does: no other runner took over, so
// the store's fence alone would let the writes through.
type emptiedState struct {
	state.Backend
	lost atomic.Bool
}

func (s *emptiedState) Snapshot(ctx context.Context, c string) (state.Snapshot, error) {
	snap, err := s.Backend.Snapshot(ctx, c)
	s.lost.Store(true)
	return snap, err
}

func (s *emptiedState) Renew(ctx context.Context, l state.Lease, ttl time.Duration) (state.Lease, error) {
	if s.lost.Load() {
		return state.Lease{}, fmt.Errorf("renew: %w", state.ErrStaleLease)
	}
	return s.Backend.Renew(ctx, l, ttl)
}

func TestLockLostMidRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	eng := engine.New(e.store, &emptiedState{Backend: e.state}, nil, zap.NewNop())
	rep := eng.Run(context.Background(), engine.Job{Name: "dir", Source: &connectortest.Static{Records: users(3)}, Policy: policy()}, engine.Options{})
	require.Equal(t, engine.StatusFailed, rep.Status)
	require.Contains(t, rep.Errors[0], "run lock lost")
	require.Equal(t, 0, e.count(t), "nothing reached the store")
}

// After the state is lost (a flushed Redis), a user deleted from the source in
// the meantime must still go missing and be disabled: the run rebuilds the
// snapshot from the connector's objects in the store.
func TestEmptiedStateIsRebuiltFromTheStore(t *testing.T) {
	e := newEnv(t)
	rep := e.run(t, &connectortest.Static{Records: users(20)}, policy(), engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)

	eng := engine.New(e.store, testenv.LocalState(t), nil, zap.NewNop())
	job := engine.Job{Name: "dir", Source: &connectortest.Static{Records: users(20)[:19]}, Policy: policy()}
	rep = eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Zero(t, rep.Counts.Create, "nobody is created again")
	require.Equal(t, 19, rep.Counts.Unchanged, "%+v", rep.Counts)
	require.True(t, e.enabled(t, users(20)[19].Mail), "missing once: not yet")
	rep = eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, 1, rep.Counts.Disable, rep.Operations)
	require.False(t, e.enabled(t, users(20)[19].Mail), "missing in two full runs: disabled")
}
