package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// Column is a field a FieldChange may set and the objects column it is kept in.
type Column struct{ Field, Column string }

// StringFields lists the plain text fields in a fixed order; with BoolFields
// it is the whitelist that keeps field names out of SQL unless known, and the
// order in which their values are checked.
var StringFields = []Column{
	{store.FieldDisplayName, "display_name"},
	{store.FieldGivenName, "given_name"},
	{store.FieldSurname, "surname"},
	{store.FieldPhone, "phone"},
	{store.FieldDepartment, "department"},
	{store.FieldTitle, "title"},
}

// BoolFields is StringFields' counterpart for the bool fields.
var BoolFields = []Column{
	{store.FieldEnabled, "enabled"},
	{store.FieldProtected, "protected"},
	{store.FieldDefaultLead, "default_lead"},
	{store.FieldLicensed, "licensed"},
	{store.FieldDirectoryAdmin, "directory_admin"},
}

// knownField reports whether field may appear in a FieldChange.
func knownField(field string) bool {
	switch field {
	case store.FieldAddress, store.FieldAliases, store.FieldOrigin, store.FieldAnchor, store.FieldMembers:
		return true
	}
	isField := func(c Column) bool { return c.Field == field }
	return slices.ContainsFunc(StringFields, isField) || slices.ContainsFunc(BoolFields, isField)
}

// Wanted indexes fields by name, the last change of a field winning, and
// refuses unknown fields.
func Wanted(fields []store.FieldChange) (map[string]any, error) {
	want := make(map[string]any, len(fields))
	for _, f := range fields {
		if !knownField(f.Field) {
			return nil, fmt.Errorf("%w: unknown field %q", store.ErrInvalid, f.Field)
		}
		want[f.Field] = f.After
	}
	return want, nil
}

// StringField points at the User field of a string field name (one of
// StringFields).
func StringField(u *store.User, field string) *string {
	switch field {
	case store.FieldDisplayName:
		return &u.DisplayName
	case store.FieldGivenName:
		return &u.GivenName
	case store.FieldSurname:
		return &u.Surname
	case store.FieldPhone:
		return &u.Phone
	case store.FieldDepartment:
		return &u.Department
	default:
		return &u.Title
	}
}

// setFields writes the After values of fields to object cur. Only After is
// used: Before is what the planner saw, and the audit records what the store
// had instead. The address is set first and members last so aliases and
// memberships are checked against the object's final primary address.
func (a *Applier) setFields(ctx context.Context, cur store.User, fields []store.FieldChange) error {
	want, err := Wanted(fields)
	if err != nil {
		return err
	}
	primary := cur.Address
	if v, ok := want[store.FieldAddress]; ok {
		if primary, err = a.setAddress(ctx, cur, v); err != nil {
			return err
		}
	}
	_, setOrigin := want[store.FieldOrigin]
	_, setAnchor := want[store.FieldAnchor]
	if setOrigin || setAnchor {
		if err := a.setIdentity(ctx, cur, want); err != nil {
			return err
		}
	}
	if v, ok := want[store.FieldAliases]; ok {
		if err := a.setAliases(ctx, cur.ID, primary, v); err != nil {
			return err
		}
	}
	if err := userOnly(cur, want); err != nil {
		return err
	}
	var sets []string
	var args []any
	for _, f := range StringFields {
		if v, ok := want[f.Field]; ok {
			s, err := store.StringValue(f.Field, v)
			if err != nil {
				return err
			}
			args = append(args, s)
			sets = append(sets, f.Column+` = $`+strconv.Itoa(len(args)))
		}
	}
	for _, f := range BoolFields {
		if v, ok := want[f.Field]; ok {
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("%w: field %s wants a bool, not %T", store.ErrInvalid, f.Field, v)
			}
			args = append(args, b)
			sets = append(sets, f.Column+` = $`+strconv.Itoa(len(args)))
		}
	}
	if len(sets) > 0 {
		// Column names come from the whitelists above, never from the change.
		args = append(args, cur.ID)
		query := `UPDATE objects SET ` + strings.Join(sets, ", ") + ` WHERE id = $` + strconv.Itoa(len(args))
		if _, err := a.tx.Exec(ctx, query, args...); err != nil {
			return a.s.errorf("set fields of %s: %w", cur.Address, err)
		}
	}
	if v, ok := want[store.FieldMembers]; ok {
		if cur.Kind != store.KindGroup {
			return fmt.Errorf("%w: %s is a %s and cannot have members", store.ErrInvalid, cur.Address, cur.Kind)
		}
		if err := a.setMembers(ctx, cur, v); err != nil {
			return err
		}
	}
	return nil
}

