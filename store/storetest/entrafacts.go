package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// testEntraFacts checks the Microsoft 365 facts an Entra connector writes
// (licensed, directory_admin): stored by creates (batched or not) and updates,
// read back by every read path, audited with before and after, users only.
func testEntraFacts(t *testing.T, e *env) {
	e.applyOK(
		create("alice@example.com", "A-1", set(store.FieldLicensed, true), set(store.FieldDirectoryAdmin, true)),
		create("bob@example.com", "B-1", set(store.FieldLicensed, false), set(store.FieldDirectoryAdmin, false)),
		create("carol@example.com", "C-1", set(store.FieldDisplayName, "Carol")))
	alice, bob, carol := e.user("alice@example.com"), e.user("bob@example.com"), e.user("carol@example.com")
	require.True(t, alice.Licensed)
	require.True(t, alice.DirectoryAdmin)
	require.False(t, bob.Licensed || bob.DirectoryAdmin)
	require.False(t, carol.Licensed || carol.DirectoryAdmin, "an object whose source does not set them has them false")

	found, err := e.s.Lookup(e.ctx, "c1", []string{"A-1"}, nil)
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.True(t, found[0].Licensed && found[0].DirectoryAdmin, "Lookup reads them")
	list, _, err := e.s.Users(e.ctx, store.ListQuery{Search: "alice"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.True(t, list[0].Licensed && list[0].DirectoryAdmin, "Users reads them")

	crt := e.auditOf("alice@example.com", store.ActionCreate)
	require.Len(t, crt, 1)
	require.Equal(t, store.FieldChange{Field: store.FieldLicensed, After: true}, field(t, crt[0].Changes, store.FieldLicensed))
	require.Equal(t, store.FieldChange{Field: store.FieldDirectoryAdmin, After: true}, field(t, crt[0].Changes, store.FieldDirectoryAdmin))
	for _, c := range e.auditOf("bob@example.com", store.ActionCreate)[0].Changes {
		require.NotContains(t, []string{store.FieldLicensed, store.FieldDirectoryAdmin}, c.Field, "false facts are not listed on a create")
	}

	// A licence removed and a role granted in Microsoft 365: the next sync's
	// updates, each audited with before and after.
	e.applyOK(update("alice@example.com", set(store.FieldLicensed, false)),
		update("bob@example.com", set(store.FieldDirectoryAdmin, true)))
	require.False(t, e.user("alice@example.com").Licensed)
	require.True(t, e.user("alice@example.com").DirectoryAdmin)
	require.True(t, e.user("bob@example.com").DirectoryAdmin)
	for addr, want := range map[string]store.FieldChange{
		"alice@example.com": {Field: store.FieldLicensed, Before: true, After: false},
		"bob@example.com":   {Field: store.FieldDirectoryAdmin, Before: false, After: true},
	} {
		upd := e.auditOf(addr, store.ActionUpdate)
		require.Len(t, upd, 1, addr)
		require.Equal(t, []store.FieldChange{want}, upd[0].Changes, addr)
	}

	// Setting what is there is not applied; a non-bool is refused.
	out := e.applyOne(update("bob@example.com", set(store.FieldDirectoryAdmin, true)))
	require.NoError(t, out.Err)
	require.False(t, out.Applied)
	out = e.applyOne(update("bob@example.com", set(store.FieldLicensed, "yes")))
	require.False(t, out.Applied)
	require.ErrorIs(t, out.Err, store.ErrInvalid)
	require.False(t, e.user("bob@example.com").Licensed)

	// Only users have a licence or a directory role.
	out = e.applyOne(createGroup("all@example.com", "G-1", set(store.FieldLicensed, true)))
	require.False(t, out.Applied)
	require.ErrorIs(t, out.Err, store.ErrInvalid)
	e.notFound("all@example.com")
	e.applyOK(createGroup("all@example.com", "G-1"))
	out = e.applyOne(update("all@example.com", set(store.FieldDirectoryAdmin, true)))
	require.False(t, out.Applied)
	require.ErrorIs(t, out.Err, store.ErrInvalid)

	// A delete records what the user held.
	e.applyOK(action(store.ActionDelete, "alice@example.com"))
	del := e.auditOf("alice@example.com", store.ActionDelete)
	require.Len(t, del, 1)
	require.Equal(t, store.FieldChange{Field: store.FieldDirectoryAdmin, Before: true}, field(t, del[0].Changes, store.FieldDirectoryAdmin))
}
