package runner_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// held is an incremental source of n users whose reads wait until its Gate
// is closed, after closing Reading: a test holds a run in progress with it.
func held(n int) connectortest.IncrementalStatic {
	return connectortest.IncrementalStatic{Static: &connectortest.Static{Records: users("", n),
		Gate: make(chan struct{}), Reading: make(chan struct{})}}
}

// heldOnce holds only its first read, where held holds every read until the
// gate opens: a later read goes to open, the same users not held. (The engine
// reads an incremental source only through ReadChanges.)
type heldOnce struct {
	connectortest.IncrementalStatic
	open  connectortest.IncrementalStatic
	reads atomic.Int32
}

func (h *heldOnce) ReadChanges(ctx context.Context, cursor []byte, emit connectors.Emit) ([]byte, error) {
	if h.reads.Add(1) == 1 {
		return h.IncrementalStatic.ReadChanges(ctx, cursor, emit)
	}
	return h.open.ReadChanges(ctx, cursor, emit)
}

// pending is the runner's pending runs.
func pending(t *testing.T, r *runner.Runner, connector string) []runner.Run {
	t.Helper()
	runs, err := r.RunsByState(t.Context(), connector, runner.StatusPending, 10)
	require.NoError(t, err)
	return runs
}

func TestTriggersMergeIntoOnePendingRun(t *testing.T) {
	src := held(2)
	r, _ := newRunner(t, engine.Job{Name: "a", Source: src})

	first, err := r.Trigger(t.Context(), runner.Trigger{})
	require.NoError(t, err)
	require.False(t, first[0].Queued)
	<-src.Reading

	// Every trigger from now on gets the one pending run.
	second, err := r.Trigger(t.Context(), runner.Trigger{})
	require.NoError(t, err)
	require.True(t, second[0].Queued)
	require.NotEqual(t, first[0].RunID, second[0].RunID)
	r.RunNow(t.Context(), "a", false)
	p := pending(t, r, "a")
	require.Len(t, p, 1)
	require.Equal(t, second[0].RunID, p[0].RunID)
	require.Equal(t, runner.StatusPending, p[0].Status)
	require.Equal(t, []string{runner.SourceAPI, runner.SourceSchedule}, p[0].RequestedBy)
	require.Equal(t, 2, p[0].Triggers)
	require.False(t, p[0].Full)

	// A full trigger makes it full, under the same id; a waiting one gets its report.
	type answer struct {
		runs []runner.Triggered
		err  error
	}
	waited := make(chan answer, 1)
	go func() {
		runs, err := r.Trigger(context.Background(), runner.Trigger{Full: true, Wait: true})
		waited <- answer{runs, err}
	}()
	require.Eventually(t, func() bool { p := pending(t, r, "a"); return len(p) == 1 && p[0].Triggers == 3 },
		5*time.Second, time.Millisecond)
	p = pending(t, r, "a")
	require.Equal(t, second[0].RunID, p[0].RunID)
	require.True(t, p[0].Full)

	running, err := r.RunsByState(t.Context(), "a", runner.StatusRunning, 10)
	require.NoError(t, err)
	require.Len(t, running, 1)
	require.Equal(t, first[0].RunID, running[0].RunID)
	require.Equal(t, []string{runner.SourceAPI}, running[0].RequestedBy)
	all, err := r.Runs(t.Context(), "", 10)
	require.NoError(t, err)
	require.Len(t, all, 2)
	d, err := r.Run(t.Context(), second[0].RunID)
	require.NoError(t, err)
	require.Equal(t, runner.StatusPending, d.Status)

	close(src.Gate)
	got := <-waited
	require.NoError(t, got.err)
	require.Equal(t, second[0].RunID, got.runs[0].RunID)
	require.True(t, got.runs[0].Queued)
	require.NotNil(t, got.runs[0].Report)
	rep := *got.runs[0].Report
	require.Equal(t, second[0].RunID, rep.RunID)
	require.Equal(t, engine.StatusOK, rep.Status)
	// The first run left a cursor: only the upgrade makes this run full.
	require.True(t, rep.Full)

	require.NoError(t, r.Idle(t.Context(), "a"))
	require.Empty(t, pending(t, r, "a"))
	hist, err := r.Runs(t.Context(), "a", 10)
	require.NoError(t, err)
	require.Len(t, hist, 2, "three triggers while a run was going made one run")
	require.Equal(t, second[0].RunID, hist[0].RunID)
	require.Equal(t, first[0].RunID, hist[1].RunID)

	// Idle again: the next trigger runs at once, incrementally.
	third, err := r.Trigger(t.Context(), runner.Trigger{Wait: true})
	require.NoError(t, err)
	require.False(t, third[0].Queued)
	require.NotNil(t, third[0].Report)
	rep = *third[0].Report
	require.False(t, rep.Full)
}

