package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// chunkSize bounds the number of parameters in one IN clause, well under
// SQLite's variable limit and small enough to keep statements cheap to prepare.
const chunkSize = 500

// defaultLimit is the page size when a query asks for 0.
const defaultLimit = 100

// objectColumns are what scanObject reads: the object and its account state,
// never a secret (only whether a password is set).
const objectColumns = `o.id, o.kind, o.address, o.display_name, o.given_name, o.surname,
	o.phone, o.department, o.title, o.enabled, o.origin, o.anchor, o.protected,
	o.created, o.updated, ` + accountColumns

// accountColumns are the store.Account fields kept in objects (roles are
// loaded by loadRoles).
const accountColumns = `o.registered, o.password_hash <> '', o.force_change, o.locked,
	o.failed_logins, o.last_login, o.last_login_error, o.last_seen, o.default_lead`

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanObject(sc scanner) (store.User, error) {
	var u store.User
	var created, updated int64
	var acct accountScan
	dest := append([]any{&u.ID, &u.Kind, &u.Address, &u.DisplayName, &u.GivenName, &u.Surname,
		&u.Phone, &u.Department, &u.Title, &u.Enabled, &u.Origin, &u.Anchor, &u.Protected,
		&created, &updated}, acct.dest(&u.Account)...)
	err := sc.Scan(dest...)
	u.Created = time.Unix(0, created).UTC()
	u.Updated = time.Unix(0, updated).UTC()
	acct.finish(&u.Account)
	return u, err
}

// accountScan holds the integer times of accountColumns while a row is scanned.
type accountScan struct {
	lastLogin, lastSeen int64
}

// dest lists the scan targets for accountColumns, in its order.
func (s *accountScan) dest(a *store.Account) []any {
	return []any{&a.Registered, &a.HasPassword, &a.ForceChange, &a.Locked, &a.FailedLogins,
		&s.lastLogin, &a.LastLoginError, &s.lastSeen, &a.DefaultLead}
}

// finish converts the times: 0 is "never", the zero time.
func (s *accountScan) finish(a *store.Account) {
	a.LastLogin, a.LastSeen = fromNanos(s.lastLogin), fromNanos(s.lastSeen)
}

// fromNanos reads a stored time; 0 is the zero time ("never").
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// toNanos is the stored form of t; the zero time is 0.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
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
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite user: %w", err)
	}
	defer tx.Rollback()
	u, err := objectByAddress(ctx, tx, canonical(address), true)
	if err != nil {
		return store.User{}, err
	}
	users := []store.User{u}
	if err := loadRoles(ctx, tx, users); err != nil {
		return store.User{}, err
	}
	return users[0], nil
}

// objectByAddress loads the object that holds addr, as its primary address or,
// when aliases is true, as an alias too. A miss wraps store.ErrNotFound.
func objectByAddress(ctx context.Context, q querier, addr string, aliases bool) (store.User, error) {
	query := `SELECT ` + objectColumns + ` FROM addresses a JOIN objects o ON o.id = a.object_id
		WHERE a.address = ?`
	if !aliases {
		query += ` AND a.is_alias = 0`
	}
	return loadOne(ctx, q, addr, query, addr)
}

// objectByAnchor loads the object with this (origin, anchor); anchor must not
// be empty, since empty anchors are not unique.
func objectByAnchor(ctx context.Context, q querier, origin, anchor string) (store.User, error) {
	return loadOne(ctx, q, origin+"/"+anchor,
		`SELECT `+objectColumns+` FROM objects o WHERE o.origin = ? AND o.anchor = ? AND o.anchor <> ''`, origin, anchor)
}

func loadOne(ctx context.Context, q querier, what, query string, args ...any) (store.User, error) {
	u, err := scanObject(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite lookup %s: %w", what, err)
	}
	users := []store.User{u}
	if err := loadDetails(ctx, q, users); err != nil {
		return store.User{}, err
	}
	return users[0], nil
}

