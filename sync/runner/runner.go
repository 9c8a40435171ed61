// Package runner starts sync runs for the daemon, whoever asks (the cron schedule
// or an admin through the API), and keeps their reports for the API to show.
//
// It is the one place that knows which connector is running in this process, so
// a scheduled run and an admin's trigger of the same connector never overlap (the
// state backend's lock covers other processes), and a trigger can hand out the
// run id at once and the full report later.
package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
)

// keepReports is how many finished reports stay in memory for GET /v1/runs/{id};
// older runs are still listed from the state backend's history, without
// their operations.
const keepReports = 200

// historyScan is how far back Run looks in the state backend for a run whose
// report is no longer in memory.
const historyScan = 1000

// StatusRunning is the status of a run still in progress.
const StatusRunning = "running"

// Runner runs jobs on an engine. It implements api.Syncer.
type Runner struct {
	engine *engine.Engine
	state  state.Backend
	log    *zap.Logger
	ctx    context.Context
	jobs   map[string]engine.Job
	names  []string

	leader   Leader
	onFinish func(Finished)

	mu      sync.Mutex
	running map[string]*active // by connector
	reports map[string]*engine.Report
	order   []string // report ids, oldest first
	wg      sync.WaitGroup
}

// active is a run in progress.
type active struct {
	id      string
	full    bool
	dryRun  bool
	started time.Time
	done    chan struct{}
	report  *engine.Report // set before done is closed
	read    atomic.Int64   // records read, from the engine's progress
}

var _ api.Syncer = (*Runner)(nil)

// New returns a Runner for jobs. Runs get ctx: cancelling it aborts runs in flight.
func New(ctx context.Context, eng *engine.Engine, st state.Backend, jobs []engine.Job, log *zap.Logger) *Runner {
	r := &Runner{engine: eng, state: st, log: log.Named("runner"), ctx: ctx,
		jobs: map[string]engine.Job{}, running: map[string]*active{}, reports: map[string]*engine.Report{}}
	for _, j := range jobs {
		r.jobs[j.Name] = j
		r.names = append(r.names, j.Name)
	}
	slices.Sort(r.names)
	return r
}

// Leader is this replica's cluster node (sync/cluster) when several replicas
// share the state backend.
type Leader interface {
	IsLeader() bool
	Forward(ctx context.Context, t state.Trigger) error
}

// SetLeader makes the runner forward the runs it is asked for (not dry runs,
// which write nothing) to the leader while this replica does not lead. Call it
// before the runner is used.
func (r *Runner) SetLeader(l Leader) { r.leader = l }

// Finished is one run that ended, as OnFinish hears of it.
type Finished struct {
	Report *engine.Report
	// DryRun is what was asked: a dry run that failed has status failed.
	DryRun bool
	// Read counts the records the source yielded, as the engine's progress
	// last said: exact for a run that read everything, up to the last full
	// batch for a read that failed.
	Read int
}

// OnFinish has f called once for every run this runner starts (scheduled,
// triggered through the API, or forwarded by another replica) when it ends,
// before anyone waiting for the run hears of it: the metrics hook. Call it
// before the runner is used; f must not block.
func (r *Runner) OnFinish(f func(Finished)) { r.onFinish = f }

// Connectors lists the connectors the runner can run.
func (r *Runner) Connectors() []string { return slices.Clone(r.names) }

// Request is one run to start.
type Request struct {
	Connector string
	Full      bool
	DryRun    bool
	// RunID names the run; empty = a new random id.
	RunID string
}

// Start begins a run in the background and returns its id: api.ErrUnknownConnector,
// or api.ErrSyncBusy when the connector is already running in this process.
func (r *Runner) Start(req Request) (string, <-chan struct{}, error) {
	job, ok := r.jobs[req.Connector]
	if !ok {
		return "", nil, fmt.Errorf("%w %q: configured connectors are %v", api.ErrUnknownConnector, req.Connector, r.names)
	}
	r.mu.Lock()
	if cur := r.running[req.Connector]; cur != nil {
		r.mu.Unlock()
		return "", nil, fmt.Errorf("%w: %s (run %s, started %s)", api.ErrSyncBusy, req.Connector, cur.id, cur.started.Format(time.RFC3339))
	}
	id := req.RunID
	if id == "" {
		id = uuid.NewString()
	}
	a := &active{id: id, full: req.Full, dryRun: req.DryRun, started: time.Now().UTC(), done: make(chan struct{})}
	r.running[req.Connector] = a
	r.wg.Add(1)
	r.mu.Unlock()

	go func() {
		defer r.wg.Done()
		var rep *engine.Report
		defer func() {
			if p := recover(); p != nil {
				r.log.Error("run panicked", zap.String("connector", req.Connector), zap.String("run_id", a.id),
					zap.Any("panic", p), zap.Stack("stack"))
				rep = &engine.Report{RunID: a.id, Connector: req.Connector, Status: engine.StatusFailed,
					Full: req.Full, Started: a.started, Finished: time.Now().UTC(),
					Errors: []string{fmt.Sprintf("internal error: %v", p)}}
			}
			r.finish(req.Connector, a, rep)
		}()
		opts := engine.Options{Full: req.Full, DryRun: req.DryRun, RunID: a.id}
		if r.onFinish != nil {
			// The report has no read count; the read and plan stages' progress
			// has it (the later stages report 0).
			opts.Progress = func(p engine.Progress) {
				if p.Stage == "read" || p.Stage == "plan" {
					a.read.Store(int64(p.Read))
				}
			}
		}
		rep = r.engine.Run(r.ctx, job, opts)
	}()
	return a.id, a.done, nil
}

