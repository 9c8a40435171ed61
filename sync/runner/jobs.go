package runner

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/sync/engine"
)

// Swapping jobs for a configuration reload.

// SetJobs replaces the runner's jobs (a configuration reload). Runs in flight
// keep the job they started with; pending and later runs use the new one. A
// pending run of a connector that is removed is dropped (and logged; a trigger
// waiting for it hears ErrUnknownConnector), and triggers for it fail
// from now on.
func (r *Runner) SetJobs(jobs []engine.Job) {
	r.mu.Lock()
	r.setJobs(jobs)
	var gone []*active
	for k, a := range r.pending {
		if _, ok := r.jobs[k.connector]; !ok {
			delete(r.pending, k)
			drop([]*active{a}, removed(k.connector))
			gone = append(gone, a)
		}
	}
	names := slices.Clone(r.names)
	r.mu.Unlock()
	r.dropped(gone)
	r.log.Info("jobs replaced", zap.Strings("connectors", names))
}

// setJobs replaces the jobs; r.mu is held or the runner not yet shared.
func (r *Runner) setJobs(jobs []engine.Job) {
	r.jobs = make(map[string]engine.Job, len(jobs))
	r.names = r.names[:0:0]
	for _, j := range jobs {
		r.jobs[j.Name] = j
		r.names = append(r.names, j.Name)
	}
	slices.Sort(r.names)
}

// Idle waits until no run of connector is running or pending in this process
// (or ctx ends); connector "" waits for every connector.
func (r *Runner) Idle(ctx context.Context, connector string) error {
	for {
		r.mu.Lock()
		var wait <-chan struct{}
		for _, m := range []map[lane]*active{r.pending, r.running} {
			for k, a := range m {
				if wait == nil && (connector == "" || k.connector == connector) {
					wait = a.done
				}
			}
		}
		r.mu.Unlock()
		if wait == nil {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("waiting for runs of %q: %w", connector, ctx.Err())
		}
	}
}
