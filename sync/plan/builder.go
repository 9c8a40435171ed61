package plan

import (
	"fmt"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
)

// Builder runs normalise → diff for one run, record by record, without I/O. The
// engine feeds it records as they stream in and answers its join requests from the
// store; golden tests feed it from files. Both therefore take the same decisions.
//
// Memory: the Builder keeps, per record seen, its anchor and (for users) its ref
// and address, so groups can be resolved and missing objects found; full records
// are held only while they wait for a join (one batch) and for groups.
type Builder struct {
	conn     Connector
	snap     state.Snapshot
	internal Domains

	seen     map[string]bool   // anchors read this run, quarantined ones included
	refAddr  map[string]string // user ref → address, this run
	claims   runClaims         // primary addresses (to catch duplicates) and new aliases of this run
	snapRefs map[string]string // ref → address from the snapshot, built on first need
	pending  []Record
	groups   []Record
	read     int
	// kept is how many of Plan.Ops Release already found it must keep;
	// revoked is set when an alias was taken back from a released op.
	kept    int
	revoked bool

	// Plan accumulates the result.
	Plan Plan
}

// NewBuilder starts a run's plan against the previous snapshot.
func NewBuilder(conn Connector, snap state.Snapshot, internal Domains) *Builder {
	return &Builder{conn: conn, snap: snap, internal: internal, seen: map[string]bool{}, refAddr: map[string]string{},
		claims: runClaims{primary: map[string]string{}, alias: map[string]aliasGrant{}}}
}

// Expect sizes the builder's per-object maps for a read of about n records
// (a full read: as many as the last run left), so that they are not rebuilt
// over and over as they grow. It is called before the first Add.
func (b *Builder) Expect(n int) {
	b.seen, b.refAddr, b.claims.primary = make(map[string]bool, n), make(map[string]string, n), make(map[string]string, n)
}

// Read is the number of records the source returned (quarantined ones included).
func (b *Builder) Read() int { return b.read }

// Add takes one source record. Changed or new users join the pending batch; groups
// wait for EndUsers, because their members may not have been read yet.
//
// A quarantined record of a known object is not applied, with one exception: a
// source that says the object is disabled is obeyed (under the brakes), since
// an invalid record must not keep someone's access alive.
func (b *Builder) Add(rec connectors.Record) {
	b.read++
	if rec.Anchor != "" {
		if b.seen[rec.Anchor] {
			b.Plan.Quarantined = append(b.Plan.Quarantined, Quarantine{Record: rec.Ref, Field: "anchor",
				Reason: fmt.Sprintf("anchor %s was already read from another record in this run", rec.Anchor),
				Fix:    "give each source object its own immutable id (a copied Anchor cell in a CSV, say)"})
			return
		}
		b.seen[rec.Anchor] = true
	}
	r, notes, ok := Normalize(rec, b.internal)
	if !ok {
		// For a record that cannot be synchronised, Normalize's notes say why.
		b.Plan.Quarantined = append(b.Plan.Quarantined, notes...)
		b.disableQuarantined(rec)
		return
	}
	b.Plan.Warnings = append(b.Plan.Warnings, notes...)
	if !r.Deleted {
		if other, dup := b.claims.primary[r.Address]; dup {
			b.Plan.Quarantined = append(b.Plan.Quarantined, Quarantine{Record: r.Ref, Field: "mail",
				Reason: fmt.Sprintf("address %s is also the address of %s in this source", r.Address, other),
				Fix:    "give each object its own address in the source"})
			b.disableQuarantined(rec)
			return
		}
		b.claims.primary[r.Address] = r.Ref
		if g, given := b.claims.alias[r.Address]; given && g.anchor != r.Anchor {
			b.revokeAlias(r.Address, g, r.Ref)
		}
	}
	if r.Kind == store.KindGroup && !r.Deleted {
		b.groups = append(b.groups, r)
		return
	}
	if r.Ref != "" && !r.Deleted {
		b.refAddr[r.Ref] = r.Address
	}
	b.queue(r)
}

// disableQuarantined queues the disable of a known, enabled object whose
// quarantined record says it is disabled; the join finds out whether the store
// still has it enabled.
func (b *Builder) disableQuarantined(rec connectors.Record) {
	e, known := b.snap[rec.Anchor]
	if !rec.Disabled || rec.Deleted || rec.Anchor == "" || !known || e.Gone || !b.conn.Owned.Has(store.FieldEnabled) {
		return
	}
	b.pending = append(b.pending, Record{Kind: e.Kind, Ref: rec.Ref, Anchor: rec.Anchor, Address: e.Address, disableOnly: true})
}