// Lookup returns every object whose (origin, anchor) is in anchors or whose
// primary address or alias is in addresses, each once.
func (s *Store) Lookup(ctx context.Context, origin string, anchors, addresses []string) ([]store.User, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite lookup: %w", err)
	}
	defer tx.Rollback()

	var users []store.User
	seen := map[int64]bool{}
	collect := func(query string, args []any) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite lookup: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanObject(rows)
			if err != nil {
				return fmt.Errorf("sqlite lookup: %w", err)
			}
			if !seen[u.ID] {
				seen[u.ID] = true
				users = append(users, u)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite lookup: %w", err)
		}
		return nil
	}

	for _, chunk := range chunks(nonEmpty(anchors)) {
		args := append([]any{origin}, toArgs(chunk)...)
		query := `SELECT ` + objectColumns + ` FROM objects o
			WHERE o.origin = ? AND o.anchor <> '' AND o.anchor IN (` + placeholders(len(chunk)) + `)`
		if err := collect(query, args); err != nil {
			return nil, err
		}
	}
	canon := make([]string, 0, len(addresses))
	for _, a := range addresses {
		canon = append(canon, canonical(a))
	}
	for _, chunk := range chunks(nonEmpty(canon)) {
		query := `SELECT ` + objectColumns + ` FROM objects o
			WHERE o.id IN (SELECT object_id FROM addresses WHERE address IN (` + placeholders(len(chunk)) + `))`
		if err := collect(query, toArgs(chunk)); err != nil {
			return nil, err
		}
	}
	if err := loadDetails(ctx, tx, users); err != nil {
		return nil, err
	}
	if err := loadRoles(ctx, tx, users); err != nil {
		return nil, err
	}
	return users, nil
}

// loadDetails fills in aliases and, for groups, members.
func loadDetails(ctx context.Context, q querier, users []store.User) error {
	if len(users) == 0 {
		return nil
	}
	index := make(map[int64]*store.User, len(users))
	ids := make([]int64, 0, len(users))
	for i := range users {
		index[users[i].ID] = &users[i]
		ids = append(ids, users[i].ID)
	}
	for _, chunk := range chunks(ids) {
		in := placeholders(len(chunk))
		err := eachRow(ctx, q, `SELECT object_id, address FROM addresses
			WHERE is_alias = 1 AND object_id IN (`+in+`) ORDER BY address`, toArgs(chunk),
			func(id int64, addr string) { index[id].Aliases = append(index[id].Aliases, addr) })
		if err != nil {
			return fmt.Errorf("sqlite aliases: %w", err)
		}
		err = eachRow(ctx, q, `SELECT gm.group_id, o.address FROM group_members gm
			JOIN objects o ON o.id = gm.member_id
			WHERE gm.group_id IN (`+in+`) ORDER BY o.address`, toArgs(chunk),
			func(id int64, addr string) { index[id].Members = append(index[id].Members, addr) })
		if err != nil {
			return fmt.Errorf("sqlite members: %w", err)
		}
	}
	return nil
}

// loadRoles fills in Account.Roles, sorted by name, with one query per chunk
// of users (not per user: Lookup serves the sync engine's batches).
func loadRoles(ctx context.Context, q querier, users []store.User) error {
	if len(users) == 0 {
		return nil
	}
	index := make(map[int64]*store.User, len(users))
	ids := make([]int64, 0, len(users))
	for i := range users {
		index[users[i].ID] = &users[i]
		ids = append(ids, users[i].ID)
	}
	for _, chunk := range chunks(ids) {
		err := eachRow(ctx, q, `SELECT ur.object_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
			WHERE ur.object_id IN (`+placeholders(len(chunk))+`) ORDER BY r.name COLLATE BINARY`, toArgs(chunk),
			func(id int64, name string) { index[id].Account.Roles = append(index[id].Account.Roles, name) })
		if err != nil {
			return fmt.Errorf("sqlite roles: %w", err)
		}
	}
	return nil
}

// eachRow runs a query returning (id, address) pairs and hands each to fn.
func eachRow(ctx context.Context, q querier, query string, args []any, fn func(int64, string)) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var addr string
		if err := rows.Scan(&id, &addr); err != nil {
			return err
		}
		fn(id, addr)
	}
	return rows.Err()
}

func chunks[T any](xs []T) [][]T {
	var out [][]T
	for len(xs) > chunkSize {
		out = append(out, xs[:chunkSize])
		xs = xs[chunkSize:]
	}
	if len(xs) > 0 {
		out = append(out, xs)
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func toArgs[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// nonEmpty drops empty strings and duplicates, so a batch does not spend
// parameters on them; empty anchors in particular are not identities.
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

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
