package daemon

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/sync/engine"
)

// SyncOptions choose what SyncOnce runs.
type SyncOptions struct {
	// Connectors are the enabled connectors to run, in this order; empty: all
	// of them, in the configuration's order.
	Connectors []string
	// Full reads and reconciles everything, even where incremental runs are
	// possible; DryRun plans and changes nothing.
	Full, DryRun bool
	// Progress, when set, is told how each run advances.
	Progress func(api.Progress)
	// Finished, when set, is called after each connector's run.
	Finished func(*api.RunReport)
}

// UnknownConnectorError: SyncOptions.Connectors names no enabled connector.
type UnknownConnectorError struct{ Name string }

func (e *UnknownConnectorError) Error() string {
	return fmt.Sprintf("no enabled connector named %q", e.Name)
}

// SyncOnce is `dirsync sync`: it opens the backends and connectors (a dry run
// read-only, see openCore), runs each chosen connector once in this process,
// closes everything and returns one report per run. A run's own failure is in
// its report; the error is for what stopped the runs from starting.
func SyncOnce(ctx context.Context, cfg *config.Config, log *zap.Logger, o SyncOptions) ([]*api.RunReport, error) {
	c, err := openCore(ctx, cfg, log, o.DryRun)
	if err != nil {
		return nil, err
	}
	defer c.close()
	jobs := c.jobs
	if len(o.Connectors) > 0 {
		jobs = nil
		for _, name := range o.Connectors {
			j, ok := c.job(name)
			if !ok {
				return nil, &UnknownConnectorError{Name: name}
			}
			jobs = append(jobs, j)
		}
	}
	opts := engine.Options{Full: o.Full, DryRun: o.DryRun}
	if o.Progress != nil {
		opts.Progress = func(p engine.Progress) { o.Progress(apiwire.Progress(p)) }
	}
	var reports []*api.RunReport
	for _, j := range jobs {
		rep := apiwire.Report(c.engine.Run(ctx, j, opts))
		if o.Finished != nil {
			o.Finished(rep)
		}
		reports = append(reports, rep)
	}
	return reports, nil
}
