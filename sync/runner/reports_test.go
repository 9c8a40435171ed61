package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// keeper is a state backend that keeps reports through the real one, noting
// the retention it is asked for, or failing every save with fail.
type keeper struct {
	state.Backend
	fail error

	mu        sync.Mutex
	retention []time.Duration
}

func (k *keeper) SaveReport(ctx context.Context, r state.StoredReport, retention time.Duration) error {
	k.mu.Lock()
	k.retention = append(k.retention, retention)
	k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	return k.Backend.(state.Reports).SaveReport(ctx, r, retention)
}

func (k *keeper) Report(ctx context.Context, id string) (state.StoredReport, error) {
	return k.Backend.(state.Reports).Report(ctx, id)
}

func (k *keeper) retentions() []time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.retention
}

func TestReportsOutliveTheRunner(t *testing.T) {
	st, sb := backends(t)
	k := &keeper{Backend: sb}
	jobs := []engine.Job{{Name: "a", Source: static("", 2)}}
	first := runner.New(t.Context(), engine.New(st, k, nil, zap.NewNop()), k, jobs, zap.NewNop(),
		runner.Options{ReportRetention: 48 * time.Hour})
	got, err := first.Trigger(t.Context(), runner.Trigger{Wait: true})
	require.NoError(t, err)
	id := got[0].RunID
	dry, err := first.Trigger(t.Context(), runner.Trigger{Wait: true, DryRun: true})
	require.NoError(t, err)
	require.NoError(t, first.Wait(t.Context()))
	require.Equal(t, []time.Duration{48 * time.Hour}, k.retentions(), "one report kept, not the dry run's")

	stored, err := sb.(state.Reports).Report(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, "a", stored.Connector)
	answered, err := json.Marshal(got[0].Report)
	require.NoError(t, err)
	require.JSONEq(t, string(answered), string(stored.Body), "the report as the trigger answered it")

	// A new runner (a restart, another replica) has nothing in memory.
	second := runner.New(t.Context(), engine.New(st, sb, nil, zap.NewNop()), sb, jobs, zap.NewNop(), runner.Options{})
	t.Cleanup(func() { _ = second.Wait(context.Background()) })
	d, err := second.Run(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, engine.StatusOK, d.Status)
	require.Equal(t, 2, d.Counts["create"])
	require.NotNil(t, d.Report)
	rep := *d.Report
	require.Len(t, rep.Operations, 2)
	require.Equal(t, id, rep.RunID)
	_, err = second.Run(t.Context(), dry[0].RunID)
	require.ErrorIs(t, err, runner.ErrRunNotFound, "dry runs are not stored")
}

func TestReportNotStoredIsNoFailure(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	st, sb := backends(t)
	k := &keeper{Backend: sb, fail: errors.New("disk full")}
	r := runner.New(t.Context(), engine.New(st, k, nil, zap.NewNop()), k,
		[]engine.Job{{Name: "a", Source: static("", 1)}}, zap.New(core), runner.Options{})
	t.Cleanup(func() { _ = r.Wait(context.Background()) })
	got, err := r.Trigger(t.Context(), runner.Trigger{Wait: true})
	require.NoError(t, err)
	require.NotNil(t, got[0].Report)
	rep := *got[0].Report
	require.Equal(t, engine.StatusOK, rep.Status)
	require.Equal(t, []time.Duration{runner.DefaultReportRetention}, k.retentions())
	warned := logs.FilterMessage("run report not stored").All()
	require.Len(t, warned, 1)
	require.Equal(t, got[0].RunID, warned[0].ContextMap()["run_id"])
	require.Contains(t, warned[0].ContextMap()["error"], "disk full")
}
