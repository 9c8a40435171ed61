package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/state/local"
	redisstate "github.com/dirsync/dirsync/state/redis"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
	"github.com/dirsync/dirsync/store/sqlite"
	"github.com/dirsync/dirsync/sync/engine"
)

// app is everything a command needs, built from the config file in one place.
type app struct {
	cfg    *config.Config
	log    *zap.Logger
	store  store.Store
	state  state.Backend
	engine *engine.Engine
	jobs   []engine.Job
	tmpDir string // a dry run's stand-in backends
}

// openApp loads the config, builds the logger, opens the backends and the
// connectors, and registers the configured internal domains in the store. A dry run
// writes nothing: it opens existing backends read-only, and stands in an empty,
// throwaway one for a backend that does not exist yet.
func openApp(ctx context.Context, path string, logOut io.Writer, dryRun bool, logLevel string) (*app, error) {
	if path == "" {
		return nil, usageError("--config is required (try deploy/examples/quickstart.yaml)")
	}
	cfg, err := config.Load(path, registry.Builtin())
	if err != nil {
		return nil, err
	}
	if logLevel != "" {
		cfg.Log.Level = logLevel
	}
	log, err := newLogger(cfg.Log, logOut)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log}
	if err := a.openBackends(ctx, dryRun); err != nil {
		a.close()
		return nil, err
	}
	if !dryRun {
		for _, d := range cfg.Domains {
			if err := a.store.AddDomain(ctx, d, store.Actor{Kind: "system", Name: "config"}); err != nil {
				a.close()
				return nil, fmt.Errorf("register internal domain %s: %w", d, err)
			}
		}
	}
	a.engine = engine.New(a.store, a.state, cfg.Domains, log)
	if cfg.State.Backend == "redis" {
		a.engine.SetRunLease(cfg.State.Redis.RunLease)
	}
	a.engine.SetProtection(engine.Protection{Addresses: cfg.Protected.Addresses, Roles: cfg.Protected.Roles})
	a.engine.SetHoldMaxAge(cfg.Holds.MaxAge)
	for _, cc := range cfg.Connectors {
		if cc.Disabled {
			continue
		}
		job, err := openJob(cc, log)
		if err != nil {
			a.close()
			return nil, err
		}
		a.jobs = append(a.jobs, job)
	}
	return a, nil
}

// openJob opens a configured connector's source with its effective policy.
func openJob(cc config.Connector, log *zap.Logger) (engine.Job, error) {
	src, err := cc.Source.Open(cc.Name, log.Named("connector").With(zap.String("connector", cc.Name)))
	if err != nil {
		return engine.Job{}, fmt.Errorf("open connector %s: %w", cc.Name, err)
	}
	return engine.Job{Name: cc.Name, Source: src, Policy: engine.Policy{
		BatchSize: cc.Policy.BatchSize, MaxDestructive: cc.Policy.MaxDestructive,
		MaxDestructivePercent: cc.Policy.MaxDestructivePercent,
		MaxDestructiveFloor:   cc.Policy.MaxDestructiveFloor, MinSourcePercent: cc.Policy.MinSourcePercent,
		MissingRuns: cc.Policy.MissingRuns, SoftMatch: cc.Policy.SoftMatch,
		RetryMaxAttempts: cc.Policy.Retry.RetryMaxAttempts, RetryBackoff: cc.Policy.Retry.RetryBackoff,
		RetryBackoffMax: cc.Policy.Retry.RetryBackoffMax, DestructiveWindow: cc.Policy.Retry.MaxDestructiveWindow,
	}}, nil
}

func (a *app) openBackends(ctx context.Context, dryRun bool) error {
	if a.cfg.State.Backend == "redis" {
		// A dry run uses Redis as it is: it only reads state (the engine takes no
		// lock and commits nothing on a dry run).
		var err error
		if a.state, err = a.openRedisState(ctx); err != nil {
			return err
		}
		a.store, err = a.openStore(ctx, dryRun)
		return err
	}
	statePath, openState := a.cfg.State.Path, local.Open
	if dryRun {
		openState = local.OpenReadOnly
		if !exists(statePath) {
			tmp, err := a.dryRunDir()
			if err != nil {
				return err
			}
			statePath, openState = filepath.Join(tmp, "state.db"), local.Open
		}
	}
	var err error
	if a.state, err = openState(statePath, a.log); err != nil {
		return fmt.Errorf("open state %s: %w", statePath, err)
	}
	a.store, err = a.openStore(ctx, dryRun)
	return err
}

