package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// defaultLimit is the page size when a query asks for 0.
const defaultLimit = 100

// Every read of an object is one statement (objectColumns reads its aliases,
// members and roles as lists), so it needs no transaction to see one
// snapshot, and costs one round trip.

// accountDest lists the scan targets of accountColumns, in its order.
func (s *Store) accountDest(a *store.Account) []any {
	return []any{&a.Registered, &a.HasPassword, &a.ForceChange, &a.Locked, &a.FailedLogins,
		scanTime(&a.LastLogin), &a.LastLoginError, scanTime(&a.LastSeen), &a.DefaultLead, s.d.ListDest(&a.Roles)}
}

// scanObject reads a row of objectColumns.
func (s *Store) scanObject(row Row) (store.User, error) {
	var u store.User
	dest := []any{&u.ID, &u.Kind, &u.Address, &u.DisplayName, &u.GivenName, &u.Surname,
		&u.Phone, &u.Department, &u.Title, &u.Enabled, &u.Origin, &u.Anchor, &u.Protected, &u.Licensed, &u.DirectoryAdmin,
		scanTime(&u.Created), scanTime(&u.Updated), s.d.ListDest(&u.Aliases), s.d.ListDest(&u.Members)}
	err := row.Scan(append(dest, s.accountDest(&u.Account)...)...)
	// Empty lists read as nil, so users compare equal whichever backend or
	// path loaded them.
	u.Aliases, u.Members, u.Account.Roles = nilIfEmpty(u.Aliases), nilIfEmpty(u.Members), nilIfEmpty(u.Account.Roles)
	return u, err
}

func nilIfEmpty(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

// canonical normalises an address for a lookup. An address that cannot be
// normalised cannot be in the store either, so it is kept as typed (lower-cased)
// and simply matches nothing.
func canonical(addr string) string {
	if n, err := mailaddr.Normalize(addr); err == nil {
		return n
	}
	return strings.ToLower(strings.TrimSpace(addr))
}

// User returns the object whose primary address or alias is address.
func (s *Store) User(ctx context.Context, address string) (store.User, error) {
	return s.objectByAddress(ctx, s.conn, canonical(address), true)
}

// objectByAddress loads the object that holds addr, as its primary address or,
// when aliases is true, as an alias too. A miss wraps store.ErrNotFound.
func (s *Store) objectByAddress(ctx context.Context, q Querier, addr string, aliases bool) (store.User, error) {
	query := `SELECT ` + s.objectColumns + ` FROM addresses x JOIN objects o ON o.id = x.object_id
		WHERE x.address = $1`
	if !aliases {
		query += ` AND NOT x.is_alias`
	}
	return s.loadOne(ctx, q, addr, query, addr)
}

// objectByAnchor loads the object with this (origin, anchor); anchor must not
// be empty, since empty anchors are not unique.
func (s *Store) objectByAnchor(ctx context.Context, q Querier, origin, anchor string) (store.User, error) {
	return s.loadOne(ctx, q, origin+"/"+anchor,
		`SELECT `+s.objectColumns+` FROM objects o WHERE o.origin = $1 AND o.anchor = $2 AND o.anchor <> ''`, origin, anchor)
}

// objectByID loads the object with this id.
func (s *Store) objectByID(ctx context.Context, q Querier, id int64) (store.User, error) {
	return s.loadOne(ctx, q, fmt.Sprintf("object %d", id), `SELECT `+s.objectColumns+` FROM objects o WHERE o.id = $1`, id)
}

func (s *Store) loadOne(ctx context.Context, q Querier, what, query string, args ...any) (store.User, error) {
	u, err := s.scanObject(q.QueryRow(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, s.errorf("lookup %s: %w", what, err)
	}
	return u, nil
}

// Lookup returns every object whose (origin, anchor) is in anchors or whose
// primary address or alias is in addresses, each once, in one statement: both
// key lists travel as one list parameter each, whatever their length.
func (s *Store) Lookup(ctx context.Context, origin string, anchors, addresses []string) ([]store.User, error) {
	canon := make([]string, 0, len(addresses))
	for _, a := range addresses {
		canon = append(canon, canonical(a))
	}
	anchors, canon = nonEmpty(anchors), nonEmpty(canon)
	if len(anchors) == 0 && len(canon) == 0 {
		return nil, nil
	}
	users, err := s.scanObjects(s.conn.Query(ctx, `SELECT `+s.objectColumns+` FROM objects o WHERE o.id IN (
			SELECT id FROM objects WHERE origin = $1 AND anchor <> '' AND `+s.d.In("anchor", "$2", "text")+`
			UNION
			SELECT object_id FROM addresses WHERE `+s.d.In("address", "$3", "text")+`)`,
		origin, s.d.Array(anchors), s.d.Array(canon)))
	if err != nil {
		return nil, s.errorf("lookup: %w", err)
	}
	return users, nil
}

// scanObjects reads every row of a query selecting objectColumns.
func (s *Store) scanObjects(rows Rows, err error) ([]store.User, error) {
	var users []store.User
	err = eachRow(rows, err, func(r Row) error {
		u, err := s.scanObject(r)
		users = append(users, u)
		return err
	})
	return users, err
}

// nonEmpty drops empty strings and duplicates; empty anchors in particular are
// not identities.
func nonEmpty(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if x != "" && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// escapeLike makes %, _ and \ literal in a LIKE pattern whose ESCAPE is \.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
