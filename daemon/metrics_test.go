package daemon

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

func metricsOp(action store.Action, outcome string) engine.Operation {
	return engine.Operation{Change: store.Change{Action: action, Kind: "user", Address: "a@example.com"}, Outcome: outcome}
}

// TestRunInfoCountsAppliedFromOutcomes: a big run's report lists only some
// of its operations; the metrics count every applied one, from Outcomes.
func TestRunInfoCountsAppliedFromOutcomes(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rep := &engine.Report{Connector: "corp", Status: engine.StatusPartial, Started: at, Finished: at.Add(time.Minute),
		// The listed few: the tally, not the list, is what counts.
		Operations:        []engine.Operation{metricsOp(store.ActionCreate, "applied"), metricsOp(store.ActionUpdate, "failed")},
		OperationsOmitted: 98_098,
		Outcomes: map[string]map[string]int{
			"applied":   {"create": 98_000, "delete": 3},
			"failed":    {"update": 100},
			"unchanged": {"update": 7},
		}}
	info := runInfo(runner.Finished{Report: rep, Read: 98_110})
	require.Equal(t, map[string]int{"create": 98_000, "delete": 3}, info.Ops)
	require.Equal(t, "corp", info.Connector)
	require.Equal(t, time.Minute, info.Duration)
	require.False(t, info.DryRun)
}

// TestRunInfoCountsAppliedFromOperations: a report stored before Outcomes
// existed lists every operation; the applied ones are counted from the list.
func TestRunInfoCountsAppliedFromOperations(t *testing.T) {
	rep := &engine.Report{Connector: "corp", Status: engine.StatusOK, Operations: []engine.Operation{
		metricsOp(store.ActionCreate, "applied"), metricsOp(store.ActionCreate, "applied"),
		metricsOp(store.ActionUpdate, "applied"), metricsOp(store.ActionUpdate, "unchanged"),
		metricsOp(store.ActionDisable, "failed"),
	}}
	require.Equal(t, map[string]int{"create": 2, "update": 1}, runInfo(runner.Finished{Report: rep}).Ops)

	// A run with nothing applied records no operations (and no nil map).
	empty := runInfo(runner.Finished{Report: &engine.Report{Connector: "corp", Status: engine.StatusOK}})
	require.NotNil(t, empty.Ops)
	require.Empty(t, empty.Ops)
}
