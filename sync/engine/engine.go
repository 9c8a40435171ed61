// Package engine runs one sync of one connector: pull → normalise → join → diff →
// plan → check → apply → commit. The decisions are made by package plan (pure);
// this package does the I/O around them and enforces the order that keeps the
// invariants: nothing destructive after a failed read, state committed only after
// the store accepted the changes, one writer per connector.
//
// A run holds a batch, not the directory: creates and updates that take
// nothing away are applied (and their state entries committed in chunks)
// batch by batch while the source is read (plan.Builder.Release); groups and
// everything destructive wait for the end of the read, the source-health gate
// and the brakes. The report lists the first ReportOperations operations and
// counts every one.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// Run statuses, as run reports and the run history keep them (the API carries
// the same values as api.RunStatus, converted in daemon/apiwire).
const (
	StatusOK      = "ok"
	StatusDryRun  = "dry-run"
	StatusHeld    = "held"
	StatusPartial = "partial"
	StatusFailed  = "failed"
)

// Job is one connector ready to run.
type Job struct {
	Name   string
	Source connectors.Source
	// Policy is the connector's effective brakes and batching, as configured;
	// a zero retry part takes the engine's defaults (see retry.go).
	Policy config.Policy
}

// diffConnector is what package plan needs to know about the job's connector:
// the one place the policy's diff rules are handed to the pure planner.
func diffConnector(job Job) plan.Connector {
	conn := plan.Connector{Name: job.Name, SoftMatch: job.Policy.SoftMatch, MissingRuns: job.Policy.MissingRuns}
	if fo, ok := job.Source.(connectors.FieldOwner); ok {
		conn.Owned = plan.NewOwned(fo.Fields())
	}
	return conn
}

// Options select the kind of run.
type Options struct {
	// Full forces a full read (and so missing-object detection) on an incremental source.
	Full bool
	// DryRun plans and reports, and writes nothing: no lock, no store change, no state.
	DryRun bool
	// Progress, if set, is called as the run advances.
	Progress func(Progress)
	// RunID names the run; empty = a new random id. A caller that must hand the
	// id out before the run ends (an API trigger) chooses it.
	RunID string
	// Only, when set, makes a one-object run (explain --apply): the source is
	// not read, this record is planned and applied as an incremental run
	// would, nobody else is counted missing and the cursor stays.
	Only *connectors.Record
}

// Progress is a snapshot of a running sync, for a terminal progress line.
type Progress struct {
	Connector string
	Stage     string // read, plan, apply, commit
	Read      int
	Applied   int
	Total     int
}

// Engine runs syncs against one store and one state backend.
type Engine struct {
	store   store.Store
	state   state.Backend
	log     *zap.Logger
	domains []string
	owner   string
	lockTTL time.Duration
	protect atomic.Pointer[Protection]
	now     func() time.Time              // the clock of retry backoff and the brakes' window
	holdAge atomic.Pointer[time.Duration] // see SetHoldMaxAge
}

// New returns an Engine. domains are the configured internal domains; they count
// as internal even before they are registered in the store, so a dry run on an
// empty store plans what the real run will do.
func New(st store.Store, sb state.Backend, domains []string, log *zap.Logger) *Engine {
	host, _ := os.Hostname()
	return &Engine{store: st, state: sb, log: log.Named("engine"), domains: domains,
		owner: fmt.Sprintf("%s:%d", host, os.Getpid()), lockTTL: 2 * time.Minute, now: time.Now}
}

// SetRunLease sets how long a run's lock lasts between renewals (default 2
// minutes; it is renewed every third of that). A runner that stops renewing,
// because it was paused or lost the state backend, loses the lock that long
// after its last renewal, and another runner may then take the connector over.
func (e *Engine) SetRunLease(ttl time.Duration) {
	if ttl > 0 {
		e.lockTTL = ttl
	}
}

