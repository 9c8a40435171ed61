package engine

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// applied is what apply learned: anchors whose changes failed, and anchors whose
// changes went in trimmed (a group whose member could not be created), each with
// why. Neither gets its snapshot entry committed, and both go to the retry set,
// so a later run plans them again. destructive counts the applied destructive
// operations for the brakes' window. It accumulates over the run: the ops
// released during the read, then the rest of the plan.
type applied struct {
	failed        map[string]string
	incomplete    map[string]string
	destructive   map[plan.WindowKey]int
	failedCreates map[string]bool // addresses whose create failed: groups leave them out
	// failedReleased are the released ops that failed: the retry set needs
	// them after the plan no longer holds them.
	failedReleased []plan.Op
	count          int // ops applied so far, for progress
}

func newApplied() applied {
	return applied{failed: map[string]string{}, incomplete: map[string]string{}, destructive: map[plan.WindowKey]int{},
		failedCreates: map[string]bool{}}
}

// apply executes ops in batches, never mixing users and groups in one batch, so a
// group's members are known to exist (or known to have failed) before it is
// written. Outcomes go to r.done and the report. An error means the store
// refused the request as a whole (stale fence, unreachable). stage names the
// progress reported after each batch ("": none).
func (r *run) apply(ctx context.Context, ops []plan.Op, stage string) error {
	res := &r.done
	batch := max(r.job.Policy.BatchSize, 1)
	actor := r.actor()
	fence := &store.Fence{Name: r.job.Name, Token: r.lease.Token}
	for start := 0; start < len(ops); {
		end := start + 1
		for end < len(ops) && end-start < batch && ops[end].Kind == ops[start].Kind {
			end++
		}
		chunk := ops[start:end]
		changes := make([]store.Change, len(chunk))
		for i, op := range chunk {
			changes[i] = r.withoutFailedMembers(op, res.failedCreates, res.incomplete)
		}
		if err := r.checkLease(ctx); err != nil {
			return fmt.Errorf("before changes %d-%d of %d: %w", res.count+1, res.count+len(chunk), res.count+len(ops)-start, err)
		}
		outs, err := r.e.store.Apply(ctx, store.ApplyRequest{Actor: actor, Fence: fence, Changes: changes})
		if err != nil {
			return fmt.Errorf("apply changes %d-%d: %w", res.count+1, res.count+len(chunk), err)
		}
		for i, out := range outs {
			r.outcome(chunk[i], out, res.failed)
			res.countDestructive(chunk[i], out)
			if out.Err != nil && chunk[i].Action == store.ActionCreate {
				res.failedCreates[chunk[i].Address] = true
			}
		}
		res.count += len(chunk)
		if stage != "" {
			r.progress(stage, 0, end, len(ops))
		}
		start = end
	}
	return nil
}

// release applies the ops the plan can let go of while the source is still
// being read (see plan.Builder.Release): at least a batch of them, or any
// when force is set or one is due before the next join. Their entries go to
// the state in chunks once the store has them; failed ones are kept for the
// retry set. In a dry run they are only reported.
func (r *run) release(ctx context.Context, b *plan.Builder, force bool) error {
	least := max(r.job.Policy.BatchSize, 1)
	if force {
		least = 1
	}
	ops := b.Release(least)
	if len(ops) == 0 {
		return nil
	}
	if r.opts.DryRun {
		for _, op := range ops {
			r.report(Operation{Change: op.Change, Outcome: "planned"})
		}
		return nil
	}
	if err := r.apply(ctx, ops, ""); err != nil {
		r.applyErr = err
		return err
	}
	for _, op := range ops {
		_, failed := r.done.failed[op.Anchor]
		if failed {
			r.done.failedReleased = append(r.done.failedReleased, op)
			continue
		}
		if op.Entry != nil {
			if err := r.upsert(ctx, op.Anchor, *op.Entry); err != nil {
				r.applyErr = err
				return err
			}
		}
	}
	r.progress("read", b.Read(), r.done.count, 0)
	return nil
}

// withoutFailedMembers drops from a group change the members whose creation failed
// in this run: the rest of the group is still written, and the group is marked
// incomplete so the next run adds them once they exist.
func (r *run) withoutFailedMembers(op plan.Op, failedCreates map[string]bool, incomplete map[string]string) store.Change {
	ch := op.Change
	if ch.Kind != store.KindGroup || len(failedCreates) == 0 {
		return ch
	}
	for i, fc := range ch.Changes {
		members, ok := fc.After.([]string)
		if fc.Field != store.FieldMembers || !ok {
			continue
		}
		kept := make([]string, 0, len(members))
		var dropped []string
		for _, m := range members {
			if failedCreates[m] {
				dropped = append(dropped, m)
			} else {
				kept = append(kept, m)
			}
		}
		if len(dropped) == 0 {
			continue
		}
		ch.Changes = append([]store.FieldChange(nil), ch.Changes...)
		ch.Changes[i].After = kept
		incomplete[op.Anchor] = fmt.Sprintf("%d member(s) left out because creating them failed (first: %s)", len(dropped), dropped[0])
		r.rep.Warnings = append(r.rep.Warnings, plan.Quarantine{Record: ch.Address, Field: store.FieldMembers,
			Reason: fmt.Sprintf("%d member(s) left out because creating them failed in this run (first: %s)", len(dropped), dropped[0]),
			Fix:    "fix the members' errors; the next run adds them"})
	}
	return ch
}

