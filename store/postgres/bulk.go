package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlstore"
)

// The batched path for runs of creates. An initial sync is nearly all creates of
// objects the store has never seen; one at a time, each costs a dozen round trips
// (savepoint, two lookups, insert, fields, reload, audit, release). Here a run of
// consecutive creates costs two: one pre-check that reads, for the whole run, who
// holds its addresses and anchors and its groups' members, and one batch that
// inserts the fresh objects, their addresses, memberships and audit rows with
// array parameters (unnest).
//
// A create takes this path only when its outcome cannot depend on anything but
// the pre-check: it passes every validation the one-at-a-time path makes; none of
// its addresses or its anchor is held in the store or claimed by another create
// of the run; its members are held by objects that no create of the run touches.
// Everything else (re-applied creates, conflicts, refusals) goes through
// applyOne, in order, so outcomes, errors and audit entries are exactly those of
// the one-at-a-time path. Fresh creates waiting to be inserted are flushed before
// any change that goes through applyOne, so that change sees them; once one has
// run, member lists read by the pre-check may be out of date, so the next group
// with members starts a new run with a new pre-check.

// bulkCreate is a create the batched path may insert.
type bulkCreate struct {
	user      store.User // as it will be stored, without ID
	members   []string   // normalised member addresses, as given
	memberIDs []int64    // their objects, once pre-checked
	reason    string
}

// bulkRun is the batched path of one request.
type bulkRun struct {
	c *conn
	a *sqlstore.Applier
}

