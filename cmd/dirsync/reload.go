package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// reloader applies a new configuration file to the running daemon (SIGHUP):
// connectors added, changed or removed take effect without touching the
// unchanged ones; an invalid file is rejected and the running configuration
// stays. Sections that need new backends or listeners (state, store,
// server, outbound, log, reports, alerts) are reported as needing a restart.
type reloader struct {
	path string
	a    *app
	log  *zap.Logger
	// The daemon's parts a reload changes.
	setJobs  func([]engine.Job)
	idle     func(ctx context.Context, connector string) error
	schedule func(connector, spec, fullSpec string) error
	remove   func(connector string)
	// started runs a connector once, as at start-up (a full reconcile).
	started func(connector string)

	mu   sync.Mutex // serialises reloads and guards a.cfg, a.jobs
	wg   sync.WaitGroup
	stop context.Context
}

// jobs is the current list, for the explain API.
func (r *reloader) jobs() []engine.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.a.jobs)
}

// schedules returns a connector's effective regular and full schedules.
func schedules(cc config.Connector) (string, string) {
	spec, full := cc.Schedule, cc.FullSchedule
	if spec == "" {
		spec = defaultSchedule
	}
	if full == "" {
		full = defaultFullSchedule
	}
	return spec, full
}

// sameSource says whether a reload can keep a connector's open source:
// same type, effective policy and prepared settings.
func sameSource(a, b config.Connector) bool {
	return a.Type == b.Type && a.Policy == b.Policy && reflect.DeepEqual(a.Source, b.Source)
}

// Reload reads the file again and applies it. It returns the error that made
// it reject the new configuration (the old one then keeps running).
func (r *reloader) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := config.Load(r.path, registry.Builtin())
	if err != nil {
		return fmt.Errorf("configuration reload rejected, the running configuration stays: %w", err)
	}
	cur := r.a.cfg
	enabled := func(c *config.Config) map[string]config.Connector {
		m := map[string]config.Connector{}
		for _, cc := range c.Connectors {
			if !cc.Disabled {
				m[cc.Name] = cc
			}
		}
		return m
	}
	before, after := enabled(cur), enabled(next)

	// Open every new or changed source first: one that fails rejects the
	// whole reload before anything running is touched.
	opened := map[string]engine.Job{}
	var added, changed, rescheduled, removed, unchanged []string
	for name, cc := range after {
		old, had := before[name]
		switch {
		case had && sameSource(old, cc):
			s1, f1 := schedules(old)
			if s2, f2 := schedules(cc); s1 != s2 || f1 != f2 {
				rescheduled = append(rescheduled, name)
			} else {
				unchanged = append(unchanged, name)
			}
			continue
		case had:
			changed = append(changed, name)
		default:
			added = append(added, name)
		}
		job, err := openJob(cc, r.a.log)
		if err != nil {
			closeAll(opened)
			return fmt.Errorf("configuration reload rejected, the running configuration stays: %w", err)
		}
		opened[name] = job
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			removed = append(removed, name)
		}
	}

	// Domains, protected accounts and holds.max_age apply to the next runs.
	for _, d := range next.Domains {
		if !slices.Contains(cur.Domains, d) {
			if err := r.a.store.AddDomain(ctx, d, store.Actor{Kind: "system", Name: "config"}); err != nil {
				closeAll(opened)
				return fmt.Errorf("configuration reload rejected, the running configuration stays: register internal domain %s: %w", d, err)
			}
		}
	}
	r.a.engine.SetProtection(engine.Protection{Addresses: next.Protected.Addresses, Roles: next.Protected.Roles})
	r.a.engine.SetHoldMaxAge(next.Holds.MaxAge)

	// Swap the jobs: runs in flight finish with the source they started with.
	var jobs, retired []engine.Job
	for _, j := range r.a.jobs {
		if nj, ok := opened[j.Name]; ok {
			jobs = append(jobs, nj)
			retired = append(retired, j)
		} else if _, kept := after[j.Name]; !kept {
			retired = append(retired, j)
		} else {
			jobs = append(jobs, j)
		}
	}
	for _, name := range added {
		jobs = append(jobs, opened[name])
	}
	slices.SortFunc(jobs, func(a, b engine.Job) int { return strings.Compare(a.Name, b.Name) })
	r.setJobs(jobs)
	r.a.jobs = jobs
	r.a.cfg = next

	var errs []error
	for _, name := range removed {
		r.remove(name)
	}
	for _, name := range slices.Concat(added, changed, rescheduled) {
		spec, full := schedules(after[name])
		if err := r.schedule(name, spec, full); err != nil {
			errs = append(errs, err)
		}
	}
	// A source retired by the reload is closed once its last run is over.
	for _, j := range retired {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := r.idle(r.stop, j.Name); err != nil {
				r.log.Warn("retired connector still running at shutdown", zap.String("connector", j.Name), zap.Error(err))
			}
			if err := j.Source.Close(); err != nil {
				r.log.Warn("close retired connector", zap.String("connector", j.Name), zap.Error(err))
			}
		}()
	}
	for _, name := range added {
		r.started(name)
	}
	slices.Sort(added)
	slices.Sort(changed)
	slices.Sort(removed)
	slices.Sort(rescheduled)
	slices.Sort(unchanged)
	r.log.Info("configuration reloaded", zap.Strings("added", added), zap.Strings("changed", changed),
		zap.Strings("rescheduled", rescheduled), zap.Strings("removed", removed), zap.Strings("unchanged", unchanged))
	if restart := needsRestart(cur, next); len(restart) > 0 {
		r.log.Warn("configuration sections changed that only a restart applies; they keep their running values",
			zap.Strings("sections", restart))
	}
	return errors.Join(errs...)
}

// needsRestart lists the changed sections a reload cannot apply.
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

// closeAll closes the sources a rejected reload had opened.
func closeAll(jobs map[string]engine.Job) {
	for _, j := range jobs {
		_ = j.Source.Close()
	}
}

// wait blocks until retired sources are closed.
func (r *reloader) wait() { r.wg.Wait() }
