package main

// dirsync import, dirsync runs and dirsync trigger.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/api/client"
	"github.com/dirsync/dirsync/sync/engine"
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
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
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
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return printJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "imported %s: %d added, %d updated, %d unchanged\n", pos[0], res.Added, res.Updated, res.Unchanged)
	if len(res.Rows) > 0 {
		t := newTable(stdout, "ROW", "OUTCOME", "ADDRESS")
		for _, r := range res.Rows {
			t.row(fmt.Sprint(r.Row), r.Outcome, r.Address)
		}
		return t.flush()
	}
	return nil
}

func readImportFile(path string) ([]byte, error) {
	var r io.Reader = adminStdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, usageError("import: %v", err)
		}
		defer fh.Close()
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
		{"list", "[--connector NAME] [--state running|pending] [--limit N]", runsList},
		{"show", "RUN-ID", runsShow},
	}, args, stdout, stderr)
}

func runsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("runs list", "[--connector NAME] [--state running|pending] [--limit N]", stderr)
	connector := f.String("connector", "", "only this connector's runs")
	runState := f.String("state", "", "only the daemon's runs in progress (running) or queued behind them (pending)")
	limit := f.Int("limit", 0, "at most this many runs, newest first (default: the API's)")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *limit < 0 {
		return usageError("--limit %d: use a positive number", *limit)
	}
	if *runState != "" && *runState != api.RunRunning && *runState != api.RunPending {
		return usageError("--state %q: use %s or %s", *runState, api.RunRunning, api.RunPending)
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	list, err := a.client.Runs(ctx, client.RunFilter{Connector: *connector, State: *runState, Limit: *limit})
	if err != nil {
		return a.fail(err)
	}
	if list.Runs == nil {
		list.Runs = []api.Run{}
	}
	if a.json {
		return printJSON(stdout, list)
	}
	t := newTable(stdout, "RUN ID", "CONNECTOR", "STATUS", "STARTED", "DURATION", "COUNTS")
	for _, r := range list.Runs {
		switch r.Status {
		case api.RunPending:
			t.row(r.RunID, r.Connector, r.Status+runMode(r), timeText(r.Started), "queued", requestedText(r))
		case api.RunRunning:
			t.row(r.RunID, r.Connector, r.Status+runMode(r), timeText(r.Started), "running", requestedText(r))
		default:
			t.row(r.RunID, r.Connector, r.Status+runMode(r), timeText(r.Started), durationText(r.Started, r.Finished), countsText(r.Counts))
		}
	}
	return t.flush()
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
	f := newAdminFlags("runs show", "RUN-ID", stderr)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	r, err := a.client.Run(ctx, pos[0])
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return printJSON(stdout, r)
	}
	if rep, ok := decodeReport(r.Report); ok {
		printText(stdout, rep)
		return nil
	}
	if err := printRunSummary(stdout, r.Run); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "(the full report is gone: older than reports.retention, or never stored; operations are in the daemon's logs and the audit log)")
	return nil
}

// printRunSummary prints a run from the history, which has no operations.
func printRunSummary(stdout io.Writer, r api.Run) error {
	fl := newFields(stdout)
	fl.add("Run", r.RunID)
	fl.add("Connector", r.Connector)
	fl.add("Status", r.Status)
	mode := "incremental"
	if r.Full {
		mode = "full"
	}
	if r.DryRun {
		mode += ", dry run"
	}
	fl.add("Mode", mode)
	fl.add("Started", timeText(r.Started))
	fl.add("Finished", timeText(r.Finished))
	fl.add("Duration", durationText(r.Started, r.Finished))
	fl.add("Counts", countsText(r.Counts))
	fl.add("Error", r.Error)
	return fl.flush()
}

// decodeReport reads a run report the API passes through (engine.Report's JSON).
func decodeReport(raw json.RawMessage) (*engine.Report, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	var rep engine.Report
	if err := json.Unmarshal(raw, &rep); err != nil || rep.Status == "" {
		return nil, false
	}
	return &rep, true
}

func cmdTrigger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("trigger", "[--connector NAME]... [--dry-run] [--full] [--no-wait]", stderr)
	var connectors stringList
	f.Var(&connectors, "connector", "run only this connector (repeatable; default: every enabled one)")
	dry := f.Bool("dry-run", false, "plan only: print what would change and change nothing")
	full := f.Bool("full", false, "full read and reconcile, even where incremental runs are possible")
	noWait := f.Bool("no-wait", false, "return at once with the run ids (follow them with 'dirsync runs show')")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	got, err := a.client.Trigger(ctx, api.TriggerSync{Connectors: connectors, DryRun: *dry, Full: *full, Wait: !*noWait})
	if err != nil {
		return a.fail(err)
	}
	var reports []*engine.Report
	for _, r := range got.Runs {
		if rep, ok := decodeReport(r.Report); ok {
			reports = append(reports, rep)
		} else if r.Run != nil {
			// A forwarded run: its status still sets the exit code.
			reports = append(reports, &engine.Report{RunID: r.RunID, Connector: r.Connector, Status: r.Run.Status})
		}
	}
	if a.json {
		if err := printJSON(stdout, got); err != nil {
			return err
		}
		return statusError(reports)
	}
	for _, r := range got.Runs {
		if rep, ok := decodeReport(r.Report); ok {
			printText(stdout, rep)
			continue
		}
		if r.Run != nil {
			fmt.Fprintf(stdout, "%s: run %s ran on the leader replica, which holds its full report:\n", r.Connector, r.RunID)
			if err := printRunSummary(stdout, *r.Run); err != nil {
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
		fmt.Fprintf(stdout, "%s: %s run %s (follow it with: dirsync runs show %s)\n", r.Connector, where, r.RunID, r.RunID)
	}
	if len(got.Runs) == 0 {
		fmt.Fprintln(stdout, "no runs started: the daemon has no enabled connector")
	}
	return statusError(reports)
}
