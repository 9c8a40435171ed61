package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/dirsync/dirsync/store"
)

// Roles lists the roles sorted by name (byte order, as store/postgres).
func (s *Store) Roles(ctx context.Context) ([]store.Role, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, permissions, is_default FROM roles ORDER BY name COLLATE BINARY`)
	if err != nil {
		return nil, fmt.Errorf("sqlite roles: %w", err)
	}
	defer rows.Close()
	var out []store.Role
	for rows.Next() {
		var r store.Role
		var perms string
		if err := rows.Scan(&r.Name, &perms, &r.Default); err != nil {
			return nil, fmt.Errorf("sqlite roles: %w", err)
		}
		list, err := decodeList(perms)
		if err != nil {
			return nil, fmt.Errorf("sqlite role %q permissions: %w", r.Name, err)
		}
		r.Permissions = sortedSet(list)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite roles: %w", err)
	}
	return out, nil
}

// AddRole defines a role. Roles an admin adds are never default roles.
func (s *Store) AddRole(ctx context.Context, r store.Role, actor store.Actor) error {
	if strings.TrimSpace(r.Name) == "" {
		return fmt.Errorf("sqlite add role: %w: the role name is empty; give the role a name", store.ErrInvalid)
	}
	if !utf8.ValidString(r.Name) {
		return fmt.Errorf("sqlite add role: %w: the role name is not valid UTF-8 text", store.ErrInvalid)
	}
	for _, p := range r.Permissions {
		if !slices.Contains(store.Permissions, p) {
			return fmt.Errorf("sqlite add role %q: %w: unknown permission %q; use one of %s",
				r.Name, store.ErrInvalid, p, strings.Join(store.Permissions, ", "))
		}
	}
	perms := sortedSet(r.Permissions)
	return s.inTx(ctx, fmt.Sprintf("add role %q", r.Name), func(tx *sql.Tx) error {
		// The column's NOCASE collation makes this comparison, like the
		// unique constraint, case-insensitive.
		var existing string
		err := tx.QueryRowContext(ctx, `SELECT name FROM roles WHERE name = ?`, r.Name).Scan(&existing)
		if err == nil {
			return fmt.Errorf("role %q: %w as %q (names compare case-insensitively); choose another name",
				r.Name, store.ErrRoleExists, existing)
		}
		if !isNoRows(err) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO roles (name, permissions) VALUES (?, ?)`,
			r.Name, encodeList(perms)); err != nil {
			return err
		}
		c := changes{
			{Field: store.AuditName, After: r.Name},
			{Field: store.AuditPermissions, After: listValue(perms)},
		}
		return auditAt(ctx, tx, timestamp(), actor, store.ActionAddRole, r.Name, c, "")
	})
}

// SetRoles replaces the user's roles. Names match case-insensitively (ASCII,
// as the NOCASE unique constraint does) and are stored as defined.
func (s *Store) SetRoles(ctx context.Context, address string, roles []string, actor store.Actor) error {
	return s.inTx(ctx, "set roles of "+address, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, address)
		if err != nil {
			return err
		}
		var ids []int64
		var names, unknown []string
		for _, given := range roles {
			var id int64
			var name string
			err := tx.QueryRowContext(ctx, `SELECT id, name FROM roles WHERE name = ?`, given).Scan(&id, &name)
			switch {
			case isNoRows(err):
				if !slices.Contains(unknown, given) {
					unknown = append(unknown, given)
				}
			case err != nil:
				return err
			case !slices.Contains(ids, id):
				ids, names = append(ids, id), append(names, name)
			}
		}
		if len(unknown) > 0 {
			return &store.UnknownRoleError{Names: unknown}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE object_id = ?`, a.id); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_roles (object_id, role_id) VALUES (?, ?)`,
				a.id, id); err != nil {
				return err
			}
		}
		c := changes{{Field: store.AuditRoles, Before: listValue(a.Account.Roles), After: listValue(sortedSet(names))}}
		return auditAt(ctx, tx, timestamp(), actor, store.ActionSetRoles, a.Address, c, "")
	})
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

// listValue is a list's audit value: nil when empty, as store.FieldValues
// writes lists, so it reads back the same.
func listValue(xs []string) any {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

// encodeList is the stored form of a list column (a JSON array).
func encodeList(xs []string) string {
	if xs == nil {
		xs = []string{}
	}
	b, _ := json.Marshal(xs) // a []string always marshals
	return string(b)
}

// decodeList reads a list column; an empty list is nil.
func decodeList(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
