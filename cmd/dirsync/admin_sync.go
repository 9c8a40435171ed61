package main

// dirsync import, dirsync runs and dirsync trigger.

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/api/client"
	"github.com/dirsync/dirsync/internal/clitext"
)

// maxImportFile bounds what import reads: 500 rows are far below it, so a
// bigger file is surely the wrong one.
const maxImportFile = 16 << 20

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("import", "FILE.csv | --template", stderr)
	template := f.Bool("template", false, "print the CSV template (columns Email, Name, Password, Force Change Password)")
	pos, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if *template == (len(pos) == 1) {
		f.Usage()
		return usageError("import: give a CSV file (- for standard input), or --template")
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	if *template {
		raw, err := a.client.ImportTemplate(ctx)
		if err != nil {
			return a.fail(err)
		}
		_, err = stdout.Write(raw)
		return err
	}
	raw, err := readImportFile(pos[0])
	if err != nil {
		return err
	}
	res, err := a.client.Import(ctx, bytes.NewReader(raw))
	return answer(a, res, err, func(w io.Writer, res api.ImportResult) error {
		fmt.Fprintf(w, "imported %s: %d added, %d updated, %d unchanged\n", pos[0], res.Added, res.Updated, res.Unchanged)
		if len(res.Rows) == 0 {
			return nil
		}
		return clitext.Table(w, []string{"ROW", "OUTCOME", "ADDRESS"}, res.Rows, func(r api.ImportRow) []string {
			return []string{fmt.Sprint(r.Row), r.Outcome, r.Address}
		})
	})
}

func readImportFile(path string) ([]byte, error) {
	var r io.Reader = adminStdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, usageError("import: %v", err)
		}
		defer func() { _ = fh.Close() }() // only read: its close loses nothing
		r = fh
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxImportFile+1))
	if err != nil {
		return nil, fmt.Errorf("import: read %s: %w", path, err)
	}
	if len(raw) > maxImportFile {
		return nil, usageError("import: %s is over %d MiB; an import takes at most 500 addresses, so split the file into batches", path, maxImportFile>>20)
	}
	return raw, nil
}

func cmdRuns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "runs", "Show the daemon's sync runs.", []subcommand{
		{"list", "[--connector NAME] [--status STATUS] [--limit N] [--cursor C]", runsList},
		{"show", "RUN-ID", runsShow},
	}, args, stdout, stderr)
}

func runsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("runs list", "[--connector NAME] [--status STATUS] [--limit N] [--cursor C]", stderr)
	connector := f.String("connector", "", "only this connector's runs")
	status := f.String("status", "", fmt.Sprintf("only runs with this status: %s", runStatusList()))
	f.StringVar(status, "state", "", "the older name of --status")
	limit := f.Int("limit", 0, "at most this many runs per page, newest first (default: the API's)")
	cursor := f.String("cursor", "", "continue a listing where the previous page ended")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *limit < 0 {
		return usageError("--limit %d: use a positive number", *limit)
	}
	if st := api.RunStatus(*status); st != "" && !slices.Contains(api.RunStatuses, st) {
		return usageError("--status %q: use one of %s", *status, runStatusList())
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	l, err := a.client.Runs(ctx, client.RunFilter{Connector: *connector, Status: api.RunStatus(*status), Cursor: *cursor, Limit: *limit})
	l.Runs = orEmpty(l.Runs)
	err = list(a, l, err, []string{"RUN ID", "CONNECTOR", "STATUS", "STARTED", "DURATION", "COUNTS"}, l.Runs, func(r api.Run) []string {
		duration, counts := clitext.Duration(r.Started, r.Finished), clitext.Counts(r.Counts)
		switch r.Status {
		case api.RunPending:
			duration, counts = "queued", requestedText(r)
		case api.RunRunning:
			duration, counts = "running", cmp.Or(progressText(r), requestedText(r))
		}
		return []string{r.RunID, r.Connector, string(r.Status) + runMode(r), clitext.Time(r.Started), duration, counts}
	})
	if err == nil && !a.json && l.NextCursor != "" {
		fmt.Fprintf(stderr, "more runs: add --cursor %s\n", l.NextCursor)
	}
	return err
}

// progressText is where a running run is ("" before the engine's first word).
func progressText(r api.Run) string {
	if r.Progress == nil {
		return ""
	}
	return r.Progress.String()
}