func TestDryRunsQueueInALaneOfTheirOwn(t *testing.T) {
	// Only the dry run's read is held, so that the real run can go through.
	src := &heldOnce{IncrementalStatic: held(1), open: connectortest.IncrementalStatic{Static: static("", 1)}}
	r, st := newRunner(t, engine.Job{Name: "a", Source: src})
	dry, err := r.Trigger(t.Context(), runner.Trigger{DryRun: true})
	require.NoError(t, err)
	<-src.Reading

	// A real run neither waits for the dry run nor merges into it.
	real, err := r.Trigger(t.Context(), runner.Trigger{Wait: true})
	require.NoError(t, err)
	require.False(t, real[0].Queued)
	require.NotEmpty(t, real[0].Report)
	_, err = st.User(t.Context(), "u0@example.com")
	require.NoError(t, err)

	// Another dry run queues behind the first.
	dry2, err := r.Trigger(t.Context(), runner.Trigger{DryRun: true, Full: true})
	require.NoError(t, err)
	require.True(t, dry2[0].Queued)
	p := pending(t, r, "a")
	require.Len(t, p, 1)
	require.True(t, p[0].DryRun)
	require.True(t, p[0].Full)

	close(src.Gate)
	require.NoError(t, r.Idle(t.Context(), "a"))
	for _, id := range []string{dry[0].RunID, dry2[0].RunID} {
		d, err := r.Run(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, engine.StatusDryRun, d.Status)
	}
}

func TestWaitDropsPendingRuns(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	src := held(1)
	st, sb := backends(t)
	r := runner.New(t.Context(), engine.New(st, sb, []string{"example.com"}, zap.NewNop()), sb,
		[]engine.Job{{Name: "a", Source: src}}, zap.New(core), runner.Options{})
	t.Cleanup(func() { _ = r.Wait(context.Background()) })

	first, err := r.Trigger(t.Context(), runner.Trigger{})
	require.NoError(t, err)
	<-src.Reading
	waited := make(chan error, 1)
	go func() {
		_, err := r.Trigger(context.Background(), runner.Trigger{Wait: true})
		waited <- err
	}()
	require.Eventually(t, func() bool { return len(pending(t, r, "a")) == 1 }, 5*time.Second, time.Millisecond)
	queued := pending(t, r, "a")[0].RunID

	stopped := make(chan error, 1)
	go func() { stopped <- r.Wait(context.Background()) }()
	// The waiting trigger hears that its run was dropped while the first
	// one still runs.
	err = <-waited
	require.ErrorIs(t, err, runner.ErrStopping)
	require.ErrorContains(t, err, queued)
	require.Empty(t, pending(t, r, "a"))
	_, err = r.Trigger(t.Context(), runner.Trigger{})
	require.ErrorIs(t, err, runner.ErrStopping, "nothing starts once stopping")
	select {
	case err := <-stopped:
		t.Fatalf("Wait returned while a run was in progress: %v", err)
	default:
	}

	close(src.Gate)
	require.NoError(t, <-stopped)
	hist, err := r.Runs(t.Context(), "a", 10)
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.Equal(t, first[0].RunID, hist[0].RunID)
	drops := logs.FilterMessage("pending run dropped").All()
	require.Len(t, drops, 1)
	require.Equal(t, queued, drops[0].ContextMap()["run_id"])
}