// openRedisState connects to the redis state backend.
func (a *app) openRedisState(ctx context.Context) (state.Backend, error) {
	rc := a.cfg.State.Redis
	opts := redisstate.Options{
		Addrs: rc.Addrs, MasterName: rc.MasterName, Username: rc.Username, DB: rc.DB,
		DialTimeout: rc.Timeout, ReadTimeout: rc.Timeout, WriteTimeout: rc.Timeout,
	}
	if rc.Password.IsSet() {
		pw, err := rc.Password.Value()
		if err != nil {
			return nil, fmt.Errorf("open state: state.redis.password: %w", err)
		}
		opts.Password = pw
	}
	if rc.TLS != nil {
		opts.TLS = &redisstate.TLSOptions{CAFile: rc.TLS.CAFile, ServerName: rc.TLS.ServerName}
	}
	b, err := redisstate.Open(ctx, opts, a.log)
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	return b, nil
}

// openStore opens the configured store. A dry run writes nothing: an existing
// store is opened read-only and a missing one is stood in by an empty,
// throwaway SQLite store.
func (a *app) openStore(ctx context.Context, dryRun bool) (store.Store, error) {
	if a.cfg.Store.Backend == "postgres" {
		dsn, err := a.cfg.Store.DSN.Value()
		if err != nil {
			return nil, fmt.Errorf("open store: store.dsn: %w", err)
		}
		if !dryRun {
			s, err := postgres.Open(ctx, dsn, a.log)
			if err != nil {
				return nil, fmt.Errorf("open store: %w", err)
			}
			return s, nil
		}
		// Read-only: every connection starts with default_transaction_read_only
		// on, so the server itself refuses a write, and no migration runs. A
		// database dirsync has never migrated holds no store yet.
		s, err := postgres.OpenReadOnly(ctx, dsn, a.log)
		if errors.Is(err, postgres.ErrNoSchema) {
			a.log.Info("dry run: the PostgreSQL database holds no store yet; planning against an empty one")
			return a.throwawayStore()
		}
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
	path := a.cfg.Store.Path
	if !dryRun {
		// The local state backend used to make data/ for both files; with the
		// state in Redis the store's folder may not exist yet.
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		s, err := sqlite.Open(path, a.log)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		return s, nil
	}
	if !exists(path) {
		return a.throwawayStore()
	}
	s, err := sqlite.OpenReadOnly(path, a.log)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// throwawayStore is a dry run's empty stand-in for a store that does not exist yet.
func (a *app) throwawayStore() (store.Store, error) {
	tmp, err := a.dryRunDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(tmp, "store.db")
	s, err := sqlite.Open(path, a.log)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// dryRunDir is the folder of a dry run's stand-in backends, made on first use
// and removed by close.
func (a *app) dryRunDir() (string, error) {
	if a.tmpDir == "" {
		tmp, err := os.MkdirTemp("", "dirsync-dry-run")
		if err != nil {
			return "", fmt.Errorf("dry run: %w", err)
		}
		a.tmpDir = tmp
	}
	return a.tmpDir, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (a *app) job(name string) (engine.Job, bool) {
	for _, j := range a.jobs {
		if j.Name == name {
			return j, true
		}
	}
	return engine.Job{}, false
}

func (a *app) close() {
	var errs []error
	for _, j := range a.jobs {
		errs = append(errs, j.Source.Close())
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	if a.state != nil {
		errs = append(errs, a.state.Close())
	}
	if a.tmpDir != "" {
		errs = append(errs, os.RemoveAll(a.tmpDir))
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Warn("close", zap.Error(err))
	}
	_ = a.log.Sync()
}

// newLogger builds the one root logger: JSON by default, console for a terminal.
func newLogger(c config.Log, out io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, usageError("log level %q: use debug, info, warn or error", c.Level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if c.Format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.AddSync(out), level)), nil
}
