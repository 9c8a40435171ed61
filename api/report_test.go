package api_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// TestRunReportTally: Outcomes when the report has them (a big run lists
// only some operations), else the count of Operations (a report stored
// before Outcomes existed lists every one).
func TestRunReportTally(t *testing.T) {
	op := func(action string, o api.Outcome) api.Operation {
		return api.Operation{Change: api.Change{Action: action}, Outcome: o}
	}
	old := &api.RunReport{Operations: []api.Operation{op("create", api.OutcomeApplied), op("create", api.OutcomeApplied),
		op("update", api.OutcomeFailed), op("delete", api.OutcomeUnchanged)}}
	tally := old.Tally()
	require.Equal(t, api.OutcomeTally{api.OutcomeApplied: {"create": 2}, api.OutcomeFailed: {"update": 1},
		api.OutcomeUnchanged: {"delete": 1}}, tally)
	require.Equal(t, 2, tally.Count(api.OutcomeApplied))
	require.Equal(t, 0, tally.Count(api.OutcomePlanned))
	require.Equal(t, 4, tally.Total())

	var big api.RunReport
	require.NoError(t, json.Unmarshal([]byte(`{"operations":[{"action":"create","outcome":"applied"}],
		"operations_omitted":98099,"outcomes":{"applied":{"create":98000,"update":50},"failed":{"update":100}}}`), &big))
	require.Equal(t, 98_099, big.OperationsOmitted)
	tally = big.Tally()
	require.Equal(t, 98_050, tally.Count(api.OutcomeApplied))
	require.Equal(t, 100, tally.Count(api.OutcomeFailed))
	require.Equal(t, 98_150, tally.Total())

	// The tally is the caller's: changing it leaves the report alone.
	tally[api.OutcomeApplied]["create"] = 0
	require.Equal(t, 98_000, big.Outcomes["applied"]["create"])

	require.Empty(t, (&api.RunReport{}).Tally())
}