func (r *run) outcome(op plan.Op, out store.Outcome, failed map[string]string) {
	o := Operation{Change: op.Change, Outcome: "unchanged"}
	switch {
	case out.Err != nil:
		o.Outcome, o.Error = "failed", out.Err.Error()
		failed[op.Anchor] = out.Err.Error()
		r.rep.Errors = append(r.rep.Errors, fmt.Sprintf("%s %s: %v", op.Action, op.Address, out.Err))
		r.log.Warn("change failed", zap.String("action", string(op.Action)), zap.String("address", op.Address),
			zap.Strings("fields", fieldNames(op.Changes)), zap.Error(out.Err))
	case out.Applied:
		o.Outcome = "applied"
		r.log.Info("change applied", zap.String("action", string(op.Action)), zap.String("address", op.Address),
			zap.Strings("fields", fieldNames(op.Changes)), zap.String("reason", op.Reason))
	}
	r.report(o)
}

// ReportOperations is how many operations a report lists (failed ones: up to
// as many again); the rest are counted (Report.Outcomes, OperationsOmitted).
const ReportOperations = 1000

// report lists o in the report, or counts it as omitted, and tallies it.
func (r *run) report(o Operation) {
	rep := r.rep
	if rep.Outcomes == nil {
		rep.Outcomes = map[string]map[string]int{}
	}
	by := rep.Outcomes[o.Outcome]
	if by == nil {
		by = map[string]int{}
		rep.Outcomes[o.Outcome] = by
	}
	by[string(o.Action)]++
	if n := len(rep.Operations); n < ReportOperations || (o.Outcome == "failed" && n < 2*ReportOperations) {
		rep.Operations = append(rep.Operations, o)
		return
	}
	rep.OperationsOmitted++
}

func fieldNames(changes []store.FieldChange) []string {
	names := make([]string, len(changes))
	for i, c := range changes {
		names[i] = c.Field
	}
	return names
}

// commit writes the snapshot entries of everything that is now true in the store.
// An anchor with a failed or held op keeps its old entry, so a later run plans
// it again; a failed one also goes to the retry set, in the same commit as the
// cursor, so the cursor may move past it. The ledger of the brakes' window
// gets the run's applied destructive operations.
func (r *run) commit(ctx context.Context, p *plan.Plan, cur cursorUpdate, healthy bool) error {
	done := r.done
	held := map[string]bool{}
	for _, op := range p.Held {
		held[op.Anchor] = true
	}
	for a, e := range p.Entries {
		if err := r.upsert(ctx, a, e); err != nil {
			return err
		}
	}
	for _, op := range p.Ops {
		_, failed := done.failed[op.Anchor]
		_, incomplete := done.incomplete[op.Anchor]
		if op.Entry != nil && !failed && !incomplete && !held[op.Anchor] {
			if err := r.upsert(ctx, op.Anchor, *op.Entry); err != nil {
				return err
			}
		}
	}
	c := state.Commit{Upserts: r.upserts}
	r.upserts = nil
	keyed := r.retryCommit(&c, p, done, held, healthy)
	r.ledgerCommit(&c, done)
	// An incremental source does not send a change twice: the cursor must not move
	// past anything that waits for approval, nor past a failure the retry set
	// could not keep.
	if keyed && len(p.Held) == 0 {
		c.Cursor, c.ClearCursor = cur.next, cur.clear
	}
	r.progress("commit", 0, done.count, done.count)
	if err := r.e.state.Commit(ctx, r.lease, c); err != nil {
		return fmt.Errorf("commit state (the store is updated; the next run re-checks these objects): %w", err)
	}
	r.reportRetries(&c)
	return nil
}

// upsert queues the snapshot entry of an object that is now true in the
// store. The entries go in chunks ahead of the run's last commit, which
// carries the cursor and the retry set: each is true in the store already,
// so a crash between two leaves a snapshot the next run checks again at
// worst, and a commit never holds the whole directory at once.
func (r *run) upsert(ctx context.Context, anchor string, e state.Entry) error {
	if r.upserts == nil {
		r.upserts = map[string]state.Entry{}
	}
	r.upserts[anchor] = e
	if len(r.upserts) < commitChunk {
		return nil
	}
	if err := r.e.state.Commit(ctx, r.lease, state.Commit{Upserts: r.upserts}); err != nil {
		return fmt.Errorf("commit state (the store is updated; the next run re-checks these objects): %w", err)
	}
	r.upserts = nil
	return nil
}

// commitChunk is how many snapshot entries one state commit carries at most
// (see commit).
const commitChunk = 5000

// actor is who the store's audit log names for the run's writes.
func (r *run) actor() store.Actor {
	return store.Actor{Kind: "sync", Name: r.job.Name, RunID: r.rep.RunID}
}

// checkLease renews the run lock before a batch goes to the store. The store's
// fence stops a runner whose lock another took over, but not one whose state
// backend lost the lock without handing it on (Redis restarted or emptied
// mid-run): the renewal does, one round trip per batch, and the periodic
// renewal in keepLease would only notice up to a third of the lease later.
func (r *run) checkLease(ctx context.Context) error {
	if _, err := r.e.state.Renew(ctx, r.lease, r.e.lockTTL); err != nil {
		return fmt.Errorf("run lock lost: %w", err)
	}
	return nil
}
