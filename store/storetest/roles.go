package storetest

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// defaultRoles is store.DefaultRoles as Roles lists them: Role documents its
// permissions as sorted, while DefaultRoles spells Administrator's in the order
// of store.Permissions.
func defaultRoles() []store.Role {
	out := make([]store.Role, len(store.DefaultRoles))
	for i, r := range store.DefaultRoles {
		r.Permissions = slices.Sorted(slices.Values(r.Permissions))
		out[i] = r
	}
	return out
}

func sortRoles(roles []store.Role) []store.Role {
	out := slices.Clone(roles)
	slices.SortFunc(out, func(a, b store.Role) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (e *env) roles() []store.Role {
	e.t.Helper()
	roles, err := e.s.Roles(e.ctx)
	require.NoError(e.t, err)
	return roles
}

func testDefaultRoles(t *testing.T, e *env) {
	require.Len(t, store.DefaultRoles, 10)
	require.Equal(t, defaultRoles(), e.roles())
}

func testAddRole(t *testing.T, e *env) {
	// Names are chosen so that byte order and any collation agree.
	added := []store.Role{
		{Name: "Auditor", Permissions: []string{"users.read", "sync"}},
		{Name: "Support Admins", Permissions: []string{"support"}},
	}
	for _, r := range added {
		require.NoError(t, e.s.AddRole(e.ctx, r, adminActor), r.Name)
	}
	want := defaultRoles()
	want = append(want,
		store.Role{Name: "Auditor", Permissions: []string{"sync", "users.read"}},
		store.Role{Name: "Support Admins", Permissions: []string{"support"}})
	want = sortRoles(want)
	require.Equal(t, want, e.roles())

	entries := e.auditAction(store.ActionAddRole)
	require.Len(t, entries, 2)
	require.Equal(t, "Support Admins", entries[0].Address, "newest first, the role name as address")
	require.Equal(t, "Auditor", entries[1].Address)
	for _, en := range entries {
		require.Equal(t, adminActor, en.Actor)
	}
	// An audit query by a role's name finds its entries: the name is not an
	// address and keeps its case.
	byName := e.audit(store.AuditQuery{Address: "Support Admins"})
	require.Len(t, byName, 1)
	require.Equal(t, store.ActionAddRole, byName[0].Action)

	tests := []struct {
		name string
		role store.Role
		want error
	}{
		{"same name", store.Role{Name: "Auditor", Permissions: []string{"sync"}}, store.ErrRoleExists},
		{"other case", store.Role{Name: "aUDITOR", Permissions: []string{"sync"}}, store.ErrRoleExists},
		{"default role in lower case", store.Role{Name: "administrator", Permissions: []string{"support"}}, store.ErrRoleExists},
		{"empty name", store.Role{Permissions: []string{"sync"}}, store.ErrInvalid},
		{"unknown permission", store.Role{Name: "Launcher", Permissions: []string{"launch.missiles"}}, store.ErrInvalid},
		{"unknown beside known", store.Role{Name: "Launcher", Permissions: []string{"users.read", "root"}}, store.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, e.s.AddRole(e.ctx, tc.role, adminActor), tc.want)
			require.Equal(t, want, e.roles())
			require.Len(t, e.auditAction(store.ActionAddRole), 2, "a refused role is not audited")
		})
	}
}

func testSetRoles(t *testing.T, e *env) {
	e.applyOK(
		create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})),
		create("bob@example.com", "B-1"),
	)
	require.NoError(t, e.s.AddRole(e.ctx, store.Role{Name: "Support Admins", Permissions: []string{"support"}}, adminActor))
	setRoles := func(addr string, roles ...string) {
		t.Helper()
		require.NoError(t, e.s.SetRoles(e.ctx, addr, roles, adminActor), "%s: %v", addr, roles)
	}

	// Any case in, the defined spelling out, sorted; by alias too.
	setRoles("AL@example.com", "sales", "ADMINISTRATOR", "training")
	a := e.account("alice@example.com")
	require.Equal(t, []string{"Administrator", "Sales", "Training"}, a.Roles)
	require.True(t, a.SupportContact())

	// Replaced, not merged.
	setRoles("alice@example.com", "implementation LEAD", "Deal Registration")
	a = e.account("alice@example.com")
	require.Equal(t, []string{"Deal Registration", "Implementation Lead"}, a.Roles)
	require.False(t, a.SupportContact())

	// Unknown names change nothing and are named.
	before := e.user("alice@example.com")
	audited := len(e.audit(store.AuditQuery{Limit: 1000}))
	err := e.s.SetRoles(e.ctx, "alice@example.com", []string{"Sales", "Nope", "ghost"}, adminActor)
	var ure *store.UnknownRoleError
	require.ErrorAs(t, err, &ure)
	require.ElementsMatch(t, []string{"Nope", "ghost"}, ure.Names)
	require.ErrorIs(t, err, store.ErrUnknownRole)
	require.Equal(t, before, e.user("alice@example.com"))
	require.Len(t, e.audit(store.AuditQuery{Limit: 1000}), audited)

	// A role can only be assigned to a saved user.
	err = e.s.SetRoles(e.ctx, "nobody@example.com", []string{"Sales"}, adminActor)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Len(t, e.audit(store.AuditQuery{Limit: 1000}), audited)

	// A role whose name contains "admin" makes a support contact.
	setRoles("bob@example.com", "support admins")
	b := e.account("bob@example.com")
	require.Equal(t, []string{"Support Admins"}, b.Roles)
	require.True(t, b.SupportContact())

	// Listings carry the roles too.
	page, _, err := e.s.Users(e.ctx, store.ListQuery{})
	require.NoError(t, err)
	require.Len(t, page, 2)
	require.Equal(t, []string{"Deal Registration", "Implementation Lead"}, page[0].Account.Roles)
	require.Equal(t, []string{"Support Admins"}, page[1].Account.Roles)

	// An empty list removes every role.
	setRoles("alice@example.com")
	require.Empty(t, e.account("alice@example.com").Roles)
	require.Equal(t, []string{"Support Admins"}, e.account("bob@example.com").Roles)

	entries := e.auditOf("alice@example.com", store.ActionSetRoles)
	require.Len(t, entries, 3)
	for _, en := range entries {
		require.Equal(t, adminActor, en.Actor)
		require.Equal(t, "alice@example.com", en.Address)
	}
	require.Len(t, e.auditOf("bob@example.com", store.ActionSetRoles), 1)
}
