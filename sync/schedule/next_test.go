package schedule

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestNext: the next firing of each schedule, before and after the cron
// starts; nothing for a schedule a connector does not have.
func TestNext(t *testing.T) {
	s := New(context.Background(), func(context.Context, string, bool) {}, zap.NewNop())
	require.NoError(t, s.Set("a", "@every 1h", "@every 24h"))
	require.NoError(t, s.Set("b", "@every 2h", ""))
	check := func() {
		t.Helper()
		now := time.Now()
		next, full := s.Next("a")
		require.InDelta(t, time.Hour.Seconds(), next.Sub(now).Seconds(), 5)
		require.InDelta(t, (24 * time.Hour).Seconds(), full.Sub(now).Seconds(), 5)
		next, full = s.Next("b")
		require.InDelta(t, (2 * time.Hour).Seconds(), next.Sub(now).Seconds(), 5)
		require.True(t, full.IsZero())
		next, full = s.Next("none")
		require.True(t, next.IsZero() && full.IsZero())
	}
	check()
	s.Start()
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
	check()
	s.Remove("a")
	next, _ := s.Next("a")
	require.True(t, next.IsZero(), "a removed connector has no next run")
}
