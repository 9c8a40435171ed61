package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// TestAliasTakenBackAfterItsBatchWasApplied: creates and updates go to the
// store batch by batch while the source is read, so an alias given to u01 may
// be in the store before the record whose primary address it is (u02) is
// read. The plan is the same either way: u02 keeps its address, u01 loses the
// alias through an update applied before u02 is joined, and u01 is warned.
// The dry run reports what the run does; a second run changes nothing.
func TestAliasTakenBackAfterItsBatchWasApplied(t *testing.T) {
	ann := withAliases(user(1), "U02@example.com", "ann.alias@example.com")
	recs := []connectors.Record{ann, user(3), user(2)}
	for _, batch := range []int{1, 500} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			e := newEnv(t)
			pol := policy()
			pol.BatchSize = batch
			dry := e.run(t, &connectortest.Static{Records: recs}, pol, engine.Options{DryRun: true})
			rep := e.run(t, &connectortest.Static{Records: recs}, pol, engine.Options{})
			require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
			require.Empty(t, rep.Errors)
			require.Equal(t, 3, rep.Counts.Create)
			require.Equal(t, []string{"ann.alias@example.com"}, e.aliasesOf(t, "u01@example.com"))
			require.True(t, e.enabled(t, "u02@example.com"), "the primary address wins the alias")
			require.Len(t, rep.Warnings, 1)
			require.Equal(t, "uid=u01", rep.Warnings[0].Record)
			require.Contains(t, rep.Warnings[0].Reason, "primary address of uid=u02")

			var did, planned []string
			for _, op := range rep.Operations {
				require.Equal(t, "applied", op.Outcome, op)
				did = append(did, string(op.Action)+" "+op.Address)
			}
			for _, op := range dry.Operations {
				planned = append(planned, string(op.Action)+" "+op.Address)
			}
			require.Equal(t, planned, did, "the dry run reports what the run does")
			require.Equal(t, rep.Counts, dry.Counts)
			if batch == 1 {
				// u01's create went in with the alias, taken back before u02's.
				require.Equal(t, []string{"create u01@example.com", "create u03@example.com",
					"update u01@example.com", "create u02@example.com"}, did)
				require.Equal(t, 1, rep.Counts.Update)
			} else {
				require.Equal(t, 0, rep.Counts.Update, "one batch: the create never had the alias")
			}
			require.Equal(t, 3, rep.Outcomes["applied"]["create"])

			again := e.run(t, &connectortest.Static{Records: recs}, pol, engine.Options{})
			require.Equal(t, engine.StatusOK, again.Status, again.Errors)
			require.Empty(t, again.Operations)
			require.Len(t, again.Warnings, 1, "u01 is warned until the source fixes it")
			require.Equal(t, []string{"ann.alias@example.com"}, e.aliasesOf(t, "u01@example.com"))
		})
	}
}

// TestBigRunListsABoundedReport: a run lists the first ReportOperations
// operations and counts every one, by outcome and action.
func TestBigRunListsABoundedReport(t *testing.T) {
	e := newEnv(t)
	n := engine.ReportOperations + 250
	pol := policy()
	pol.BatchSize = 100
	rep := e.run(t, &connectortest.Static{Records: users(n)}, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Equal(t, n, rep.Counts.Create)
	require.Len(t, rep.Operations, engine.ReportOperations)
	require.Equal(t, 250, rep.OperationsOmitted)
	require.Equal(t, map[string]map[string]int{"applied": {string(store.ActionCreate): n}}, rep.Outcomes)
	for _, op := range rep.Operations {
		require.True(t, strings.HasSuffix(op.Address, "@example.com"))
	}
}
