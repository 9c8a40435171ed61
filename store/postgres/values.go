package postgres

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/dirsync/dirsync/store"
)

// The helpers below are store/sqlite's, kept identical so that both backends
// audit the same values; they belong in a shared package once a third backend
// or a change to one of them makes the copy a risk.

// fieldValues lists u's fields in the order the audit log shows them. Empty
// lists are nil so that they read the same after a JSON round trip.
func fieldValues(u store.User) []store.FieldChange {
	list := func(xs []string) any {
		if len(xs) == 0 {
			return nil
		}
		return xs
	}
	out := []store.FieldChange{
		{Field: store.FieldAddress, After: u.Address},
		{Field: store.FieldOrigin, After: u.Origin},
		{Field: store.FieldAnchor, After: u.Anchor},
		{Field: store.FieldAliases, After: list(u.Aliases)},
		{Field: store.FieldDisplayName, After: u.DisplayName},
		{Field: store.FieldGivenName, After: u.GivenName},
		{Field: store.FieldSurname, After: u.Surname},
		{Field: store.FieldPhone, After: u.Phone},
		{Field: store.FieldDepartment, After: u.Department},
		{Field: store.FieldTitle, After: u.Title},
		{Field: store.FieldEnabled, After: u.Enabled},
		{Field: store.FieldProtected, After: u.Protected},
	}
	if u.Kind == store.KindGroup {
		out = append(out, store.FieldChange{Field: store.FieldMembers, After: list(u.Members)})
	}
	return out
}

// diffUsers returns the fields that differ between before and after.
func diffUsers(before, after store.User) []store.FieldChange {
	b, a := fieldValues(before), fieldValues(after)
	var out []store.FieldChange
	for i := range a {
		if !reflect.DeepEqual(b[i].After, a[i].After) {
			out = append(out, store.FieldChange{Field: a[i].Field, Before: b[i].After, After: a[i].After})
		}
	}
	return out
}

// createChanges lists a new object's set fields; enabled is always shown
// because a disabled new account is worth seeing in the log.
func createChanges(u store.User) []store.FieldChange {
	var out []store.FieldChange
	for _, f := range fieldValues(u) {
		if f.Field == store.FieldEnabled || !isZero(f.After) {
			out = append(out, f)
		}
	}
	return out
}

// deleteChanges records what a deleted object held, so the log alone is enough
// to recreate it.
func deleteChanges(u store.User) []store.FieldChange {
	var out []store.FieldChange
	for _, f := range fieldValues(u) {
		if f.Field == store.FieldEnabled || !isZero(f.After) {
			out = append(out, store.FieldChange{Field: f.Field, Before: f.After})
		}
	}
	return out
}

func isZero(v any) bool {
	return v == nil || v == "" || v == false
}

func toString(field string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("%w: field %s wants a string, not %T", store.ErrInvalid, field, v)
}

// toStrings accepts []string and, for changes decoded from JSON, []any holding
// strings.
func toStrings(field string, v any) ([]string, error) {
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
				return nil, fmt.Errorf("%w: field %s wants strings, found %T", store.ErrInvalid, field, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: field %s wants a list of strings, not %T", store.ErrInvalid, field, v)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func collectStrings(rows pgx.Rows) ([]string, error) {
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
