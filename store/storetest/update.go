package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func testUpdate(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1", fullUser()...))
	before := e.user("alice@example.com")

	// Only the listed fields change. Before is the planner's belief and is
	// not checked against the store.
	e.applyOK(update("alice@example.com",
		store.FieldChange{Field: store.FieldDisplayName, Before: "stale", After: "Alice Q"},
		set(store.FieldTitle, "Director")))
	after := e.user("alice@example.com")
	want := before
	want.DisplayName, want.Title, want.Updated = "Alice Q", "Director", after.Updated
	require.Equal(t, want, after)
	require.False(t, after.Updated.Before(before.Updated))

	// Primary address change: the old address is released, aliases stay.
	e.applyOK(update("alice@example.com", set(store.FieldAddress, "Alice.Q@example.com")))
	e.notFound("alice@example.com")
	renamed := e.user("alice.q@example.com")
	require.Equal(t, before.ID, renamed.ID)
	require.Equal(t, "alice.q@example.com", renamed.Address)
	require.Equal(t, before.Aliases, renamed.Aliases)
	got, err := e.s.Lookup(e.ctx, "c1", nil, []string{"alice@example.com"})
	require.NoError(t, err)
	require.Empty(t, got)

	// Renaming to one of its own aliases promotes the alias.
	e.applyOK(update("alice.q@example.com", set(store.FieldAddress, "al@example.com")))
	promoted := e.user("al@example.com")
	require.Equal(t, before.ID, promoted.ID)
	require.Equal(t, "al@example.com", promoted.Address)
	require.Equal(t, []string{"alice.example@example.net"}, promoted.Aliases)
	e.notFound("alice.q@example.com")

	// Alias replacement.
	e.applyOK(update("al@example.com", set(store.FieldAliases, []string{"x2@example.com", "X1@example.com"})))
	require.Equal(t, []string{"x1@example.com", "x2@example.com"}, e.user("al@example.com").Aliases)
	e.notFound("alice.example@example.net")
	e.applyOK(update("al@example.com", set(store.FieldAliases, []string{"x2@example.com", "x3@example.net"})))
	require.Equal(t, []string{"x2@example.com", "x3@example.net"}, e.user("al@example.com").Aliases)
	e.notFound("x1@example.com")
	require.Equal(t, before.ID, e.user("x3@example.net").ID)
	// A released alias is free for another object.
	e.applyOK(create("x1@example.com", "X-1"))
	e.applyOK(update("al@example.com", set(store.FieldAliases, []string{})))
	require.Empty(t, e.user("al@example.com").Aliases)
	e.notFound("x2@example.com")

	// Rename and new aliases in one change, the old primary becoming an alias.
	e.applyOK(update("al@example.com", set(store.FieldAliases, []string{"al@example.com"}),
		set(store.FieldAddress, "alice@example.com")))
	u := e.user("al@example.com")
	require.Equal(t, "alice@example.com", u.Address)
	require.Equal(t, []string{"al@example.com"}, u.Aliases)

	// Flags.
	e.applyOK(update("alice@example.com", set(store.FieldEnabled, false), set(store.FieldProtected, true)))
	u = e.user("alice@example.com")
	require.False(t, u.Enabled)
	require.True(t, u.Protected)

	// Setting what is already there is not applied and not audited.
	audited := len(e.audit(store.AuditQuery{Address: "alice@example.com"}))
	out := e.applyOne(update("alice@example.com", set(store.FieldEnabled, false), set(store.FieldTitle, "Director")))
	require.NoError(t, out.Err)
	require.False(t, out.Applied)
	require.Len(t, e.audit(store.AuditQuery{Address: "alice@example.com"}), audited)

	// Missing object.
	out = e.applyOne(update("nobody@example.com", set(store.FieldTitle, "x")))
	require.False(t, out.Applied)
	require.ErrorIs(t, out.Err, store.ErrNotFound)
}

// testAdoption covers a connector taking over an object created by hand: the
// engine's soft match ends in an update of origin and anchor.
func testAdoption(t *testing.T, e *env) {
	manual := create("bob@example.com", "", set(store.FieldDisplayName, "Bob"))
	manual.Origin = store.OriginManual
	e.applyOK(manual, create("carol@example.com", "C-1"))

	adopt := update("bob@example.com", set(store.FieldOrigin, "c1"), set(store.FieldAnchor, "B-1"),
		set(store.FieldDepartment, "IT"))
	adopt.Anchor = "B-1"
	e.applyOK(adopt)
	bob := e.user("bob@example.com")
	require.Equal(t, "c1", bob.Origin)
	require.Equal(t, "B-1", bob.Anchor)
	require.Equal(t, "Bob", bob.DisplayName)
	require.Equal(t, "IT", bob.Department)
	got, err := e.s.Lookup(e.ctx, "c1", []string{"B-1"}, nil)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, bob.ID, got[0].ID)

	entry := e.audit(store.AuditQuery{Address: "bob@example.com", Limit: 1})[0]
	require.Equal(t, store.FieldChange{Field: store.FieldOrigin, Before: store.OriginManual, After: "c1"},
		field(t, entry.Changes, store.FieldOrigin))
	require.Equal(t, store.FieldChange{Field: store.FieldAnchor, Before: "", After: "B-1"},
		field(t, entry.Changes, store.FieldAnchor))

	// An (origin, anchor) pair belongs to one object.
	out := e.applyOne(update("bob@example.com", set(store.FieldAnchor, "C-1")))
	require.False(t, out.Applied)
	require.ErrorIs(t, out.Err, store.ErrConflict)
	require.Equal(t, "B-1", e.user("bob@example.com").Anchor)

	// Giving an object back to manual management clears its anchor.
	e.applyOK(update("bob@example.com", set(store.FieldOrigin, store.OriginManual), set(store.FieldAnchor, "")))
	bob = e.user("bob@example.com")
	require.Equal(t, store.OriginManual, bob.Origin)
	require.Empty(t, bob.Anchor)
}

