package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// The batched path for runs of creates, shared by the backends. An initial
// sync is nearly all creates of objects the store has never seen; one at a
// time, each costs a dozen statements (savepoint, two lookups, insert, fields,
// reload, audit, release). Here a run of consecutive creates costs one
// pre-check that reads, for the whole run, who holds its addresses and anchors
// and its groups' members, and one set-based insert of the fresh objects, their
// addresses, memberships and audit rows, which the backend writes its fastest
// way (CreateInserter).
//
// A create takes this path only when its outcome cannot depend on anything but
// the pre-check: it passes every validation the one-at-a-time path makes; none
// of its addresses or its anchor is held in the store or claimed by another
// create of the run; its members are held by objects that no create of the run
// touches. Everything else (re-applied creates, conflicts, refusals) goes
// through ApplyOne, in order, so outcomes, errors and audit entries are exactly
// those of the one-at-a-time path. Fresh creates waiting to be inserted are
// flushed before any change that goes through ApplyOne, so that change sees
// them; once one has run, member lists read by the pre-check may be out of
// date, so the next group with members starts a new run with a new pre-check.

// CreateInserter is what a backend supplies for the batched create path.
type CreateInserter interface {
	// Storable reports whether the backend keeps text s as given; a create
	// carrying other text takes the one-at-a-time path, where the backend's
	// refusal becomes that change's outcome.
	Storable(s string) bool
	// InsertCreates inserts the fresh objects with their addresses,
	// memberships and audit entries (one per object, in the given order, as
	// store.CreateChanges describes it) inside a savepoint. It returns false,
	// with the savepoint rolled back, when the schema refused a row (the
	// caller redoes the creates one at a time); an error means the database
	// failed.
	InsertCreates(ctx context.Context, a *Applier, objs []*NewObject) (bool, error)
}

// NewObject is a create the batched path inserts.
type NewObject struct {
	// User is the object as it will be stored, without ID; Members holds the
	// primary addresses of MemberIDs, sorted.
	User store.User
	// MemberIDs are the objects of the members, each once, in the order given.
	MemberIDs []int64
	Reason    string
	members   []string // normalised member addresses, as given
}

// ApplyBatched runs the changes in order: runs of creates through the batched
// path, other changes one at a time.
func ApplyBatched(ctx context.Context, a *Applier, ins CreateInserter, changes []store.Change, out []store.Outcome) error {
	b := &bulkRun{a: a, ins: ins}
	for i := 0; i < len(changes); {
		if changes[i].Action != store.ActionCreate {
			o, err := a.ApplyOne(ctx, changes[i])
			if err != nil {
				return err
			}
			out[i] = o
			i++
			continue
		}
		j := i
		for j < len(changes) && changes[j].Action == store.ActionCreate {
			j++
		}
		n, err := b.createRun(ctx, changes[i:j], out[i:j])
		if err != nil {
			return err
		}
		i += n
	}
	return nil
}

// bulkRun is the batched path of one request.
type bulkRun struct {
	a   *Applier
	ins CreateInserter
}

