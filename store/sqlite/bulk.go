package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlstore"
)

// The batched path for runs of creates is sqlstore's (ApplyBatched); this file
// is SQLite's set-based insert of the fresh objects: multi-row INSERTs, one per
// table per chunk of chunkRows objects, prepared once per transaction and
// shape, in the request's transaction.

// chunkRows is how many rows one INSERT carries: 250 objects bind 4,250
// parameters, well under SQLite's limit (32,766), and a request of 500 runs
// the same prepared statement twice.
const chunkRows = 250

// Bulk says whether runs of creates take sqlstore's batched path.
func (c *conn) Bulk() bool { return c.bulk }

// Storable is true: SQLite keeps any text it is given, as the one-at-a-time
// path does.
func (c *conn) Storable(string) bool { return true }

// objectColumns are the columns a create sets, in the order insertObjects
// binds them.
const objectColumns = `kind, address, display_name, given_name, surname, phone, department, title,
	enabled, origin, anchor, protected, default_lead, licensed, directory_admin, created, updated`

// InsertCreates inserts fresh objects, then their addresses, memberships and
// audit rows (in the objects' order, so audit ids follow the changes), inside a
// savepoint. It returns false, with the savepoint rolled back, when the schema
// refused a row.
func (c *conn) InsertCreates(ctx context.Context, a *sqlstore.Applier, objs []*sqlstore.NewObject) (bool, error) {
	return a.Savepointed(ctx, "bulk", fmt.Sprintf("bulk create of %d objects", len(objs)), func() error {
		ids, err := insertObjects(ctx, a, objs)
		if err != nil {
			return err
		}
		now, actor := dialect.Time(a.Now()), a.Actor()
		var addrs, members [][]any
		audit := make([][]any, len(objs))
		for i, p := range objs {
			u := &p.User
			id := ids[u.Address]
			addrs = append(addrs, []any{u.Address, id, false})
			for _, alias := range u.Aliases {
				addrs = append(addrs, []any{alias, id, true})
			}
			for _, m := range p.MemberIDs {
				members = append(members, []any{id, m})
			}
			body, err := sqlstore.CreateAudit(*u)
			if err != nil {
				return err
			}
			audit[i] = []any{now, actor.Kind, actor.Name, actor.RunID, string(store.ActionCreate), u.Address, body, p.Reason}
		}
		for _, ins := range []struct {
			insert string
			rows   [][]any
		}{
			{`INSERT INTO addresses (address, object_id, is_alias) VALUES `, addrs},
			{`INSERT INTO group_members (group_id, member_id) VALUES `, members},
			{`INSERT INTO audit (time, actor_kind, actor_name, run_id, action, address, changes, reason) VALUES `, audit},
		} {
			for off := 0; off < len(ins.rows); off += chunkRows {
				query, args := multiRow(ins.insert, ins.rows[off:min(off+chunkRows, len(ins.rows))])
				if _, err := a.Tx().Exec(ctx, query, args...); err != nil {
					return fmt.Errorf("%s: %w", ins.insert, err)
				}
			}
		}
		return nil
	})
}

// insertObjects inserts the objects' rows and returns their ids by primary
// address.
func insertObjects(ctx context.Context, a *sqlstore.Applier, objs []*sqlstore.NewObject) (map[string]int64, error) {
	ids := make(map[string]int64, len(objs))
	now := dialect.Time(a.Now())
	rows := make([][]any, len(objs))
	for i, p := range objs {
		u := &p.User
		rows[i] = []any{u.Kind, u.Address, u.DisplayName, u.GivenName, u.Surname, u.Phone, u.Department, u.Title,
			u.Enabled, u.Origin, u.Anchor, u.Protected, u.Account.DefaultLead, u.Licensed, u.DirectoryAdmin, now, now}
	}
	for off := 0; off < len(rows); off += chunkRows {
		query, args := multiRow(`INSERT INTO objects (`+objectColumns+`) VALUES `, rows[off:min(off+chunkRows, len(rows))])
		r, err := a.Tx().Query(ctx, query+` RETURNING id, address`, args...)
		err = eachRow(r, err)(func(row sqlstore.Row) error {
			var id int64
			var addr string
			err := row.Scan(&id, &addr)
			ids[addr] = id
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("objects: %w", err)
		}
	}
	return ids, nil
}

// multiRow is insert followed by one "(?, ...)" tuple per row, and its
// arguments, each row's values in turn. The rows all have the same length.
// Anonymous parameters, not $N: SQLite looks named ones up in a list, which
// is quadratic over thousands of them.
func multiRow(insert string, rows [][]any) (string, []any) {
	tuple := "(?" + strings.Repeat(", ?", len(rows[0])-1) + ")"
	var q strings.Builder
	q.Grow(len(insert) + len(rows)*(len(tuple)+2))
	q.WriteString(insert)
	args := make([]any, 0, len(rows)*len(rows[0]))
	for i, row := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(tuple)
		args = append(args, row...)
	}
	return q.String(), args
}
