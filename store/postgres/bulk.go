package postgres

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dirsync/dirsync/store/sqlstore"
)

// The batched path for runs of creates is sqlstore's (ApplyBatched); this file
// is PostgreSQL's set-based insert of the fresh objects: one statement, with
// array parameters (unnest), for the objects, their addresses, memberships and
// audit rows, sent with its savepoint in one round trip. (COPY per table, into
// the tables or a staging table, measured no faster: the server's index and
// foreign-key work is the cost, not decoding the rows, and each COPY is one
// more round trip.)

// Bulk says whether runs of creates take sqlstore's batched path.
func (c *conn) Bulk() bool { return c.bulk }

// Storable reports whether PostgreSQL can store s in a text column: valid
// UTF-8 without NUL bytes. Anything else takes the one-at-a-time path, where
// the server's refusal becomes that change's outcome.
func (c *conn) Storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// InsertCreates inserts fresh objects with their addresses, memberships and audit
// entries in one round trip, inside a savepoint. It returns false, with the
// savepoint rolled back, when the schema refused a row (the caller redoes the
// creates one at a time); an error means the database failed.
func (c *conn) InsertCreates(ctx context.Context, a *sqlstore.Applier, plans []*sqlstore.NewObject) (bool, error) {
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
	for col := range texts {
		texts[col] = make([]string, n)
	}
	for i, p := range plans {
		u := &p.User
		kinds[i], addrs[i], origins[i], anchors[i] = u.Kind, u.Address, u.Origin, u.Anchor
		for col, f := range sqlstore.StringFields {
			texts[col][i] = *sqlstore.StringField(u, f.Field)
		}
		enabled[i], protected[i], leads[i] = u.Enabled, u.Protected, u.Account.DefaultLead
		licensed[i], dirAdmins[i] = u.Licensed, u.DirectoryAdmin
		body, err := sqlstore.CreateAudit(*u)
		if err != nil {
			return false, err
		}
		changes[i], reasons[i] = body, p.Reason
		xAddrs, xOwners, xAlias = append(xAddrs, u.Address), append(xOwners, u.Address), append(xAlias, false)
		for _, alias := range u.Aliases {
			xAddrs, xOwners, xAlias = append(xAddrs, alias), append(xOwners, u.Address), append(xAlias, true)
		}
		for _, id := range p.MemberIDs {
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
	actor, tx := a.Actor(), a.Tx()
	err := tx.Batch(ctx, sqlstore.Stmt{SQL: `SAVEPOINT bulk`},
		sqlstore.Stmt{SQL: insert, Args: []any{kinds, addrs, texts[0], texts[1], texts[2], texts[3], texts[4], texts[5],
			enabled, origins, anchors, protected, a.Now(),
			xAddrs, xOwners, xAlias, mGroups, mIDs,
			actor.Kind, actor.Name, actor.RunID, changes, reasons, leads, licensed, dirAdmins}},
		sqlstore.Stmt{SQL: `RELEASE SAVEPOINT bulk`})
	if err == nil {
		c.grown.Add(int64(n))
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
