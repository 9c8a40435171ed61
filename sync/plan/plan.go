package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

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

	// released tallies the ops Builder.Release took out of Ops.
	released Counts
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

// Kinds of destructive operation the brakes count separately.
const (
	KindDisable       = "disable"
	KindDelete        = "delete"
	KindAliasRemoval  = "alias removal"
	KindMemberRemoval = "member removal"
)

// DestructiveKind says which kind of destructive operation op is ("" for none):
// a disable, a delete, or an update that removes aliases (mail to them would
// bounce) or group members (they would stop receiving the group's mail).
func DestructiveKind(op Op) string {
	if op.revocation {
		return ""
	}
	switch op.Action {
	case store.ActionDisable:
		return KindDisable
	case store.ActionDelete:
		return KindDelete
	case store.ActionUpdate:
		address := op.Address
		for _, c := range op.Changes {
			if a, ok := c.After.(string); ok && c.Field == store.FieldAddress {
				address = a
			}
		}
		for _, c := range op.Changes {
			switch c.Field {
			case store.FieldAliases:
				// An alias promoted to the primary address is not lost.
				if removes(c.Before, append(slices.Clip(toStrings(c.After)), address)) {
					return KindAliasRemoval
				}
			case store.FieldMembers:
				if removes(c.Before, c.After) {
					return KindMemberRemoval
				}
			}
		}
	}
	return ""
}

// removes reports whether a list field loses a value from before to after.
func removes(before, after any) bool {
	a := toStrings(after)
	for _, v := range toStrings(before) {
		if !slices.Contains(a, v) {
			return true
		}
	}
	return false
}

