package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func testDomains(t *testing.T, e *env) {
	admin := store.Actor{Kind: "admin", Name: "root"}
	for _, d := range []string{"EXAMPLE.com", "B.Example.Org", "example.net", " bücher.example "} {
		require.NoError(t, e.s.AddDomain(e.ctx, d, admin), d)
	}
	got, err := e.s.Domains(e.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"b.example.org", "example.com", "example.net", "xn--bcher-kva.example"}, got)

	require.ErrorIs(t, e.s.AddDomain(e.ctx, "localhost", admin), store.ErrInvalid)

	// Addresses are checked against the normalised domain.
	e.applyOK(create("Someone@B.EXAMPLE.ORG", "D-1"), create("jo@Bücher.example", "D-2"))
	require.Equal(t, "someone@b.example.org", e.user("someone@b.example.org").Address)
	require.Equal(t, "jo@xn--bcher-kva.example", e.user("jo@bücher.example").Address)
}

// fullUser sets every user field.
func fullUser() []store.FieldChange {
	return []store.FieldChange{
		set(store.FieldDisplayName, "Alice Example"),
		set(store.FieldGivenName, "Alice"),
		set(store.FieldSurname, "Example"),
		set(store.FieldPhone, "+1 555 0100"),
		set(store.FieldDepartment, "Sales"),
		set(store.FieldTitle, "Manager"),
		set(store.FieldAliases, []string{"Al@Example.com", "alice.example@EXAMPLE.NET"}),
		set(store.FieldEnabled, true),
	}
}

func testCreateUser(t *testing.T, e *env) {
	out := e.applyOne(create("Alice@Example.COM", "A-1", fullUser()...))
	require.NoError(t, out.Err)
	require.True(t, out.Applied)

	u := e.user("alice@example.com")
	require.NotZero(t, u.ID)
	require.Equal(t, store.KindUser, u.Kind)
	require.Equal(t, "alice@example.com", u.Address)
	require.Equal(t, []string{"al@example.com", "alice.example@example.net"}, u.Aliases)
	require.Equal(t, "Alice Example", u.DisplayName)
	require.Equal(t, "Alice", u.GivenName)
	require.Equal(t, "Example", u.Surname)
	require.Equal(t, "+1 555 0100", u.Phone)
	require.Equal(t, "Sales", u.Department)
	require.Equal(t, "Manager", u.Title)
	require.True(t, u.Enabled)
	require.Equal(t, "c1", u.Origin)
	require.Equal(t, "A-1", u.Anchor)
	require.False(t, u.Protected)
	require.Empty(t, u.Members)
	require.False(t, u.Created.IsZero())
	require.False(t, u.Updated.IsZero())

	for _, addr := range []string{"al@example.com", "ALICE.EXAMPLE@example.net", " Alice@example.com "} {
		require.Equal(t, u, e.user(addr), "by %q", addr)
	}
	e.notFound("bob@example.com")

	// Enabled defaults to true; an explicit false is kept; a manual object has
	// no anchor.
	manual := create("carol@example.com", "")
	manual.Origin = store.OriginManual
	e.applyOK(create("bob@example.com", "B-1", set(store.FieldEnabled, false)), manual)
	require.False(t, e.user("bob@example.com").Enabled)
	carol := e.user("carol@example.com")
	require.True(t, carol.Enabled)
	require.Equal(t, store.OriginManual, carol.Origin)
	require.Empty(t, carol.Anchor)
	require.Empty(t, carol.Aliases)
}