func (b *Builder) queue(r Record) {
	r.Fingerprint = Fingerprint(r, b.conn.Owned)
	if Unchanged(r, b.snap) {
		b.Plan.Unchanged++
		return
	}
	b.pending = append(b.pending, r)
}

// Lookup answers a join: the store objects whose anchor (for this connector) or
// address (primary or alias) is among the keys. The keys hold the records'
// aliases too, so the plan sees who owns them.
type Lookup func(anchors, addresses []string) ([]store.User, error)

// Flush joins and diffs pending records in batches of batch; with force it also
// handles a last, smaller batch.
func (b *Builder) Flush(lookup Lookup, batch int, force bool) error {
	for len(b.pending) >= batch || (force && len(b.pending) > 0) {
		n := min(batch, len(b.pending))
		chunk := b.pending[:n]
		var anchors, addresses []string
		for _, r := range chunk {
			anchors = append(anchors, r.Anchor)
			if r.Address != "" {
				addresses = append(addresses, r.Address)
			}
			addresses = append(addresses, r.Aliases...)
		}
		users, err := lookup(anchors, addresses)
		if err != nil {
			return fmt.Errorf("join: %w", err)
		}
		res := diff(b.conn, b.snap, chunk, users, &b.claims)
		b.Plan.Warnings = append(b.Plan.Warnings, res.Warnings...)
		b.Plan.Add(res)
		b.pending = b.pending[n:]
	}
	if len(b.pending) == 0 {
		b.pending = nil
	}
	return nil
}

// Release takes out of the plan the ops that may be applied while the source
// is still being read, so a run holds one batch of them, not the directory:
// the creates, updates and enables of users that take nothing away (no
// alias or access removed). Groups wait for their members, and destructive
// ops for the end of the read, the source-health gate and the brakes. An
// object's ops go together or stay together. It returns them when there
// are at least min, or when one is due before the next join (an alias taken
// back from an object released earlier: the record that gets it is joined
// next), and nil otherwise.
//
// The ops it returns are counted in Plan.Counts; their caller applies them
// (or, in a dry run, reports them) and commits their entries. The objects
// whose released ops gave them aliases are remembered, so that an alias
// turning out to be another record's primary address is taken back by an
// op of its own (see revokeAlias): the plan is the same whatever the order
// of the records and whenever ops are released.
func (b *Builder) Release(min int) []Op {
	ops := b.Plan.Ops
	if len(ops)-b.kept < min && !b.revoked {
		return nil // called after every record: most calls have nothing to do
	}
	b.revoked = false
	// One object's ops are adjacent (a batch's result lists them together).
	type span struct {
		from, to int
		ok       bool
	}
	var spans []span
	ready, urgent := 0, false
	for i := b.kept; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[i].Anchor != "" && ops[j].Anchor == ops[i].Anchor {
			j++
		}
		ok := releasable(ops[i:j])
		if ok {
			ready += j - i
			urgent = urgent || ops[i].revocation
		}
		spans = append(spans, span{i, j, ok})
		i = j
	}
	if ready == 0 || (ready < min && !urgent) {
		return nil
	}
	out := make([]Op, 0, ready)
	keep := ops[:b.kept]
	for _, s := range spans {
		if !s.ok {
			keep = append(keep, ops[s.from:s.to]...)
			continue
		}
		for _, op := range ops[s.from:s.to] {
			b.Plan.released.count(op)
			b.noteReleased(op)
			out = append(out, op)
		}
	}
	clear(ops[len(keep):])
	b.Plan.Ops = keep
	b.kept = len(keep)
	return out
}

// releasable says whether one object's ops may go to the store before the
// read ends (see Release).
func releasable(ops []Op) bool {
	for _, op := range ops {
		if op.revocation {
			continue
		}
		if op.Kind != store.KindUser || Destructive(op) {
			return false
		}
		switch op.Action {
		case store.ActionCreate, store.ActionUpdate, store.ActionEnable:
		default:
			return false
		}
	}
	return true
}

// noteReleased marks the aliases op gives as given by a released op.
func (b *Builder) noteReleased(op Op) {
	for _, c := range op.Changes {
		after, ok := c.After.([]string)
		if c.Field != store.FieldAliases || !ok || len(after) == 0 {
			continue
		}
		var rel *releasedAliases
		for _, a := range after {
			g, ok := b.claims.alias[a]
			if !ok || g.anchor != op.Anchor {
				continue
			}
			if rel == nil {
				rel = &releasedAliases{address: op.Address, aliases: after}
				for _, c := range op.Changes {
					if a, ok := c.After.(string); ok && c.Field == store.FieldAddress {
						rel.address = a
					}
				}
			}
			g.released = rel
			b.claims.alias[a] = g
		}
	}
}

