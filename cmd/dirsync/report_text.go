package main

// Rendering of run reports for the terminal and the exit code they map to,
// shared by dirsync sync and dirsync trigger.

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/dirsync/dirsync/sync/engine"
)

// statusError maps the worst run status to the exit code.
func statusError(reports []*engine.Report) error {
	code := exitOK
	rank := map[int]int{exitOK: 0, exitHeld: 1, exitPartial: 2, exitFailed: 3}
	for _, r := range reports {
		c := exitOK
		switch r.Status {
		case engine.StatusFailed:
			c = exitFailed
		case engine.StatusPartial:
			c = exitPartial
		case engine.StatusHeld:
			c = exitHeld
		}
		if rank[c] > rank[code] {
			code = c
		}
	}
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func progressPrinter(w io.Writer) func(engine.Progress) {
	return func(p engine.Progress) {
		switch p.Stage {
		case "read":
			fmt.Fprintf(w, "\r\033[K%s: read %d records", p.Connector, p.Read)
		case "plan":
			fmt.Fprintf(w, "\r\033[K%s: read %d records, planning", p.Connector, p.Read)
		case "apply":
			fmt.Fprintf(w, "\r\033[K%s: applied %d/%d changes", p.Connector, p.Applied, p.Total)
		case "commit":
			fmt.Fprintf(w, "\r\033[K%s: committing state", p.Connector)
		}
	}
}

func printText(w io.Writer, r *engine.Report) {
	mode := "incremental"
	if r.Full {
		mode = "full"
	}
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

// printRetries lists the connector's retry set: failed operations later runs
// plan again, and those given up that wait for an admin (or a full run).
func printRetries(w io.Writer, retries []engine.Retry) {
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

func describeChanges(op engine.Operation) string {
	if op.Action == "create" || len(op.Changes) == 0 {
		return ""
	}
	parts := make([]string, 0, len(op.Changes))
	for _, c := range op.Changes {
		parts = append(parts, fmt.Sprintf("%s: %v → %v", c.Field, c.Before, c.After))
	}
	return " [" + strings.Join(parts, "; ") + "]"
}
