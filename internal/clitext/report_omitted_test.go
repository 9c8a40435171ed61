package clitext_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/clitext"
)

// TestTextReportSaysWhatIsNotListed: a big run's report lists some of its
// operations; one line after them says how many more there are, by outcome
// from the run's tally, and where the applied ones are.
func TestTextReportSaysWhatIsNotListed(t *testing.T) {
	rep := &api.RunReport{RunID: "run-42", Connector: "ad", Status: api.RunPartial,
		Operations: []api.Operation{
			{Change: api.Change{Action: "create", Address: "ann@example.com", Reason: "new"}, Outcome: api.OutcomeApplied},
			{Change: api.Change{Action: "update", Address: "bob@example.com", Reason: "title"}, Outcome: api.OutcomeFailed, Error: "refused"},
		},
		OperationsOmitted: 98_100,
		Outcomes: map[string]map[string]int{
			"applied": {"create": 97_001, "update": 1_000},
			"failed":  {"update": 101},
		}}
	var out bytes.Buffer
	clitext.Report(&out, rep)
	lines := strings.Split(out.String(), "\n")
	i := slices.Index(lines, "            error: refused")
	require.Positive(t, i, out.String())
	require.Equal(t, "  … 98,100 more operations not listed (applied 98,000, failed 100): dirsync audit --run run-42", lines[i+1])

	// A dry run applied nothing: no audit log to point at.
	dry := &api.RunReport{RunID: "run-43", Connector: "ad", Status: api.RunDryRun, OperationsOmitted: 1,
		Outcomes: map[string]map[string]int{"planned": {"delete": 1}}}
	out.Reset()
	clitext.Report(&out, dry)
	require.Contains(t, out.String(), "\n  … 1 more operation not listed (planned 1)\n")

	// Every operation listed (or a report from before the tally): no line.
	out.Reset()
	rep.OperationsOmitted, rep.Outcomes = 0, nil
	clitext.Report(&out, rep)
	require.NotContains(t, out.String(), "not listed")
}