// userOnly refuses the Microsoft 365 facts (licensed, directory_admin) on a
// group: only users have a mailbox licence or a directory role.
func userOnly(cur store.User, want map[string]any) error {
	if cur.Kind != store.KindGroup {
		return nil
	}
	for _, f := range []string{store.FieldLicensed, store.FieldDirectoryAdmin} {
		if _, ok := want[f]; ok {
			return fmt.Errorf("%w: %s is a group and cannot have field %s (users only)", store.ErrInvalid, cur.Address, f)
		}
	}
	return nil
}

// setAddress moves cur's primary address and returns the new one. The old
// address is released rather than kept as an alias: a rename in the source means
// the old address should bounce unless the source lists it as an alias.
func (a *Applier) setAddress(ctx context.Context, cur store.User, v any) (string, error) {
	raw, err := store.StringValue(store.FieldAddress, v)
	if err != nil {
		return "", err
	}
	addr, err := a.Address(raw)
	if err != nil {
		return "", err
	}
	if addr == cur.Address {
		return addr, nil
	}
	o, err := a.owner(ctx, addr)
	if err != nil {
		return "", err
	}
	if o.Found && o.ID != cur.ID {
		return "", &store.ConflictError{Address: addr, Owner: o.Primary, AsAlias: o.Alias}
	}
	// When the new address is one of cur's aliases, the alias is promoted.
	err = a.tx.Batch(ctx,
		Stmt{SQL: `DELETE FROM addresses WHERE address IN ($1, $2)`, Args: []any{addr, cur.Address}},
		Stmt{SQL: `INSERT INTO addresses (address, object_id, is_alias) VALUES ($1, $2, false)`, Args: []any{addr, cur.ID}},
		Stmt{SQL: `UPDATE objects SET address = $1 WHERE id = $2`, Args: []any{addr, cur.ID}})
	if err != nil {
		return "", a.s.errorf("rename %s to %s: %w", cur.Address, addr, err)
	}
	return addr, nil
}

// setIdentity changes origin and anchor together, since adopting an object
// changes both and checking them one at a time could see a pair that exists only
// half-way through.
func (a *Applier) setIdentity(ctx context.Context, cur store.User, want map[string]any) error {
	origin, anchor := cur.Origin, cur.Anchor
	var err error
	if v, ok := want[store.FieldOrigin]; ok {
		if origin, err = store.StringValue(store.FieldOrigin, v); err != nil {
			return err
		}
	}
	if v, ok := want[store.FieldAnchor]; ok {
		if anchor, err = store.StringValue(store.FieldAnchor, v); err != nil {
			return err
		}
	}
	if origin == "" {
		return fmt.Errorf("%w: %s: origin cannot be empty", store.ErrInvalid, cur.Address)
	}
	if anchor != "" {
		others, err := collectStrings(a.tx.Query(ctx, `SELECT address FROM objects
			WHERE origin = $1 AND anchor = $2 AND anchor <> '' AND id <> $3`, origin, anchor, cur.ID))
		if err != nil {
			return a.s.errorf("anchor check: %w", err)
		}
		if len(others) > 0 {
			return fmt.Errorf("%w: %s anchor %s already belongs to %s", store.ErrConflict, origin, anchor, others[0])
		}
	}
	if _, err := a.tx.Exec(ctx, `UPDATE objects SET origin = $1, anchor = $2 WHERE id = $3`,
		origin, anchor, cur.ID); err != nil {
		return a.s.errorf("set origin: %w", err)
	}
	return nil
}

