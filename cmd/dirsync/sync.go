package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/daemon"
	"github.com/dirsync/dirsync/internal/clitext"
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
	cfg, log, err := loadConfig(*cfgPath, stderr, *logLevel)
	if err != nil {
		return err
	}
	opts := daemon.SyncOptions{Connectors: only, Full: *full, DryRun: *dry}
	if *output == "text" && clitext.IsTerminal(stderr) {
		opts.Progress = clitext.Progress(stderr)
		opts.Finished = func(*api.RunReport) { fmt.Fprint(stderr, "\r\033[K") }
	}
	reports, err := daemon.SyncOnce(ctx, cfg, log, opts)
	var unknown *daemon.UnknownConnectorError
	if errors.As(err, &unknown) {
		return usageError("--connector %q: no enabled connector of that name in %s", unknown.Name, *cfgPath)
	}
	if err != nil {
		return err
	}
	if *output == "json" {
		if err := printJSON(stdout, map[string]any{"runs": reports}); err != nil {
			return err
		}
	} else {
		for _, rep := range reports {
			clitext.Report(stdout, rep)
		}
	}
	return statusError(reports)
}
