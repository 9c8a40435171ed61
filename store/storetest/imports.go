package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// csvCreate builds a CSV import's create of addr.
func csvCreate(addr string) store.Change {
	return store.Change{Action: store.ActionCreate, Kind: store.KindUser, Address: addr, Origin: store.OriginCSV,
		Changes: []store.FieldChange{{Field: store.FieldDisplayName, After: "Imported"}}, Reason: "CSV import"}
}

// testImport pins down Import: all or nothing, the refused step named by its
// index, passwords set after the changes in the same transaction.
func testImport(t *testing.T, e *env) {
	e.applyOK(create("taken@example.com", "a-taken"))
	audited := len(e.audit(store.AuditQuery{}))

	// A refused change (the last one) undoes the changes before it.
	_, err := e.s.Import(e.ctx, store.ImportRequest{Actor: adminActor, Changes: []store.Change{
		csvCreate("one@example.com"), csvCreate("two@example.com"), csvCreate("taken@example.com"),
	}, Passwords: []store.PasswordChange{{Address: "one@example.com", Hash: pwHash("one"), ForceChange: true}}})
	var ie *store.ImportError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, 2, ie.Index)
	require.False(t, ie.Password)
	require.ErrorIs(t, err, store.ErrConflict)
	e.notFound("one@example.com")
	e.notFound("two@example.com")
	require.Len(t, e.audit(store.AuditQuery{}), audited, "nothing audited")

	// A refused password (the last one) undoes the changes and passwords before it.
	_, err = e.s.Import(e.ctx, store.ImportRequest{Actor: adminActor, Changes: []store.Change{csvCreate("one@example.com")},
		Passwords: []store.PasswordChange{
			{Address: "one@example.com", Hash: pwHash("one"), ForceChange: true},
			{Address: "ghost@example.com", Hash: pwHash("ghost")},
		}})
	require.ErrorAs(t, err, &ie)
	require.Equal(t, 1, ie.Index)
	require.True(t, ie.Password)
	require.ErrorIs(t, err, store.ErrNotFound)
	e.notFound("one@example.com")
	require.Len(t, e.audit(store.AuditQuery{}), audited, "nothing audited")

	// Success: created with its password; a change already in effect is no
	// failure; an empty hash keeps the password and sets the flag.
	out, err := e.s.Import(e.ctx, store.ImportRequest{Actor: adminActor, Changes: []store.Change{
		csvCreate("one@example.com"), csvCreate("two@example.com"),
	}, Passwords: []store.PasswordChange{{Address: "one@example.com", Hash: pwHash("one"), ForceChange: true}}})
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{{Applied: true}, {Applied: true}}, out)
	c := e.creds("one@example.com")
	require.Equal(t, pwHash("one"), c.PasswordHash)
	require.True(t, c.Account.ForceChange)
	require.Empty(t, e.creds("two@example.com").PasswordHash)
	require.Equal(t, store.OriginCSV, e.user("one@example.com").Origin)
	require.Len(t, e.auditOf("one@example.com", store.ActionSetPassword), 1)

	out, err = e.s.Import(e.ctx, store.ImportRequest{Actor: adminActor, Changes: []store.Change{csvCreate("one@example.com")},
		Passwords: []store.PasswordChange{{Address: "one@example.com", ForceChange: false}}})
	require.NoError(t, err)
	require.False(t, out[0].Applied, "already in effect")
	c = e.creds("one@example.com")
	require.Equal(t, pwHash("one"), c.PasswordHash, "kept")
	require.False(t, c.Account.ForceChange)

	// Keeping a password the user does not have is refused.
	_, err = e.s.Import(e.ctx, store.ImportRequest{Actor: adminActor,
		Passwords: []store.PasswordChange{{Address: "two@example.com", ForceChange: true}}})
	require.ErrorIs(t, err, store.ErrInvalid)
	e.requireNoSecrets(pwHash("one"), pwHash("ghost"))
}
