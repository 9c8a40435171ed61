package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/sync/engine"
)

// A source that shrinks by 8% on every run (100, 92, 85, 79, 73, 68) stays under the 10% limit run by
// run; the brakes' window adds the runs up and holds it.
func TestDestructiveWindowHoldsASlowShrink(t *testing.T) {
	tests := []struct {
		name   string
		window time.Duration
		want   []string // status of runs 1..5
	}{
		{"window off: every run applies", 0, []string{"ok", "ok", "ok", "ok", "ok"}},
		{"7 day window: the second run is held", 7 * 24 * time.Hour, []string{"ok", "held", "held", "held", "held"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			eng, _, clk := e.refusingEngine(t)
			pol := policy()
			pol.MissingRuns, pol.MaxDestructiveFloor, pol.Retry.MaxDestructiveWindow = 1, 3, tc.window
			run := func(n int) *engine.Report {
				return eng.Run(context.Background(), engine.Job{Name: "dir", Source: &connectortest.Static{Records: users(n)}, Policy: pol}, engine.Options{})
			}
			n := 100
			require.Equal(t, engine.StatusOK, run(n).Status)
			for i, want := range tc.want {
				clk.Advance(24 * time.Hour) // a run a day
				n -= n * 8 / 100
				rep := run(n)
				require.Equal(t, want, rep.Status, "run %d: %v %s", i+1, rep.Errors, rep.HoldReason)
				if want == engine.StatusHeld && i == 1 {
					require.Equal(t, 7, rep.Counts.Held)
					share := "15 disables in example.com in the last 7 days incl. this run (7 in this run) are 16.3% of the connector's 92 objects"
					require.Contains(t, rep.HoldReason, share)
					held, err := eng.Held(context.Background(), "dir", engine.HoldPending)
					require.NoError(t, err)
					require.Len(t, held, 7)
					require.Contains(t, held[0].Reason, share, "each held operation says why")
					require.True(t, e.enabled(t, "u91@example.com"), "held, not disabled")
				}
			}
			require.False(t, e.enabled(t, "u99@example.com"), "run 1 applied")
		})
	}
}
