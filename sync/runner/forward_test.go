package runner_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// link stands for the cluster: it says whether its replica leads, and hands a
// forwarded run straight to the leader's runner, as the trigger queue does.
type link struct {
	leads bool
	to    *runner.Runner
	mu    sync.Mutex
	sent  []state.Trigger
}

func (l *link) IsLeader() bool { return l.leads }
func (l *link) Forward(ctx context.Context, t state.Trigger) error {
	t.From = "follower"
	l.mu.Lock()
	l.sent = append(l.sent, t)
	l.mu.Unlock()
	go l.to.StartForwarded(t)
	return nil
}

// trigs is what was forwarded so far.
func (l *link) trigs() []state.Trigger {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sent)
}

// replicas are two runners on one state backend and one store.
func replicas(t *testing.T, jobs ...engine.Job) (leader, follower *runner.Runner, l *link, st store.Store) {
	t.Helper()
	log := zap.NewNop()
	st, sb := backends(t)
	leader = runner.New(t.Context(), engine.New(st, sb, nil, log), sb, jobs, log, runner.Options{})
	follower = runner.New(t.Context(), engine.New(st, sb, nil, log), sb, jobs, log, runner.Options{})
	leader.SetLeader(&link{leads: true})
	l = &link{to: leader}
	follower.SetLeader(l)
	t.Cleanup(func() { _ = leader.Wait(context.Background()); _ = follower.Wait(context.Background()) })
	return leader, follower, l, st
}

func TestFollowerForwardsRunsToTheLeader(t *testing.T) {
	leader, follower, l, st := replicas(t, engine.Job{Name: "a", Source: static("", 3)})
	got, err := follower.Trigger(t.Context(), runner.Trigger{Wait: true, Full: true})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.True(t, got[0].Forwarded)
	require.Nil(t, got[0].Report, "the report stays on the leader")
	require.NotNil(t, got[0].Run, "a waiting request gets the run's summary")
	require.Equal(t, engine.StatusOK, got[0].Run.Status)
	require.Equal(t, 3, got[0].Run.Counts["create"])
	require.True(t, got[0].Run.Full)
	require.Len(t, l.trigs(), 1)
	require.Equal(t, got[0].RunID, l.trigs()[0].RunID)

	// The leader ran it under the follower's run id, and holds the report.
	d, err := leader.Run(t.Context(), got[0].RunID)
	require.NoError(t, err)
	require.NotEmpty(t, d.Report)
	us, _, err := st.Users(t.Context(), store.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, us, 3)
}

func TestFollowerRunsDryRunsItself(t *testing.T) {
	_, follower, l, _ := replicas(t, engine.Job{Name: "a", Source: static("", 2)})
	got, err := follower.Trigger(t.Context(), runner.Trigger{Wait: true, DryRun: true})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.False(t, got[0].Forwarded)
	require.NotEmpty(t, got[0].Report)
	require.Empty(t, l.trigs(), "a dry run writes nothing, so any replica may run it")
}

func TestForwardedTriggersMergeIntoThePendingRun(t *testing.T) {
	src := held(1)
	leader, follower, l, _ := replicas(t, engine.Job{Name: "a", Source: src})
	// The leader is busy with a run of "a" (a scheduled tick, say).
	_, _, err := leader.Start(runner.Request{Connector: "a", Source: runner.SourceSchedule})
	require.NoError(t, err)
	<-src.Reading

	// Two followers' waiting triggers, and one through the leader's own API.
	type answer struct {
		runs []runner.Triggered
		err  error
	}
	answers := make(chan answer, 2)
	for range 2 {
		go func() {
			runs, err := follower.Trigger(context.Background(), runner.Trigger{Wait: true})
			answers <- answer{runs, err}
		}()
	}
	require.Eventually(t, func() bool { p := pending(t, leader, "a"); return len(p) == 1 && p[0].Triggers == 2 },
		5*time.Second, time.Millisecond)
	local, err := leader.Trigger(t.Context(), runner.Trigger{Full: true})
	require.NoError(t, err)
	p := pending(t, leader, "a")
	require.Len(t, p, 1)
	require.Equal(t, p[0].RunID, local[0].RunID)
	require.Equal(t, []string{runner.SourceForwarded, runner.SourceAPI}, p[0].RequestedBy)
	require.Equal(t, 3, p[0].Triggers)
	require.True(t, p[0].Full)
	sent := l.trigs()
	require.Len(t, sent, 2)
	require.Contains(t, []string{sent[0].RunID, sent[1].RunID}, p[0].RunID, "the first forwarded trigger named the pending run")

	close(src.Gate)
	for range 2 {
		got := <-answers
		require.NoError(t, got.err)
		require.Len(t, got.runs, 1)
		require.Equal(t, p[0].RunID, got.runs[0].RunID, "both waiting followers get the run that served them")
		require.Equal(t, engine.StatusOK, got.runs[0].Run.Status, got.runs[0].Run.Error)
		require.Equal(t, p[0].RunID, got.runs[0].Run.RunID)
	}
	require.NoError(t, leader.Idle(t.Context(), "a"))

	// The merged trigger's id leads to the run; the listing has it once.
	merged := sent[0].RunID
	if merged == p[0].RunID {
		merged = sent[1].RunID
	}
	d, err := leader.Run(t.Context(), merged)
	require.NoError(t, err)
	require.Equal(t, p[0].RunID, d.RunID)
	runs, err := leader.Runs(t.Context(), "a", 10)
	require.NoError(t, err)
	require.Len(t, runs, 2)

	// Delivered twice (a new leader took the trigger over): not run again.
	for _, id := range []string{sent[0].RunID, sent[1].RunID} {
		leader.StartForwarded(state.Trigger{Connector: "a", RunID: id})
	}
	require.NoError(t, leader.Idle(t.Context(), "a"))
	again, err := leader.Runs(t.Context(), "a", 10)
	require.NoError(t, err)
	require.Equal(t, runs, again)
}

func TestForwardedRunThatCannotStartIsRecorded(t *testing.T) {
	leader, _, _, _ := replicas(t, engine.Job{Name: "a", Source: static("", 1)})
	// A follower configured with a connector this leader does not know.
	leader.StartForwarded(state.Trigger{Connector: "b", RunID: "r-b"})
	runs, err := leader.Runs(t.Context(), "b", 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, engine.StatusFailed, runs[0].Status)
	require.Contains(t, runs[0].Error, "not started on the leader")
}
