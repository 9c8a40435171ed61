package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// ErrCannotExplain: the connector's source cannot read one object on its own.
var ErrCannotExplain = errors.New("this connector cannot read a single object")

// Explanation is every stage of the sync for one source object: what was
// read, whether the scope admits it, what normalising made of it, which store
// object it joins, and the exact operation a run would plan.
type Explanation struct {
	Connector string           `json:"connector"`
	Key       string           `json:"key"`
	Read      ExplainRead      `json:"read"`
	Scope     ExplainScope     `json:"scope"`
	Normalise ExplainNormalise `json:"normalise"`
	Join      ExplainJoin      `json:"join"`
	Plan      ExplainPlan      `json:"plan"`
	// Apply is the one-object run's report (explain --apply).
	Apply *Report `json:"apply,omitempty"`
}

// ExplainRead is the object as the source returned it.
type ExplainRead struct {
	Query string `json:"query"`
	// Attributes are the raw values, secrets redacted by the connector.
	Attributes map[string][]string `json:"attributes"`
}

// ExplainScope is the scope rules' verdicts.
type ExplainScope struct {
	InScope bool         `json:"in_scope"`
	Checks  []ScopeCheck `json:"checks"`
}

// ScopeCheck is one scope rule and what it said.
type ScopeCheck struct {
	Rule     string `json:"rule"`
	Admitted bool   `json:"admitted"`
	Detail   string `json:"detail,omitempty"`
}

// ExplainNormalise is the mapped and validated record, or why it is quarantined.
type ExplainNormalise struct {
	OK          bool              `json:"ok"`
	Record      *plan.Record      `json:"record,omitempty"`
	Quarantined []plan.Quarantine `json:"quarantined,omitempty"`
	Warnings    []plan.Quarantine `json:"warnings,omitempty"`
}

// ExplainJoin says which store object the record belongs to.
type ExplainJoin struct {
	// By is anchor, address, join-anchor or none.
	By      string       `json:"by"`
	Detail  string       `json:"detail"`
	User    *JoinedUser  `json:"user,omitempty"`
	Cached  *state.Entry `json:"cached,omitempty"`
	Changed bool         `json:"changed_since_last_run"`
}

// JoinedUser is the store object a record joins, in short.
type JoinedUser struct {
	Address   string `json:"address"`
	Kind      string `json:"kind"`
	Origin    string `json:"origin"`
	Anchor    string `json:"anchor,omitempty"`
	Enabled   bool   `json:"enabled"`
	Protected string `json:"protected,omitempty"`
}

// ExplainPlan is what a run would do with the object.
type ExplainPlan struct {
	Summary    string            `json:"summary"`
	Operations []PlannedOp       `json:"operations"`
	Refused    []plan.Quarantine `json:"refused,omitempty"`
}

// PlannedOp is one operation and what would stop it (a pending hold, protection).
type PlannedOp struct {
	store.Change
	Note string `json:"note,omitempty"`
}

