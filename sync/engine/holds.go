package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// Statuses of a held operation.
const (
	HoldPending  = "pending"
	HoldApplied  = "applied"
	HoldRejected = "rejected"
	HoldExpired  = "expired"
)

// decidedKeep is how long a decided (applied, rejected, expired) operation
// stays listed, so approving it again gets a precise answer.
const decidedKeep = 7 * 24 * time.Hour

// Errors of Decide (wrapped); the API maps them to its error codes.
var (
	ErrHoldNotFound = errors.New("no such held operation")
	ErrHoldDecided  = errors.New("held operation already decided")
	// ErrHoldExpired: at the decision, the operation was no longer what the
	// source and the store call for, or it waited longer than holds.max_age;
	// it expired instead of applying.
	ErrHoldExpired = errors.New("held operation expired")
)

// HeldOp is one destructive operation a run kept back for an admin. Its ID is
// stable (connector, action and anchor), so the same operation planned again
// by the next run is the same hold: still pending, or still rejected.
type HeldOp struct {
	ID        string       `json:"id"`
	Connector string       `json:"connector"`
	RunID     string       `json:"run_id"` // the latest run that planned it
	Reason    string       `json:"reason"` // why it was held
	Created   time.Time    `json:"created"`
	Change    store.Change `json:"change"`
	// Entry is the snapshot entry to commit once it is applied.
	Entry   *state.Entry `json:"entry,omitempty"`
	Status  string       `json:"status"`
	Decided time.Time    `json:"decided,omitzero"`
	By      string       `json:"by,omitempty"` // who decided, or the run that expired it
	Error   string       `json:"error,omitempty"`
	// Tracked: the runs that held it cleared its snapshot entry's fingerprint
	// (see trackHeld), so an approval can tell that a later run read the
	// object again. Holds written before that are not re-checked against the
	// snapshot.
	Tracked bool `json:"tracked,omitempty"`
}

// holdID names an operation independently of the run that planned it.
func holdID(connector string, op plan.Op) string {
	sum := sha256.Sum256([]byte(connector + "\x00" + string(op.Action) + "\x00" + op.Anchor))
	return "h" + hex.EncodeToString(sum[:6])
}

// loadHeld returns the connector's held operations (all statuses).
func loadHeld(ctx context.Context, st state.Backend, log *zap.Logger, connector string) ([]HeldOp, error) {
	holds, err := st.Holds(ctx, connector)
	if err != nil {
		return nil, fmt.Errorf("read holds of %s: %w", connector, err)
	}
	var out []HeldOp
	for _, h := range holds {
		ops, err := decodeHeld(h)
		if err != nil && ops == nil {
			// Written by an older version (bare changes): its operations are
			// planned again by the next run, so dropping it loses nothing.
			continue
		}
		if err != nil {
			log.Warn("damaged held operations dropped; the next run plans them again", zap.Error(err))
		}
		out = append(out, ops...)
	}
	return out, nil
}

// decodeHeld reads a hold record's operations. An operation that is not what
// mergeHeld writes (its ID does not name its connector, action and anchor, or
// its status is unknown) is left out, never approved or applied, and the error
// names it; a record that does not decode at all gives no operations.
func decodeHeld(h state.Hold) ([]HeldOp, error) {
	var ops []HeldOp
	if err := json.Unmarshal(h.Operations, &ops); err != nil {
		return nil, fmt.Errorf("hold %q of %q: %w", h.ID, h.Connector, err)
	}
	if len(ops) > 0 && ops[0].ID == "" {
		return nil, fmt.Errorf("hold %q of %q: operations without IDs (an older version's)", h.ID, h.Connector)
	}
	out := ops[:0]
	var bad []error
	for i, op := range ops {
		switch {
		case op.Connector != h.Connector || op.ID != holdID(h.Connector, plan.Op{Change: op.Change}):
			bad = append(bad, fmt.Errorf("hold %q of %q: operation %d (%q) does not match its connector, action and anchor", h.ID, h.Connector, i, op.ID))
		case !slices.Contains([]string{HoldPending, HoldApplied, HoldRejected, HoldExpired}, op.Status):
			bad = append(bad, fmt.Errorf("hold %q of %q: operation %q has the unknown status %q", h.ID, h.Connector, op.ID, op.Status))
		default:
			out = append(out, op)
		}
	}
	if len(out) == 0 {
		out = []HeldOp{} // decoded, but nothing usable
	}
	return out, errors.Join(bad...)
}

