package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// A held operation is a decision taken on what the source and the store said
// when it was held. Approving it days later must not apply it blindly: the
// approval re-checks it (recheck), and a hold that waited too long expires
// (holds.max_age).

// DefaultHoldMaxAge is how long a held operation waits for a decision before
// it expires, unless SetHoldMaxAge says otherwise.
const DefaultHoldMaxAge = 7 * 24 * time.Hour

// SetHoldMaxAge sets how long a held operation may stay pending (config
// holds.max_age); 0 keeps it pending until it is decided or no longer planned.
// Runs and decisions that start afterwards use it (a configuration reload).
func (e *Engine) SetHoldMaxAge(d time.Duration) {
	e.holdAge.Store(&d)
}

func (e *Engine) holdMaxAge() time.Duration {
	if d := e.holdAge.Load(); d != nil {
		return *d
	}
	return DefaultHoldMaxAge
}

// expireAged marks expired, by by, the pending holds in ops older than
// holds.max_age, and returns them.
func (e *Engine) expireAged(ops []HeldOp, by string, now time.Time) []HeldOp {
	maxAge := e.holdMaxAge()
	if maxAge <= 0 {
		return nil
	}
	var out []HeldOp
	for i := range ops {
		h := &ops[i]
		if h.Status != HoldPending || now.Sub(h.Created) <= maxAge {
			continue
		}
		h.Status, h.Decided, h.By = HoldExpired, now, by
		h.Error = fmt.Sprintf("pending since %s, longer than holds.max_age (%s)", h.Created.Format(time.RFC3339), maxAge)
		out = append(out, *h)
	}
	return out
}

// expiredErr is the decision result's error for a hold that expired at it.
func expiredErr(h HeldOp) error {
	return fmt.Errorf("%s (%s %s): %w: %s; if the source still asks for it, the next run holds it afresh",
		h.ID, h.Change.Action, h.Change.Address, ErrHoldExpired, h.Error)
}

// trackable reports whether trackHeld marks op's snapshot entry.
func trackable(op plan.Op) bool { return op.Anchor != "" && op.Entry != nil }

// trackHeld clears the fingerprint of the held objects' snapshot entries (the
// entry is otherwise left as it was: the store has not changed). The next run
// that reads such an object compares it with the store instead of skipping it
// as unchanged, and commits its real fingerprint unless it holds the operation
// again; so a fingerprint on a held object's entry means a run read it since
// and no longer asks for the operation (the user came back, the source
// re-enabled them), which the approval checks.
func trackHeld(p *plan.Plan) {
	for _, op := range p.Held {
		if !trackable(op) {
			continue
		}
		e := *op.Entry
		e.Fingerprint = ""
		e.Address = op.Address // the object's address in the store, until the operation is applied
		// A missing object's counter goes on; it is not gone until the disable
		// is applied.
		e.Gone = false
		if p.Entries == nil {
			p.Entries = map[string]state.Entry{}
		}
		p.Entries[op.Anchor] = e
	}
}