// RunNow runs a connector and waits for it: the schedule's entry point. A run
// already in progress is not an error here: the schedule simply skips.
func (r *Runner) RunNow(ctx context.Context, connector string, full bool) {
	id, done, err := r.Start(Request{Connector: connector, Full: full})
	if err != nil {
		r.log.Info("run skipped", zap.String("connector", connector), zap.Bool("full", full), zap.Error(err))
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
		r.log.Info("stopped waiting for run", zap.String("run_id", id))
	}
}

func (r *Runner) finish(connector string, a *active, rep *engine.Report) {
	if r.onFinish != nil && rep != nil {
		r.onFinish(Finished{Report: rep, DryRun: a.dryRun, Read: int(a.read.Load())})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, connector)
	a.report = rep
	if rep != nil {
		r.reports[a.id] = rep
		r.order = append(r.order, a.id)
		if len(r.order) > keepReports {
			delete(r.reports, r.order[0])
			r.order = r.order[1:]
		}
	}
	close(a.done)
}

// Wait blocks until every run started so far has finished, or ctx is done.
func (r *Runner) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runs still in flight: %w", ctx.Err())
	}
}

// Trigger starts the requested runs (every connector when none is named). With
// req.Wait it returns when all have finished, reports included. Unknown names
// fail the whole request before anything starts; a busy connector fails it too,
// but runs already started for earlier names go on.
func (r *Runner) Trigger(ctx context.Context, req api.TriggerSync) ([]api.TriggeredRun, error) {
	names := req.Connectors
	if len(names) == 0 {
		names = r.names
	}
	for _, n := range names {
		if _, ok := r.jobs[n]; !ok {
			return nil, fmt.Errorf("%w %q: configured connectors are %v", api.ErrUnknownConnector, n, r.names)
		}
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	if r.leader != nil && !req.DryRun && !r.leader.IsLeader() {
		return r.forward(ctx, req, names)
	}
	var out []api.TriggeredRun
	var waits []<-chan struct{}
	for _, n := range names {
		id, done, err := r.Start(Request{Connector: n, Full: req.Full, DryRun: req.DryRun})
		if err != nil {
			return out, err
		}
		out = append(out, api.TriggeredRun{Connector: n, RunID: id})
		waits = append(waits, done)
	}
	if !req.Wait {
		return out, nil
	}
	for i, done := range waits {
		select {
		case <-done:
		case <-ctx.Done():
			return out, fmt.Errorf("waiting for run %s: %w", out[i].RunID, ctx.Err())
		}
		if rep := r.report(out[i].RunID); rep != nil {
			b, err := json.Marshal(rep)
			if err != nil {
				return out, fmt.Errorf("encode report %s: %w", out[i].RunID, err)
			}
			out[i].Report = b
		}
	}
	return out, nil
}

func (r *Runner) report(id string) *engine.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reports[id]
}

// Runs lists runs in progress, then the state backend's history, newest first.
// Dry runs are not in the history (they change nothing) but are listed while
// their report is in memory.
func (r *Runner) Runs(ctx context.Context, connector string, limit int) ([]api.Run, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []api.Run
	seen := map[string]bool{}
	r.mu.Lock()
	for name, a := range r.running {
		if connector == "" || connector == name {
			out = append(out, api.Run{RunID: a.id, Connector: name, Status: StatusRunning, Full: a.full,
				DryRun: a.dryRun, Started: a.started, Counts: map[string]int{}})
		}
	}
	var dry []api.Run
	for _, rep := range r.reports {
		if rep.Status == engine.StatusDryRun && (connector == "" || connector == rep.Connector) {
			dry = append(dry, fromReport(rep))
		}
	}
	r.mu.Unlock()
	hist, err := r.state.Runs(ctx, connector, limit)
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	for _, h := range hist {
		out = append(out, fromState(h))
	}
	out = append(out, dry...)
	slices.SortStableFunc(out, func(a, b api.Run) int { return b.Started.Compare(a.Started) })
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

// Run returns one run: the full report while it is in memory, else the history's
// summary (api.ErrRunNotFound when neither has it).
func (r *Runner) Run(ctx context.Context, id string) (api.RunDetail, error) {
	r.mu.Lock()
	for name, a := range r.running {
		if a.id == id {
			r.mu.Unlock()
			return api.RunDetail{Run: api.Run{RunID: id, Connector: name, Status: StatusRunning, Full: a.full,
				DryRun: a.dryRun, Started: a.started, Counts: map[string]int{}}}, nil
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
	hist, err := r.state.Runs(ctx, "", historyScan)
	if err != nil {
		return api.RunDetail{}, fmt.Errorf("run history: %w", err)
	}
	for _, h := range hist {
		if h.ID == id {
			return api.RunDetail{Run: fromState(h)}, nil
		}
	}
	return api.RunDetail{}, fmt.Errorf("%w: %s (only the last %d runs are kept)", api.ErrRunNotFound, id, historyScan)
}

// FieldOwner says whether the connector writes field; a connector that does not
// declare its fields owns them all.
func (r *Runner) FieldOwner(connector, field string) bool {
	j, ok := r.jobs[connector]
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
