package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/plan"
)

// Triggers and run listings, in the runner's own types: daemon/apiwire adapts
// them to the admin API (this package does not import api).

// Errors the runner's answers wrap (daemon/apiwire maps them to the API's).
var (
	// ErrUnknownConnector: no connector of that name is configured.
	ErrUnknownConnector = errors.New("unknown connector")
	// ErrRunNotFound: no run with that id, in memory or in the history.
	ErrRunNotFound = errors.New("run not found")
	// ErrStopping: the runner is stopping and starts no more runs.
	ErrStopping = errors.New("the daemon is stopping")
)

// Trigger asks for runs: of the named connectors, or of every one.
type Trigger struct {
	Connectors []string
	DryRun     bool
	Full       bool
	// Wait returns once the runs have finished, with their reports.
	Wait bool
}

// Triggered is one connector's triggered run. Report is set when the trigger
// waited and the run ran here; Run when it waited for a run forwarded to the
// leader (the leader keeps the report). Queued: the connector was running and
// the run is its pending run, shared by every trigger until it starts.
type Triggered struct {
	Connector string
	RunID     string
	Queued    bool
	Forwarded bool
	Report    *engine.Report
	Run       *Run
}

// Run is a run in progress or pending, or an entry of the state backend's
// history. RequestedBy and Triggers are set for runs not finished: the
// sources of the triggers merged into the run and how many there were. A
// pending run's Started is when it was first requested.
type Run struct {
	RunID       string
	Connector   string
	Status      string // StatusRunning, StatusPending, or a finished run's engine status
	Full        bool
	DryRun      bool
	Started     time.Time
	Finished    time.Time
	Counts      map[string]int
	Error       string
	RequestedBy []string
	Triggers    int
	// Progress is a running run's latest progress (nil before the engine's
	// first report, and for runs not running here).
	Progress *Progress
}

// Progress is where a running run is: its stage (read, plan, apply, commit)
// and that stage's counts, as the engine last reported them.
type Progress struct {
	Stage string
	// Read counts the records read so far (read and plan stages).
	Read int
	// Applied of Total operations are through the store (apply and commit).
	Applied, Total int
	// At is when the engine reported it.
	At time.Time
}

// Detail is one run: its summary, and its full report while the runner or
// the state backend keeps it.
type Detail struct {
	Run
	Report *engine.Report
}

// Trigger starts or queues the requested runs (every connector when none is
// named); a connector already running gets its pending run, shared with the
// triggers before and after this one. With req.Wait it returns when all have
// finished, reports included. Unknown names fail the whole request before
// anything starts.
func (r *Runner) Trigger(ctx context.Context, req Trigger) ([]Triggered, error) {
	r.mu.Lock()
	names, all := req.Connectors, slices.Clone(r.names)
	for _, n := range names {
		if _, ok := r.jobs[n]; !ok {
			r.mu.Unlock()
			return nil, fmt.Errorf("%w %q: configured connectors are %v", ErrUnknownConnector, n, all)
		}
	}
	r.mu.Unlock()
	if len(names) == 0 {
		names = all
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	if r.leader != nil && !req.DryRun && !r.leader.IsLeader() {
		return r.forward(ctx, req, names)
	}
	var out []Triggered
	var runs []*active
	for _, n := range names {
		a, queued, err := r.start(Request{Connector: n, Full: req.Full, DryRun: req.DryRun, Source: SourceAPI})
		if err != nil {
			return out, err
		}
		out = append(out, Triggered{Connector: n, RunID: a.id, Queued: queued})
		runs = append(runs, a)
	}
	if !req.Wait {
		return out, nil
	}
	for i, a := range runs {
		select {
		case <-a.done:
		case <-ctx.Done():
			return out, fmt.Errorf("waiting for run %s: %w", a.id, ctx.Err())
		}
		if a.dropErr != nil {
			return out, fmt.Errorf("run %s of %s dropped before it started: %w", a.id, a.connector, a.dropErr)
		}
		out[i].Report = a.report
	}
	return out, nil
}

// Runs lists this process's runs in progress and pending, then the state
// backend's history, newest first. Dry runs are not in the history (they
// change nothing) but are listed while their report is in memory.
func (r *Runner) Runs(ctx context.Context, connector string, limit int) ([]Run, error) {
	return r.RunsByState(ctx, connector, "", limit)
}

// RunsByState is Runs with a filter: StatusRunning or StatusPending list only
// this process's runs in that state; "" lists everything, as Runs.
func (r *Runner) RunsByState(ctx context.Context, connector, runState string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []Run
	var dry []Run
	r.mu.Lock()
	for _, l := range []struct {
		m      map[lane]*active
		status string
	}{{r.running, StatusRunning}, {r.pending, StatusPending}} {
		if runState != "" && runState != l.status {
			continue
		}
		for k, a := range l.m {
			if connector == "" || connector == k.connector {
				out = append(out, a.summary(l.status))
			}
		}
	}
	if runState == "" {
		for _, k := range r.reports {
			if k.dryRun && (connector == "" || connector == k.rep.Connector) {
				dry = append(dry, fromReport(k.rep, true))
			}
		}
	}
	r.mu.Unlock()
	if runState == "" {
		hist, err := r.state.Runs(ctx, connector, limit)
		if err != nil {
			return nil, fmt.Errorf("run history: %w", err)
		}
		for _, h := range hist {
			// A trigger merged into another run is that run, listed already.
			if h.MergedInto == "" {
				out = append(out, fromState(h))
			}
		}
		out = append(out, dry...)
	}
	slices.SortStableFunc(out, func(a, b Run) int {
		return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(a.Connector, b.Connector))
	})
	seen := map[string]bool{}
	var uniq []Run
	for _, run := range out {
		if !seen[run.RunID] {
			seen[run.RunID] = true
			uniq = append(uniq, run)
		}
	}
	if len(uniq) > limit {
		uniq = uniq[:limit]
	}
	return uniq, nil
}

