package main

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// TestStatusErrorExitCodes: the worst run decides, and a dry run exits as
// the real run would: held when its plan holds operations or has a hold
// reason (the source-health gate).
func TestStatusErrorExitCodes(t *testing.T) {
	held := []api.Operation{{Change: api.Change{Action: "disable", Address: "ann@example.com"}, Outcome: api.OutcomeHeld}}
	tests := []struct {
		name    string
		reports []*api.RunReport
		code    int
	}{
		{"none", nil, exitOK},
		{"ok", []*api.RunReport{{Status: api.RunOK}}, exitOK},
		{"dry run", []*api.RunReport{{Status: api.RunDryRun}}, exitOK},
		{"dry run holding operations", []*api.RunReport{{Status: api.RunDryRun, Held: held, HoldReason: "2 disables exceed max_destructive 1"}}, exitHeld},
		{"dry run refused by the health gate", []*api.RunReport{{Status: api.RunDryRun, HoldReason: "source returned 0 objects: refusing to disable anyone"}}, exitHeld},
		{"held", []*api.RunReport{{Status: api.RunHeld}}, exitHeld},
		{"partial beats held", []*api.RunReport{{Status: api.RunHeld}, {Status: api.RunPartial}}, exitPartial},
		{"failed beats all", []*api.RunReport{{Status: api.RunPartial}, {Status: api.RunFailed}, {Status: api.RunDryRun, Held: held}}, exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := statusError(tt.reports)
			if tt.code == exitOK {
				require.NoError(t, err)
				return
			}
			var ee *exitError
			require.True(t, errors.As(err, &ee), "%v", err)
			require.Equal(t, tt.code, ee.code)
		})
	}
}
