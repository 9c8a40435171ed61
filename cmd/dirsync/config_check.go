package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/registry"
	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/store/postgres"
	"github.com/dirsync/dirsync/store/sqlite"
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

// Check outcomes.
const (
	checkOK      = "ok"
	checkFailed  = "failed"
	checkSkipped = "skipped"
)

// checkResult is one line of `dirsync config check`.
type checkResult struct {
	Check  string `json:"check"` // configuration, secret, state, store, connector
	Name   string `json:"name,omitempty"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Millis int64  `json:"ms,omitempty"`
}

type checkReport struct {
	File   string        `json:"file"`
	OK     bool          `json:"ok"`
	Checks []checkResult `json:"checks"`
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
	cfg, err := config.Load(*path, registry.Builtin())
	if err != nil {
		return err // a *config.Error: every problem with its path, exit 2
	}
	// Connectors and clients may warn (an insecure TLS setting, say); their
	// lines go to stderr so that the report on stdout stays clean.
	log, err := newLogger(config.Log{Level: "warn", Format: cfg.Log.Format}, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	c := &checker{cfg: cfg, log: log, timeout: *timeout}
	rep := checkReport{File: *path, Checks: c.run(ctx, *offline)}
	rep.OK = true
	for _, r := range rep.Checks {
		if r.Status == checkFailed {
			rep.OK = false
		}
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
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

type checker struct {
	cfg     *config.Config
	log     *zap.Logger
	timeout time.Duration
}

func (c *checker) run(ctx context.Context, offline bool) []checkResult {
	cfg := c.cfg
	var names []string
	for _, cc := range cfg.Connectors {
		names = append(names, cc.Name+" ("+cc.Type+")")
	}
	out := []checkResult{{Check: "configuration", Status: checkOK, Detail: fmt.Sprintf(
		"valid: %d connector(s) %s; state %s; store %s; admin API on %s",
		len(cfg.Connectors), strings.Join(names, ", "), cfg.State.Backend, cfg.Store.Backend, cfg.Server.Listen)}}

	for _, ref := range cfg.Secrets() {
		r := checkResult{Check: "secret", Name: ref.Path, Status: checkOK}
		if v, err := ref.Secret.Value(); err != nil {
			r.Status, r.Detail = checkFailed, err.Error()
		} else if v == "" {
			r.Status, r.Detail = checkFailed, ref.Secret.String()+" is empty"
		} else {
			r.Detail = ref.Secret.String() + " resolved (value not shown)"
		}
		out = append(out, r)
	}

	if offline {
		out = append(out,
			checkResult{Check: "state", Name: cfg.State.Backend, Status: checkSkipped, Detail: "offline"},
			checkResult{Check: "store", Name: cfg.Store.Backend, Status: checkSkipped, Detail: "offline"})
		for _, cc := range cfg.Connectors {
			out = append(out, checkResult{Check: "connector", Name: cc.Name, Status: checkSkipped, Detail: "offline"})
		}
		return out
	}
	out = append(out, c.timed(ctx, "state", cfg.State.Backend, c.checkState))
	out = append(out, c.timed(ctx, "store", cfg.Store.Backend, c.checkStore))
	for _, cc := range cfg.Connectors {
		if cc.Disabled {
			out = append(out, checkResult{Check: "connector", Name: cc.Name, Status: checkSkipped, Detail: "disabled: true"})
			continue
		}
		out = append(out, c.timed(ctx, "connector", cc.Name, func(ctx context.Context) (string, error) {
			return c.checkConnector(ctx, cc)
		}))
	}
	return out
}

// timed runs one connection check under the per-check timeout.
func (c *checker) timed(ctx context.Context, check, name string, f func(context.Context) (string, error)) checkResult {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	detail, err := f(ctx)
	r := checkResult{Check: check, Name: name, Status: checkOK, Detail: detail, Millis: time.Since(start).Milliseconds()}
	if err != nil {
		r.Status, r.Detail = checkFailed, err.Error()
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			r.Detail += fmt.Sprintf(" (no answer within --timeout %s)", c.timeout)
		}
	}
	return r
}

func (c *checker) checkState(ctx context.Context) (string, error) {
	cfg := c.cfg
	if cfg.State.Backend == "redis" {
		a := &app{cfg: cfg, log: c.log}
		b, err := a.openRedisState(ctx)
		if err != nil {
			return "", err
		}
		defer b.Close()
		return fmt.Sprintf("redis %s answered PING", strings.Join(cfg.State.Redis.Addrs, ",")), nil
	}
	path := cfg.State.Path
	if !exists(path) {
		return creatable(path, "state.path")
	}
	b, err := local.OpenReadOnly(path, c.log)
	if err != nil {
		return "", fmt.Errorf("open state %s: %w", path, err)
	}
	defer b.Close()
	return fmt.Sprintf("state file %s opened read-only", path), nil
}

func (c *checker) checkStore(ctx context.Context) (string, error) {
	cfg := c.cfg
	if cfg.Store.Backend == "postgres" {
		dsn, err := cfg.Store.DSN.Value()
		if err != nil {
			return "", fmt.Errorf("store.dsn: %w", err)
		}
		where, err := postgres.Describe(dsn)
		if err != nil {
			return "", fmt.Errorf("store.dsn: %w", err)
		}
		s, err := postgres.OpenReadOnly(ctx, dsn, c.log)
		if errors.Is(err, postgres.ErrNoSchema) {
			return fmt.Sprintf("postgres %s answered; it holds no dirsync store yet: `dirsync serve` creates the tables on first start", where), nil
		}
		if err != nil {
			return "", fmt.Errorf("postgres %s: %w (check the host, port, user and password in the connection string, pg_hba.conf, and sslmode)", where, err)
		}
		defer s.Close()
		return fmt.Sprintf("postgres %s answered read-only; the store's schema is current", where), nil
	}
	path := cfg.Store.Path
	if !exists(path) {
		return creatable(path, "store.path")
	}
	s, err := sqlite.OpenReadOnly(path, c.log)
	if err != nil {
		return "", fmt.Errorf("open store %s: %w", path, err)
	}
	defer s.Close()
	return fmt.Sprintf("sqlite %s opened read-only", path), nil
}

// checkConnector opens the source and asks it to check its connection.
func (c *checker) checkConnector(ctx context.Context, cc config.Connector) (string, error) {
	src, err := cc.Source.Open(cc.Name, c.log.Named("connector").With(zap.String("connector", cc.Name)))
	if err != nil {
		return "", fmt.Errorf("open: %w", err)
	}
	defer src.Close()
	ch, ok := src.(connectors.Checker)
	if !ok {
		return "", fmt.Errorf("connector type %s has no connection check", cc.Type)
	}
	return ch.Check(ctx)
}

// creatable says whether a file that does not exist yet can be created: its
// nearest existing folder must be writable by this user.
func creatable(path, key string) (string, error) {
	dir := filepath.Dir(path)
	for !exists(dir) && filepath.Dir(dir) != dir {
		dir = filepath.Dir(dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return "", fmt.Errorf("%s does not exist and %s is not writable by this user (%w): create the folder for the daemon's user, or set %s",
			path, dir, err, key)
	}
	return fmt.Sprintf("%s does not exist yet; it will be created (%s is writable)", path, dir), nil
}

func printCheckReport(w io.Writer, rep checkReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	failed := 0
	for _, r := range rep.Checks {
		status := r.Status
		if status == checkFailed {
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
