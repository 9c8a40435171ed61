package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/dirsync/dirsync/sync/engine"
)

func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sync", stderr)
	cfgPath := fs.String("config", "", "configuration file")
	var only stringList
	fs.Var(&only, "connector", "run only this connector (repeatable)")
	full := fs.Bool("full", false, "full read and reconcile, even where incremental runs are possible")
	dry := fs.Bool("dry-run", false, "print the plan and change nothing")
	output := fs.String("output", "text", "report format: text or json")
	logLevel := fs.String("log-level", "", "log level for this run (debug, info, warn, error); default: the config's log.level")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return usageError("--output %q: use text or json", *output)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := openApp(ctx, *cfgPath, stderr, *dry, *logLevel)
	if err != nil {
		return err
	}
	defer a.close()

	jobs := a.jobs
	if len(only) > 0 {
		jobs = nil
		for _, name := range only {
			j, ok := a.job(name)
			if !ok {
				return usageError("--connector %q: no enabled connector of that name in %s", name, *cfgPath)
			}
			jobs = append(jobs, j)
		}
	}
	opts := engine.Options{Full: *full, DryRun: *dry}
	showProgress := *output == "text" && isTerminal(stderr)
	if showProgress {
		opts.Progress = progressPrinter(stderr)
	}
	var reports []*engine.Report
	for _, j := range jobs {
		rep := a.engine.Run(ctx, j, opts)
		if showProgress {
			fmt.Fprint(stderr, "\r\033[K")
		}
		reports = append(reports, rep)
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"runs": reports}); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		for _, rep := range reports {
			printText(stdout, rep)
		}
	}
	return statusError(reports)
}
