package schedule_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/sync/schedule"
)

func TestOverlappingRunsAreSkipped(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int32
	s := schedule.New(context.Background(), func(ctx context.Context, name string, full bool) {
		runs.Add(1)
		<-release
	}, zap.NewNop())
	require.True(t, s.Trigger("a", true))
	require.Eventually(t, func() bool { return runs.Load() == 1 }, time.Second, time.Millisecond)
	require.False(t, s.Trigger("a", false), "a run of the same connector is still going")
	require.True(t, s.Trigger("b", false), "other connectors are independent")
	close(release)
	require.NoError(t, s.Stop(context.Background()))
	require.Equal(t, int32(2), runs.Load())
	require.True(t, s.Trigger("a", false), "after the run ends the connector can run again")
	require.NoError(t, s.Stop(context.Background()))
}

func TestPanicIsRecoveredAndLogged(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	s := schedule.New(context.Background(), func(ctx context.Context, name string, full bool) {
		panic("boom")
	}, zap.New(core))
	require.True(t, s.Trigger("a", false))
	require.NoError(t, s.Stop(context.Background()))
	require.Len(t, logs.FilterMessage("run panicked").All(), 1)
	require.True(t, s.Trigger("a", false), "a panicked run does not leave the connector marked running")
	require.NoError(t, s.Stop(context.Background()))
}

func TestCronSchedulesRuns(t *testing.T) {
	var full, regular atomic.Int32
	s := schedule.New(context.Background(), func(ctx context.Context, name string, isFull bool) {
		if isFull {
			full.Add(1)
		} else {
			regular.Add(1)
		}
	}, zap.NewNop())
	require.NoError(t, s.Add("a", "@every 1s", "@every 1h"))
	require.Error(t, s.Add("b", "every minute", ""), "a bad spec is refused")
	s.Start()
	require.Eventually(t, func() bool { return regular.Load() >= 1 }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, s.Stop(context.Background()))
	require.Zero(t, full.Load())
}

func TestStopTimesOutOnAStuckRun(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := schedule.New(context.Background(), func(ctx context.Context, name string, full bool) { <-release }, zap.NewNop())
	s.Trigger("a", false)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorContains(t, s.Stop(ctx), "in flight")
}
