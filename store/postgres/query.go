package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// defaultLimit is the page size when a query asks for 0.
const defaultLimit = 100

// objectColumns reads an object with its aliases and members in one statement,
// so every read is one round trip and sees one snapshot without a transaction.
// Users have no group_members rows: their member list reads empty.
const objectColumns = `o.id, o.kind, o.address, o.display_name, o.given_name, o.surname,
	o.phone, o.department, o.title, o.enabled, o.origin, o.anchor, o.protected,
	o.created, o.updated,
	ARRAY(SELECT a.address FROM addresses a WHERE a.object_id = o.id AND a.is_alias ORDER BY a.address),
	ARRAY(SELECT m.address FROM group_members gm JOIN objects m ON m.id = gm.member_id
		WHERE gm.group_id = o.id ORDER BY m.address), ` + accountColumns

// accountColumns reads an object's store.Account (scanAccount's order), roles
// included; never the secrets.
const accountColumns = `o.registered, o.password_hash <> '', o.force_change, o.locked,
	o.failed_logins, o.last_login, o.last_login_error, o.last_seen, o.default_lead,
	ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
		WHERE ur.object_id = o.id ORDER BY r.name)`

// querier is what *pgxpool.Pool and pgx.Tx have in common, so read helpers
// serve both Apply (inside its transaction) and the read methods.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func scanObject(row pgx.Row) (store.User, error) {
	var u store.User
	dest := []any{&u.ID, &u.Kind, &u.Address, &u.DisplayName, &u.GivenName, &u.Surname,
		&u.Phone, &u.Department, &u.Title, &u.Enabled, &u.Origin, &u.Anchor, &u.Protected,
		&u.Created, &u.Updated, &u.Aliases, &u.Members}
	var acct accountScan
	err := row.Scan(append(dest, acct.dest(&u.Account)...)...)
	acct.finish(&u.Account)
	u.Created, u.Updated = u.Created.UTC(), u.Updated.UTC()
	// Empty lists read as nil, as in store/sqlite, so users compare equal
	// whichever backend or path loaded them.
	if len(u.Aliases) == 0 {
		u.Aliases = nil
	}
	if len(u.Members) == 0 {
		u.Members = nil
	}
	return u, err
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
	return objectByAddress(ctx, s.pool, canonical(address), true)
}

// objectByAddress loads the object that holds addr, as its primary address or,
// when aliases is true, as an alias too. A miss wraps store.ErrNotFound.
func objectByAddress(ctx context.Context, q querier, addr string, aliases bool) (store.User, error) {
	query := `SELECT ` + objectColumns + ` FROM addresses x JOIN objects o ON o.id = x.object_id
		WHERE x.address = $1`
	if !aliases {
		query += ` AND NOT x.is_alias`
	}
	return loadOne(ctx, q, addr, query, addr)
}

// objectByAnchor loads the object with this (origin, anchor); anchor must not
// be empty, since empty anchors are not unique.
func objectByAnchor(ctx context.Context, q querier, origin, anchor string) (store.User, error) {
	return loadOne(ctx, q, origin+"/"+anchor,
		`SELECT `+objectColumns+` FROM objects o WHERE o.origin = $1 AND o.anchor = $2 AND o.anchor <> ''`, origin, anchor)
}

func loadOne(ctx context.Context, q querier, what, query string, args ...any) (store.User, error) {
	u, err := scanObject(q.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("postgres lookup %s: %w", what, err)
	}
	return u, nil
}

// Lookup returns every object whose (origin, anchor) is in anchors or whose
// primary address or alias is in addresses, each once, in one statement: both
// key lists travel as array parameters (= ANY), whatever their length.
func (s *Store) Lookup(ctx context.Context, origin string, anchors, addresses []string) ([]store.User, error) {
	canon := make([]string, 0, len(addresses))
	for _, a := range addresses {
		canon = append(canon, canonical(a))
	}
	anchors, canon = nonEmpty(anchors), nonEmpty(canon)
	if len(anchors) == 0 && len(canon) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+objectColumns+` FROM objects o WHERE o.id IN (
			SELECT id FROM objects WHERE origin = $1 AND anchor <> '' AND anchor = ANY($2)
			UNION
			SELECT object_id FROM addresses WHERE address = ANY($3))`,
		origin, anchors, canon)
	if err != nil {
		return nil, fmt.Errorf("postgres lookup: %w", err)
	}
	users, err := collectObjects(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres lookup: %w", err)
	}
	return users, nil
}

func collectObjects(rows pgx.Rows) ([]store.User, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.User, error) { return scanObject(row) })
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

// escapeLike makes %, _ and \ literal in a LIKE pattern (\ is the default
// escape character).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
