package store

import (
	"fmt"
	"reflect"
)

// The audit log's view of an object, shared by every backend so they all record
// the same values, and the decoding of Change values into column values.

// FieldValues lists u's fields in the order the audit log shows them. Empty
// lists are nil so that they read the same after a JSON round trip.
func FieldValues(u User) []FieldChange {
	list := func(xs []string) any {
		if len(xs) == 0 {
			return nil
		}
		return xs
	}
	out := []FieldChange{
		{Field: FieldAddress, After: u.Address},
		{Field: FieldOrigin, After: u.Origin},
		{Field: FieldAnchor, After: u.Anchor},
		{Field: FieldAliases, After: list(u.Aliases)},
		{Field: FieldDisplayName, After: u.DisplayName},
		{Field: FieldGivenName, After: u.GivenName},
		{Field: FieldSurname, After: u.Surname},
		{Field: FieldPhone, After: u.Phone},
		{Field: FieldDepartment, After: u.Department},
		{Field: FieldTitle, After: u.Title},
		{Field: FieldEnabled, After: u.Enabled},
		{Field: FieldProtected, After: u.Protected},
	}
	if u.Kind == KindGroup {
		out = append(out, FieldChange{Field: FieldMembers, After: list(u.Members)})
	}
	return out
}

// DiffUsers returns the fields that differ between before and after.
func DiffUsers(before, after User) []FieldChange {
	b, a := FieldValues(before), FieldValues(after)
	var out []FieldChange
	for i := range a {
		if !reflect.DeepEqual(b[i].After, a[i].After) {
			out = append(out, FieldChange{Field: a[i].Field, Before: b[i].After, After: a[i].After})
		}
	}
	return out
}

// CreateChanges lists a new object's set fields; enabled is always shown
// because a disabled new account is worth seeing in the log.
func CreateChanges(u User) []FieldChange {
	var out []FieldChange
	for _, f := range FieldValues(u) {
		if f.Field == FieldEnabled || !isZero(f.After) {
			out = append(out, f)
		}
	}
	return out
}

// DeleteChanges records what a deleted object held, so the log alone is enough
// to recreate it.
func DeleteChanges(u User) []FieldChange {
	var out []FieldChange
	for _, f := range FieldValues(u) {
		if f.Field == FieldEnabled || !isZero(f.After) {
			out = append(out, FieldChange{Field: f.Field, Before: f.After})
		}
	}
	return out
}

func isZero(v any) bool {
	return v == nil || v == "" || v == false
}

// StringValue reads a Change value meant to be a string (nil is empty).
func StringValue(field string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("%w: field %s wants a string, not %T", ErrInvalid, field, v)
}

// StringsValue reads a list value: []string, or []any holding strings for
// changes decoded from JSON.
func StringsValue(field string, v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: field %s wants strings, found %T", ErrInvalid, field, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: field %s wants a list of strings, not %T", ErrInvalid, field, v)
}