// saveHeld stores the connector's held operations as its one hold record.
func saveHeld(ctx context.Context, st state.Backend, connector, runID, reason string, ops []HeldOp) error {
	if len(ops) == 0 {
		err := st.DeleteHold(ctx, connector, connector)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("clear holds of %s: %w", connector, err)
		}
		return nil
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return fmt.Errorf("encode held operations: %w", err)
	}
	return st.PutHold(ctx, state.Hold{ID: connector, Connector: connector, RunID: runID, Reason: reason,
		Created: time.Now().UTC(), Operations: raw})
}

// mergeHeld is the new list of held operations after a run that held ops:
// an operation held again keeps its ID, creation time and (if rejected) its
// rejection; a pending one that a full run no longer plans expires (a run that
// did not read everything, incremental or one-object, cannot tell, so it
// leaves it pending); decided ones are kept for decidedKeep.
func mergeHeld(old []HeldOp, connector, runID, reason string, held []plan.Op, full bool, now time.Time) []HeldOp {
	prev := map[string]HeldOp{}
	for _, h := range old {
		prev[h.ID] = h
	}
	var out []HeldOp
	planned := map[string]bool{}
	for _, op := range held {
		id := holdID(connector, op)
		planned[id] = true
		why := op.HeldFor
		if why == "" {
			why = reason
		}
		h := HeldOp{ID: id, Connector: connector, RunID: runID, Reason: why, Created: now, Change: op.Change,
			Entry: op.Entry, Status: HoldPending, Tracked: trackable(op)}
		if p, ok := prev[id]; ok && (p.Status == HoldPending || p.Status == HoldRejected) {
			h.Created, h.Status, h.Decided, h.By = p.Created, p.Status, p.Decided, p.By
		}
		out = append(out, h)
	}
	for _, p := range old {
		if planned[p.ID] {
			continue
		}
		if p.Status == HoldPending && full {
			p.Status, p.Decided, p.By = HoldExpired, now, "run "+runID
		}
		if p.Status == HoldPending || now.Sub(p.Decided) < decidedKeep {
			out = append(out, p)
		}
	}
	return out
}

// keepHeld moves back to Held the destructive operations still held from
// earlier runs: pending ones wait for an admin even when this run alone would
// not trip the brakes (approving half of a hold must not let the next run
// apply the other half), and a rejection stands for as long as the source
// keeps asking for the operation.
func (r *run) keepHeld(ctx context.Context, p *plan.Plan) ([]HeldOp, error) {
	old, err := loadHeld(ctx, r.e.state, r.log, r.job.Name)
	if err != nil {
		return nil, err
	}
	for _, h := range r.e.expireAged(old, "run "+r.rep.RunID, time.Now().UTC()) {
		// An expired hold binds nothing: if the source still asks for the
		// operation, this run planned it afresh, and the brakes and the
		// protection decide again whether it waits.
		r.log.Warn("held operation expired", zap.String("hold", h.ID), zap.String("action", string(h.Change.Action)),
			zap.String("address", h.Change.Address), zap.String("why", h.Error))
		p.Warnings = append(p.Warnings, plan.Quarantine{Record: h.Change.Address, Field: "hold",
			Reason: fmt.Sprintf("held %s %s expired: %s", h.ID, h.Change.Action, h.Error),
			Fix:    "nothing to do: if the source still asks for it, it was planned afresh (and held again if the brakes or protection say so)"})
	}
	waiting := map[string]HeldOp{}
	for _, h := range old {
		if h.Status == HoldRejected || h.Status == HoldPending {
			waiting[h.ID] = h
		}
	}
	if len(waiting) == 0 {
		return old, nil
	}
	keep := p.Ops[:0]
	for _, op := range p.Ops {
		if h, ok := waiting[holdID(r.job.Name, op)]; ok && plan.Destructive(op) {
			op.HeldFor = h.Reason
			p.Held = append(p.Held, op)
			if p.HoldReason == "" {
				p.HoldReason = h.Reason
				if h.Status == HoldRejected {
					p.HoldReason = fmt.Sprintf("rejected by %s on %s", h.By, h.Decided.Format(time.RFC3339))
				}
			}
			continue
		}
		keep = append(keep, op)
	}
	p.Ops = keep
	return old, nil
}

