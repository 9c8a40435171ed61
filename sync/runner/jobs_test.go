package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

func TestSetJobsAppliesToPendingAndLaterRuns(t *testing.T) {
	old := held(1)
	r, st := newRunner(t, engine.Job{Name: "a", Source: old})
	first, err := r.Trigger(t.Context(), runner.Trigger{})
	require.NoError(t, err)
	<-old.Reading
	queued, err := r.Trigger(t.Context(), runner.Trigger{Full: true})
	require.NoError(t, err)
	require.True(t, queued[0].Queued)

	// a's new source has two more users; b is new.
	r.SetJobs([]engine.Job{{Name: "a", Source: static("", 3)}, {Name: "b", Source: static("b", 1)}})
	require.Equal(t, []string{"a", "b"}, r.Connectors())
	require.Len(t, pending(t, r, "a"), 1, "the pending run of a connector that stays is kept")
	_, err = r.Trigger(t.Context(), runner.Trigger{Connectors: []string{"b"}, Wait: true})
	require.NoError(t, err)

	close(old.Gate)
	require.NoError(t, r.Idle(t.Context(), "a"))
	// The run in flight finished with the old source, the pending one read the new.
	d, err := r.Run(t.Context(), first[0].RunID)
	require.NoError(t, err)
	require.Equal(t, 1, d.Counts["create"])
	d, err = r.Run(t.Context(), queued[0].RunID)
	require.NoError(t, err)
	require.Equal(t, engine.StatusOK, d.Status)
	require.Equal(t, 2, d.Counts["create"], d.Counts)
	for _, addr := range []string{"u0@example.com", "u1@example.com", "u2@example.com", "bu0@example.com"} {
		_, err := st.User(t.Context(), addr)
		require.NoError(t, err, addr)
	}
}

func TestSetJobsDropsThePendingRunOfARemovedConnector(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	src := held(1)
	st, sb := backends(t)
	r := runner.New(t.Context(), engine.New(st, sb, []string{"example.com"}, zap.NewNop()), sb,
		[]engine.Job{{Name: "a", Source: src}, {Name: "b", Source: static("b", 1)}}, zap.New(core), runner.Options{})
	t.Cleanup(func() { _ = r.Wait(context.Background()) })
	first, err := r.Trigger(t.Context(), runner.Trigger{Connectors: []string{"a"}})
	require.NoError(t, err)
	<-src.Reading
	waited := make(chan error, 1)
	go func() {
		_, err := r.Trigger(context.Background(), runner.Trigger{Connectors: []string{"a"}, Wait: true})
		waited <- err
	}()
	require.Eventually(t, func() bool { return len(pending(t, r, "a")) == 1 }, 5*time.Second, time.Millisecond)
	queued := pending(t, r, "a")[0].RunID

	r.SetJobs([]engine.Job{{Name: "b", Source: static("b", 1)}})
	err = <-waited
	require.ErrorIs(t, err, runner.ErrUnknownConnector)
	require.ErrorContains(t, err, queued)
	require.Empty(t, pending(t, r, "a"))
	require.Equal(t, []string{"b"}, r.Connectors())
	_, err = r.Trigger(t.Context(), runner.Trigger{Connectors: []string{"a"}})
	require.ErrorIs(t, err, runner.ErrUnknownConnector)
	require.False(t, r.FieldOwner("a", store.FieldTitle))

	// The run in flight is not affected; Idle says when it is over (so its
	// source can be closed).
	running, err := r.RunsByState(t.Context(), "a", runner.StatusRunning, 10)
	require.NoError(t, err)
	require.Len(t, running, 1)
	close(src.Gate)
	require.NoError(t, r.Idle(t.Context(), "a"))
	d, err := r.Run(t.Context(), first[0].RunID)
	require.NoError(t, err)
	require.Equal(t, engine.StatusOK, d.Status)
	drops := logs.FilterMessage("pending run dropped").All()
	require.Len(t, drops, 1)
	require.Equal(t, queued, drops[0].ContextMap()["run_id"])
}

func TestIdle(t *testing.T) {
	src := held(1)
	r, _ := newRunner(t, engine.Job{Name: "a", Source: src}, engine.Job{Name: "b", Source: static("b", 1)})
	require.NoError(t, r.Idle(t.Context(), "a"), "nothing running")
	_, err := r.Trigger(t.Context(), runner.Trigger{Connectors: []string{"a"}})
	require.NoError(t, err)
	<-src.Reading
	_, err = r.Trigger(t.Context(), runner.Trigger{Connectors: []string{"a"}})
	require.NoError(t, err)

	require.NoError(t, r.Idle(t.Context(), "b"), "b is idle while a runs")
	ctx, cancel := context.WithCancel(t.Context())
	idle := make(chan error, 1)
	go func() { idle <- r.Idle(ctx, "") }()
	cancel()
	require.ErrorIs(t, <-idle, context.Canceled)

	idle = make(chan error, 1)
	go func() { idle <- r.Idle(t.Context(), "a") }()
	close(src.Gate)
	require.NoError(t, <-idle)
	// Idle means the pending run is over too, not just the one running.
	require.Empty(t, pending(t, r, "a"))
	running, err := r.RunsByState(t.Context(), "", runner.StatusRunning, 10)
	require.NoError(t, err)
	require.Empty(t, running)
	runs, err := r.Runs(t.Context(), "a", 10)
	require.NoError(t, err)
	require.Len(t, runs, 2)
}
