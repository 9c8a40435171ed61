package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// listAll pages through q and returns every address, failing when pages
// overlap or never end.
func listAll(t *testing.T, s *Store, q store.ListQuery) []string {
	t.Helper()
	var out []string
	for range 100 {
		page, next, err := s.Users(t.Context(), q)
		require.NoError(t, err)
		for _, u := range page {
			out = append(out, u.Address)
		}
		if next == "" {
			return out
		}
		q.Cursor = next
	}
	require.FailNow(t, "pagination does not end")
	return nil
}

// TestListSortsAndFilters pages every sort column both ways with a small page
// size and checks the order against one read of the whole table, and the
// filters against hand-written expectations.
func TestListSortsAndFilters(t *testing.T) {
	s := openTest(t, testSchema(t))
	ctx := t.Context()
	for _, d := range []string{"example.com", "example.net"} {
		require.NoError(t, s.AddDomain(ctx, d, admin))
	}
	named := func(addr, display string, fields ...store.FieldChange) store.Change {
		return store.Change{Action: store.ActionCreate, Address: addr, Origin: "c1", Anchor: addr,
			Changes: append([]store.FieldChange{set(store.FieldDisplayName, display)}, fields...)}
	}
	_, err := s.Apply(ctx, store.ApplyRequest{Actor: admin, Changes: []store.Change{
		named("zed@example.com", "alice Z", set(store.FieldSurname, "b")),
		named("bob@example.net", "Bob", set(store.FieldSurname, "B"), set(store.FieldEnabled, false)),
		named("carl@example.com", "", set(store.FieldSurname, "a")),
		named("dan@example.com", "Émile", set(store.FieldSurname, "b")),
		named("eve@example.com", "9 lives", set(store.FieldDefaultLead, true)),
		named("abe@example.net", "", set(store.FieldAliases, []string{"100%_off@example.com"})),
	}})
	require.NoError(t, err)
	require.NoError(t, s.Register(ctx, "carl@example.com", store.Registration{PasswordHash: "h"}, admin))
	require.NoError(t, s.LoginSucceeded(ctx, "carl@example.com", t0))
	require.NoError(t, s.LoginSucceeded(ctx, "eve@example.com", t0.Add(-time.Hour)))
	for range store.LockAfter {
		_, err := s.LoginFailed(ctx, "bob@example.net", "wrong", t0)
		require.NoError(t, err)
	}
	require.True(t, must(s.User(ctx, "eve@example.com")).Account.DefaultLead)

	for _, col := range store.SortColumns {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", col, desc), func(t *testing.T) {
				whole := listAll(t, s, store.ListQuery{Sort: col, Desc: desc, Limit: 1000})
				require.Len(t, whole, 6)
				require.Equal(t, whole, listAll(t, s, store.ListQuery{Sort: col, Desc: desc, Limit: 2}))
				require.Equal(t, whole, listAll(t, s, store.ListQuery{Sort: col, Desc: desc, Limit: 1}))
			})
		}
	}
	tests := []struct {
		name string
		q    store.ListQuery
		want []string
	}{
		{"surname bytes, ties by address", store.ListQuery{Sort: "surname"},
			[]string{"abe@example.net", "eve@example.com", "bob@example.net", "carl@example.com", "dan@example.com", "zed@example.com"}},
		{"never logged in first", store.ListQuery{Sort: "last_login", Limit: 1000},
			[]string{"abe@example.net", "bob@example.net", "dan@example.com", "zed@example.com", "eve@example.com", "carl@example.com"}},
		{"never logged in last, descending", store.ListQuery{Sort: "last_login", Desc: true},
			[]string{"carl@example.com", "eve@example.com", "zed@example.com", "dan@example.com", "bob@example.net", "abe@example.net"}},
		{"letter from display name or address", store.ListQuery{Letter: "A"}, []string{"abe@example.net", "zed@example.com"}},
		{"letter from address", store.ListQuery{Letter: "c"}, []string{"carl@example.com"}},
		{"letter: not a-z", store.ListQuery{Letter: "#"}, []string{"dan@example.com", "eve@example.com"}},
		{"domain", store.ListQuery{Domain: "Example.NET"}, []string{"abe@example.net", "bob@example.net"}},
		{"registered", store.ListQuery{Registration: "registered"}, []string{"carl@example.com"}},
		{"disabled", store.ListQuery{Status: "disabled"}, []string{"bob@example.net"}},
		{"locked first, descending", store.ListQuery{Sort: "locked", Desc: true, Limit: 1}, []string{"bob@example.net"}},
		{"search wildcards literal", store.ListQuery{Search: "100%_"}, []string{"abe@example.net"}},
		{"search ASCII case folding only", store.ListQuery{Search: "émile"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := listAll(t, s, tc.q)
			if tc.q.Limit == 1 {
				page, _, err := s.Users(ctx, tc.q)
				require.NoError(t, err)
				got = []string{page[0].Address}
			}
			require.Equal(t, tc.want, got)
		})
	}

	_, next, err := s.Users(ctx, store.ListQuery{Sort: "surname", Limit: 1})
	require.NoError(t, err)
	for _, q := range []store.ListQuery{
		{Sort: "surname", Desc: true, Cursor: next},
		{Sort: "title", Cursor: next},
		{Cursor: "garbage"},
		{Sort: "password_hash"},
		{Status: "gone"},
		{Letter: "ab"},
	} {
		_, _, err := s.Users(ctx, q)
		require.ErrorIs(t, err, store.ErrInvalid, "%+v", q)
	}
}