// setAliases replaces the object's aliases with v: one read of the current
// aliases and one of their would-be owners, then at most one delete and one
// insert.
func (a *Applier) setAliases(ctx context.Context, id int64, primary string, v any) error {
	raw, err := store.StringsValue(store.FieldAliases, v)
	if err != nil {
		return err
	}
	want := make(map[string]bool, len(raw))
	for _, r := range raw {
		addr, err := a.Address(r)
		if err != nil {
			return err
		}
		if addr == primary {
			return fmt.Errorf("%w: alias %s is the primary address", store.ErrInvalid, addr)
		}
		want[addr] = true
	}
	current, err := collectStrings(a.tx.Query(ctx, `SELECT address FROM addresses WHERE object_id = $1 AND is_alias`, id))
	if err != nil {
		return a.s.errorf("aliases: %w", err)
	}
	have := make(map[string]bool, len(current))
	var drop []string
	for _, addr := range current {
		have[addr] = true
		if !want[addr] {
			drop = append(drop, addr)
		}
	}
	var add []string
	for _, addr := range slices.Sorted(maps.Keys(want)) {
		if !have[addr] {
			add = append(add, addr)
		}
	}
	if len(add) > 0 {
		owners := map[string]Owner{}
		if err := a.tx.Batch(ctx, a.OwnersStmt(add, owners)); err != nil {
			return a.s.errorf("owners: %w", err)
		}
		// Checked in sorted order, so the conflict reported does not depend
		// on the order the database returns rows in.
		for _, addr := range add {
			if o := owners[addr]; o.Found {
				return &store.ConflictError{Address: addr, Owner: o.Primary, AsAlias: o.Alias}
			}
		}
	}
	var stmts []Stmt
	if len(drop) > 0 {
		stmts = append(stmts, Stmt{SQL: `DELETE FROM addresses WHERE ` + a.s.d.In("address", "$1", "text"),
			Args: []any{a.s.d.Array(drop)}})
	}
	if len(add) > 0 {
		stmts = append(stmts, Stmt{SQL: `INSERT INTO addresses (address, object_id, is_alias)
			SELECT t.value, $2, true FROM ` + a.s.d.Each("$1", "text"), Args: []any{a.s.d.Array(add), id}})
	}
	if err := a.tx.Batch(ctx, stmts...); err != nil {
		return a.s.errorf("aliases: %w", err)
	}
	return nil
}

// setMembers replaces a group's members. Members are named by primary address
// or alias and stored by id, so a later rename of a member needs no rewrite.
// Their owners are read in one statement; problems are still reported in the
// order the members were given.
func (a *Applier) setMembers(ctx context.Context, group store.User, v any) error {
	raw, err := store.StringsValue(store.FieldMembers, v)
	if err != nil {
		return err
	}
	addrs := make([]string, len(raw))
	errs := make([]error, len(raw))
	for i, r := range raw {
		addrs[i], errs[i] = mailaddr.Normalize(r)
	}
	owners := map[string]Owner{}
	if err := a.tx.Batch(ctx, a.OwnersStmt(addrs, owners)); err != nil {
		return a.s.errorf("owners: %w", err)
	}
	ids := make([]int64, 0, len(raw))
	seen := make(map[int64]bool, len(raw))
	for i, addr := range addrs {
		if errs[i] != nil {
			return fmt.Errorf("%w: member: %w", store.ErrInvalid, errs[i])
		}
		o := owners[addr]
		if !o.Found {
			return fmt.Errorf("member %s: %w", addr, store.ErrNotFound)
		}
		if o.ID == group.ID {
			return fmt.Errorf("%w: group %s cannot be a member of itself", store.ErrInvalid, group.Address)
		}
		if !seen[o.ID] {
			seen[o.ID] = true
			ids = append(ids, o.ID)
		}
	}
	err = a.tx.Batch(ctx,
		Stmt{SQL: `DELETE FROM group_members WHERE group_id = $1`, Args: []any{group.ID}},
		Stmt{SQL: `INSERT INTO group_members (group_id, member_id) SELECT $1, t.value FROM ` + a.s.d.Each("$2", "bigint"),
			Args: []any{group.ID, a.s.d.Array(ids)}})
	if err != nil {
		return a.s.errorf("members of %s: %w", group.Address, err)
	}
	return nil
}
