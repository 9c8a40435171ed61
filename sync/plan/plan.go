package plan

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
)

// Plan is everything one run intends to do, accumulated batch by batch.
type Plan struct {
	Ops         []Op
	Entries     map[string]state.Entry
	Quarantined []Quarantine
	// Warnings are values left out of records that were otherwise synchronised
	// (a dropped alias, an unknown group member).
	Warnings  []Quarantine
	Unchanged int
	// Joined counts records that joined another connector's object (hybrid).
	Joined int
	// Held are destructive ops the brakes kept back for approval.
	Held []Op
	// HoldReason says why Held is not empty.
	HoldReason string
}

// Add merges a batch result into the plan.
func (p *Plan) Add(r Result) {
	p.Ops = append(p.Ops, r.Ops...)
	p.Quarantined = append(p.Quarantined, r.Quarantined...)
	p.Unchanged += r.Unchanged
	p.Joined += r.Joined
	if len(r.Entries) > 0 && p.Entries == nil {
		p.Entries = map[string]state.Entry{}
	}
	for a, e := range r.Entries {
		p.Entries[a] = e
	}
}

// phase orders ops for apply: users before the groups that list them, creates
// and updates before anything destructive.
func phase(op Op) int {
	group := 0
	if op.Kind == store.KindGroup {
		group = 1
	}
	switch op.Action {
	case store.ActionCreate, store.ActionUpdate, store.ActionEnable:
		return group
	case store.ActionDisable:
		return 2 + group
	default:
		return 4
	}
}

// Sort puts the ops in apply order, then by address, so plans are deterministic.
func (p *Plan) Sort() {
	slices.SortStableFunc(p.Ops, func(a, b Op) int {
		return cmp.Or(cmp.Compare(phase(a), phase(b)), cmp.Compare(a.Address, b.Address))
	})
	byRecord := func(a, b Quarantine) int {
		return cmp.Or(cmp.Compare(a.Record, b.Record), cmp.Compare(a.Field, b.Field))
	}
	slices.SortStableFunc(p.Quarantined, byRecord)
	slices.SortStableFunc(p.Warnings, byRecord)
}

// Destructive reports whether an op takes access away.
func Destructive(op Op) bool {
	return op.Action == store.ActionDisable || op.Action == store.ActionDelete
}

// Brakes are the check stage's limits.
type Brakes struct {
	MaxDestructive        int
	MaxDestructivePercent float64
}

// Check moves destructive ops to Held when there are more than the brakes allow,
// measured against cached (the number of objects the connector had last time).
// Creates and updates go ahead either way.
func (p *Plan) Check(b Brakes, cached int) {
	n := 0
	for _, op := range p.Ops {
		if Destructive(op) {
			n++
		}
	}
	if n == 0 {
		return
	}
	var reason string
	switch {
	case n > b.MaxDestructive:
		reason = fmt.Sprintf("%d disables/deletes exceed the limit of %d (sync.max_destructive)", n, b.MaxDestructive)
	case cached > 0 && float64(n)*100/float64(cached) > b.MaxDestructivePercent:
		reason = fmt.Sprintf("%d disables/deletes are %.1f%% of the connector's %d objects, over the limit of %g%% (sync.max_destructive_percent)",
			n, float64(n)*100/float64(cached), cached, b.MaxDestructivePercent)
	default:
		return
	}
	p.HoldAll(reason)
}

// HoldAll moves every destructive op to Held, for the reason given.
func (p *Plan) HoldAll(reason string) {
	keep := p.Ops[:0]
	for _, op := range p.Ops {
		if Destructive(op) {
			p.Held = append(p.Held, op)
		} else {
			keep = append(keep, op)
		}
	}
	p.Ops = keep
	p.HoldReason = reason
}

// Counts tallies the plan per action, as the CLI and run history report it.
type Counts struct {
	Create      int `json:"create"`
	Update      int `json:"update"`
	Disable     int `json:"disable"`
	Enable      int `json:"enable"`
	Delete      int `json:"delete"`
	Unchanged   int `json:"unchanged"`
	Joined      int `json:"joined,omitempty"`
	Quarantined int `json:"quarantined"`
	Held        int `json:"held"`
}

// Counts tallies the plan.
func (p *Plan) Counts() Counts {
	c := Counts{Unchanged: p.Unchanged, Joined: p.Joined, Quarantined: len(p.Quarantined), Held: len(p.Held)}
	for _, op := range p.Ops {
		switch op.Action {
		case store.ActionCreate:
			c.Create++
		case store.ActionUpdate:
			c.Update++
		case store.ActionDisable:
			c.Disable++
		case store.ActionEnable:
			c.Enable++
		case store.ActionDelete:
			c.Delete++
		}
	}
	return c
}

// Map returns the counts keyed by name, for the run history.
func (c Counts) Map() map[string]int {
	m := map[string]int{"create": c.Create, "update": c.Update, "disable": c.Disable, "enable": c.Enable,
		"delete": c.Delete, "unchanged": c.Unchanged, "quarantined": c.Quarantined, "held": c.Held}
	if c.Joined > 0 {
		m["joined"] = c.Joined
	}
	return m
}