// createRun applies a run of creates and returns how many it handled: all of
// them, or fewer when a group's members must be read again.
func (b *bulkRun) createRun(ctx context.Context, run []store.Change, out []store.Outcome) (int, error) {
	plans := make([]*NewObject, len(run))
	claims := map[string]int{}
	for i, ch := range run {
		plans[i] = b.prepare(ch)
		for k := range claimedKeys(ch) {
			claims[k]++
		}
	}
	if err := b.precheck(ctx, plans, claims); err != nil {
		return 0, err
	}
	var pending []*NewObject
	var pendingIdx []int
	membersFresh := true
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		ok, err := b.ins.InsertCreates(ctx, b.a, pending)
		if err != nil {
			return err
		}
		for _, i := range pendingIdx {
			if ok {
				out[i] = store.Outcome{Applied: true}
				continue
			}
			// The backstop: the schema refused what the pre-check allowed. Redo
			// each one alone to find out which, and why.
			if out[i], err = b.a.ApplyOne(ctx, run[i]); err != nil {
				return err
			}
			membersFresh = false
		}
		pending, pendingIdx = pending[:0], pendingIdx[:0]
		return nil
	}
	for i, p := range plans {
		switch {
		case p == nil:
			if err := flush(); err != nil {
				return 0, err
			}
			o, err := b.a.ApplyOne(ctx, run[i])
			if err != nil {
				return 0, err
			}
			out[i] = o
			membersFresh = false
		case len(p.members) > 0 && !membersFresh:
			if err := flush(); err != nil {
				return 0, err
			}
			return i, nil
		default:
			pending, pendingIdx = append(pending, p), append(pendingIdx, i)
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return len(run), nil
}

// claimedKeys lists what a create may take: its addresses ("a:" prefix) and its
// (origin, anchor) pairs ("k:" prefix), whether or not the create is valid.
func claimedKeys(ch store.Change) map[string]bool {
	keys := map[string]bool{}
	addAddr := func(raw string) {
		if addr, err := mailaddr.Normalize(raw); err == nil {
			keys["a:"+addr] = true
		}
	}
	addAddr(ch.Address)
	origins, anchors := []string{ch.Origin}, []string{ch.Anchor}
	for _, f := range ch.Changes {
		switch f.Field {
		case store.FieldAddress:
			if s, ok := f.After.(string); ok {
				addAddr(s)
			}
		case store.FieldAliases:
			list, _ := store.StringsValue(f.Field, f.After)
			for _, s := range list {
				addAddr(s)
			}
		case store.FieldOrigin:
			if s, ok := f.After.(string); ok {
				origins = append(origins, s)
			}
		case store.FieldAnchor:
			if s, ok := f.After.(string); ok {
				anchors = append(anchors, s)
			}
		}
	}
	for _, o := range origins {
		for _, an := range anchors {
			if an != "" {
				keys[anchorKey(o, an)] = true
			}
		}
	}
	return keys
}

func anchorKey(origin, anchor string) string { return "k:" + origin + "\x00" + anchor }

// prepare returns the object a create would make, or nil when the create
// cannot take the batched path on its own merits (it would be refused, or
// renames or re-anchors itself).
func (b *bulkRun) prepare(ch store.Change) *NewObject {
	a := b.a
	kind, err := CreateKind(ch)
	if err != nil {
		return nil
	}
	for _, s := range []string{ch.Origin, ch.Anchor, ch.Reason, a.actor.Kind, a.actor.Name, a.actor.RunID} {
		if !b.ins.Storable(s) {
			return nil
		}
	}
	addr, err := a.Address(ch.Address)
	if err != nil {
		return nil
	}
	want, err := Wanted(ch.Changes)
	if err != nil {
		return nil
	}
	p := &NewObject{Reason: ch.Reason, User: store.User{
		Kind: kind, Address: addr, Origin: ch.Origin, Anchor: ch.Anchor, Enabled: true,
		Created: a.now, Updated: a.now,
	}}
	u := &p.User
	_, licensed := want[store.FieldLicensed]
	_, dirAdmin := want[store.FieldDirectoryAdmin]
	if kind == store.KindGroup && (licensed || dirAdmin) {
		return nil // refused one at a time: only users have them
	}
	for field, v := range want {
		switch field {
		case store.FieldAddress, store.FieldOrigin, store.FieldAnchor:
			return nil
		case store.FieldAliases:
			raw, err := store.StringsValue(field, v)
			if err != nil {
				return nil
			}
			set := make(map[string]bool, len(raw))
			for _, r := range raw {
				alias, err := a.Address(r)
				if err != nil || alias == addr {
					return nil
				}
				set[alias] = true
			}
			if len(set) > 0 {
				u.Aliases = slices.Sorted(maps.Keys(set))
			}
		case store.FieldMembers:
			raw, err := store.StringsValue(field, v)
			if err != nil || kind != store.KindGroup {
				return nil
			}
			for _, r := range raw {
				m, err := mailaddr.Normalize(r)
				if err != nil {
					return nil
				}
				p.members = append(p.members, m)
			}
		case store.FieldEnabled, store.FieldProtected, store.FieldDefaultLead, store.FieldLicensed, store.FieldDirectoryAdmin:
			b, ok := v.(bool)
			if !ok {
				return nil
			}
			switch field {
			case store.FieldEnabled:
				u.Enabled = b
			case store.FieldProtected:
				u.Protected = b
			case store.FieldLicensed:
				u.Licensed = b
			case store.FieldDirectoryAdmin:
				u.DirectoryAdmin = b
			default:
				u.Account.DefaultLead = b
			}
		default:
			s, err := store.StringValue(field, v)
			if err != nil || !b.ins.Storable(s) {
				return nil
			}
			*StringField(u, field) = s
		}
	}
	return p
}

// anchorsTakenStmt is the statement that marks in taken the (origins[i],
// anchors[i]) pairs that are held. Exact pairs, joined: "origin = ANY($1) AND
// anchor = ANY($2)" let PostgreSQL's planner, with statistics not yet caught
// up with an initial sync, scan every anchor of the origin and compare each
// with the whole list (330 ms per request at 100k objects). CROSS JOIN makes
// SQLite read the pairs first and look each up in the index (PostgreSQL's
// planner treats it as any inner join): in the other order it read the pairs
// again for every object.
func (a *Applier) anchorsTakenStmt(origins, anchors []string, taken map[string]bool) Stmt {
	return Stmt{
		SQL: `SELECT o.origin, o.anchor FROM ` + a.s.d.Zip("$1", "$2") + ` CROSS JOIN objects o
			WHERE o.origin = k.a AND o.anchor = k.b AND o.anchor <> ''`,
		Args: []any{a.s.d.Array(origins), a.s.d.Array(anchors)},
		Scan: func(r Row) error {
			var origin, anchor string
			err := r.Scan(&origin, &anchor)
			taken[anchorKey(origin, anchor)] = true
			return err
		},
	}
}

// precheck reads, in one round trip, who holds the run's addresses, anchors and
// members, and drops (sets to nil) the plans whose outcome would depend on more.
func (b *bulkRun) precheck(ctx context.Context, plans []*NewObject, claims map[string]int) error {
	var addrs, origins, anchors []string
	for _, p := range plans {
		if p == nil {
			continue
		}
		addrs = append(addrs, p.User.Address)
		addrs = append(addrs, p.User.Aliases...)
		addrs = append(addrs, p.members...)
		if p.User.Anchor != "" {
			origins, anchors = append(origins, p.User.Origin), append(anchors, p.User.Anchor)
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	owners := map[string]Owner{}
	taken := map[string]bool{}
	err := b.a.tx.Batch(ctx, b.a.OwnersStmt(addrs, owners), b.a.anchorsTakenStmt(origins, anchors, taken))
	if err != nil {
		return b.a.s.errorf("bulk check: %w", err)
	}

	fresh := func(key string, held bool) bool { return !held && claims[key] == 1 }
	for i, p := range plans {
		if p == nil {
			continue
		}
		ok := fresh("a:"+p.User.Address, owners[p.User.Address].Found)
		for _, alias := range p.User.Aliases {
			ok = ok && fresh("a:"+alias, owners[alias].Found)
		}
		if p.User.Anchor != "" {
			k := anchorKey(p.User.Origin, p.User.Anchor)
			ok = ok && fresh(k, taken[k])
		}
		seen := map[int64]bool{}
		for _, m := range p.members {
			o := owners[m]
			// A member some create of the run claims (the group itself among
			// them) is resolved only once that create has run.
			if !o.Found || claims["a:"+m] > 0 {
				ok = false
				break
			}
			if !seen[o.ID] {
				seen[o.ID] = true
				p.MemberIDs = append(p.MemberIDs, o.ID)
				p.User.Members = append(p.User.Members, o.Primary)
			}
		}
		if !ok {
			plans[i] = nil
			continue
		}
		sort.Strings(p.User.Members)
	}
	return nil
}

// Savepointed runs fn inside savepoint name. When fn fails with what the
// schema refused (Dialect.Classify), the savepoint is rolled back and the
// result is false; another error is returned as it is, what naming the work.
func (a *Applier) Savepointed(ctx context.Context, name, what string, fn func() error) (bool, error) {
	if _, err := a.tx.Exec(ctx, `SAVEPOINT `+name); err != nil {
		return false, a.s.errorf("%s: %w", what, err)
	}
	err := fn()
	if err == nil {
		if _, err := a.tx.Exec(ctx, `RELEASE SAVEPOINT `+name); err != nil {
			return false, a.s.errorf("%s: %w", what, err)
		}
		return true, nil
	}
	if !IsRefusal(a.s.d.Classify(err)) {
		return false, a.s.errorf("%s: %w", what, err)
	}
	if _, rbErr := a.tx.Exec(ctx, `ROLLBACK TO SAVEPOINT `+name); rbErr != nil {
		return false, a.s.errorf("%s: %w", what, rbErr)
	}
	if _, relErr := a.tx.Exec(ctx, `RELEASE SAVEPOINT `+name); relErr != nil {
		return false, a.s.errorf("%s: %w", what, relErr)
	}
	return false, nil
}

// CreateAudit is the audit body of a create of u, as the one-at-a-time path
// records it.
func CreateAudit(u store.User) (string, error) {
	body, err := AuditJSON(store.CreateChanges(u))
	if err != nil {
		return "", fmt.Errorf("audit of %s: %w", u.Address, err)
	}
	return body, nil
}
