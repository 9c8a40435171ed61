package runner_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// TestRunningRunShowsItsProgress: a run held in the middle of its read is
// listed, and shown, with the engine's stage and count; once it ends, the
// history's entry has none.
func TestRunningRunShowsItsProgress(t *testing.T) {
	src := &connectortest.Static{Records: users("p", 6), GateAfter: 4, Gate: make(chan struct{}), Reading: make(chan struct{})}
	r, _ := newRunner(t, engine.Job{Name: "p", Source: src})
	got, err := r.Trigger(t.Context(), runner.Trigger{})
	require.NoError(t, err)
	<-src.Reading

	runs, err := r.RunsByState(t.Context(), "p", runner.StatusRunning, 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	p := runs[0].Progress
	require.NotNil(t, p, "a run four records into its read has reported progress")
	require.Equal(t, "read", p.Stage)
	require.Equal(t, 4, p.Read)
	require.False(t, p.At.IsZero())
	d, err := r.Run(t.Context(), got[0].RunID)
	require.NoError(t, err)
	require.Equal(t, p, d.Progress, "the run's own page says the same")

	close(src.Gate)
	require.NoError(t, r.Idle(t.Context(), "p"))
	d, err = r.Run(t.Context(), got[0].RunID)
	require.NoError(t, err)
	require.Equal(t, engine.StatusOK, d.Status)
	require.Nil(t, d.Progress, "a finished run has counts, not progress")
}

// TestFailedDryRunStaysADryRun: a dry run whose read failed is listed, and
// shown, as a dry run that failed (not as a real run, and not left out).
func TestFailedDryRunStaysADryRun(t *testing.T) {
	src := &connectortest.Static{Records: users("d", 2), Err: errors.New("directory went away")}
	r, _ := newRunner(t, engine.Job{Name: "d", Source: src})
	got, err := r.Trigger(t.Context(), runner.Trigger{DryRun: true, Wait: true})
	require.NoError(t, err)
	require.Equal(t, engine.StatusFailed, got[0].Report.Status)

	runs, err := r.Runs(t.Context(), "d", 10)
	require.NoError(t, err)
	require.Len(t, runs, 1, "the failed dry run is listed")
	require.True(t, runs[0].DryRun)
	require.Equal(t, engine.StatusFailed, runs[0].Status)
	d, err := r.Run(t.Context(), got[0].RunID)
	require.NoError(t, err)
	require.True(t, d.DryRun)
}
