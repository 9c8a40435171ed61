package plan

import (
	"fmt"
	"slices"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
)

// An alias names one object, and the store refuses a second claimant at apply.
// Rather than fail that record's write on every run, the plan decides who keeps
// it, the same way whatever order the source returns records in:
//
//  1. the store object that holds it now (as its primary address or an alias);
//  2. else a record of this run whose primary address it is (a primary address
//     names its object, and a primary address clash is a quarantine);
//  3. else the first record of this run that claims it, which then becomes
//     its store owner, so rule 1 keeps it there on every later run.
//
// The others are synchronised without it, with a warning. Their snapshot entry
// is the fingerprint of the record as applied (or none), which differs from the
// source record's, so they are re-checked, and warned, on every run until the
// owner lets the alias go.

// aliasGrant is a record this run gives an alias its store object lacks.
// released is set once the op that gives it was released to the store (see
// Builder.Release): a revocation is then an op of its own.
type aliasGrant struct {
	ref, anchor string
	released    *releasedAliases
}

// releasedAliases is what a revocation needs of a released op that gave
// aliases: the object's address and aliases as written. (Its entry is a
// live user's: kind, address and the grant's ref.)
type releasedAliases struct {
	address string
	aliases []string
}

// runClaims are the addresses the records of one run claim so far.
type runClaims struct {
	primary map[string]string     // primary address → ref
	alias   map[string]aliasGrant // alias new to its object → the record given it
}

const aliasClashFix = "keep the alias on one object only in the source; the record gets it on the first run after the other owner no longer has it"

// withholdAliases drops from r the aliases another object owns (see the rules
// above), target being the store object r is written to (nil for a create),
// and records r's new aliases as claimed. owners maps the looked-up store
// objects' addresses (primary and aliases) to them.
func withholdAliases(conn Connector, r Record, target *store.User, owners map[string]*store.User, run *runClaims) (Record, []Quarantine) {
	if !conn.Owned.Has(store.FieldAliases) || len(r.Aliases) == 0 {
		return r, nil
	}
	var warnings []Quarantine
	kept := make([]string, 0, len(r.Aliases))
	for _, a := range r.Aliases {
		if why := aliasOwner(r, a, target, owners, run); why != "" {
			warnings = append(warnings, Quarantine{Record: r.Ref, Field: store.FieldAliases,
				Reason: fmt.Sprintf("alias %s withheld: %s", a, why), Fix: aliasClashFix})
			continue
		}
		kept = append(kept, a)
		if run != nil && (target == nil || !slices.Contains(target.Aliases, a)) {
			run.alias[a] = aliasGrant{ref: r.Ref, anchor: r.Anchor}
		}
	}
	if len(warnings) > 0 {
		r.Aliases = kept
		r.Fingerprint = Fingerprint(r, conn.Owned)
	}
	return r, warnings
}

// aliasOwner says who, other than r, owns alias a ("" for nobody).
func aliasOwner(r Record, a string, target *store.User, owners map[string]*store.User, run *runClaims) string {
	if o := owners[a]; o != nil && o != target {
		role := "an alias"
		if o.Address == a {
			role = "the primary address"
		}
		return fmt.Sprintf("it is %s of %s (origin %s) in the store", role, o.Address, o.Origin)
	}
	if run == nil {
		return ""
	}
	if ref, ok := run.primary[a]; ok && ref != r.Ref {
		return fmt.Sprintf("it is the primary address of %s in this source", ref)
	}
	if g, ok := run.alias[a]; ok && g.anchor != r.Anchor {
		return fmt.Sprintf("%s, read before it in this run, has it too", g.ref)
	}
	return ""
}

// revokeAlias takes back an alias this run's plan already gave a record
// (planned in an earlier batch) because it turns out to be the primary address
// of primaryRef, read later. The record's ops lose the alias and its snapshot
// entry loses its fingerprint, so the next run re-checks it. When those ops
// were released to the store already, an update takes the alias back
// instead, released before the next join (see Release).
func (b *Builder) revokeAlias(alias string, g aliasGrant, primaryRef string) {
	delete(b.claims.alias, alias)
	why := fmt.Sprintf("alias %s withheld: it is the primary address of %s in this source", alias, primaryRef)
	b.Plan.Warnings = append(b.Plan.Warnings, Quarantine{Record: g.ref, Field: store.FieldAliases, Reason: why, Fix: aliasClashFix})
	if rel := g.released; rel != nil {
		after := slices.DeleteFunc(slices.Clone(rel.aliases), func(a string) bool { return a == alias })
		// No fingerprint: the next run re-checks the object.
		e := state.Entry{Kind: store.KindUser, Address: rel.address, Ref: g.ref}
		b.Plan.Ops = append(b.Plan.Ops, Op{Change: store.Change{Action: store.ActionUpdate, Kind: store.KindUser,
			Address: rel.address, Origin: b.conn.Name, Anchor: g.anchor,
			Changes: []store.FieldChange{{Field: store.FieldAliases, Before: rel.aliases, After: after}}, Reason: why},
			Entry: &e, revocation: true})
		rel.aliases = after
		b.revoked = true
		return
	}
	var dropped *state.Entry
	left := false
	keep := b.Plan.Ops[:0]
	for _, op := range b.Plan.Ops {
		if op.Anchor != g.anchor {
			keep = append(keep, op)
			continue
		}
		if op.Entry != nil {
			op.Entry.Fingerprint = ""
		}
		if op.Action == store.ActionCreate || op.Action == store.ActionUpdate {
			op.Changes = withoutAlias(op.Action, op.Changes, alias)
			if len(op.Changes) == 0 {
				dropped = op.Entry
				continue
			}
		}
		left = true
		keep = append(keep, op)
	}
	b.Plan.Ops = keep
	b.kept = 0 // ops may have gone: Release looks at them all again
	if dropped != nil && !left {
		// The alias was the record's only change: it is now as the store has it.
		b.Plan.Add(Result{Entries: map[string]state.Entry{g.anchor: *dropped}, Unchanged: 1})
	}
}

// withoutAlias removes alias from a create's or update's aliases change; the
// change itself goes when nothing is left to write.
func withoutAlias(action store.Action, changes []store.FieldChange, alias string) []store.FieldChange {
	out := make([]store.FieldChange, 0, len(changes))
	for _, c := range changes {
		if after, ok := c.After.([]string); ok && c.Field == store.FieldAliases {
			c.After = slices.DeleteFunc(slices.Clone(after), func(a string) bool { return a == alias })
			if (action == store.ActionCreate && len(toStrings(c.After)) == 0) || (action == store.ActionUpdate && equal(c.Before, c.After)) {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}
