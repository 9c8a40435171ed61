package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/dirsync/dirsync/daemon"
)

const configUsage = `Usage:
  dirsync config check --config FILE [--offline] [--timeout 15s] [--output text|json]

Validates the configuration file (every problem, with its YAML path), resolves
every secret reference without printing a value, and, unless --offline, tests the
connection to the state backend, the store and every enabled connector as a run
would (connect, TLS, bind or sign-in, a minimal read of the configured scope).
Nothing is written anywhere.

Exit codes: 0 every check passed, 1 a check failed, 2 the file is invalid.
`

// checkReport is the output of `dirsync config check`.
type checkReport struct {
	File   string               `json:"file"`
	OK     bool                 `json:"ok"`
	Checks []daemon.CheckResult `json:"checks"`
}

func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, configUsage)
		if len(args) == 0 {
			return &exitError{code: exitUsage}
		}
		return nil
	}
	if args[0] != "check" {
		fmt.Fprint(stderr, configUsage)
		return usageError("config: unknown subcommand %q", args[0])
	}
	fs := newFlagSet("config check", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, configUsage) }
	path := fs.String("config", "", "configuration file")
	offline := fs.Bool("offline", false, "validate and resolve secrets only: connect to nothing")
	timeout := fs.Duration("timeout", 15*time.Second, "time allowed for each connection check")
	output := fs.String("output", "text", "text or json")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *path == "" {
		return usageError("config check: --config is required")
	}
	if *output != "text" && *output != "json" {
		return usageError("config check: --output %q: use text or json", *output)
	}
	// Connectors and clients may warn (an insecure TLS setting, say); their
	// lines go to stderr so that the report on stdout stays clean. An invalid
	// file is a *config.Error: every problem with its path, exit 2.
	cfg, log, err := loadConfig(*path, stderr, "warn")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	rep := checkReport{File: *path, Checks: daemon.Check(ctx, cfg, log, daemon.CheckOptions{Offline: *offline, Timeout: *timeout})}
	rep.OK = !slices.ContainsFunc(rep.Checks, func(r daemon.CheckResult) bool { return r.Status == daemon.CheckFailed })
	if *output == "json" {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printCheckReport(stdout, rep)
	}
	if !rep.OK {
		return &exitError{code: exitFailed}
	}
	return nil
}

func printCheckReport(w io.Writer, rep checkReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	failed := 0
	for _, r := range rep.Checks {
		status := r.Status
		if status == daemon.CheckFailed {
			status = "FAILED"
			failed++
		}
		what := r.Check
		if r.Name != "" {
			what += " " + r.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", status, what, r.Detail)
	}
	_ = tw.Flush()
	if failed == 0 {
		fmt.Fprintf(w, "%s: all %d checks passed\n", rep.File, len(rep.Checks))
		return
	}
	fmt.Fprintf(w, "%s: %d of %d checks failed\n", rep.File, failed, len(rep.Checks))
}
