package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
)

// The api.Syncer side of the Runner: triggers and run listings.

var _ api.RunStateLister = (*Runner)(nil)

// Trigger starts or queues the requested runs (every connector when none is
// named); a connector already running gets its pending run, shared with the
// triggers before and after this one. With req.Wait it returns when all have
// finished, reports included. Unknown names fail the whole request before
// anything starts.
func (r *Runner) Trigger(ctx context.Context, req api.TriggerSync) ([]api.TriggeredRun, error) {
	r.mu.Lock()
	names, all := req.Connectors, slices.Clone(r.names)
	for _, n := range names {
		if _, ok := r.jobs[n]; !ok {
			r.mu.Unlock()
			return nil, fmt.Errorf("%w %q: configured connectors are %v", api.ErrUnknownConnector, n, all)
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
	var out []api.TriggeredRun
	var runs []*active
	for _, n := range names {
		a, queued, err := r.start(Request{Connector: n, Full: req.Full, DryRun: req.DryRun, Source: SourceAPI})
		if err != nil {
			return out, err
		}
		out = append(out, api.TriggeredRun{Connector: n, RunID: a.id, Queued: queued})
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
		if a.report != nil {
			b, err := json.Marshal(a.report)
			if err != nil {
				return out, fmt.Errorf("encode report %s: %w", a.id, err)
			}
			out[i].Report = b
		}
	}
	return out, nil
}

// Runs lists this process's runs in progress and pending, then the state
// backend's history, newest first. Dry runs are not in the history (they
// change nothing) but are listed while their report is in memory.
func (r *Runner) Runs(ctx context.Context, connector string, limit int) ([]api.Run, error) {
	return r.RunsByState(ctx, connector, "", limit)
}

// RunsByState is Runs with a filter: api.RunRunning or api.RunPending list only
// this process's runs in that state; "" lists everything, as Runs.
func (r *Runner) RunsByState(ctx context.Context, connector, runState string, limit int) ([]api.Run, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []api.Run
	var dry []api.Run
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
		for _, rep := range r.reports {
			if rep.Status == engine.StatusDryRun && (connector == "" || connector == rep.Connector) {
				dry = append(dry, fromReport(rep))
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
	slices.SortStableFunc(out, func(a, b api.Run) int {
		return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(a.Connector, b.Connector))
	})
	seen := map[string]bool{}
	var uniq []api.Run
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
func (a *active) summary(status string) api.Run {
	run := api.Run{RunID: a.id, Connector: a.connector, Status: status, Full: a.full, DryRun: a.dryRun,
		Started: a.started, Counts: map[string]int{}, RequestedBy: slices.Clone(a.sources), Triggers: a.triggers}
	if status == StatusPending {
		run.Started = a.requested
	}
	return run
}

// Run returns one run: running or pending; the full report while it is in
// memory, or while the state backend keeps it (state.Reports, for
// Options.ReportRetention: from any replica, after a restart); else the
// history's summary (api.ErrRunNotFound when nothing has it). The id of a
// trigger that was merged into another run gives that run.
func (r *Runner) Run(ctx context.Context, id string) (api.RunDetail, error) {
	r.mu.Lock()
	for _, l := range []struct {
		m      map[lane]*active
		status string
	}{{r.running, StatusRunning}, {r.pending, StatusPending}} {
		for _, a := range l.m {
			if a.id == id || slices.Contains(a.named, id) {
				run := a.summary(l.status)
				r.mu.Unlock()
				return api.RunDetail{Run: run}, nil
			}
		}
	}
	rep := r.reports[id]
	r.mu.Unlock()
	if rep != nil {
		b, err := json.Marshal(rep)
		if err != nil {
			return api.RunDetail{}, fmt.Errorf("encode report %s: %w", id, err)
		}
		return api.RunDetail{Run: fromReport(rep), Report: b}, nil
	}
	if rb, ok := r.state.(state.Reports); ok {
		sr, err := rb.Report(ctx, id)
		switch {
		case err == nil:
			var rep engine.Report
			if err := json.Unmarshal(sr.Body, &rep); err != nil {
				return api.RunDetail{}, fmt.Errorf("stored report %s: decode: %w", id, err)
			}
			return api.RunDetail{Run: fromReport(&rep), Report: sr.Body}, nil
		case !errors.Is(err, state.ErrNotFound):
			return api.RunDetail{}, fmt.Errorf("stored report: %w", err)
		}
	}
	hist, err := r.state.Runs(ctx, "", historyScan)
	if err != nil {
		return api.RunDetail{}, fmt.Errorf("run history: %w", err)
	}
	for _, h := range hist {
		if h.ID != id {
			continue
		}
		if h.MergedInto != "" && h.MergedInto != id {
			return r.Run(ctx, h.MergedInto)
		}
		return api.RunDetail{Run: fromState(h)}, nil
	}
	return api.RunDetail{}, fmt.Errorf("%w: %s (only the last %d runs are kept)", api.ErrRunNotFound, id, historyScan)
}

// FieldOwner says whether the connector writes field; a connector that does not
// declare its fields owns them all.
func (r *Runner) FieldOwner(connector, field string) bool {
	r.mu.Lock()
	j, ok := r.jobs[connector]
	r.mu.Unlock()
	if !ok {
		return false
	}
	fo, ok := j.Source.(connectors.FieldOwner)
	return !ok || slices.Contains(fo.Fields(), field)
}

func fromState(h state.Run) api.Run {
	return api.Run{RunID: h.ID, Connector: h.Connector, Status: h.Status, Full: h.Full, DryRun: h.DryRun,
		Started: h.Started, Finished: h.Finished, Counts: h.Counts, Error: h.Error}
}

func fromReport(rep *engine.Report) api.Run {
	run := api.Run{RunID: rep.RunID, Connector: rep.Connector, Status: rep.Status, Full: rep.Full,
		DryRun: rep.Status == engine.StatusDryRun, Started: rep.Started, Finished: rep.Finished, Counts: rep.Counts.Map()}
	if len(rep.Errors) > 0 {
		run.Error = rep.Errors[0]
	} else {
		run.Error = rep.HoldReason
	}
	return run
}
