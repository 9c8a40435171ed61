package schedule

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// nextRuns is when the cron next runs each of connector's entries.
func nextRuns(s *Scheduler, connector string) []time.Duration {
	s.emu.Lock()
	defer s.emu.Unlock()
	var out []time.Duration
	now := time.Now()
	for _, id := range s.entries[connector] {
		e := s.cron.Entry(id)
		out = append(out, e.Schedule.Next(now).Sub(now).Round(time.Minute))
	}
	return out
}

func TestSetReplacesAndRemoveDrops(t *testing.T) {
	s := New(context.Background(), func(context.Context, string, bool) {}, zap.NewNop())
	require.NoError(t, s.Set("a", "@every 1h", "@every 24h"))
	require.NoError(t, s.Set("b", "@every 2h", ""))
	require.Equal(t, []time.Duration{time.Hour, 24 * time.Hour}, nextRuns(s, "a"))
	require.Len(t, s.cron.Entries(), 3)

	require.NoError(t, s.Set("a", "@every 30m", ""))
	require.Equal(t, []time.Duration{30 * time.Minute}, nextRuns(s, "a"))
	require.Len(t, s.cron.Entries(), 2, "a's old entries are gone")

	// A bad spec changes nothing.
	require.Error(t, s.Set("a", "@every 10m", "every day"))
	require.Error(t, s.Set("a", "sometimes", ""))
	require.Equal(t, []time.Duration{30 * time.Minute}, nextRuns(s, "a"))
	require.Len(t, s.cron.Entries(), 2)

	s.Remove("a")
	s.Remove("a")
	s.Remove("never-added")
	require.Empty(t, nextRuns(s, "a"))
	require.Equal(t, []time.Duration{2 * time.Hour}, nextRuns(s, "b"))
	require.Len(t, s.cron.Entries(), 1)

	// The same while the cron runs.
	s.Start()
	require.NoError(t, s.Set("a", "@every 1h", ""))
	require.NoError(t, s.Set("b", "@every 3h", "@every 24h"))
	require.Equal(t, []time.Duration{3 * time.Hour, 24 * time.Hour}, nextRuns(s, "b"))
	s.Remove("a")
	require.Len(t, s.cron.Entries(), 2)
	require.NoError(t, s.Stop(context.Background()))
}