// ApplyAll runs the changes in order: runs of creates through createRun, other
// changes one at a time.
func (c *conn) ApplyAll(ctx context.Context, a *sqlstore.Applier, changes []store.Change, out []store.Outcome) error {
	b := &bulkRun{c: c, a: a}
	for i := 0; i < len(changes); {
		if !c.bulk || changes[i].Action != store.ActionCreate {
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

// createRun applies a run of creates and returns how many it handled: all of
// them, or fewer when a group's members must be read again.
func (b *bulkRun) createRun(ctx context.Context, run []store.Change, out []store.Outcome) (int, error) {
	plans := make([]*bulkCreate, len(run))
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
	var pending []*bulkCreate
	var pendingIdx []int
	membersFresh := true
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		ok, err := b.insertBulk(ctx, pending)
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

// storable reports whether PostgreSQL can store s in a text column: valid
// UTF-8 without NUL bytes. Anything else takes the one-at-a-time path, where
// the server's refusal becomes that change's outcome.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// prepare returns the object a create would make, or nil when the create
// cannot take the batched path on its own merits (it would be refused, or
// renames or re-anchors itself).
func (b *bulkRun) prepare(ch store.Change) *bulkCreate {
	a := b.a
	kind, err := sqlstore.CreateKind(ch)
	if err != nil {
		return nil
	}
	actor := a.Actor()
	for _, s := range []string{ch.Origin, ch.Anchor, ch.Reason, actor.Kind, actor.Name, actor.RunID} {
		if !storable(s) {
			return nil
		}
	}
	addr, err := a.Address(ch.Address)
	if err != nil {
		return nil
	}
	want, err := sqlstore.Wanted(ch.Changes)
	if err != nil {
		return nil
	}
	p := &bulkCreate{reason: ch.Reason, user: store.User{
		Kind: kind, Address: addr, Origin: ch.Origin, Anchor: ch.Anchor, Enabled: true,
		Created: a.Now(), Updated: a.Now(),
	}}
	u := &p.user
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
			if err != nil || !storable(s) {
				return nil
			}
			*sqlstore.StringField(u, field) = s
		}
	}
	return p
}

// anchorsTakenSQL reads which (origin, anchor) pairs of ($1[i], $2[i]) are
// held. Exact pairs, joined: "origin = ANY($1) AND anchor = ANY($2)" let the
// planner, with statistics not yet caught up with an initial sync, scan every
// anchor of the origin and compare each with the whole list (330 ms per request
// at 100k objects).
const anchorsTakenSQL = `SELECT o.origin, o.anchor FROM unnest($1::text[], $2::text[]) AS k(origin, anchor)
	JOIN objects o ON o.origin = k.origin AND o.anchor = k.anchor WHERE o.anchor <> ''`

// precheck reads, in one round trip, who holds the run's addresses, anchors and
// members, and drops (sets to nil) the plans whose outcome would depend on more.
func (b *bulkRun) precheck(ctx context.Context, plans []*bulkCreate, claims map[string]int) error {
	var addrs, origins, anchors []string
	for _, p := range plans {
		if p == nil {
			continue
		}
		addrs = append(addrs, p.user.Address)
		addrs = append(addrs, p.user.Aliases...)
		addrs = append(addrs, p.members...)
		if p.user.Anchor != "" {
			origins, anchors = append(origins, p.user.Origin), append(anchors, p.user.Anchor)
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	owners := map[string]sqlstore.Owner{}
	taken := map[string]bool{}
	err := b.a.Tx().Batch(ctx, b.a.OwnersStmt(addrs, owners), sqlstore.Stmt{SQL: anchorsTakenSQL,
		Args: []any{origins, anchors}, Scan: func(r sqlstore.Row) error {
			var origin, anchor string
			err := r.Scan(&origin, &anchor)
			taken[anchorKey(origin, anchor)] = true
			return err
		}})
	if err != nil {
		return fmt.Errorf("postgres bulk check: %w", err)
	}

	fresh := func(key string, held bool) bool { return !held && claims[key] == 1 }
	for i, p := range plans {
		if p == nil {
			continue
		}
		ok := fresh("a:"+p.user.Address, owners[p.user.Address].Found)
		for _, alias := range p.user.Aliases {
			ok = ok && fresh("a:"+alias, owners[alias].Found)
		}
		if p.user.Anchor != "" {
			k := anchorKey(p.user.Origin, p.user.Anchor)
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
				p.memberIDs = append(p.memberIDs, o.ID)
				p.user.Members = append(p.user.Members, o.Primary)
			}
		}
		if !ok {
			plans[i] = nil
			continue
		}
		sort.Strings(p.user.Members)
	}
	return nil
}

// insertBulk inserts fresh objects with their addresses, memberships and audit
// entries in one round trip, inside a savepoint. It returns false, with the
// savepoint rolled back, when the schema refused a row (the caller redoes the
// creates one at a time); an error means the database failed.
func (b *bulkRun) insertBulk(ctx context.Context, plans []*bulkCreate) (bool, error) {
	n := len(plans)
	var (
		kinds, addrs, origins, anchors = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		texts                          = make([][]string, len(sqlstore.StringFields))
		enabled, protected, leads      = make([]bool, n), make([]bool, n), make([]bool, n)
		licensed, dirAdmins            = make([]bool, n), make([]bool, n)
		changes, reasons               = make([]string, n), make([]string, n)
		xAddrs, xOwners                []string
		xAlias                         []bool
		mGroups                        []string
		mIDs                           []int64
	)
	for c := range texts {
		texts[c] = make([]string, n)
	}
	for i, p := range plans {
		u := &p.user
		kinds[i], addrs[i], origins[i], anchors[i] = u.Kind, u.Address, u.Origin, u.Anchor
		for c, f := range sqlstore.StringFields {
			texts[c][i] = *sqlstore.StringField(u, f.Field)
		}
		enabled[i], protected[i], leads[i] = u.Enabled, u.Protected, u.Account.DefaultLead
		licensed[i], dirAdmins[i] = u.Licensed, u.DirectoryAdmin
		body, err := sqlstore.AuditJSON(store.CreateChanges(*u))
		if err != nil {
			return false, err
		}
		changes[i], reasons[i] = body, p.reason
		xAddrs, xOwners, xAlias = append(xAddrs, u.Address), append(xOwners, u.Address), append(xAlias, false)
		for _, alias := range u.Aliases {
			xAddrs, xOwners, xAlias = append(xAddrs, alias), append(xOwners, u.Address), append(xAlias, true)
		}
		for _, id := range p.memberIDs {
			mGroups, mIDs = append(mGroups, u.Address), append(mIDs, id)
		}
	}
	// One statement: the new objects' ids come from RETURNING and are joined
	// to the 500-odd new rows only, never looked up in the whole table (whose
	// statistics, during an initial sync, lag behind its size). The schema's
	// foreign keys are checked at the end of the statement, when the objects
	// exist. Audit ids follow the changes' order (ORDER BY ordinality), as they
	// would one at a time; the string columns follow stringFields' order. The
	// account columns other than default_lead keep their defaults (0002): a new
	// object has no portal login.
	const insert = `WITH obj AS (
		INSERT INTO objects (kind, address, display_name, given_name, surname, phone, department, title,
			enabled, origin, anchor, protected, default_lead, licensed, directory_admin, created, updated)
		SELECT kind, address, display_name, given_name, surname, phone, department, title,
			enabled, origin, anchor, protected, default_lead, licensed, directory_admin, $13, $13
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::bool[], $10::text[], $11::text[], $12::bool[], $24::bool[], $25::bool[], $26::bool[])
			AS t(kind, address, display_name, given_name, surname, phone, department, title,
				enabled, origin, anchor, protected, default_lead, licensed, directory_admin)
		RETURNING id, address
	), addr AS (
		INSERT INTO addresses (address, object_id, is_alias)
		SELECT t.address, obj.id, t.is_alias
		FROM unnest($14::text[], $15::text[], $16::bool[]) AS t(address, owner, is_alias)
		JOIN obj ON obj.address = t.owner
	), mem AS (
		INSERT INTO group_members (group_id, member_id)
		SELECT obj.id, t.member_id FROM unnest($17::text[], $18::bigint[]) AS t(grp, member_id)
		JOIN obj ON obj.address = t.grp
	)
	INSERT INTO audit (time, actor_kind, actor_name, run_id, action, address, changes, reason)
	SELECT $13, $19, $20, $21, 'create', t.address, t.changes::jsonb, t.reason
	FROM unnest($2::text[], $22::text[], $23::text[]) WITH ORDINALITY AS t(address, changes, reason, n)
	ORDER BY t.n`
	a := b.a
	actor, tx := a.Actor(), a.Tx()
	err := tx.Batch(ctx, sqlstore.Stmt{SQL: `SAVEPOINT bulk`},
		sqlstore.Stmt{SQL: insert, Args: []any{kinds, addrs, texts[0], texts[1], texts[2], texts[3], texts[4], texts[5],
			enabled, origins, anchors, protected, a.Now(),
			xAddrs, xOwners, xAlias, mGroups, mIDs,
			actor.Kind, actor.Name, actor.RunID, changes, reasons, leads, licensed, dirAdmins}},
		sqlstore.Stmt{SQL: `RELEASE SAVEPOINT bulk`})
	if err == nil {
		b.c.grown.Add(int64(n))
		return true, nil
	}
	if !sqlstore.IsRefusal(classify(err)) {
		return false, fmt.Errorf("postgres bulk create of %d objects: %w", n, err)
	}
	if _, rbErr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT bulk`); rbErr != nil {
		return false, fmt.Errorf("postgres bulk create of %d objects: %w", n, rbErr)
	}
	if _, relErr := tx.Exec(ctx, `RELEASE SAVEPOINT bulk`); relErr != nil {
		return false, fmt.Errorf("postgres bulk create of %d objects: %w", n, relErr)
	}
	return false, nil
}
