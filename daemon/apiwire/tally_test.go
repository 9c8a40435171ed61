package apiwire_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/sync/engine"
)

// TestReportCarriesOutcomes: a report that does not list every operation
// keeps its tally and the number left out, byte for byte as the engine's.
func TestReportCarriesOutcomes(t *testing.T) {
	rep := engineReport()
	rep.OperationsOmitted = 98_099
	rep.Outcomes = map[string]map[string]int{"applied": {"create": 98_000}, "failed": {"update": 100}}
	want, err := json.Marshal(rep)
	require.NoError(t, err)
	got := apiwire.Report(rep)
	b, err := json.Marshal(got)
	require.NoError(t, err)
	require.Equal(t, string(want), string(b))
	require.Contains(t, string(b), `"operations_omitted":98099,"outcomes":{"applied":{"create":98000},"failed":{"update":100}}`)
	require.Equal(t, 98_099, got.OperationsOmitted)

	// The API's report is its own: changing it leaves the engine's alone.
	got.Outcomes["applied"]["create"] = 1
	require.Equal(t, 98_000, rep.Outcomes["applied"]["create"])
}

// TestTally: the engine report's tally is Outcomes when it has them, and the
// count of the listed operations for a report stored before they existed.
func TestTally(t *testing.T) {
	rep := engineReport() // one failed update listed
	require.Equal(t, api.OutcomeTally{api.OutcomeFailed: {"update": 1}}, apiwire.Tally(rep))

	rep.Outcomes = map[string]map[string]int{"applied": {"create": 98_000}, "failed": {"update": 100}}
	tally := apiwire.Tally(rep)
	require.Equal(t, api.OutcomeTally{api.OutcomeApplied: {"create": 98_000}, api.OutcomeFailed: {"update": 100}}, tally)
	require.Equal(t, 98_100, tally.Total())
	require.Equal(t, tally, apiwire.Report(rep).Tally())

	require.Empty(t, apiwire.Tally(nil))
	require.Empty(t, apiwire.Tally(&engine.Report{}))
}