// Explain reads the object key (an address, alias or anchor) from the job's
// source and runs it through every stage of a sync without writing anything;
// with apply it then applies the planned operations through a one-object run.
func (e *Engine) Explain(ctx context.Context, job Job, key string, apply bool) (*Explanation, error) {
	looker, ok := job.Source.(connectors.Looker)
	if !ok {
		return nil, fmt.Errorf("explain %s: %w", job.Name, ErrCannotExplain)
	}
	found, err := looker.Lookup(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("explain %s in %s: %w", key, job.Name, err)
	}
	x := &Explanation{Connector: job.Name, Key: key,
		Read:  ExplainRead{Query: found.Query, Attributes: found.Raw},
		Scope: ExplainScope{InScope: found.InScope, Checks: []ScopeCheck{}}}
	for _, c := range found.Scope {
		x.Scope.Checks = append(x.Scope.Checks, ScopeCheck{Rule: c.Rule, Admitted: c.Admitted, Detail: c.Detail})
	}
	snap, err := e.state.Snapshot(ctx, job.Name)
	if err != nil {
		return nil, fmt.Errorf("load state snapshot: %w", err)
	}
	internal, err := e.internalDomains(ctx)
	if err != nil {
		return nil, err
	}
	conn := diffConnector(job)

	// normalise
	rec, notes, ok := plan.Normalize(found.Record, internal)
	x.Normalise.OK = ok
	if ok {
		if rec.Kind == store.KindGroup {
			refs := map[string]string{}
			for _, en := range snap {
				if en.Ref != "" && !en.Gone {
					refs[en.Ref] = en.Address
				}
			}
			plan.ResolveMembers(&rec, func(ref string) (string, bool) { a, ok := refs[ref]; return a, ok })
		}
		x.Normalise.Record, x.Normalise.Warnings = &rec, notes
	} else if found.InScope {
		// An object out of scope is not normalised by a run: its problems
		// (often only that the lookup found no anchor) are no quarantine.
		x.Normalise.Quarantined = notes
	}

	// join
	anchor := found.Record.Anchor
	if err := e.explainJoin(ctx, x, job.Name, anchor, rec.Address, rec.JoinAnchor, snap, conn.Owned, ok); err != nil {
		return nil, err
	}

	// plan
	switch {
	case !found.InScope:
		e.explainOutOfScope(x, conn, snap, anchor)
	case !ok:
		x.Plan.Summary = "quarantined: the record is not synchronised and nothing in the store changes until the source is fixed (see normalise)"
	default:
		if err := e.explainPlan(ctx, x, job, conn, snap, internal, found.Record); err != nil {
			return nil, err
		}
	}
	if x.Plan.Operations == nil {
		x.Plan.Operations = []PlannedOp{}
	}
	if apply {
		switch {
		case !found.InScope || !ok:
			x.Plan.Summary += "; nothing applied: only an in-scope, valid record can be applied on its own"
		case len(x.Plan.Operations) == 0:
			x.Plan.Summary += "; nothing to apply"
		default:
			only := found.Record
			x.Apply = e.Run(ctx, job, Options{Only: &only})
		}
	}
	return x, nil
}

func (e *Engine) explainJoin(ctx context.Context, x *Explanation, connector, anchor, address, joinAnchor string,
	snap state.Snapshot, owned plan.Owned, normalised bool) error {
	if cached, ok := snap[anchor]; ok && anchor != "" {
		x.Join.Cached = &cached
		if normalised && x.Normalise.Record != nil {
			r := *x.Normalise.Record
			x.Join.Changed = plan.Fingerprint(r, owned) != cached.Fingerprint
		}
	}
	var addrs []string
	if address != "" {
		addrs = []string{address}
	}
	users, err := e.store.Lookup(ctx, connector, []string{anchor}, addrs)
	if err != nil {
		return fmt.Errorf("join: look up anchor %s and address %s in the store: %w", anchor, address, err)
	}
	var byAnchor, byAddr *store.User
	for i := range users {
		u := &users[i]
		if u.Origin == connector && u.Anchor == anchor && anchor != "" {
			byAnchor = u
		} else if address != "" && (u.Address == address || slices.Contains(u.Aliases, address)) {
			byAddr = u
		}
	}
	short := func(u *store.User) *JoinedUser {
		return &JoinedUser{Address: u.Address, Kind: u.Kind, Origin: u.Origin, Anchor: u.Anchor, Enabled: u.Enabled,
			Protected: e.protection().protectedBecause(*u)}
	}
	switch {
	case byAnchor != nil:
		x.Join.By, x.Join.User = "anchor", short(byAnchor)
		x.Join.Detail = fmt.Sprintf("anchor %s is %s in the store (origin %s)", anchor, byAnchor.Address, connector)
	case byAddr != nil && joinAnchor != "" && byAddr.Anchor == joinAnchor:
		x.Join.By, x.Join.User = "join-anchor", short(byAddr)
		x.Join.Detail = fmt.Sprintf("join anchor %s is %s of connector %s: that connector owns the object", joinAnchor, byAddr.Address, byAddr.Origin)
	case byAddr != nil:
		x.Join.By, x.Join.User = "address", short(byAddr)
		x.Join.Detail = fmt.Sprintf("no object has anchor %s; address %s belongs to %s (origin %s%s)", anchor, address,
			byAddr.Address, byAddr.Origin, map[bool]string{true: ", anchor " + byAddr.Anchor}[byAddr.Anchor != ""])
	default:
		x.Join.By = "none"
		x.Join.Detail = fmt.Sprintf("no store object has anchor %s", anchor)
		if address != "" {
			x.Join.Detail += " or address " + address
		}
	}
	return nil
}

