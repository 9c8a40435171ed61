package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dirsync/dirsync/store"
)

// Role names are unique and match case-insensitively, folding ASCII only
// (SQLite's NOCASE, PostgreSQL's lower() under "C"); they are listed and
// stored as defined, in byte order.

// Roles lists the roles sorted by name.
func (s *Store) Roles(ctx context.Context) ([]store.Role, error) {
	var out []store.Role
	rows, err := s.conn.Query(ctx, `SELECT name, permissions, is_default FROM roles ORDER BY name`+s.d.Bytes)
	err = eachRow(rows, err, func(r Row) error {
		var role store.Role
		err := r.Scan(&role.Name, s.d.ListDest(&role.Permissions), &role.Default)
		role.Permissions = sortedSet(role.Permissions)
		out = append(out, role)
		return err
	})
	if err != nil {
		return nil, s.errorf("roles: %w", err)
	}
	return out, nil
}

// AddRole defines a role. Roles an admin adds are never default roles.
func (s *Store) AddRole(ctx context.Context, r store.Role, actor store.Actor) error {
	if strings.TrimSpace(r.Name) == "" {
		return s.errorf("add role: %w: the role name is empty; give the role a name", store.ErrInvalid)
	}
	if !validText(r.Name) {
		return s.errorf("add role: %w: the role name is not valid UTF-8 text", store.ErrInvalid)
	}
	for _, p := range r.Permissions {
		if !slices.Contains(store.Permissions, p) {
			return s.errorf("add role %q: %w: unknown permission %q; use one of %s",
				r.Name, store.ErrInvalid, p, strings.Join(store.Permissions, ", "))
		}
	}
	perms := sortedSet(r.Permissions)
	return s.inTx(ctx, LockAccount, fmt.Sprintf("add role %q", r.Name), func(tx Tx) error {
		inserted, err := s.insertRole(ctx, tx, store.Role{Name: r.Name, Permissions: perms})
		if err != nil {
			return err
		}
		if !inserted {
			existing := r.Name // unless it can be read: added by a writer that committed after this one began
			err := tx.QueryRow(ctx, `SELECT name FROM roles WHERE `+s.d.Fold("name")+` = `+s.d.Fold("$1"), r.Name).Scan(&existing)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			return fmt.Errorf("role %q: %w as %q (names compare case-insensitively); choose another name",
				r.Name, store.ErrRoleExists, existing)
		}
		c := changes{
			{Field: store.AuditName, After: r.Name},
			{Field: store.AuditPermissions, After: listValue(perms)},
		}
		return s.auditAt(ctx, tx, s.now(), actor, store.ActionAddRole, r.Name, c, "")
	})
}

// insertRole adds r unless a role of that name (compared case-insensitively)
// exists.
func (s *Store) insertRole(ctx context.Context, tx Tx, r store.Role) (bool, error) {
	n, err := tx.Exec(ctx, `INSERT INTO roles (name, permissions, is_default) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		r.Name, s.d.Array(sortedSet(r.Permissions)), r.Default)
	return n == 1, err
}

// seedRoles creates store.DefaultRoles; it runs once, with the migration that
// creates the roles table.
func (s *Store) seedRoles(ctx context.Context, tx Tx) error {
	for _, r := range store.DefaultRoles {
		if _, err := s.insertRole(ctx, tx, r); err != nil {
			return fmt.Errorf("seed role %q: %w", r.Name, err)
		}
	}
	return nil
}

// SetRoles replaces the user's roles; names match case-insensitively and are
// stored as defined.
func (s *Store) SetRoles(ctx context.Context, address string, roles []string, actor store.Actor) error {
	return s.inTx(ctx, LockAccount, "set roles of "+address, func(tx Tx) error {
		a, err := s.loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		return s.setRoles(ctx, tx, a, roles, actor, s.now(), "")
	})
}

// setRoles replaces a's (locked) roles and audits it.
func (s *Store) setRoles(ctx context.Context, tx Tx, a account, roles []string, actor store.Actor, at time.Time, reason string) error {
	ids, names, err := s.resolveRoles(ctx, tx, roles)
	if err != nil {
		return err
	}
	err = tx.Batch(ctx,
		Stmt{SQL: `DELETE FROM user_roles WHERE object_id = $1`, Args: []any{a.id}},
		Stmt{SQL: `INSERT INTO user_roles (object_id, role_id) SELECT $1, t.value FROM ` + s.d.Each("$2", "bigint"),
			Args: []any{a.id, s.d.Array(ids)}})
	if err != nil {
		return err
	}
	c := changes{{Field: store.AuditRoles, Before: listValue(a.Account.Roles), After: listValue(sortedSet(names))}}
	return s.auditAt(ctx, tx, at, actor, store.ActionSetRoles, a.Address, c, reason)
}

// resolveRoles finds the given role names (case-insensitively): their ids
// and defined names, without duplicates; undefined ones are a
// *store.UnknownRoleError naming them all.
func (s *Store) resolveRoles(ctx context.Context, q Querier, roles []string) ([]int64, []string, error) {
	var ids []int64
	var names, unknown []string
	for _, given := range roles {
		var id int64
		var name string
		err := q.QueryRow(ctx, `SELECT id, name FROM roles WHERE `+s.d.Fold("name")+` = `+s.d.Fold("$1"), given).Scan(&id, &name)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if !slices.Contains(unknown, given) {
				unknown = append(unknown, given)
			}
		case err != nil:
			return nil, nil, err
		case !slices.Contains(ids, id):
			ids, names = append(ids, id), append(names, name)
		}
	}
	if len(unknown) > 0 {
		return nil, nil, &store.UnknownRoleError{Names: unknown}
	}
	return ids, names, nil
}

// sortedSet returns xs sorted without duplicates; empty is nil.
func sortedSet(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}
