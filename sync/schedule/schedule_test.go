package schedule_test

import (
	"context"
	"sync"
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
	require.NoError(t, s.Set("a", "@every 1s", "@every 1h"))
	require.Error(t, s.Set("b", "every minute", ""), "a bad spec is refused")
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

// counter counts runs per connector.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) run(_ context.Context, connector string, _ bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[connector]++
}

func (c *counter) get(connector string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[connector]
}

// TestRemovedScheduleStopsRunning: after Remove (or a Set to a slow schedule),
// the connector runs no more, while another keeps its ticks. A tick already
// dispatched when Remove returns may still run once.
func TestRemovedScheduleStopsRunning(t *testing.T) {
	c := &counter{n: map[string]int{}}
	s := schedule.New(context.Background(), c.run, zap.NewNop())
	require.NoError(t, s.Set("a", "@every 1s", ""))
	require.NoError(t, s.Set("b", "@every 1s", ""))
	require.NoError(t, s.Set("c", "@every 1s", ""))
	s.Start()
	require.Eventually(t, func() bool { return c.get("a") >= 1 && c.get("b") >= 1 }, 5*time.Second, 10*time.Millisecond)
	s.Remove("a")
	require.NoError(t, s.Set("b", "@every 1h", ""))
	a, b, keep := c.get("a"), c.get("b"), c.get("c")
	require.Eventually(t, func() bool { return c.get("c") >= keep+2 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, s.Stop(context.Background()))
	require.LessOrEqual(t, c.get("a"), a+1)
	require.LessOrEqual(t, c.get("b"), b+1)
}

// TestSetWhileRunning changes schedules from several goroutines while the cron
// fires and triggers run: for the race detector.
func TestSetWhileRunning(t *testing.T) {
	c := &counter{n: map[string]int{}}
	s := schedule.New(context.Background(), c.run, zap.NewNop())
	s.Start()
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		wg.Go(func() {
			for i := range 50 {
				if err := s.Set(name, "@every 1s", "@every 1h"); err != nil {
					t.Error(err) // not require: this is not the test's goroutine
				}
				s.Trigger(name, i%2 == 0)
				if i%3 == 0 {
					s.Remove(name)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Stop(context.Background()))
	require.Positive(t, c.get("a"))
}
