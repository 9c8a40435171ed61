package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dirsync/dirsync/store"
)

// Roles lists the roles sorted by name (byte order, as store/sqlite).
func (s *Store) Roles(ctx context.Context) ([]store.Role, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, permissions, is_default FROM roles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres roles: %w", err)
	}
	var out []store.Role
	var r store.Role
	_, err = pgx.ForEachRow(rows, []any{&r.Name, &r.Permissions, &r.Default}, func() error {
		role := r
		role.Permissions = sortedSet(r.Permissions)
		out = append(out, role)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres roles: %w", err)
	}
	return out, nil
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

// AddRole defines a role. Roles an admin adds are never default roles.
func (s *Store) AddRole(ctx context.Context, r store.Role, actor store.Actor) error {
	if strings.TrimSpace(r.Name) == "" {
		return fmt.Errorf("postgres add role: %w: the role name is empty; give the role a name", store.ErrInvalid)
	}
	if !storable(r.Name) {
		return fmt.Errorf("postgres add role: %w: the role name is not valid UTF-8 text", store.ErrInvalid)
	}
	for _, p := range r.Permissions {
		if !slices.Contains(store.Permissions, p) {
			return fmt.Errorf("postgres add role %q: %w: unknown permission %q; use one of %s",
				r.Name, store.ErrInvalid, p, strings.Join(store.Permissions, ", "))
		}
	}
	perms := sortedSet(r.Permissions)
	return s.inTx(ctx, fmt.Sprintf("add role %q", r.Name), func(tx pgx.Tx) error {
		var existing string
		err := tx.QueryRow(ctx, `WITH ins AS (
				INSERT INTO roles (name, permissions) VALUES ($1, $2::text[])
				ON CONFLICT ((lower(name))) DO NOTHING RETURNING name)
			SELECT '' FROM ins UNION ALL SELECT name FROM roles WHERE lower(name) = lower($1::text COLLATE "C")`,
			r.Name, nonNil(perms)).Scan(&existing)
		if errors.Is(err, pgx.ErrNoRows) {
			// A concurrent AddRole of the same name committed after this
			// statement's snapshot was taken.
			existing = r.Name
		} else if err != nil {
			return err
		}
		if existing != "" {
			return fmt.Errorf("role %q: %w as %q (names compare case-insensitively); choose another name",
				r.Name, store.ErrRoleExists, existing)
		}
		c := changes{
			{Field: store.AuditName, After: r.Name},
			{Field: store.AuditPermissions, After: listValue(perms)},
		}
		return auditAt(ctx, tx, timestamp(), actor, store.ActionAddRole, r.Name, c, "")
	})
}

// SetRoles replaces the user's roles. Names match case-insensitively (ASCII,
// as the unique index on lower(name) does) and are stored as defined.
func (s *Store) SetRoles(ctx context.Context, address string, roles []string, actor store.Actor) error {
	return s.inTx(ctx, "set roles of "+address, func(tx pgx.Tx) error {
		a, err := loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT t.n, r.id, r.name
			FROM unnest($1::text[]) WITH ORDINALITY AS t(n, i)
			LEFT JOIN roles r ON lower(r.name) = lower(t.n COLLATE "C")
			ORDER BY t.i`, nonNil(roles))
		if err != nil {
			return err
		}
		var ids []int64
		var names, unknown []string
		var given string
		var id *int64
		var name *string
		if _, err := pgx.ForEachRow(rows, []any{&given, &id, &name}, func() error {
			switch {
			case id == nil:
				if !slices.Contains(unknown, given) {
					unknown = append(unknown, given)
				}
			case !slices.Contains(ids, *id):
				ids, names = append(ids, *id), append(names, *name)
			}
			return nil
		}); err != nil {
			return err
		}
		if len(unknown) > 0 {
			return &store.UnknownRoleError{Names: unknown}
		}
		err = execBatch(ctx, tx,
			stmt{`DELETE FROM user_roles WHERE object_id = $1`, []any{a.id}},
			stmt{`INSERT INTO user_roles (object_id, role_id) SELECT $1, r FROM unnest($2::bigint[]) AS t(r)`,
				[]any{a.id, nonNil(ids)}})
		if err != nil {
			return err
		}
		c := changes{{Field: store.AuditRoles, Before: listValue(a.Account.Roles), After: listValue(sortedSet(names))}}
		return auditAt(ctx, tx, timestamp(), actor, store.ActionSetRoles, a.Address, c, "")
	})
}

// listValue is a list's audit value: nil when empty, as store.FieldValues
// writes lists, so it reads back the same.
func listValue(xs []string) any {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

// nonNil makes a nil slice an empty one, so it is sent as an empty array
// rather than NULL.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
