package apiwire

import (
	"context"
	"errors"
	"fmt"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
)

// NewHolds serves /v1/holds from the engine; decided, when set, is given the
// count of pending holds per connector after every decision.
func NewHolds(eng *engine.Engine, decided func(pending map[string]int)) Holds {
	return Holds{eng: eng, decided: decided}
}

// Holds serves /v1/holds from the engine.
type Holds struct {
	eng *engine.Engine
	// decided, when set, is given the count of pending holds per connector
	// after every decision (the dirsync_held_operations gauge).
	decided func(pending map[string]int)
}

var _ api.Holds = Holds{}

// Holds lists held operations of a connector ("" = all) with a status ("" = all).
func (h Holds) Holds(ctx context.Context, connector, status string) ([]api.Hold, error) {
	ops, err := h.eng.Held(ctx, connector, status)
	if err != nil {
		return nil, err
	}
	out := make([]api.Hold, len(ops))
	for i, o := range ops {
		out[i] = api.Hold{ID: o.ID, Connector: o.Connector, RunID: o.RunID, Reason: o.Reason, Created: o.Created,
			Action: string(o.Change.Action), Kind: o.Change.Kind, Address: o.Change.Address, Changes: fieldChanges(o.Change.Changes),
			Status: api.HoldStatus(o.Status), Decided: o.Decided, By: o.By, Error: o.Error}
	}
	return out, nil
}

// Decide approves or rejects the selected held operations, one result each.
func (h Holds) Decide(ctx context.Context, d api.DecideHolds, approve bool, by string) ([]api.HoldResult, error) {
	res, err := h.eng.Decide(ctx, engine.Decision{IDs: d.IDs, RunID: d.RunID, Connector: d.Connector, Approve: approve, By: by})
	if errors.Is(err, state.ErrLocked) {
		return nil, fmt.Errorf("%w: %w", api.ErrSyncBusy, err)
	}
	if err != nil {
		return nil, err
	}
	h.afterDecision(ctx)
	out := make([]api.HoldResult, len(res))
	for i, r := range res {
		out[i] = api.HoldResult{ID: r.ID, Status: api.HoldStatus(r.Status)}
		if r.Err != nil {
			out[i].Error = r.Err.Error()
		}
		switch {
		case errors.Is(r.Err, engine.ErrHoldNotFound):
			out[i].Code = api.CodeHoldNotFound
		case errors.Is(r.Err, engine.ErrHoldDecided):
			out[i].Code = api.CodeHoldDecided
		case errors.Is(r.Err, engine.ErrHoldExpired):
			out[i].Code = api.CodeHoldExpired
		case r.Err != nil:
			out[i].Code = api.CodeApplyFailed
		}
	}
	return out, nil
}

// afterDecision reports the holds still pending, per connector.
func (h Holds) afterDecision(ctx context.Context) {
	if h.decided == nil {
		return
	}
	ops, err := h.eng.Held(ctx, "", "pending")
	if err != nil {
		return // the next run sets the gauge again
	}
	pending := map[string]int{}
	for _, o := range ops {
		pending[o.Connector]++
	}
	h.decided(pending)
}