// explainOutOfScope says what full runs do with an object the scope excludes.
func (e *Engine) explainOutOfScope(x *Explanation, conn plan.Connector, snap state.Snapshot, anchor string) {
	cached, ok := snap[anchor]
	switch {
	case !ok:
		x.Plan.Summary = "out of scope and never synchronised by this connector: nothing to do"
	case cached.Gone:
		x.Plan.Summary = fmt.Sprintf("out of scope: %s was already disabled when it went missing", cached.Address)
	default:
		res := plan.Missing(conn, state.Snapshot{anchor: cached}, func(string) bool { return false })
		if len(res.Ops) == 0 {
			x.Plan.Summary = fmt.Sprintf("out of scope: the next full run counts %s missing (%d of %d runs); it is disabled when the count reaches %d",
				cached.Address, cached.Missing+1, conn.MissingRuns, conn.MissingRuns)
			return
		}
		x.Plan.Summary = fmt.Sprintf("out of scope: the next full run disables %s (missing in %d consecutive full runs), unless the brakes hold it",
			cached.Address, conn.MissingRuns)
		for _, op := range res.Ops {
			x.Plan.Operations = append(x.Plan.Operations, PlannedOp{Change: op.Change})
		}
	}
}

// explainPlan plans the record as a run would, against the store as it is now
// (the snapshot's fingerprint is ignored, so an unchanged record is compared
// too), and notes holds and protection.
func (e *Engine) explainPlan(ctx context.Context, x *Explanation, job Job, conn plan.Connector, snap state.Snapshot,
	internal plan.Domains, rec connectors.Record) error {
	if en, ok := snap[rec.Anchor]; ok {
		en.Fingerprint = ""
		snap[rec.Anchor] = en
	}
	b := plan.NewBuilder(conn, snap, internal)
	lookup := func(anchors, addresses []string) ([]store.User, error) {
		return e.store.Lookup(ctx, job.Name, anchors, addresses)
	}
	b.Add(rec)
	if err := b.Flush(lookup, 1, true); err != nil {
		return err
	}
	b.EndUsers()
	if err := b.Flush(lookup, 1, true); err != nil {
		return err
	}
	x.Plan.Refused = b.Plan.Quarantined
	held, err := loadHeld(ctx, e.state, e.log, job.Name)
	if err != nil {
		return err
	}
	for _, op := range b.Plan.Ops {
		po := PlannedOp{Change: op.Change}
		id := holdID(job.Name, op)
		for _, h := range held {
			if h.ID == id && (h.Status == HoldPending || h.Status == HoldRejected) {
				po.Note = fmt.Sprintf("held (%s, %s): %s", id, h.Status, h.Reason)
			}
		}
		if (op.Action == store.ActionDisable || op.Action == store.ActionDelete) && x.Join.User != nil && x.Join.User.Protected != "" {
			po.Note = "held for an admin's approval (protected account): " + x.Join.User.Protected
		}
		x.Plan.Operations = append(x.Plan.Operations, po)
	}
	switch {
	case len(b.Plan.Quarantined) > 0:
		x.Plan.Summary = "refused at the join: " + b.Plan.Quarantined[0].Reason
	case b.Plan.Joined > 0:
		x.Plan.Summary = "joined another connector's object: this connector writes nothing for it"
	case len(x.Plan.Operations) == 0:
		x.Plan.Summary = "no change: the store already agrees with the source"
	default:
		var parts []string
		for _, op := range x.Plan.Operations {
			parts = append(parts, fmt.Sprintf("%s %s (%s)", op.Action, op.Address, op.Reason))
		}
		x.Plan.Summary = strings.Join(parts, "; ")
	}
	return nil
}
