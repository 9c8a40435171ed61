package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/sync/engine"
)

// reloadPlan is what a new configuration changes in the running daemon:
// connectors added, changed (a new source), rescheduled (same source, new
// schedules), removed and unchanged (each sorted, enabled connectors only),
// the internal domains to register, and the sections a reload cannot apply.
type reloadPlan struct {
	Added, Changed, Rescheduled, Removed, Unchanged []string
	Domains                                         []string
	Restart                                         []string
}

// planReload compares the running configuration with the new one. It is pure:
// applying the plan is Daemon.Reload.
func planReload(cur, next *config.Config) reloadPlan {
	before, after := enabled(cur), enabled(next)
	var p reloadPlan
	for _, name := range slices.Sorted(maps.Keys(after)) {
		cc := after[name]
		old, had := before[name]
		switch {
		case !had:
			p.Added = append(p.Added, name)
		case !sameSource(old, cc):
			p.Changed = append(p.Changed, name)
		case !sameSchedules(old, cc):
			p.Rescheduled = append(p.Rescheduled, name)
		default:
			p.Unchanged = append(p.Unchanged, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[name]; !ok {
			p.Removed = append(p.Removed, name)
		}
	}
	for _, d := range next.Domains {
		if !slices.Contains(cur.Domains, d) {
			p.Domains = append(p.Domains, d)
		}
	}
	p.Restart = needsRestart(cur, next)
	return p
}

// enabled maps the configuration's enabled connectors by name.
func enabled(c *config.Config) map[string]config.Connector {
	m := map[string]config.Connector{}
	for _, cc := range c.Connectors {
		if !cc.Disabled {
			m[cc.Name] = cc
		}
	}
	return m
}

// sameSource says whether a reload can keep a connector's open source:
// same type, effective policy and prepared settings.
func sameSource(a, b config.Connector) bool {
	return a.Type == b.Type && reflect.DeepEqual(a.Policy, b.Policy) && reflect.DeepEqual(a.Source, b.Source)
}

// sameSchedules compares the effective schedules: a schedule written out as
// the default is no change.
func sameSchedules(a, b config.Connector) bool {
	s1, f1 := a.Schedules()
	s2, f2 := b.Schedules()
	return s1 == s2 && f1 == f2
}

// needsRestart lists the changed sections a reload cannot apply: they need
// new backends or listeners.
func needsRestart(a, b *config.Config) []string {
	var out []string
	for _, s := range []struct {
		name string
		x, y any
	}{
		{"log", a.Log, b.Log}, {"state", a.State, b.State}, {"store", a.Store, b.Store},
		{"server", a.Server, b.Server}, {"outbound", a.Outbound, b.Outbound},
		{"reports", a.Reports, b.Reports}, {"alerts", a.Alerts, b.Alerts},
	} {
		if !reflect.DeepEqual(s.x, s.y) {
			out = append(out, s.name)
		}
	}
	return out
}

// rejected is the error of a reload that changed nothing.
func rejected(err error) error {
	return fmt.Errorf("configuration reload rejected, the running configuration stays: %w", err)
}

// Reload applies a new configuration to the running daemon: connectors added,
// changed or removed take effect without touching the unchanged ones;
// domains, protected accounts and holds.max_age apply to the next runs.
// Every new or changed source is opened first, so one that fails rejects the
// whole reload and the running configuration stays. Sections that need new
// backends or listeners (state, store, server, outbound, log, reports, alerts)
// keep their running values and are logged as needing a restart.
func (d *Daemon) Reload(ctx context.Context, next *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.core.cfg
	p := planReload(cur, next)
	after := enabled(next)

	opened := map[string]engine.Job{}
	for _, name := range slices.Concat(p.Added, p.Changed) {
		job, err := openJob(after[name], d.core.log)
		if err != nil {
			closeAll(opened)
			return rejected(err)
		}
		opened[name] = job
	}
	for _, dom := range p.Domains {
		if err := d.core.store.AddDomain(ctx, dom, configActor); err != nil {
			closeAll(opened)
			return rejected(fmt.Errorf("register internal domain %s: %w", dom, err))
		}
	}
	d.core.engine.SetProtection(protection(next))
	d.core.engine.SetHoldMaxAge(next.Holds.MaxAge)

	// Swap the jobs: runs in flight finish with the source they started with.
	var jobs, retired []engine.Job
	for _, j := range d.core.jobs {
		if nj, ok := opened[j.Name]; ok {
			jobs = append(jobs, nj)
			retired = append(retired, j)
		} else if _, kept := after[j.Name]; !kept {
			retired = append(retired, j)
		} else {
			jobs = append(jobs, j)
		}
	}
	for _, name := range p.Added {
		jobs = append(jobs, opened[name])
	}
	slices.SortFunc(jobs, func(a, b engine.Job) int { return strings.Compare(a.Name, b.Name) })
	d.runs.SetJobs(jobs)
	d.core.jobs, d.core.cfg = jobs, next

	var errs []error
	for _, name := range p.Removed {
		d.sched.Remove(name)
	}
	for _, name := range slices.Concat(p.Added, p.Changed, p.Rescheduled) {
		spec, full := after[name].Schedules()
		if err := d.sched.Set(name, spec, full); err != nil {
			errs = append(errs, err)
		}
	}
	for _, j := range retired {
		d.retire(j)
	}
	// A connector added runs once, as at start-up (a full reconcile).
	for _, name := range p.Added {
		d.sched.Trigger(name, true)
	}
	d.log.Info("configuration reloaded", zap.Strings("added", p.Added), zap.Strings("changed", p.Changed),
		zap.Strings("rescheduled", p.Rescheduled), zap.Strings("removed", p.Removed), zap.Strings("unchanged", p.Unchanged))
	if len(p.Restart) > 0 {
		d.log.Warn("configuration sections changed that only a restart applies; they keep their running values",
			zap.Strings("sections", p.Restart))
	}
	return errors.Join(errs...)
}

// retire closes a source the reload replaced or removed once its last run is
// over.
func (d *Daemon) retire(j engine.Job) {
	d.retired.Go(func() {
		if err := d.runs.Idle(d.runCtx, j.Name); err != nil {
			d.log.Warn("retired connector still running at shutdown", zap.String("connector", j.Name), zap.Error(err))
		}
		if err := j.Source.Close(); err != nil {
			d.log.Warn("close retired connector", zap.String("connector", j.Name), zap.Error(err))
		}
	})
}

// closeAll closes the sources a rejected reload had opened.
func closeAll(jobs map[string]engine.Job) {
	for _, j := range jobs {
		_ = j.Source.Close()
	}
}