func testLookup(t *testing.T, e *env) {
	const n = 1200 // more than one IN-clause chunk in any backend
	changes := make([]store.Change, n)
	anchors := make([]string, n)
	for i := range changes {
		anchors[i] = fmt.Sprintf("A-%04d", i)
		changes[i] = create(fmt.Sprintf("user%04d@example.com", i), anchors[i],
			set(store.FieldAliases, []string{fmt.Sprintf("alias%04d@example.net", i)}))
	}
	e.applyOK(changes...)

	requireUnique := func(users []store.User) map[int64]store.User {
		t.Helper()
		byID := map[int64]store.User{}
		for _, u := range users {
			_, dup := byID[u.ID]
			require.False(t, dup, "%s returned twice", u.Address)
			byID[u.ID] = u
		}
		return byID
	}

	got, err := e.s.Lookup(e.ctx, "c1", append(anchors, "A-missing", ""), nil)
	require.NoError(t, err)
	require.Len(t, requireUnique(got), n)
	for _, u := range got {
		i := strings.TrimPrefix(u.Anchor, "A-")
		require.Equal(t, "user"+i+"@example.com", u.Address)
		require.Equal(t, []string{"alias" + i + "@example.net"}, u.Aliases)
	}

	got, err = e.s.Lookup(e.ctx, "c2", anchors, nil)
	require.NoError(t, err)
	require.Empty(t, got, "anchors are per origin")

	// By address: primaries for even i, aliases (in upper case) for odd i.
	addrs := []string{"nobody@example.com", "not an address"}
	for i := range n {
		if i%2 == 0 {
			addrs = append(addrs, fmt.Sprintf("user%04d@example.com", i))
		} else {
			addrs = append(addrs, fmt.Sprintf("ALIAS%04d@example.net", i))
		}
	}
	got, err = e.s.Lookup(e.ctx, "c1", nil, addrs)
	require.NoError(t, err)
	require.Len(t, requireUnique(got), n)

	// Both keys at once: objects found both ways come back once.
	got, err = e.s.Lookup(e.ctx, "c1", anchors[:10],
		[]string{"user0005@example.com", "alias0009@example.net", "user0010@example.com", "alias0011@example.net"})
	require.NoError(t, err)
	require.Len(t, requireUnique(got), 12)

	got, err = e.s.Lookup(e.ctx, "c1", nil, nil)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testNotInternal(t *testing.T, e *env) {
	e.applyOK(create("bob@example.com", "B-1"))
	tests := []struct {
		name   string
		change store.Change
		domain string
	}{
		{"primary", create("carol@example.org", "C-1"), "example.org"},
		{"alias", create("carol@example.com", "C-1", set(store.FieldAliases, []string{"c@example.org"})), "example.org"},
		{"subdomain", create("carol@sub.example.com", "C-1"), "sub.example.com"},
		{"new alias", update("bob@example.com", set(store.FieldAliases, []string{"bob@Example.ORG"})), "example.org"},
		{"rename", update("bob@example.com", set(store.FieldAddress, "bob@example.org")), "example.org"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := e.applyOne(tc.change)
			require.False(t, out.Applied)
			var nie *store.NotInternalError
			require.ErrorAs(t, out.Err, &nie)
			require.Equal(t, tc.domain, nie.Domain)
			require.ErrorIs(t, out.Err, store.ErrNotInternal)
			require.EqualError(t, out.Err, "domain "+tc.domain+" is not an internal domain of this directory")
			e.notFound("carol@example.com")
			bob := e.user("bob@example.com")
			require.Empty(t, bob.Aliases)
		})
	}
}

func testInvalid(t *testing.T, e *env) {
	tests := []struct {
		name   string
		change store.Change
	}{
		{"bad address", create("not-an-address", "X-1")},
		{"bad alias", create("x@example.com", "X-1", set(store.FieldAliases, []string{"x@"}))},
		{"unknown field", create("x@example.com", "X-1", set("shoe_size", "42"))},
		{"string field given a number", create("x@example.com", "X-1", set(store.FieldDisplayName, 42))},
		{"bool field given a string", create("x@example.com", "X-1", set(store.FieldEnabled, "yes"))},
		{"aliases given a string", create("x@example.com", "X-1", set(store.FieldAliases, "y@example.com"))},
		{"members of a user", create("x@example.com", "X-1", set(store.FieldMembers, []string{}))},
		{"alias equal to primary", create("x@example.com", "X-1", set(store.FieldAliases, []string{"X@example.com"}))},
		{"unknown action", store.Change{Action: "explode", Address: "x@example.com", Origin: "c1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := e.applyOne(tc.change)
			require.False(t, out.Applied)
			require.ErrorIs(t, out.Err, store.ErrInvalid)
			e.notFound("x@example.com")
		})
	}
}