// Report is the outcome of one run.
type Report struct {
	RunID     string      `json:"run_id"`
	Connector string      `json:"connector"`
	Status    string      `json:"status"`
	Full      bool        `json:"full"`
	Counts    plan.Counts `json:"counts"`
	// Operations lists the run's operations in the order they were applied
	// (planned, in a dry run): the first ReportOperations, and failed ones up
	// to as many again. Outcomes counts every one, and OperationsOmitted
	// those not listed; every applied change is in the store's audit log
	// under the run's id.
	Operations        []Operation `json:"operations"`
	OperationsOmitted int         `json:"operations_omitted,omitempty"`
	// Outcomes counts all the run's operations: outcome → action → n.
	Outcomes map[string]map[string]int `json:"outcomes,omitempty"`
	Held     []Operation               `json:"held,omitempty"`
	// Protected are disables and deletes of protected accounts, held for
	// approval (also listed in Held), with why the account is protected.
	Protected   []Operation       `json:"protected,omitempty"`
	HoldReason  string            `json:"hold_reason,omitempty"`
	Quarantined []plan.Quarantine `json:"quarantined"`
	Warnings    []plan.Quarantine `json:"warnings,omitempty"`
	Errors      []string          `json:"errors"`
	// Retries is the connector's retry set after the run: failed operations
	// that later runs plan again, or that were given up.
	Retries  []Retry   `json:"retries,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// Operation is a planned change and what became of it.
type Operation struct {
	store.Change
	// Outcome: planned (dry run), applied, unchanged (already in effect), failed, held.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

func (r *Report) fail(err error) {
	r.Status = StatusFailed
	r.Errors = append(r.Errors, err.Error())
}

// Run performs one sync of job. It never returns an error: every failure is in the
// report's status and errors, so several connectors can run and report side by side.
func (e *Engine) Run(ctx context.Context, job Job, opts Options) *Report {
	if opts.RunID == "" {
		opts.RunID = uuid.NewString()
	}
	rep := &Report{RunID: opts.RunID, Connector: job.Name, Status: StatusOK, Started: time.Now().UTC(),
		Operations: []Operation{}, Quarantined: []plan.Quarantine{}, Errors: []string{}}
	log := e.log.With(zap.String("run_id", rep.RunID), zap.String("connector", job.Name))
	log.Info("run started", zap.Bool("dry_run", opts.DryRun), zap.Bool("full_requested", opts.Full))
	r := &run{e: e, job: job, opts: opts, rep: rep, log: log, done: newApplied()}
	r.execute(ctx)
	rep.Finished = time.Now().UTC()
	if !opts.DryRun {
		e.record(ctx, rep, log)
	}
	fields := []zap.Field{zap.String("status", rep.Status), zap.Any("counts", rep.Counts),
		zap.Duration("took", rep.Finished.Sub(rep.Started))}
	if len(rep.Errors) > 0 {
		fields = append(fields, zap.Strings("errors", rep.Errors))
	}
	if rep.HoldReason != "" {
		fields = append(fields, zap.String("hold_reason", rep.HoldReason))
	}
	log.Info("run finished", fields...)
	return rep
}

func (e *Engine) record(ctx context.Context, rep *Report, log *zap.Logger) {
	// The history is written even when the run failed: that is when it matters.
	err := e.state.AddRun(context.WithoutCancel(ctx), state.Run{ID: rep.RunID, Connector: rep.Connector, Status: rep.Status,
		Full: rep.Full, Started: rep.Started, Finished: rep.Finished, Counts: rep.Counts.Map(),
		Error: firstOr(rep.Errors, rep.HoldReason)})
	if err != nil {
		log.Warn("run history not recorded", zap.Error(err))
	}
}

func firstOr(errs []string, alt string) string {
	if len(errs) > 0 {
		return errs[0]
	}
	return alt
}

// run is the state of one Run call.
type run struct {
	e     *Engine
	job   Job
	opts  Options
	rep   *Report
	log   *zap.Logger
	lease state.Lease
	snap  state.Snapshot // as loaded at the start
	retry retrySet
	done  applied // what the store made of the ops applied so far
	// applyErr is the store's refusal of a batch released during the read
	// (the read's error then, but not the source's fault).
	applyErr error
	upserts  map[string]state.Entry // snapshot entries not committed yet (see upsert)
}

func (r *run) progress(stage string, read, applied, total int) {
	if r.opts.Progress != nil {
		r.opts.Progress(Progress{Connector: r.job.Name, Stage: stage, Read: read, Applied: applied, Total: total})
	}
}

func (r *run) execute(ctx context.Context) {
	if !r.opts.DryRun {
		lease, err := r.e.state.Acquire(ctx, r.job.Name, r.e.owner, r.e.lockTTL)
		if err != nil {
			r.rep.fail(fmt.Errorf("lock connector %s: %w", r.job.Name, err))
			return
		}
		r.lease = lease
		var stop func()
		ctx, stop = r.keepLease(ctx)
		defer stop()
		// A run cut short by losing its lock says so first, rather than only
		// "context canceled" from whatever step it was in.
		defer func() {
			if cause := context.Cause(ctx); r.rep.Status == StatusFailed && cause != nil && !errors.Is(cause, ctx.Err()) {
				r.rep.Errors = append([]string{cause.Error()}, r.rep.Errors...)
			}
		}()
		// Claim the lease's token in the store before anything else: from now
		// on a runner holding an older lease, paused past it and resumed, has
		// every write refused, even if this run turns out to change nothing.
		fence := &store.Fence{Name: r.job.Name, Token: lease.Token}
		if _, err := r.e.store.Apply(ctx, store.ApplyRequest{Actor: r.actor(), Fence: fence}); err != nil {
			r.rep.fail(fmt.Errorf("claim the fencing token in the store: %w", err))
			return
		}
	}
	snap, err := r.e.state.Snapshot(ctx, r.job.Name)
	if err != nil {
		r.rep.fail(fmt.Errorf("load state snapshot: %w", err))
		return
	}
	if len(snap) == 0 {
		if snap, err = r.seed(ctx); err != nil {
			r.rep.fail(err)
			return
		}
	}
	r.snap = snap
	if err := r.loadRetries(ctx); err != nil {
		r.rep.fail(err)
		return
	}
	defer r.retry.kept.close()
	internal, err := r.e.internalDomains(ctx)
	if err != nil {
		r.rep.fail(err)
		return
	}
	b, commit, ok := r.read(ctx, diffConnector(r.job), snap, internal)
	if !ok {
		return
	}
	window, windowName, err := r.window(ctx)
	if err != nil {
		r.rep.fail(err)
		return
	}
	healthy, note := b.Finish(r.rep.Full, r.job.Policy.MinSourcePercent, plan.Brakes{
		MaxDestructive: r.job.Policy.MaxDestructive, MaxDestructivePercent: r.job.Policy.MaxDestructivePercent,
		PercentFloor: r.job.Policy.MaxDestructiveFloor, Window: window, WindowName: windowName})
	p := &b.Plan
	oldHolds, err := r.keepHeld(ctx, p)
	if err != nil {
		r.rep.fail(err)
		return
	}
	if err := r.protect(ctx, p); err != nil {
		r.rep.fail(err)
		return
	}
	r.rep.Counts = p.Counts()
	r.rep.Counts.Protected = len(r.rep.Protected)
	r.rep.Quarantined = append(r.rep.Quarantined, p.Quarantined...)
	r.rep.Warnings = append(r.rep.Warnings, p.Warnings...)
	r.rep.HoldReason = p.HoldReason
	if !healthy {
		r.log.Warn("source-health gate: nobody disabled", zap.String("reason", note))
	}
	for _, op := range p.Held {
		r.rep.Held = append(r.rep.Held, Operation{Change: op.Change, Outcome: "held"})
	}
	if r.opts.DryRun {
		r.rep.Status = StatusDryRun
		r.reportRetries(nil)
		for _, op := range p.Ops {
			r.report(Operation{Change: op.Change, Outcome: "planned"})
		}
		return
	}
	if err := r.apply(ctx, p.Ops, "apply"); err != nil {
		r.rep.fail(err)
		return
	}
	if err := r.hold(ctx, p, oldHolds); err != nil {
		r.rep.fail(err)
		return
	}
	if err := r.commit(ctx, p, commit, healthy); err != nil {
		r.rep.fail(err)
		return
	}
	switch {
	case len(r.done.failed) > 0:
		r.rep.Status = StatusPartial
	case len(p.Held) > 0 || !healthy:
		r.rep.Status = StatusHeld
	}
}

// keepLease renews the run lock while the run lasts; losing it cancels the run, so a
// runner that was paused past its lease never goes on writing.
func (r *run) keepLease(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	// The renewed lease keeps its token, and backends compare leases by token, so
	// r.lease stays valid for Commit and Release; the goroutine never writes it.
	lease := r.lease
	go func() {
		t := time.NewTicker(r.e.lockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				l, err := r.e.state.Renew(ctx, lease, r.e.lockTTL)
				if err != nil {
					cancel(fmt.Errorf("run lock lost: %w", err))
					return
				}
				lease = l
			}
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
		if err := r.e.state.Release(context.WithoutCancel(ctx), r.lease); err != nil {
			r.log.Warn("run lock not released; it expires by itself", zap.Error(err))
		}
	}
}

// seed rebuilds an empty snapshot (a first run, or a state backend that was
// emptied: a flushed Redis, a lost state file) from the objects this connector
// already has in the store. Without it, objects deleted from the source while
// the state was gone would never be counted missing. The entries carry no
// fingerprint, so every record present is compared with the store once (which
// changes nothing when they agree), and none is marked gone, so nobody is
// re-enabled on the strength of the seed.
func (r *run) seed(ctx context.Context) (state.Snapshot, error) {
	snap := state.Snapshot{}
	q := store.ListQuery{Origin: r.job.Name, Limit: 1000}
	for {
		us, next, err := r.e.store.Users(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("the state is empty and the store's objects of %s could not be listed to rebuild it: %w", r.job.Name, err)
		}
		for _, u := range us {
			if u.Anchor != "" {
				snap[u.Anchor] = state.Entry{Kind: u.Kind, Address: u.Address}
			}
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if len(snap) > 0 {
		r.log.Warn("the state holds nothing for this connector: rebuilt from its objects in the store", zap.Int("objects", len(snap)))
	}
	return snap, nil
}

func (e *Engine) internalDomains(ctx context.Context) (plan.Domains, error) {
	stored, err := e.store.Domains(ctx)
	if err != nil {
		return nil, fmt.Errorf("list internal domains: %w", err)
	}
	set := map[string]bool{}
	for _, d := range append(stored, e.domains...) {
		if n, err := mailaddr.NormalizeDomain(d); err == nil {
			set[n] = true
		}
	}
	return func(d string) bool { return set[d] }, nil
}

// cursorUpdate is what the commit should do with the incremental cursor.
type cursorUpdate struct {
	next  []byte
	clear bool
}

// read pulls the source into a plan builder. On a failed read it reports the run
// failed and returns ok=false: nothing after this point runs, so nothing is
// disabled and the state stays as it was.
func (r *run) read(ctx context.Context, conn plan.Connector, snap state.Snapshot, internal plan.Domains) (*plan.Builder, cursorUpdate, bool) {
	lookup := func(anchors, addresses []string) ([]store.User, error) {
		return r.e.store.Lookup(ctx, r.job.Name, anchors, addresses)
	}
	batch := max(r.job.Policy.BatchSize, 1)
	var b *plan.Builder
	emit := func(rec connectors.Record) error {
		unchanged, quarantined := b.Plan.Unchanged, len(b.Plan.Quarantined)
		b.Add(rec)
		r.retry.note(rec, b.Plan.Unchanged == unchanged && len(b.Plan.Quarantined) == quarantined)
		if b.Read()%batch == 0 {
			r.progress("read", b.Read(), r.done.count, 0)
		}
		// An alias taken back from a released object goes to the store
		// before the join of the record that gets it.
		if err := r.release(ctx, b, false); err != nil {
			return err
		}
		if err := b.Flush(lookup, batch, false); err != nil {
			return err
		}
		return r.release(ctx, b, false)
	}
	var cur cursorUpdate
	var err error
	inc, incremental := r.job.Source.(connectors.Incremental)
	var cursor []byte
	if incremental && !r.opts.Full && r.opts.Only == nil {
		if cursor, err = r.e.state.Cursor(ctx, r.job.Name); err != nil {
			r.rep.fail(fmt.Errorf("load cursor: %w", err))
			return nil, cur, false
		}
	}
	b = plan.NewBuilder(conn, snap, internal)
	r.rep.Full = cursor == nil && r.opts.Only == nil
	if r.rep.Full {
		b.Expect(len(snap))
	}
	switch {
	case r.opts.Only != nil:
		err = emit(*r.opts.Only)
	case incremental:
		cur.next, err = inc.ReadChanges(ctx, cursor, emit)
		if errors.Is(err, connectors.ErrCursorExpired) && cursor != nil {
			r.log.Warn("incremental cursor expired: running a full read", zap.Error(err))
			r.rep.Warnings = append(r.rep.Warnings, plan.Quarantine{Record: r.job.Name, Field: "cursor",
				Reason: "the stored incremental cursor was refused (" + err.Error() + "): this run read the whole source instead",
				Fix:    "nothing to do; the next run is incremental again"})
			b = plan.NewBuilder(conn, snap, internal)
			b.Expect(len(snap))
			r.rep.Full, cur.clear = true, true
			cur.next, err = inc.ReadChanges(ctx, nil, emit)
		}
	default:
		err = r.job.Source.Read(ctx, emit)
	}
	if err == nil {
		// After the read, so that a newer version the source sent wins.
		err = r.feedRetries(emit)
	}
	if err == nil {
		err = b.Flush(lookup, batch, true)
	}
	if err == nil {
		err = r.release(ctx, b, true)
	}
	if err == nil {
		b.EndUsers()
		err = b.Flush(lookup, batch, true)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			err = cause
		}
		if r.applyErr != nil {
			r.rep.fail(fmt.Errorf("apply changes while reading the source (after %d records; nobody disabled): %w", b.Read(), r.applyErr))
			return nil, cur, false
		}
		what := "nothing applied"
		if n := r.done.count; n > 0 {
			what = fmt.Sprintf("only the %d creates and updates planned so far applied", n)
		}
		r.rep.fail(fmt.Errorf("read source (after %d records; %s, nobody disabled): %w", b.Read(), what, err))
		return nil, cur, false
	}
	r.progress("plan", b.Read(), 0, 0)
	return b, cur, true
}
