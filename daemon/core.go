package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// core is what both the daemon and a one-shot sync run on: the backends, the
// engine and the enabled connectors' jobs.
type core struct {
	cfg    *config.Config
	log    *zap.Logger
	store  store.Store
	state  state.Backend
	engine *engine.Engine
	jobs   []engine.Job
	tmpDir string // a dry run's stand-in backends
}

// configActor is who the audit log says registered the configured domains.
var configActor = store.Actor{Kind: "system", Name: "config"}

// openCore opens the backends and the connectors, and registers the
// configured internal domains in the store. A dry run writes nothing: it opens
// existing backends read-only, and stands in an empty, throwaway one for a
// backend that does not exist yet.
func openCore(ctx context.Context, cfg *config.Config, log *zap.Logger, dryRun bool) (*core, error) {
	c := &core{cfg: cfg, log: log}
	if err := c.openBackends(ctx, dryRun); err != nil {
		c.close()
		return nil, err
	}
	if !dryRun {
		for _, d := range cfg.Domains {
			if err := c.store.AddDomain(ctx, d, configActor); err != nil {
				c.close()
				return nil, fmt.Errorf("register internal domain %s: %w", d, err)
			}
		}
	}
	c.engine = engine.New(c.store, c.state, cfg.Domains, log)
	// Zero (the local backend, which validation keeps without redis
	// settings) leaves the engine's default.
	c.engine.SetRunLease(cfg.State.Redis.RunLease)
	c.engine.SetProtection(protection(cfg))
	c.engine.SetHoldMaxAge(cfg.Holds.MaxAge)
	for _, cc := range cfg.Connectors {
		if cc.Disabled {
			continue
		}
		job, err := openJob(cc, log)
		if err != nil {
			c.close()
			return nil, err
		}
		c.jobs = append(c.jobs, job)
	}
	return c, nil
}

func protection(cfg *config.Config) engine.Protection {
	return engine.Protection{Addresses: cfg.Protected.Addresses, Roles: cfg.Protected.Roles}
}

// openJob opens a configured connector's source with its effective policy.
func openJob(cc config.Connector, log *zap.Logger) (engine.Job, error) {
	src, err := cc.Source.Open(cc.Name, log.Named("connector").With(zap.String("connector", cc.Name)))
	if err != nil {
		return engine.Job{}, fmt.Errorf("open connector %s: %w", cc.Name, err)
	}
	return engine.Job{Name: cc.Name, Source: src, Policy: cc.Policy}, nil
}

func (c *core) openBackends(ctx context.Context, dryRun bool) error {
	sb, err := lookupState(c.cfg.State.Backend)
	if err != nil {
		return err
	}
	st, err := lookupStore(c.cfg.Store.Backend)
	if err != nil {
		return err
	}
	if !dryRun {
		if c.state, err = sb.open(ctx, c.cfg.State, c.log); err != nil {
			return err
		}
		c.store, err = st.open(ctx, c.cfg.Store, c.log)
		return err
	}
	c.state, err = sb.openReadOnly(ctx, c.cfg.State, c.log)
	if errors.Is(err, errNotCreated) {
		c.state, err = standIn(c, func(dir string) (state.Backend, error) {
			return openLocal(ctx, config.State{Path: filepath.Join(dir, "state.db")}, c.log)
		})
	}
	if err != nil {
		return err
	}
	c.store, err = st.openReadOnly(ctx, c.cfg.Store, c.log)
	if errors.Is(err, errNotCreated) {
		c.store, err = standIn(c, func(dir string) (store.Store, error) {
			return openSQLite(ctx, config.Store{Path: filepath.Join(dir, "store.db")}, c.log)
		})
	}
	return err
}

// standIn opens a dry run's empty stand-in for a backend that does not exist
// yet, in a folder made on first use and removed by close. The stand-ins are
// the file-based backends whatever is configured: they need no server.
func standIn[B any](c *core, open func(dir string) (B, error)) (B, error) {
	if c.tmpDir == "" {
		tmp, err := os.MkdirTemp("", "dirsync-dry-run")
		if err != nil {
			var zero B
			return zero, fmt.Errorf("dry run: %w", err)
		}
		c.tmpDir = tmp
	}
	return open(c.tmpDir)
}

// job returns the enabled connector's job of that name.
func (c *core) job(name string) (engine.Job, bool) {
	for _, j := range c.jobs {
		if j.Name == name {
			return j, true
		}
	}
	return engine.Job{}, false
}

func (c *core) close() {
	var errs []error
	for _, j := range c.jobs {
		errs = append(errs, j.Source.Close())
	}
	if c.store != nil {
		errs = append(errs, c.store.Close())
	}
	if c.state != nil {
		errs = append(errs, c.state.Close())
	}
	if c.tmpDir != "" {
		errs = append(errs, os.RemoveAll(c.tmpDir))
	}
	if err := errors.Join(errs...); err != nil {
		c.log.Warn("close", zap.Error(err))
	}
	_ = c.log.Sync()
}