// runStatusList is the statuses --status takes, for its help and errors.
func runStatusList() string {
	var s []string
	for _, st := range api.RunStatuses {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

// requestedText says who asked for a run not finished: "requested by api,
// schedule (3 triggers)". A pending run's STARTED is when it was first asked for.
func requestedText(r api.Run) string {
	if len(r.RequestedBy) == 0 {
		return ""
	}
	s := "requested by " + strings.Join(r.RequestedBy, ", ")
	if r.Triggers > 1 {
		s += fmt.Sprintf(" (%d triggers)", r.Triggers)
	}
	return s
}

// runMode marks full runs (incremental is the usual case).
func runMode(r api.Run) string {
	if r.Full && !r.DryRun {
		return " (full)"
	}
	return ""
}

func runsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, pos, err := newAdminFlags("runs show", "RUN-ID", stderr).start(args, 1, 1, stdout)
	if err != nil {
		return err
	}
	r, err := a.client.Run(ctx, pos[0])
	return answer(a, r, err, func(w io.Writer, r api.RunDetail) error {
		if rep, ok := reportOf(r.Report); ok {
			clitext.Report(w, rep)
			return nil
		}
		if err := printRunSummary(w, r.Run); err != nil {
			return err
		}
		fmt.Fprintln(w, "(the full report is gone: older than reports.retention, or never stored; operations are in the daemon's logs and the audit log)")
		return nil
	})
}

// printRunSummary prints a run from the history, which has no operations.
func printRunSummary(stdout io.Writer, r api.Run) error {
	fl := clitext.NewFields(stdout)
	fl.Add("Run", r.RunID)
	fl.Add("Connector", r.Connector)
	fl.Add("Status", string(r.Status))
	mode := map[bool]string{true: "full", false: "incremental"}[r.Full]
	if r.DryRun {
		mode += ", dry run"
	}
	fl.Add("Mode", mode)
	fl.Add("Started", clitext.Time(r.Started))
	fl.Add("Finished", clitext.Time(r.Finished))
	fl.Add("Duration", clitext.Duration(r.Started, r.Finished))
	fl.Add("Counts", clitext.Counts(r.Counts))
	fl.Add("Error", r.Error)
	return fl.Flush()
}

// reportOf is a run's full report, when the API sent one (a report without a
// status is none: only the summary is worth showing).
func reportOf(rep *api.RunReport) (*api.RunReport, bool) {
	return rep, rep != nil && rep.Status != ""
}

func cmdTrigger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("trigger", "[--connector NAME]... [--dry-run] [--full] [--no-wait]", stderr)
	var connectors stringList
	f.Var(&connectors, "connector", "run only this connector (repeatable; default: every enabled one)")
	dry := f.Bool("dry-run", false, "plan only: print what would change and change nothing")
	full := f.Bool("full", false, "full read and reconcile, even where incremental runs are possible")
	noWait := f.Bool("no-wait", false, "return at once with the run ids (follow them with 'dirsync runs show')")
	a, _, err := f.start(args, 0, 0, stdout)
	if err != nil {
		return err
	}
	got, err := a.client.Trigger(ctx, api.TriggerSync{Connectors: connectors, DryRun: *dry, Full: *full, Wait: !*noWait})
	if err := answer(a, got, err, printTriggered); err != nil {
		return err
	}
	var reports []*api.RunReport
	for _, r := range got.Runs {
		if rep, ok := reportOf(r.Report); ok {
			reports = append(reports, rep)
		} else if r.Run != nil {
			// A forwarded run: its status still sets the exit code.
			reports = append(reports, &api.RunReport{RunID: r.RunID, Connector: r.Connector, Status: r.Run.Status})
		}
	}
	return statusError(reports)
}

// printTriggered says what became of each run a trigger asked for: its
// report, or where it runs and how to follow it.
func printTriggered(w io.Writer, got api.Triggered) error {
	for _, r := range got.Runs {
		if rep, ok := reportOf(r.Report); ok {
			clitext.Report(w, rep)
			continue
		}
		if r.Run != nil {
			fmt.Fprintf(w, "%s: run %s ran on the leader replica, which holds its full report:\n", r.Connector, r.RunID)
			if err := printRunSummary(w, *r.Run); err != nil {
				return err
			}
			continue
		}
		where := "started"
		switch {
		case r.Forwarded:
			where = "handed to the leader replica"
		case r.Queued:
			where = "queued (behind the run in progress)"
		}
		fmt.Fprintf(w, "%s: %s run %s (follow it with: dirsync runs show %s)\n", r.Connector, where, r.RunID, r.RunID)
	}
	if len(got.Runs) == 0 {
		fmt.Fprintln(w, "no runs started: the daemon has no enabled connector")
	}
	return nil
}