// EndUsers is called when the source has no more records: groups' members are
// resolved (this run's users first, then the snapshot for users an incremental run
// did not see) and the changed groups become pending.
func (b *Builder) EndUsers() {
	for _, g := range b.groups {
		unknown := ResolveMembers(&g, b.resolve)
		if len(unknown) > 0 {
			b.Plan.Warnings = append(b.Plan.Warnings, Quarantine{Record: g.Ref, Field: "members",
				Reason: fmt.Sprintf("%d member(s) left out: not synchronised users of this connector (first: %s)", len(unknown), unknown[0]),
				Fix:    "bring the members into the connector's scope, or fix their records"})
		}
		b.queue(g)
	}
	b.groups = nil
}

func (b *Builder) resolve(ref string) (string, bool) {
	if a, ok := b.refAddr[ref]; ok {
		return a, true
	}
	if b.snapRefs == nil {
		b.snapRefs = map[string]string{}
		for _, e := range b.snap {
			if e.Ref != "" && !e.Gone {
				b.snapRefs[e.Ref] = e.Address
			}
		}
	}
	a, ok := b.snapRefs[ref]
	return a, ok
}

// Healthy applies the source-health gate to a full read: an empty read, or one
// below minPercent of the cached count, must not disable anyone. It counts
// distinct anchors, not records: a read with gaps and repeats (a paging bug
// serving some pages twice) must not pass for a complete one.
func (b *Builder) Healthy(minPercent float64) (bool, string) {
	cached := b.cached()
	if cached == 0 {
		return true, ""
	}
	distinct := len(b.seen)
	if distinct == 0 {
		return false, fmt.Sprintf("the source returned no objects but %d were synchronised before: refusing to disable anyone (check the source, its scope and the sync account's permissions)", cached)
	}
	if pct := float64(distinct) * 100 / float64(cached); pct < minPercent {
		objects := fmt.Sprintf("%d objects", distinct)
		if distinct != b.read {
			objects = fmt.Sprintf("%d distinct objects in %d records", distinct, b.read)
		}
		return false, fmt.Sprintf("the source returned %s, %.1f%% of the %d synchronised before, below sync.min_source_percent (%g%%): refusing to disable anyone", objects, pct, cached, minPercent)
	}
	return true, ""
}

// Finish ends a complete read: for a full run that passes the source-health gate,
// objects not seen are counted missing (and disabled after MissingRuns); then the
// plan is put in apply order and the brakes hold destructive ops above the limits.
// A run that fails the gate holds every destructive op.
// It returns the health gate's verdict.
func (b *Builder) Finish(full bool, minPercent float64, brakes Brakes) (healthy bool, reason string) {
	healthy = true
	if full {
		healthy, reason = b.Healthy(minPercent)
		if healthy {
			missing := Missing(b.conn, b.snap, func(a string) bool { return b.seen[a] })
			brakes.Pending = pendingDisables(missing)
			b.Plan.Add(missing)
		}
	}
	b.Plan.Sort()
	if healthy {
		b.Plan.Check(brakes, b.cachedByDomain())
	} else {
		// The source said too little to be trusted with anyone's access, so even
		// its explicit "disabled" flags wait for an admin.
		b.Plan.HoldAll(reason)
	}
	return healthy, reason
}

// pendingDisables counts, per domain, the objects Missing found absent but
// not yet for long enough to disable them.
func pendingDisables(missing Result) map[WindowKey]int {
	var by map[WindowKey]int
	for _, e := range missing.Entries {
		if e.Missing > 0 && !e.Gone {
			if by == nil {
				by = map[WindowKey]int{}
			}
			by[WindowKey{KindDisable, Domain(e.Address)}]++
		}
	}
	return by
}

// cachedByDomain counts the connector's objects per mail domain, as of the
// last run: what the brakes measure destructive operations against.
func (b *Builder) cachedByDomain() map[string]int {
	by := map[string]int{}
	for _, e := range b.snap {
		if !e.Gone {
			by[Domain(e.Address)]++
		}
	}
	return by
}

func (b *Builder) cached() int {
	n := 0
	for _, e := range b.snap {
		if !e.Gone {
			n++
		}
	}
	return n
}
