package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// fakeHolds answers every decision with the results it was given.
type fakeHolds struct{ results []api.HoldResult }

func (f fakeHolds) Holds(context.Context, string, string) ([]api.Hold, error) {
	return []api.Hold{}, nil
}

func (f fakeHolds) Decide(context.Context, api.DecideHolds, bool, string) ([]api.HoldResult, error) {
	return f.results, nil
}

// TestHoldDecisionRefusals: each refusal of a one-hold decision is its own
// status and code; an approval whose operation expired at the re-check is a
// conflict that says why, like one already decided.
func TestHoldDecisionRefusals(t *testing.T) {
	tests := []struct {
		code   string
		status int
	}{
		{code: api.CodeHoldNotFound, status: http.StatusNotFound},
		{code: api.CodeHoldDecided, status: http.StatusConflict},
		{code: api.CodeHoldExpired, status: http.StatusConflict},
		{code: api.CodeApplyFailed, status: http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			why := "h1 (disable ann@example.com): held operation expired: a run since the hold read the object from the source again"
			res := []api.HoldResult{{ID: "h1", Status: "expired", Code: tt.code, Error: why}}
			h := newHarnessWith(t, api.Options{Holds: fakeHolds{results: res}}, nil)
			info := h.call("POST", "/v1/holds/h1/approve", h.admin, nil).apiErr(tt.status, tt.code)
			require.Contains(t, info.Message, why)

			var out api.HoldResults
			h.call("POST", "/v1/holds/approve", h.admin, api.DecideHolds{IDs: []string{"h1"}}).ok(http.StatusOK, &out)
			require.Equal(t, res, out.Results, "in bulk, every result with its code")
		})
	}
}
