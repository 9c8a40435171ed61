package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
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
	sent  []state.Trigger
}

func (l *link) IsLeader() bool { return l.leads }
func (l *link) Forward(ctx context.Context, t state.Trigger) error {
	t.From = "follower"
	l.sent = append(l.sent, t)
	go l.to.StartForwarded(t)
	return nil
}

// replicas are two runners on one state backend and one store.
func replicas(t *testing.T, jobs ...engine.Job) (leader, follower *runner.Runner, l *link, st store.Store) {
	t.Helper()
	log := zap.NewNop()
	st, sb := backends(t)
	leader = runner.New(t.Context(), engine.New(st, sb, nil, log), sb, jobs, log)
	follower = runner.New(t.Context(), engine.New(st, sb, nil, log), sb, jobs, log)
	leader.SetLeader(&link{leads: true})
	l = &link{to: leader}
	follower.SetLeader(l)
	t.Cleanup(func() { _ = leader.Wait(context.Background()); _ = follower.Wait(context.Background()) })
	return leader, follower, l, st
}

func TestFollowerForwardsRunsToTheLeader(t *testing.T) {
	leader, follower, l, st := replicas(t, engine.Job{Name: "a", Source: &source{n: 3}})
	got, err := follower.Trigger(t.Context(), api.TriggerSync{Wait: true, Full: true})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.True(t, got[0].Forwarded)
	require.Nil(t, got[0].Report, "the report stays on the leader")
	require.NotNil(t, got[0].Run, "a waiting request gets the run's summary")
	require.Equal(t, engine.StatusOK, got[0].Run.Status)
	require.Equal(t, 3, got[0].Run.Counts["create"])
	require.True(t, got[0].Run.Full)
	require.Len(t, l.sent, 1)
	require.Equal(t, got[0].RunID, l.sent[0].RunID)

	// The leader ran it under the follower's run id, and holds the report.
	d, err := leader.Run(t.Context(), got[0].RunID)
	require.NoError(t, err)
	require.NotEmpty(t, d.Report)
	us, _, err := st.Users(t.Context(), store.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, us, 3)
}

func TestFollowerRunsDryRunsItself(t *testing.T) {
	_, follower, l, _ := replicas(t, engine.Job{Name: "a", Source: &source{n: 2}})
	got, err := follower.Trigger(t.Context(), api.TriggerSync{Wait: true, DryRun: true})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.False(t, got[0].Forwarded)
	require.NotEmpty(t, got[0].Report)
	require.Empty(t, l.sent, "a dry run writes nothing, so any replica may run it")
}

func TestForwardedRunWaitsForTheRunInProgress(t *testing.T) {
	gate := make(chan struct{})
	leader, follower, _, _ := replicas(t, engine.Job{Name: "a", Source: &source{n: 1, gate: gate}})
	// The leader is busy with a run of "a" (a scheduled tick, say).
	_, _, err := leader.Start(runner.Request{Connector: "a"})
	require.NoError(t, err)
	go func() { time.Sleep(100 * time.Millisecond); close(gate) }()
	got, err := follower.Trigger(t.Context(), api.TriggerSync{Wait: true})
	require.NoError(t, err)
	require.Equal(t, engine.StatusOK, got[0].Run.Status, got[0].Run.Error)

	// Delivered twice (a new leader took the trigger over): not run again.
	before, err := leader.Runs(t.Context(), "a", 10)
	require.NoError(t, err)
	leader.StartForwarded(state.Trigger{Connector: "a", RunID: got[0].RunID})
	require.NoError(t, leader.Wait(t.Context()))
	after, err := leader.Runs(t.Context(), "a", 10)
	require.NoError(t, err)
	require.Equal(t, len(before), len(after))
}

func TestForwardedRunThatCannotStartIsRecorded(t *testing.T) {
	leader, _, _, _ := replicas(t, engine.Job{Name: "a", Source: &source{n: 1}})
	// A follower configured with a connector this leader does not know.
	leader.StartForwarded(state.Trigger{Connector: "b", RunID: "r-b"})
	runs, err := leader.Runs(t.Context(), "b", 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, engine.StatusFailed, runs[0].Status)
	require.Contains(t, runs[0].Error, "not started on the leader")
}
