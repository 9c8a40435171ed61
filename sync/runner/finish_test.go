package runner_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

func TestRunnerOnFinishHearsEveryRun(t *testing.T) {
	// b emits its users, then fails the read.
	broken := &connectortest.Static{Records: users("b", 3), Err: errors.New("connection reset")}
	r, _ := newRunner(t, engine.Job{Name: "a", Source: static("", 4)}, engine.Job{Name: "b", Source: broken})
	var mu sync.Mutex
	var got []runner.Finished
	r.OnFinish(func(f runner.Finished) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, f)
	})
	heard := func() []runner.Finished {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}

	for _, tc := range []struct {
		name   string
		req    runner.Trigger
		status string
		dryRun bool
		read   int
	}{
		{"applied", runner.Trigger{Connectors: []string{"a"}}, engine.StatusOK, false, 4},
		{"dry run", runner.Trigger{Connectors: []string{"a"}, DryRun: true}, engine.StatusDryRun, true, 4},
		{"failed read", runner.Trigger{Connectors: []string{"b"}}, engine.StatusFailed, false, 3},
		{"failed dry run", runner.Trigger{Connectors: []string{"b"}, DryRun: true}, engine.StatusFailed, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Wait = true
			runs, err := r.Trigger(t.Context(), tc.req)
			require.NoError(t, err)
			// Heard before the waiting trigger returned: no polling needed.
			fs := heard()
			require.Len(t, fs, 1)
			require.Equal(t, runs[0].RunID, fs[0].Report.RunID)
			require.Equal(t, tc.status, fs[0].Report.Status)
			require.Equal(t, tc.dryRun, fs[0].DryRun)
			require.Equal(t, tc.read, fs[0].Read)
		})
	}

	// The schedule's entry point goes through the same hook.
	r.RunNow(t.Context(), "a", true)
	require.NoError(t, r.Idle(t.Context(), "a"))
	fs := heard()
	require.Len(t, fs, 1)
	require.Equal(t, engine.StatusOK, fs[0].Report.Status)
	require.Equal(t, 4, fs[0].Read)
}