// hold records the run's held operations (see mergeHeld). Losing them would
// lose the operations, so failing to store them fails the run before the commit.
func (r *run) hold(ctx context.Context, p *plan.Plan, old []HeldOp) error {
	trackHeld(p)
	ops := mergeHeld(old, r.job.Name, r.rep.RunID, p.HoldReason, p.Held, r.rep.Full, time.Now().UTC())
	if err := saveHeld(ctx, r.e.state, r.job.Name, r.rep.RunID, p.HoldReason, ops); err != nil {
		return fmt.Errorf("record held operations: %w", err)
	}
	if len(p.Held) > 0 {
		r.log.Warn("destructive changes held for approval", zap.Int("held", len(p.Held)), zap.String("reason", p.HoldReason),
			zap.Strings("addresses", heldAddresses(p.Held, 20)))
	}
	return nil
}

func heldAddresses(ops []plan.Op, limit int) []string {
	var out []string
	for _, op := range ops[:min(limit, len(ops))] {
		out = append(out, op.Address)
	}
	return slices.Clip(out)
}

// Held lists held operations of a connector ("" = all), filtered by status
// ("" = all), oldest first.
func (e *Engine) Held(ctx context.Context, connector, status string) ([]HeldOp, error) {
	ops, err := loadHeld(ctx, e.state, e.log, connector)
	if err != nil {
		return nil, err
	}
	// Pending holds past holds.max_age are shown as the next run or decision
	// will record them.
	e.expireAged(ops, "holds.max_age", time.Now().UTC())
	out := ops[:0]
	for _, h := range ops {
		if status == "" || h.Status == status {
			out = append(out, h)
		}
	}
	slices.SortStableFunc(out, func(a, b HeldOp) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// Decision selects held operations to approve or reject: by ID, or every
// pending one of a run or of a connector.
type Decision struct {
	IDs       []string
	RunID     string
	Connector string
	Approve   bool
	By        string // the admin (token name) deciding
}

// DecisionResult is the outcome for one held operation.
type DecisionResult struct {
	ID     string
	Status string // the status now
	// Err says why it was refused (wrapping ErrHoldNotFound, ErrHoldDecided,
	// or a store error); nil when decided.
	Err error
}

// Decide approves or rejects held operations. An approval applies them
// through the normal apply path: under the connector's run lock, fenced, one
// store batch, then their snapshot entries are committed, so the next run does
// not plan them again. The lock also keeps a run from replacing the holds
// meanwhile.
func (e *Engine) Decide(ctx context.Context, d Decision) ([]DecisionResult, error) {
	all, err := loadHeld(ctx, e.state, e.log, d.Connector)
	if err != nil {
		return nil, err
	}
	byConnector := map[string][]string{} // connector → selected ids
	var results []DecisionResult
	found := map[string]bool{}
	for _, h := range all {
		sel := slices.Contains(d.IDs, h.ID) || (len(d.IDs) == 0 && h.Status == HoldPending &&
			(d.RunID == "" || h.RunID == d.RunID))
		if sel {
			found[h.ID] = true
			byConnector[h.Connector] = append(byConnector[h.Connector], h.ID)
		}
	}
	for _, id := range d.IDs {
		if !found[id] {
			results = append(results, DecisionResult{ID: id, Err: fmt.Errorf("%s: %w", id, ErrHoldNotFound)})
		}
	}
	for _, c := range slices.Sorted(maps.Keys(byConnector)) {
		rs, err := e.decideOne(ctx, c, byConnector[c], d)
		if err != nil {
			return nil, err
		}
		results = append(results, rs...)
	}
	return results, nil
}

func (e *Engine) decideOne(ctx context.Context, connector string, ids []string, d Decision) ([]DecisionResult, error) {
	lease, err := e.state.Acquire(ctx, connector, e.owner, e.lockTTL)
	if err != nil {
		return nil, fmt.Errorf("lock connector %s to decide its holds (a run may be in progress; try again when it ends): %w", connector, err)
	}
	defer func() { _ = e.state.Release(context.WithoutCancel(ctx), lease) }()
	// Read again under the lock: a run may have replaced the holds.
	ops, err := loadHeld(ctx, e.state, e.log, connector)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	aged := map[string]bool{}
	for _, h := range e.expireAged(ops, d.By, now) {
		aged[h.ID] = true
		e.log.Info("held change expired", zap.String("connector", connector), zap.String("hold", h.ID),
			zap.String("action", string(h.Change.Action)), zap.String("address", h.Change.Address), zap.String("why", h.Error))
	}
	var results []DecisionResult
	var apply []int
	for i := range ops {
		h := &ops[i]
		if !slices.Contains(ids, h.ID) {
			continue
		}
		if aged[h.ID] {
			results = append(results, DecisionResult{ID: h.ID, Status: h.Status, Err: expiredErr(*h)})
			continue
		}
		if h.Status != HoldPending {
			err := fmt.Errorf("%s (%s %s): %w: %s by %s at %s", h.ID, h.Change.Action, h.Change.Address, ErrHoldDecided,
				h.Status, h.By, h.Decided.Format(time.RFC3339))
			if h.Status == HoldExpired && h.Error != "" {
				err = fmt.Errorf("%w: %s", err, h.Error)
			}
			results = append(results, DecisionResult{ID: h.ID, Status: h.Status, Err: err})
			continue
		}
		if !d.Approve {
			h.Status, h.Decided, h.By = HoldRejected, now, d.By
			results = append(results, DecisionResult{ID: h.ID, Status: h.Status})
			e.log.Info("held change rejected", zap.String("connector", connector), zap.String("hold", h.ID),
				zap.String("action", string(h.Change.Action)), zap.String("address", h.Change.Address), zap.String("by", d.By))
			continue
		}
		apply = append(apply, i)
	}
	if len(apply) > 0 {
		var expired []DecisionResult
		apply, expired, err = e.recheck(ctx, lease, ops, apply, d.By, now)
		if err != nil {
			return nil, err
		}
		results = append(results, expired...)
	}
	if len(apply) > 0 {
		rs, err := e.applyHeld(ctx, lease, ops, apply, d.By, now)
		if err != nil {
			return nil, err
		}
		results = append(results, rs...)
	}
	if err := saveHeld(ctx, e.state, connector, "", "", ops); err != nil {
		return nil, fmt.Errorf("record decisions: %w", err)
	}
	return results, nil
}

// applyHeld applies the approved operations ops[idx] and commits their entries.
func (e *Engine) applyHeld(ctx context.Context, lease state.Lease, ops []HeldOp, idx []int, by string, now time.Time) ([]DecisionResult, error) {
	connector := lease.Connector
	changes := make([]store.Change, len(idx))
	for k, i := range idx {
		changes[k] = ops[i].Change
		changes[k].Reason = ops[i].Change.Reason + " (held, approved by " + by + ")"
	}
	outs, err := e.store.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "admin", Name: by, RunID: ops[idx[0]].RunID},
		Fence: &store.Fence{Name: connector, Token: lease.Token}, Changes: changes})
	if err != nil {
		return nil, fmt.Errorf("apply approved changes of %s: %w", connector, err)
	}
	c := state.Commit{Upserts: map[string]state.Entry{}}
	var results []DecisionResult
	for k, i := range idx {
		h := &ops[i]
		if outs[k].Err != nil {
			h.Error = outs[k].Err.Error()
			results = append(results, DecisionResult{ID: h.ID, Status: h.Status,
				Err: fmt.Errorf("%s %s: %w", h.Change.Action, h.Change.Address, outs[k].Err)})
			continue
		}
		h.Status, h.Decided, h.By, h.Error = HoldApplied, now, by, ""
		if h.Entry != nil && h.Change.Anchor != "" {
			c.Upserts[h.Change.Anchor] = *h.Entry
		}
		results = append(results, DecisionResult{ID: h.ID, Status: h.Status})
		e.log.Info("held change approved and applied", zap.String("connector", connector), zap.String("hold", h.ID),
			zap.String("action", string(h.Change.Action)), zap.String("address", h.Change.Address), zap.String("by", by))
	}
	if len(c.Upserts) > 0 {
		if err := e.state.Commit(ctx, lease, c); err != nil {
			return nil, fmt.Errorf("commit the approved changes' state (the store is updated; the next run re-checks them): %w", err)
		}
	}
	return results, nil
}
