// Package runner starts sync runs for the daemon, whoever asks (the cron schedule,
// an admin through the API, or another replica forwarding a trigger), and keeps
// their reports for the API to show.
//
// It is the one place that knows which connector is running in this process, so
// a scheduled run and an admin's trigger of the same connector never overlap (the
// state backend's lock covers other processes). A trigger for a connector that is
// running is queued: each connector has at most one pending run, into which
// every later trigger is merged (a full trigger makes it full), and which starts
// as soon as the running one ends. Dry runs have a lane of their own, queued the
// same way: they take no lock and write nothing, so they neither wait for nor
// hold up the connector's real runs.
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

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
)

// keepReports is how many finished reports stay in memory for GET /v1/runs/{id};
// older ones come from the state backend's stored reports (Options.ReportRetention)
// or, past that, its history, without their operations.
const keepReports = 200

// historyScan is how far back Run looks in the state backend for a run whose
// report is no longer in memory.
const historyScan = 1000

// Statuses of runs that have not finished (a finished run has the engine's).
const (
	StatusRunning = "running"
	StatusPending = "pending" // queued behind the connector's run in progress
)

// Sources of triggers, as Run.RequestedBy lists them.
const (
	SourceAPI       = "api"
	SourceSchedule  = "schedule"
	SourceForwarded = "forwarded"
)

// Runner runs jobs on an engine; daemon/apiwire.NewSyncs serves the admin
// API's sync routes from it.
type Runner struct {
	engine    *engine.Engine
	state     state.Backend
	log       *zap.Logger
	ctx       context.Context
	retention time.Duration

	leader   Leader
	onFinish func(Finished)

	mu       sync.Mutex
	jobs     map[string]engine.Job
	names    []string
	running  map[lane]*active
	pending  map[lane]*active
	stopping bool // Wait was called: nothing starts any more
	reports  map[string]kept
	order    []string // report ids, oldest first
	wg       sync.WaitGroup
}

// kept is a finished run's report in memory, and whether the run was asked
// as a dry run (a dry run that failed has status failed, not dry-run).
type kept struct {
	rep    *engine.Report
	dryRun bool
}

// lane is what runs one at a time: a connector's real runs, or its dry runs.
type lane struct {
	connector string
	dryRun    bool
}

// active is a run in progress or pending.
type active struct {
	id        string
	connector string
	dryRun    bool
	requested time.Time // the first trigger
	done      chan struct{}

	// Guarded by Runner.mu while the run is pending; fixed once it starts.
	full     bool
	sources  []string // distinct, in the order first heard
	triggers int
	// named are run ids that requests chose (forwarded triggers): the run's own
	// id when it was created by one, and those of the triggers merged into it,
	// whose history entries point at this run once it ends.
	named   []string
	started time.Time

	// Set before done is closed.
	report *engine.Report
	// dropErr says why the run never started (the runner stopped, its
	// connector was removed), as a waiting trigger hears it.
	dropErr error

	read     atomic.Int64             // records read, from the engine's progress
	progress atomic.Pointer[Progress] // the engine's latest progress snapshot
}

// Options tunes a Runner; the zero value is usable.
type Options struct {
	// ReportRetention is how long a finished run's full report is kept in a state
	// backend that implements state.Reports (config reports.retention); zero means
	// DefaultReportRetention.
	ReportRetention time.Duration
}

// DefaultReportRetention is config's default for reports.retention.
const DefaultReportRetention = 30 * 24 * time.Hour

// New returns a Runner for jobs. Runs get ctx: cancelling it aborts runs in flight
// (and no pending run starts after that).
func New(ctx context.Context, eng *engine.Engine, st state.Backend, jobs []engine.Job, log *zap.Logger, o Options) *Runner {
	if o.ReportRetention <= 0 {
		o.ReportRetention = DefaultReportRetention
	}
	r := &Runner{engine: eng, state: st, log: log.Named("runner"), ctx: ctx, retention: o.ReportRetention,
		running: map[lane]*active{}, pending: map[lane]*active{}, reports: map[string]kept{}}
	r.setJobs(jobs)
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
// before anyone waiting for the run hears of it: the metrics hook. A pending
// run that is dropped never started and is not heard of. Call it before the
// runner is used; f must not block.
func (r *Runner) OnFinish(f func(Finished)) { r.onFinish = f }

// Connectors lists the connectors the runner can run.
func (r *Runner) Connectors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}

// Request is one run to start.
type Request struct {
	Connector string
	Full      bool
	DryRun    bool
	// RunID names the run; empty = a new random id. If the request is merged
	// into a pending run, that run keeps its id, and once it ends the history
	// gets an entry under RunID that points at it (state.Run.MergedInto), so
	// whoever holds RunID (a follower that forwarded the trigger) finds it.
	RunID string
	// Source says who asked (SourceAPI when empty).
	Source string
}