// summary is a's entry in a listing; r.mu is held.
func (a *active) summary(status string) Run {
	run := Run{RunID: a.id, Connector: a.connector, Status: status, Full: a.full, DryRun: a.dryRun,
		Started: a.started, Counts: map[string]int{}, RequestedBy: slices.Clone(a.sources), Triggers: a.triggers}
	if status == StatusPending {
		run.Started = a.requested
	} else if p := a.progress.Load(); p != nil {
		cp := *p
		run.Progress = &cp
	}
	return run
}

// Run returns one run: running or pending; the full report while it is in
// memory, or while the state backend keeps it (state.Reports, for
// Options.ReportRetention: from any replica, after a restart); else the
// history's summary (ErrRunNotFound when nothing has it). The id of a
// trigger that was merged into another run gives that run.
func (r *Runner) Run(ctx context.Context, id string) (Detail, error) {
	r.mu.Lock()
	for _, l := range []struct {
		m      map[lane]*active
		status string
	}{{r.running, StatusRunning}, {r.pending, StatusPending}} {
		for _, a := range l.m {
			if a.id == id || slices.Contains(a.named, id) {
				run := a.summary(l.status)
				r.mu.Unlock()
				return Detail{Run: run}, nil
			}
		}
	}
	k, ok := r.reports[id]
	r.mu.Unlock()
	if ok {
		return Detail{Run: fromReport(k.rep, k.dryRun), Report: k.rep}, nil
	}
	if rb, ok := r.state.(state.Reports); ok {
		sr, err := rb.Report(ctx, id)
		switch {
		case err == nil:
			var rep engine.Report
			if err := json.Unmarshal(sr.Body, &rep); err != nil {
				return Detail{}, fmt.Errorf("stored report %s: decode: %w", id, err)
			}
			return Detail{Run: fromReport(&rep, false), Report: &rep}, nil // only real runs' reports are stored
		case !errors.Is(err, state.ErrNotFound):
			return Detail{}, fmt.Errorf("stored report: %w", err)
		}
	}
	hist, err := r.state.Runs(ctx, "", historyScan)
	if err != nil {
		return Detail{}, fmt.Errorf("run history: %w", err)
	}
	for _, h := range hist {
		if h.ID != id {
			continue
		}
		if h.MergedInto != "" && h.MergedInto != id {
			return r.Run(ctx, h.MergedInto)
		}
		return Detail{Run: fromState(h)}, nil
	}
	return Detail{}, fmt.Errorf("%w: %s (only the last %d runs are kept)", ErrRunNotFound, id, historyScan)
}

// FieldOwner says whether the connector writes field; a connector that does not
// declare its fields owns them all, but the ones only a declaration gives
// (plan.Owned: the Microsoft 365 facts).
func (r *Runner) FieldOwner(connector, field string) bool {
	r.mu.Lock()
	j, ok := r.jobs[connector]
	r.mu.Unlock()
	if !ok {
		return false
	}
	fo, ok := j.Source.(connectors.FieldOwner)
	if !ok {
		return plan.Owned(nil).Has(field)
	}
	return slices.Contains(fo.Fields(), field)
}

func fromState(h state.Run) Run {
	return Run{RunID: h.ID, Connector: h.Connector, Status: h.Status, Full: h.Full, DryRun: h.DryRun,
		Started: h.Started, Finished: h.Finished, Counts: h.Counts, Error: h.Error}
}

// fromReport is a finished run's summary; dryRun says it was asked as one.
func fromReport(rep *engine.Report, dryRun bool) Run {
	run := Run{RunID: rep.RunID, Connector: rep.Connector, Status: rep.Status, Full: rep.Full,
		DryRun: dryRun || rep.Status == engine.StatusDryRun, Started: rep.Started, Finished: rep.Finished, Counts: rep.Counts.Map()}
	if len(rep.Errors) > 0 {
		run.Error = rep.Errors[0]
	} else {
		run.Error = rep.HoldReason
	}
	return run
}
