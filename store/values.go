package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/mailaddr"
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
		{Field: FieldDefaultLead, After: u.Account.DefaultLead},
	}
	if u.Kind == KindGroup {
		out = append(out, FieldChange{Field: FieldMembers, After: list(u.Members)})
	} else {
		out = append(out, FieldChange{Field: FieldLicensed, After: u.Licensed},
			FieldChange{Field: FieldDirectoryAdmin, After: u.DirectoryAdmin})
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

// Cursor is the position after the last row of a page: the row's sort value and
// primary address. Exactly one of Text, Bool and Time is meaningful, depending on
// SortKind(Sort); a zero Time is "never" and sorts before every real time.
type Cursor struct {
	Sort    string    `json:"s"`
	Desc    bool      `json:"d,omitempty"`
	Text    string    `json:"t,omitempty"`
	Bool    bool      `json:"b,omitempty"`
	Time    time.Time `json:"m,omitzero"`
	Address string    `json:"a"`
}

// SortKind says how a sort column's values compare: "text", "bool" or "time".
func SortKind(column string) string {
	switch column {
	case "enabled", "registered", "locked":
		return "bool"
	case "created", "updated", "last_login":
		return "time"
	}
	return "text"
}

// EncodeCursor makes the opaque cursor string Users returns.
func EncodeCursor(c Cursor) string {
	b, _ := json.Marshal(c) // a struct of plain fields always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by EncodeCursor for a query sorted by sort
// (desc); a cursor from another sort order or a damaged one is ErrInvalid.
func DecodeCursor(s, sort string, desc bool) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Address == "" {
		return Cursor{}, fmt.Errorf("%w: cursor %q is not one this listing returned; start again without a cursor", ErrInvalid, s)
	}
	if c.Sort != sort || c.Desc != desc {
		return Cursor{}, fmt.Errorf("%w: the cursor belongs to a listing sorted by %s; keep the sort and order of the first page", ErrInvalid, c.Sort)
	}
	return c, nil
}

// ValidateListQuery checks q's sort column and filter values and returns q with
// defaults (sort "address") filled in.
func ValidateListQuery(q ListQuery) (ListQuery, error) {
	if q.Sort == "" {
		q.Sort = "address"
	}
	if !slices.Contains(SortColumns, q.Sort) {
		return q, fmt.Errorf("%w: cannot sort by %q; use one of %s", ErrInvalid, q.Sort, strings.Join(SortColumns, ", "))
	}
	switch q.Registration {
	case "", "registered", "unregistered":
	default:
		return q, fmt.Errorf("%w: registration %q: use registered, unregistered or all", ErrInvalid, q.Registration)
	}
	switch q.Status {
	case "", "enabled", "disabled", "locked":
	default:
		return q, fmt.Errorf("%w: status %q: use enabled, disabled or locked", ErrInvalid, q.Status)
	}
	if q.Letter != "" && q.Letter != "#" && (len(q.Letter) != 1 || q.Letter[0] < 'a' || q.Letter[0] > 'z') {
		lower := strings.ToLower(q.Letter)
		if len(lower) != 1 || lower[0] < 'a' || lower[0] > 'z' {
			return q, fmt.Errorf("%w: letter %q: use a single letter a-z, or # for names that do not start with one", ErrInvalid, q.Letter)
		}
		q.Letter = lower
	}
	if q.Limit < 0 {
		return q, fmt.Errorf("%w: limit %d: use a positive number", ErrInvalid, q.Limit)
	}
	if q.Domain != "" {
		// The stored form; a domain that does not normalise is compared
		// lower-cased and simply matches nothing.
		if n, err := mailaddr.NormalizeDomain(q.Domain); err == nil {
			q.Domain = n
		} else {
			q.Domain = strings.ToLower(strings.TrimSpace(q.Domain))
		}
	}
	return q, nil
}

// CursorAfter is the cursor after u in a listing sorted by column (desc), the
// one Users returns with a page that ends at u.
func CursorAfter(u User, column string, desc bool) Cursor {
	c := Cursor{Sort: column, Desc: desc, Address: u.Address}
	switch column {
	case "enabled":
		c.Bool = u.Enabled
	case "registered":
		c.Bool = u.Account.Registered
	case "locked":
		c.Bool = u.Account.Locked
	case "created":
		c.Time = u.Created
	case "updated":
		c.Time = u.Updated
	case "last_login":
		c.Time = u.Account.LastLogin
	default:
		c.Text = textColumn(u, column)
	}
	return c
}

// textColumn is u's value of a text sort column.
func textColumn(u User, column string) string {
	switch column {
	case "address":
		return u.Address
	case "display_name":
		return u.DisplayName
	case "given_name":
		return u.GivenName
	case "surname":
		return u.Surname
	case "phone":
		return u.Phone
	case "department":
		return u.Department
	case "title":
		return u.Title
	case "origin":
		return u.Origin
	}
	return ""
}

// DecodeChanges reads an audit entry's JSON-encoded field changes back, giving
// list fields their []string type: callers compare audit values with the ones
// they applied. Every backend stores changes as this JSON.
func DecodeChanges(body string) ([]FieldChange, error) {
	var changes []FieldChange
	if err := json.Unmarshal([]byte(body), &changes); err != nil {
		return nil, fmt.Errorf("decode changes: %w", err)
	}
	for i := range changes {
		switch changes[i].Field {
		case FieldAliases, FieldMembers, AuditRoles, AuditPermissions, AuditScopes:
			changes[i].Before = asStrings(changes[i].Before)
			changes[i].After = asStrings(changes[i].After)
		}
	}
	return changes, nil
}

// asStrings turns a decoded JSON array into []string and leaves anything else
// (nil for a missing side) alone.
func asStrings(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