// Start begins a run in the background, or queues it behind the connector's
// run in progress (merged into the pending run if there is one), and returns
// the id of the run that will serve the request and a channel closed when that
// run has ended (or was dropped). Errors: ErrUnknownConnector, and
// ErrStopping once Wait was called.
func (r *Runner) Start(req Request) (string, <-chan struct{}, error) {
	a, _, err := r.start(req)
	if err != nil {
		return "", nil, err
	}
	return a.id, a.done, nil
}

// start is Start, also saying whether the request was queued.
func (r *Runner) start(req Request) (*active, bool, error) {
	if req.Source == "" {
		req.Source = SourceAPI
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return nil, false, fmt.Errorf("run of %s not started: %w", req.Connector, errStopping)
	}
	job, ok := r.jobs[req.Connector]
	if !ok {
		return nil, false, fmt.Errorf("%w %q: configured connectors are %v", ErrUnknownConnector, req.Connector, r.names)
	}
	k := lane{req.Connector, req.DryRun}
	// A trigger delivered again (a forwarded one handed out twice) joins the
	// run it already has.
	if req.RunID != "" {
		for _, a := range []*active{r.running[k], r.pending[k]} {
			if a != nil && slices.Contains(a.named, req.RunID) {
				return a, a == r.pending[k], nil
			}
		}
	}
	if r.running[k] == nil {
		a := r.newActive(req)
		r.launch(k, a, job)
		return a, false, nil
	}
	if p := r.pending[k]; p != nil {
		p.merge(req)
		r.log.Info("trigger merged into the pending run", zap.String("connector", req.Connector),
			zap.String("run_id", p.id), zap.String("source", req.Source), zap.Bool("full", p.full), zap.Int("triggers", p.triggers))
		return p, true, nil
	}
	p := r.newActive(req)
	r.pending[k] = p
	r.log.Info("run queued behind the run in progress", zap.String("connector", req.Connector), zap.String("run_id", p.id),
		zap.String("running", r.running[k].id), zap.String("source", req.Source), zap.Bool("full", p.full), zap.Bool("dry_run", req.DryRun))
	return p, true, nil
}

func (r *Runner) newActive(req Request) *active {
	a := &active{id: req.RunID, connector: req.Connector, dryRun: req.DryRun, requested: time.Now().UTC(),
		done: make(chan struct{})}
	if a.id == "" {
		a.id = uuid.NewString()
	}
	a.merge(req)
	return a
}

// merge adds a trigger to a run that has not started.
func (a *active) merge(req Request) {
	a.full = a.full || req.Full
	a.triggers++
	if !slices.Contains(a.sources, req.Source) {
		a.sources = append(a.sources, req.Source)
	}
	if req.RunID != "" && !slices.Contains(a.named, req.RunID) {
		a.named = append(a.named, req.RunID)
	}
}

// launch starts a with job; r.mu is held.
func (r *Runner) launch(k lane, a *active, job engine.Job) {
	a.started = time.Now().UTC()
	r.running[k] = a
	r.wg.Add(1)
	go r.execute(k, a, job)
}

func (r *Runner) execute(k lane, a *active, job engine.Job) {
	defer r.wg.Done()
	var rep *engine.Report
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("run panicked", zap.String("connector", a.connector), zap.String("run_id", a.id),
				zap.Any("panic", p), zap.Stack("stack"))
			rep = &engine.Report{RunID: a.id, Connector: a.connector, Status: engine.StatusFailed,
				Full: a.full, Started: a.started, Finished: time.Now().UTC(),
				Errors: []string{fmt.Sprintf("internal error: %v", p)}}
		}
		r.finish(k, a, rep)
	}()
	opts := engine.Options{Full: a.full, DryRun: a.dryRun, RunID: a.id}
	// The latest snapshot is what a listing shows of a running run. The report
	// has no read count; the read and plan stages' progress has it (the later
	// stages report 0), for OnFinish.
	opts.Progress = func(p engine.Progress) {
		if p.Stage == "read" || p.Stage == "plan" {
			a.read.Store(int64(p.Read))
		}
		a.progress.Store(&Progress{Stage: p.Stage, Read: p.Read, Applied: p.Applied, Total: p.Total, At: time.Now().UTC()})
	}
	rep = r.engine.Run(r.ctx, job, opts)
}

// RunNow asks for a run of connector on behalf of the schedule: it starts at
// once, or is queued (merged into the pending run) while the connector runs.
// It does not wait for the run: the runner owns it from here on.
func (r *Runner) RunNow(_ context.Context, connector string, full bool) {
	a, queued, err := r.start(Request{Connector: connector, Full: full, Source: SourceSchedule})
	if err != nil {
		r.log.Info("scheduled run not started", zap.String("connector", connector), zap.Bool("full", full), zap.Error(err))
		return
	}
	if !queued {
		r.log.Debug("scheduled run started", zap.String("connector", connector), zap.String("run_id", a.id))
	}
}