func testDisableEnable(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1"))
	steps := []struct {
		action  store.Action
		applied bool
		enabled bool
	}{
		{store.ActionDisable, true, false},
		{store.ActionDisable, false, false},
		{store.ActionEnable, true, true},
		{store.ActionEnable, false, true},
		{store.ActionDisable, true, false},
	}
	for i, st := range steps {
		out := e.applyOne(action(st.action, "alice@example.com"))
		require.NoError(t, out.Err, "step %d", i)
		require.Equal(t, st.applied, out.Applied, "step %d", i)
		require.Equal(t, st.enabled, e.user("alice@example.com").Enabled, "step %d", i)
	}
	entries := e.audit(store.AuditQuery{Address: "alice@example.com"})
	require.Len(t, entries, 4) // create + 3 applied steps
	require.Equal(t, store.ActionDisable, entries[0].Action)
	require.Equal(t, []store.FieldChange{{Field: store.FieldEnabled, Before: true, After: false}}, entries[0].Changes)
	require.Equal(t, store.ActionEnable, entries[1].Action)

	for _, a := range []store.Action{store.ActionDisable, store.ActionEnable} {
		out := e.applyOne(action(a, "nobody@example.com"))
		require.False(t, out.Applied)
		require.ErrorIs(t, out.Err, store.ErrNotFound, "%s", a)
	}
}

// testAnchoredChanges: a change that names a source object by (origin, anchor) acts
// on that object only. The engine plans disables from cached addresses, and the
// address may belong to another object by the time the change applies.
func testAnchoredChanges(t *testing.T, e *env) {
	e.applyOK(create("x@example.com", "X-1"))
	// Another source object takes the address over (re-anchored by the sync).
	e.applyOK(update("x@example.com", set(store.FieldAnchor, "Y-1")))
	stale := action(store.ActionDisable, "x@example.com")
	stale.Anchor = "X-1"
	out := e.applyOne(stale)
	require.NoError(t, out.Err)
	require.False(t, out.Applied, "X-1 is gone: nothing to disable")
	require.True(t, e.user("x@example.com").Enabled, "the object now holding the address is untouched")

	// The anchor finds its object even under a cached address that changed.
	e.applyOK(update("x@example.com", set(store.FieldAddress, "y@example.com")))
	renamed := action(store.ActionDisable, "x@example.com")
	renamed.Anchor = "Y-1"
	out = e.applyOne(renamed)
	require.NoError(t, out.Err)
	require.True(t, out.Applied)
	require.False(t, e.user("y@example.com").Enabled)
}

func testDelete(t *testing.T, e *env) {
	e.applyOK(
		create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})),
		create("bob@example.com", "B-1"),
	)
	e.applyOK(createGroup("team@example.com", "G-1",
		set(store.FieldMembers, []string{"alice@example.com", "bob@example.com"})))
	require.Equal(t, []string{"alice@example.com", "bob@example.com"}, e.user("team@example.com").Members)

	e.applyOK(action(store.ActionDelete, "alice@example.com"))
	e.notFound("alice@example.com")
	e.notFound("al@example.com")
	require.Equal(t, []string{"bob@example.com"}, e.user("team@example.com").Members)
	got, err := e.s.Lookup(e.ctx, "c1", []string{"A-1"}, []string{"al@example.com"})
	require.NoError(t, err)
	require.Empty(t, got)

	entry := e.audit(store.AuditQuery{Address: "alice@example.com", Limit: 1})[0]
	require.Equal(t, store.ActionDelete, entry.Action)
	require.Equal(t, "new in source", e.audit(store.AuditQuery{Address: "alice@example.com"})[1].Reason)

	// Deleting what is not there is already in effect.
	for _, addr := range []string{"alice@example.com", "never@example.com"} {
		out := e.applyOne(action(store.ActionDelete, addr))
		require.NoError(t, out.Err, addr)
		require.False(t, out.Applied, addr)
	}

	// The deleted object's addresses are free again.
	e.applyOK(create("al@example.com", "A-2"), create("x@example.com", "X-1",
		set(store.FieldAliases, []string{"alice@example.com"})))

	// Deleting a group leaves its members alone.
	e.applyOK(action(store.ActionDelete, "team@example.com"))
	e.notFound("team@example.com")
	e.user("bob@example.com")
}