// toStrings reads a list field's value: []string as the plan makes it, or
// []any once it has been through JSON (a held operation read back).
func toStrings(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Destructive reports whether an op takes access or mail away.
func Destructive(op Op) bool { return DestructiveKind(op) != "" }

// Brakes are the check stage's limits, applied to each kind of destructive
// operation in each mail domain, and to each kind across the connector.
type Brakes struct {
	// MaxDestructive: more operations of one kind than this are held.
	MaxDestructive int
	// MaxDestructivePercent: operations of one kind above this percentage of
	// the connector's objects (in that domain, or in all) are held ...
	MaxDestructivePercent float64
	// ... when there are more than PercentFloor of them: in a domain of eight
	// users one leaver is 12.5%, and must not wait for an admin.
	PercentFloor int
	// Window counts the destructive operations earlier runs applied within the
	// brakes' window (sync.max_destructive_window), by kind and domain. They
	// count together with this run's against the same limits, so a source
	// that shrinks a little on every run is held once the shrinking adds up.
	Window map[WindowKey]int
	// WindowName describes the window in reasons ("in the last 7 days").
	WindowName string
	// Pending counts, by kind and domain, the objects a full run found missing
	// but not yet for sync.missing_runs runs: disables already on their way.
	// With the window on they count too, for the disables of objects that
	// went missing, so a source shrinking a little on every run is held
	// before its first step is applied, not after.
	Pending map[WindowKey]int
}

// WindowKey is a kind of destructive operation in one mail domain.
type WindowKey struct{ Kind, Domain string }

// Check moves destructive ops to Held where there are more than the brakes
// allow: for each kind (disable, delete, alias removal, member removal) in
// each domain, measured against the objects the connector had in that domain
// last time; then for each kind across the connector, counting what the
// domains' limits let through, measured against all the connector's objects
// (many small domains each losing a few). Operations earlier runs applied
// within the window (b.Window) count too. Exactly the operations of a tripped
// kind and domain are held; everything else (creates, updates, re-enables,
// other domains) goes ahead.
func (p *Plan) Check(b Brakes, cached map[string]int) {
	total := 0
	for _, n := range cached {
		total += n
	}
	if b.WindowName == "" {
		b.Pending = nil // without a window, a run is measured on its own
	}
	priorKind, pendingKind := map[string]int{}, map[string]int{}
	for k, n := range b.Window {
		priorKind[k.Kind] += n
	}
	for k, n := range b.Pending {
		pendingKind[k.Kind] += n
	}
	limit := func(kind, where, objects string, now, prior, pending, of int) string {
		n := now + prior + pending
		switch {
		case pending > 0:
			where = fmt.Sprintf("%s %s incl. this run (%d in this run, %d missing from the source and due to follow)", where, b.WindowName, now, pending)
		case prior > 0:
			where = fmt.Sprintf("%s %s incl. this run (%d in this run)", where, b.WindowName, now)
		}
		switch {
		case n > b.MaxDestructive:
			return fmt.Sprintf("%d %ss %s exceed the limit of %d (sync.max_destructive)", n, kind, where, b.MaxDestructive)
		case n > b.PercentFloor && of > 0 && float64(n)*100/float64(of) > b.MaxDestructivePercent:
			return fmt.Sprintf("%d %ss %s are %.1f%% of the connector's %d %s, over the limit of %g%% (sync.max_destructive_percent)",
				n, kind, where, float64(n)*100/float64(of), of, objects, b.MaxDestructivePercent)
		}
		return ""
	}
	type group struct{ kind, domain string }
	perDomain := map[group]int{}
	for _, op := range p.Ops {
		if k := DestructiveKind(op); k != "" {
			perDomain[group{k, Domain(op.Address)}]++
		}
	}
	// Two verdicts: one on the operations alone (with the window), and one
	// that also counts the pending disables. The second holds only disables
	// of objects that went missing: those are what a shrink in progress is
	// made of, while a source that explicitly disables someone it still
	// lists is no evidence of one.
	verdict := func(pending map[WindowKey]int, pendingKind map[string]int) map[group]string {
		why := map[group]string{}
		perKind := map[string]int{}
		for g, n := range perDomain {
			key := WindowKey{g.kind, g.domain}
			if r := limit(g.kind, "in "+g.domain, "objects in "+g.domain, n, b.Window[key], pending[key], cached[g.domain]); r != "" {
				why[g] = r
			} else {
				perKind[g.kind] += n
			}
		}
		for k, n := range perKind {
			if r := limit(k, "across the connector", "objects", n, priorKind[k], pendingKind[k], total); r != "" {
				why[group{k, ""}] = r
			}
		}
		return why
	}
	why := verdict(nil, nil)
	var whyPending map[group]string
	if len(b.Pending) > 0 {
		whyPending = verdict(b.Pending, pendingKind)
	}
	find := func(why map[group]string, k, domain string) (string, bool) {
		r, ok := why[group{k, domain}]
		if !ok {
			r, ok = why[group{k, ""}]
		}
		return r, ok
	}
	if len(why) == 0 && len(whyPending) == 0 {
		return
	}
	var reasons []string
	keep := p.Ops[:0]
	for _, op := range p.Ops {
		k := DestructiveKind(op)
		r, ok := find(why, k, Domain(op.Address))
		if !ok && goneDisable(op) {
			r, ok = find(whyPending, k, Domain(op.Address))
		}
		if k == "" || !ok {
			keep = append(keep, op)
			continue
		}
		op.HeldFor = r
		p.Held = append(p.Held, op)
		if !slices.Contains(reasons, r) {
			reasons = append(reasons, r)
		}
	}
	p.Ops = keep
	slices.Sort(reasons)
	p.HoldReason = strings.Join(reasons, "; ")
}

// goneDisable reports whether op disables an object because it left the
// source (missing from full runs, or a tombstone), rather than because the
// source disabled it.
func goneDisable(op Op) bool {
	return op.Action == store.ActionDisable && op.Entry != nil && op.Entry.Gone
}

// Domain is the domain part of an address ("" without one).
func Domain(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		return address[i+1:]
	}
	return ""
}

// HoldAll moves every destructive op to Held, for the reason given.
func (p *Plan) HoldAll(reason string) {
	keep := p.Ops[:0]
	for _, op := range p.Ops {
		if Destructive(op) {
			op.HeldFor = reason
			p.Held = append(p.Held, op)
		} else {
			keep = append(keep, op)
		}
	}
	p.Ops = keep
	p.HoldReason = reason
}

// Counts tallies the plan per action, as run reports and the run history count it.
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
	// Protected counts disables and deletes of protected accounts, not applied.
	Protected int `json:"protected,omitempty"`
}

// Counts tallies the plan.
func (p *Plan) Counts() Counts {
	c := p.released
	c.Unchanged, c.Joined, c.Quarantined, c.Held = p.Unchanged, p.Joined, len(p.Quarantined), len(p.Held)
	for _, op := range p.Ops {
		c.count(op)
	}
	return c
}

// count adds op to the tally of its action.
func (c *Counts) count(op Op) {
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

// Map returns the counts keyed by name, for the run history.
func (c Counts) Map() map[string]int {
	m := map[string]int{"create": c.Create, "update": c.Update, "disable": c.Disable, "enable": c.Enable,
		"delete": c.Delete, "unchanged": c.Unchanged, "quarantined": c.Quarantined, "held": c.Held}
	if c.Joined > 0 {
		m["joined"] = c.Joined
	}
	if c.Protected > 0 {
		m["protected"] = c.Protected
	}
	return m
}
