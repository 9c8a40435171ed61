package sqlite

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// stringColumns maps the plain text fields to their columns; the map doubles as
// the whitelist that keeps field names out of SQL unless known.
var stringColumns = map[string]string{
	store.FieldDisplayName: "display_name",
	store.FieldGivenName:   "given_name",
	store.FieldSurname:     "surname",
	store.FieldPhone:       "phone",
	store.FieldDepartment:  "department",
	store.FieldTitle:       "title",
}

var boolColumns = map[string]string{
	store.FieldEnabled:     "enabled",
	store.FieldProtected:   "protected",
	store.FieldDefaultLead: "default_lead",
}

// setFields writes the After values of fields to object cur. Only After is
// used: Before is what the planner saw, and the audit records what the store
// had instead. The address is set first and members last so aliases and
// memberships are checked against the object's final primary address.
func (a *applier) setFields(ctx context.Context, cur store.User, fields []store.FieldChange) error {
	want := make(map[string]any, len(fields))
	for _, f := range fields {
		switch f.Field {
		case store.FieldAddress, store.FieldAliases, store.FieldOrigin, store.FieldAnchor, store.FieldMembers:
		default:
			if stringColumns[f.Field] == "" && boolColumns[f.Field] == "" {
				return fmt.Errorf("%w: unknown field %q", store.ErrInvalid, f.Field)
			}
		}
		want[f.Field] = f.After
	}
	primary := cur.Address
	if v, ok := want[store.FieldAddress]; ok {
		var err error
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
	for field, col := range stringColumns {
		if v, ok := want[field]; ok {
			s, err := store.StringValue(field, v)
			if err != nil {
				return err
			}
			if err := a.setColumn(ctx, cur.ID, col, s); err != nil {
				return err
			}
		}
	}
	for field, col := range boolColumns {
		if v, ok := want[field]; ok {
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("%w: field %s wants a bool, not %T", store.ErrInvalid, field, v)
			}
			if err := a.setColumn(ctx, cur.ID, col, b); err != nil {
				return err
			}
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

// setColumn writes one column; col comes from stringColumns or boolColumns.
func (a *applier) setColumn(ctx context.Context, id int64, col string, v any) error {
	if _, err := a.tx.ExecContext(ctx, `UPDATE objects SET `+col+` = ? WHERE id = ?`, v, id); err != nil {
		return fmt.Errorf("sqlite set %s: %w", col, err)
	}
	return nil
}

// setAddress moves cur's primary address and returns the new one. The old
// address is released rather than kept as an alias: a rename in the source means
// the old address should bounce unless the source lists it as an alias.
func (a *applier) setAddress(ctx context.Context, cur store.User, v any) (string, error) {
	raw, err := store.StringValue(store.FieldAddress, v)
	if err != nil {
		return "", err
	}
	addr, err := a.address(ctx, raw)
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
	if o.found && o.id != cur.ID {
		return "", &store.ConflictError{Address: addr, Owner: o.primary, AsAlias: o.alias}
	}
	// When the new address is one of cur's aliases, the alias is promoted.
	stmts := []struct {
		query string
		args  []any
	}{
		{`DELETE FROM addresses WHERE address IN (?, ?)`, []any{addr, cur.Address}},
		{`INSERT INTO addresses (address, object_id, is_alias) VALUES (?, ?, 0)`, []any{addr, cur.ID}},
		{`UPDATE objects SET address = ? WHERE id = ?`, []any{addr, cur.ID}},
	}
	for _, st := range stmts {
		if _, err := a.tx.ExecContext(ctx, st.query, st.args...); err != nil {
			return "", fmt.Errorf("sqlite rename %s to %s: %w", cur.Address, addr, err)
		}
	}
	return addr, nil
}

// setIdentity changes origin and anchor together, since adopting an object
// changes both and checking them one at a time could see a pair that exists only
// half-way through.
func (a *applier) setIdentity(ctx context.Context, cur store.User, want map[string]any) error {
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
		var other string
		err := a.tx.QueryRowContext(ctx, `SELECT address FROM objects
			WHERE origin = ? AND anchor = ? AND anchor <> '' AND id <> ?`, origin, anchor, cur.ID).Scan(&other)
		if err == nil {
			return fmt.Errorf("%w: %s anchor %s already belongs to %s", store.ErrConflict, origin, anchor, other)
		}
		if !isNoRows(err) {
			return fmt.Errorf("sqlite anchor check: %w", err)
		}
	}
	if _, err := a.tx.ExecContext(ctx, `UPDATE objects SET origin = ?, anchor = ? WHERE id = ?`,
		origin, anchor, cur.ID); err != nil {
		return fmt.Errorf("sqlite set origin: %w", err)
	}
	return nil
}

// setAliases replaces the object's aliases with v.
func (a *applier) setAliases(ctx context.Context, id int64, primary string, v any) error {
	raw, err := store.StringsValue(store.FieldAliases, v)
	if err != nil {
		return err
	}
	want := make(map[string]bool, len(raw))
	for _, r := range raw {
		addr, err := a.address(ctx, r)
		if err != nil {
			return err
		}
		if addr == primary {
			return fmt.Errorf("%w: alias %s is the primary address", store.ErrInvalid, addr)
		}
		want[addr] = true
	}
	have := map[string]bool{}
	err = eachRow(ctx, a.tx, `SELECT object_id, address FROM addresses WHERE object_id = ? AND is_alias = 1`,
		[]any{id}, func(_ int64, addr string) { have[addr] = true })
	if err != nil {
		return fmt.Errorf("sqlite aliases: %w", err)
	}
	for addr := range have {
		if !want[addr] {
			if _, err := a.tx.ExecContext(ctx, `DELETE FROM addresses WHERE address = ?`, addr); err != nil {
				return fmt.Errorf("sqlite remove alias %s: %w", addr, err)
			}
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(want)) {
		if have[addr] {
			continue
		}
		o, err := a.owner(ctx, addr)
		if err != nil {
			return err
		}
		if o.found {
			return &store.ConflictError{Address: addr, Owner: o.primary, AsAlias: o.alias}
		}
		if _, err := a.tx.ExecContext(ctx,
			`INSERT INTO addresses (address, object_id, is_alias) VALUES (?, ?, 1)`, addr, id); err != nil {
			return fmt.Errorf("sqlite add alias %s: %w", addr, err)
		}
	}
	return nil
}

// setMembers replaces a group's members. Members are named by primary address
// or alias and stored by id, so a later rename of a member needs no rewrite.
func (a *applier) setMembers(ctx context.Context, group store.User, v any) error {
	raw, err := store.StringsValue(store.FieldMembers, v)
	if err != nil {
		return err
	}
	ids := make(map[int64]bool, len(raw))
	for _, r := range raw {
		addr, err := mailaddr.Normalize(r)
		if err != nil {
			return fmt.Errorf("%w: member: %w", store.ErrInvalid, err)
		}
		o, err := a.owner(ctx, addr)
		if err != nil {
			return err
		}
		if !o.found {
			return fmt.Errorf("member %s: %w", addr, store.ErrNotFound)
		}
		if o.id == group.ID {
			return fmt.Errorf("%w: group %s cannot be a member of itself", store.ErrInvalid, group.Address)
		}
		ids[o.id] = true
	}
	if _, err := a.tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_id = ?`, group.ID); err != nil {
		return fmt.Errorf("sqlite members of %s: %w", group.Address, err)
	}
	for id := range ids {
		if _, err := a.tx.ExecContext(ctx,
			`INSERT INTO group_members (group_id, member_id) VALUES (?, ?)`, group.ID, id); err != nil {
			return fmt.Errorf("sqlite members of %s: %w", group.Address, err)
		}
	}
	return nil
}
