package alerts

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPartialCountsFromOutcomes: a big run's report lists only some of its
// operations; the summary's "N of M failed" counts every one, from the
// report's tally, and the first failure is still the first listed.
func TestPartialCountsFromOutcomes(t *testing.T) {
	rep := partialReport("r7") // lists 3: 1 applied, 2 failed
	rep.OperationsOmitted = 98_097
	rep.Outcomes = map[string]map[string]int{
		"applied":   {"create": 97_000, "update": 1_000},
		"unchanged": {"update": 0},
		"failed":    {"update": 60, "create": 40},
	}
	a, ok := runAlert(rep)
	require.True(t, ok)
	require.Equal(t, KindPartial, a.Kind)
	require.Equal(t, "corp: 100 operations of 98100 failed in run r7; "+
		"first: update dan@example.com: address dan@example.com is taken by a manual account", a.Summary)
	require.Equal(t, "update dan@example.com: address dan@example.com is taken by a manual account", a.Reason)
}

// TestPartialFailuresNotListed: every listed operation was applied and the
// failures are among those left out: the count says so, and the reason is
// the run's first error.
func TestPartialFailuresNotListed(t *testing.T) {
	rep := partialReport("r8")
	rep.Operations = rep.Operations[:1] // the applied create
	rep.OperationsOmitted = 1_500
	rep.Outcomes = map[string]map[string]int{"applied": {"create": 1_499}, "failed": {"update": 2}}
	rep.Errors = []string{"2 operations failed"}
	a, ok := runAlert(rep)
	require.True(t, ok)
	require.Equal(t, "corp: 2 operations of 1501 failed in run r8; first: 2 operations failed", a.Summary)
}