// finish records a run that ended and starts the connector's pending run.
func (r *Runner) finish(k lane, a *active, rep *engine.Report) {
	if rep != nil && !a.dryRun {
		r.saveReport(rep)
		r.pointAliases(a, rep)
	}
	if r.onFinish != nil && rep != nil {
		r.onFinish(Finished{Report: rep, DryRun: a.dryRun, Read: int(a.read.Load())})
	}
	r.mu.Lock()
	delete(r.running, k)
	a.report = rep
	if rep != nil {
		r.reports[a.id] = kept{rep: rep, dryRun: a.dryRun}
		r.order = append(r.order, a.id)
		if len(r.order) > keepReports {
			delete(r.reports, r.order[0])
			r.order = r.order[1:]
		}
	}
	close(a.done)
	var dropped []*active
	if next := r.pending[k]; next != nil {
		delete(r.pending, k)
		job, ok := r.jobs[k.connector]
		var why error
		switch {
		case r.stopping:
			why = errStopping
		case r.ctx.Err() != nil:
			why = fmt.Errorf("%w: runs were cancelled", ErrStopping)
		case !ok:
			why = removed(k.connector)
		default:
			r.launch(k, next, job)
			r.log.Info("pending run started", zap.String("connector", k.connector), zap.String("run_id", next.id),
				zap.Strings("requested_by", next.sources), zap.Int("triggers", next.triggers))
		}
		if why != nil {
			dropped = []*active{next}
			drop(dropped, why)
		}
	}
	r.mu.Unlock()
	r.dropped(dropped)
}

// errStopping is why pending runs are dropped by Wait.
var errStopping = fmt.Errorf("%w: the runner is stopping", ErrStopping)

// removed is why a pending run of a connector no longer configured is dropped.
func removed(connector string) error {
	return fmt.Errorf("%w %q: removed from the configuration", ErrUnknownConnector, connector)
}

// drop marks pending runs dropped for why; r.mu is held. Call dropped with
// them once it is released.
func drop(runs []*active, why error) {
	for _, a := range runs {
		a.dropErr = why
		close(a.done)
	}
}

// dropped logs pending runs that will never start, after drop, and records
// those a follower may be waiting for (forwarded triggers) as failed, so it
// hears why. r.mu must not be held.
func (r *Runner) dropped(runs []*active) {
	for _, a := range runs {
		r.log.Warn("pending run dropped", zap.String("connector", a.connector), zap.String("run_id", a.id),
			zap.Bool("full", a.full), zap.Bool("dry_run", a.dryRun), zap.Strings("requested_by", a.sources),
			zap.Int("triggers", a.triggers), zap.NamedError("reason", a.dropErr))
		if a.dryRun {
			continue
		}
		for _, id := range a.named {
			r.notStarted(state.Trigger{Connector: a.connector, RunID: id, Full: a.full}, r.log,
				fmt.Errorf("dropped before it started: %w", a.dropErr))
		}
	}
}

// saveTimeout bounds storing a report, which outlives the runner's context (a
// run cancelled on shutdown still has its report kept).
const saveTimeout = 30 * time.Second

// saveReport keeps rep in a state backend that keeps reports, for the
// retention. A failure costs only the report's later display: it is logged.
func (r *Runner) saveReport(rep *engine.Report) {
	rb, ok := r.state.(state.Reports)
	if !ok {
		return
	}
	body, err := json.Marshal(rep)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), saveTimeout)
		err = rb.SaveReport(ctx, state.StoredReport{ID: rep.RunID, Connector: rep.Connector, Started: rep.Started, Body: body}, r.retention)
		cancel()
	}
	if err != nil {
		r.log.Warn("run report not stored", zap.String("connector", rep.Connector), zap.String("run_id", rep.RunID), zap.Error(err))
	}
}

// pointAliases records, for each trigger id merged into a (other than a's
// own), a history entry that points at a's run.
func (r *Runner) pointAliases(a *active, rep *engine.Report) {
	for _, id := range a.named {
		if id == a.id {
			continue
		}
		run := state.Run{ID: id, Connector: a.connector, Status: rep.Status, Full: rep.Full, Started: rep.Started,
			Finished: rep.Finished, Counts: rep.Counts.Map(), MergedInto: a.id}
		if len(rep.Errors) > 0 {
			run.Error = rep.Errors[0]
		} else {
			run.Error = rep.HoldReason
		}
		if err := r.state.AddRun(context.WithoutCancel(r.ctx), run); err != nil {
			r.log.Warn("merged trigger not recorded", zap.String("run_id", id), zap.String("merged_into", a.id), zap.Error(err))
		}
	}
}

// Wait stops the runner and waits for it: pending runs are dropped (and
// logged), nothing starts any more (triggers fail with ErrStopping), and
// Wait returns once the runs in progress have ended, or when ctx is done.
// It may be called again, to wait longer.
func (r *Runner) Wait(ctx context.Context) error {
	r.mu.Lock()
	r.stopping = true
	var pend []*active
	for k, a := range r.pending {
		pend = append(pend, a)
		delete(r.pending, k)
	}
	drop(pend, errStopping)
	r.mu.Unlock()
	r.dropped(pend)

	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runs still in flight: %w", ctx.Err())
	}
}