// recheck keeps, of the approved operations ops[idx], those the source and
// the store still call for; the others expire (by by, with why) and are
// returned as results. A disable whose object is already disabled, or gone
// from the store, has its snapshot entry committed all the same: the store is
// as the operation wanted, and the next run must not plan it again.
func (e *Engine) recheck(ctx context.Context, lease state.Lease, ops []HeldOp, idx []int, by string,
	now time.Time) (keep []int, results []DecisionResult, err error) {
	connector := lease.Connector
	snap, err := e.state.Snapshot(ctx, connector)
	if err != nil {
		return nil, nil, fmt.Errorf("load the state of %s to re-check the approved changes: %w", connector, err)
	}
	var anchors, addresses []string
	for _, i := range idx {
		anchors = append(anchors, ops[i].Change.Anchor)
		addresses = append(addresses, ops[i].Change.Address)
	}
	users, err := e.store.Lookup(ctx, connector, anchors, addresses)
	if err != nil {
		return nil, nil, fmt.Errorf("look up the objects of the approved changes of %s: %w", connector, err)
	}
	settled := state.Commit{Upserts: map[string]state.Entry{}}
	for _, i := range idx {
		h := &ops[i]
		u := findUser(users, connector, h.Change)
		why := stale(*h, snap[h.Change.Anchor], h.Change.Anchor != "" && hasEntry(snap, h.Change.Anchor), u)
		if why == "" {
			keep = append(keep, i)
			continue
		}
		if h.Change.Action == store.ActionDisable && h.Entry != nil && h.Change.Anchor != "" &&
			(u == nil || (u.Origin == connector && !u.Enabled)) {
			settled.Upserts[h.Change.Anchor] = *h.Entry
		}
		h.Status, h.Decided, h.By, h.Error = HoldExpired, now, by, why
		results = append(results, DecisionResult{ID: h.ID, Status: h.Status, Err: expiredErr(*h)})
		e.log.Info("held change expired at its approval", zap.String("connector", connector), zap.String("hold", h.ID),
			zap.String("action", string(h.Change.Action)), zap.String("address", h.Change.Address), zap.String("why", why),
			zap.String("by", by))
	}
	if len(settled.Upserts) > 0 {
		if err := e.state.Commit(ctx, lease, settled); err != nil {
			return nil, nil, fmt.Errorf("commit the state of changes already in effect: %w", err)
		}
	}
	return keep, results, nil
}

func hasEntry(snap state.Snapshot, anchor string) bool {
	_, ok := snap[anchor]
	return ok
}

// findUser is the store object a held change is about: by anchor among the
// connector's objects, else by address.
func findUser(users []store.User, connector string, c store.Change) *store.User {
	for i, u := range users {
		if c.Anchor != "" && u.Origin == connector && u.Anchor == c.Anchor {
			return &users[i]
		}
	}
	for i, u := range users {
		if u.Address == c.Address || slices.Contains(u.Aliases, c.Address) {
			return &users[i]
		}
	}
	return nil
}

// stale says why a held operation is no longer what the source and the store
// call for ("" when it still is).
func stale(h HeldOp, entry state.Entry, inSnapshot bool, u *store.User) string {
	c := h.Change
	if c.Anchor != "" && h.Tracked {
		switch {
		case !inSnapshot:
			return fmt.Sprintf("the state of %s no longer knows the object (anchor %s)", h.Connector, c.Anchor)
		case entry.Fingerprint != "":
			return "a run since the hold read the object from the source again and no longer plans this " + string(c.Action)
		}
	}
	if u == nil {
		return fmt.Sprintf("%s is no longer in the store", c.Address)
	}
	if u.Origin != h.Connector || (c.Anchor != "" && u.Anchor != c.Anchor) {
		return fmt.Sprintf("%s now belongs to origin %q (anchor %q), not to connector %s (anchor %q)",
			u.Address, u.Origin, u.Anchor, h.Connector, c.Anchor)
	}
	switch c.Action {
	case store.ActionDisable:
		if !u.Enabled {
			return fmt.Sprintf("%s is already disabled in the store", u.Address)
		}
	case store.ActionUpdate:
		current := map[string]any{}
		for _, f := range store.FieldValues(*u) {
			current[f.Field] = f.After
		}
		for _, f := range c.Changes {
			if now, ok := current[f.Field]; ok && !sameValue(f.Before, now) {
				return fmt.Sprintf("%s's %s changed in the store since the hold", u.Address, f.Field)
			}
		}
	}
	return ""
}

// sameValue compares a field value as planned (possibly read back from JSON:
// []any for a list) with the store's, lists as sets and empty lists as none.
func sameValue(a, b any) bool {
	norm := func(v any) string {
		switch l := v.(type) {
		case []string:
			v = slices.Sorted(slices.Values(l))
		case []any:
			s := make([]string, 0, len(l))
			for _, x := range l {
				s = append(s, fmt.Sprint(x))
			}
			slices.Sort(s)
			v = s
		}
		if s, ok := v.([]string); ok && len(s) == 0 {
			v = nil
		}
		raw, _ := json.Marshal(v)
		return string(raw)
	}
	return norm(a) == norm(b)
}
