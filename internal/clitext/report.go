package clitext

// Run reports for the terminal, shared by dirsync sync and dirsync trigger.

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/dirsync/dirsync/api"
)

// IsTerminal says whether w is a terminal (where a progress line belongs).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// WouldHold says a dry run planned what a real run would hold: held
// operations, or a hold reason (the source-health gate holds every
// destructive operation, however many there are).
func WouldHold(r *api.RunReport) bool {
	return len(r.Held) > 0 || r.HoldReason != ""
}

// Progress draws a run's progress on one terminal line.
func Progress(w io.Writer) func(api.Progress) {
	return func(p api.Progress) {
		fmt.Fprintf(w, "\r\033[K%s: %s", p.Connector, api.RunProgress{Stage: p.Stage, Read: p.Read, Applied: p.Applied, Total: p.Total})
	}
}

// Report renders one run report.
func Report(w io.Writer, r *api.RunReport) {
	mode := map[bool]string{true: "full", false: "incremental"}[r.Full]
	fmt.Fprintf(w, "%s: %s (%s run %s, %s)\n", r.Connector, r.Status, mode, r.RunID, r.Finished.Sub(r.Started).Round(1e6))
	c := r.Counts
	fmt.Fprintf(w, "  create %d  update %d  disable %d  enable %d  delete %d  unchanged %d  quarantined %d  held %d\n",
		c.Create, c.Update, c.Disable, c.Enable, c.Delete, c.Unchanged, c.Quarantined, c.Held)
	for _, op := range r.Operations {
		fmt.Fprintf(w, "  %-9s %-7s %s%s  (%s)\n", op.Outcome, op.Action, op.Address, describeChanges(op), op.Reason)
		if op.Error != "" {
			fmt.Fprintf(w, "            error: %s\n", op.Error)
		}
	}
	printOmitted(w, r)
	if r.HoldReason != "" {
		fmt.Fprintf(w, "  HELD: %s\n", r.HoldReason)
	}
	for _, op := range r.Held {
		fmt.Fprintf(w, "  held      %-7s %s  (%s)\n", op.Action, op.Address, op.Reason)
	}
	for _, q := range r.Quarantined {
		fmt.Fprintf(w, "  quarantined %s [%s]: %s; fix: %s\n", q.Record, q.Field, q.Reason, q.Fix)
	}
	for _, q := range r.Warnings {
		fmt.Fprintf(w, "  warning %s [%s]: %s; fix: %s\n", q.Record, q.Field, q.Reason, q.Fix)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	printRetries(w, r.Retries)
}

// reportOutcomes are the outcomes in the order the omitted line names them.
var reportOutcomes = []api.Outcome{api.OutcomePlanned, api.OutcomeApplied, api.OutcomeUnchanged, api.OutcomeFailed, api.OutcomeHeld}

// printOmitted says how many operations a big run's report does not list,
// by outcome (the run's tally less those listed), and where the applied
// ones are: the audit log, under the run's id.
func printOmitted(w io.Writer, r *api.RunReport) {
	if r.OperationsOmitted <= 0 {
		return
	}
	tally := r.Tally()
	listed := api.TallyOutcomes(nil, r.Operations, func(op api.Operation) (api.Outcome, string) { return op.Outcome, op.Action })
	outcomes := slices.Clone(reportOutcomes)
	for _, o := range slices.Sorted(maps.Keys(tally)) {
		if !slices.Contains(outcomes, o) {
			outcomes = append(outcomes, o)
		}
	}
	var parts []string
	for _, o := range outcomes {
		if n := tally.Count(o) - listed.Count(o); n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", o, thousands(n)))
		}
	}
	noun := "operations"
	if r.OperationsOmitted == 1 {
		noun = "operation"
	}
	line := fmt.Sprintf("  … %s more %s not listed", thousands(r.OperationsOmitted), noun)
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	if tally.Count(api.OutcomeApplied) > 0 {
		line += ": dirsync audit --run " + r.RunID
	}
	fmt.Fprintln(w, line)
}

// thousands writes a count with a comma between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, d := range s {
		if i > 0 && d != '-' && s[i-1] != '-' && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

// printRetries lists the connector's retry set: failed operations later runs
// plan again, and those given up that wait for an admin (or a full run).
func printRetries(w io.Writer, retries []api.Retry) {
	if len(retries) == 0 {
		return
	}
	fmt.Fprintf(w, "  retries (%d):\n", len(retries))
	for _, e := range retries {
		when := "next run"
		switch {
		case e.GivenUp:
			when = "given up: fix the error, then run a full sync"
		case !e.NextAttempt.IsZero():
			when = "next attempt " + e.NextAttempt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "    %s (%s) attempts %d, %s; last error: %s\n", e.Address, e.Anchor, e.Attempts, when, e.LastError)
	}
}

// describeChanges lists an update's field changes (a create's are its fields).
func describeChanges(op api.Operation) string {
	if op.Action == "create" || len(op.Changes) == 0 {
		return ""
	}
	parts := make([]string, 0, len(op.Changes))
	for _, c := range op.Changes {
		parts = append(parts, fmt.Sprintf("%s: %v → %v", c.Field, c.Before, c.After))
	}
	return " [" + strings.Join(parts, "; ") + "]"
}
