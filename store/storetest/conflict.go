package storetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func testAddressUniqueness(t *testing.T, e *env) {
	e.applyOK(
		create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})),
		create("bob@example.com", "B-1"),
	)
	aliceBefore, bobBefore := e.user("alice@example.com"), e.user("bob@example.com")

	tests := []struct {
		name   string
		change store.Change
		want   store.ConflictError
	}{
		{"primary is another's alias", create("AL@example.com", "C-1"),
			store.ConflictError{Address: "al@example.com", Owner: "alice@example.com", AsAlias: true}},
		{"primary is another's primary", create("alice@example.com", "C-1"),
			store.ConflictError{Address: "alice@example.com", Owner: "alice@example.com"}},
		{"alias is another's primary", create("carol@example.com", "C-1", set(store.FieldAliases, []string{"alice@example.com"})),
			store.ConflictError{Address: "alice@example.com", Owner: "alice@example.com"}},
		{"alias is another's alias", create("carol@example.com", "C-1", set(store.FieldAliases, []string{"Al@example.com"})),
			store.ConflictError{Address: "al@example.com", Owner: "alice@example.com", AsAlias: true}},
		{"new alias is another's alias", update("bob@example.com", set(store.FieldAliases, []string{"al@example.com"})),
			store.ConflictError{Address: "al@example.com", Owner: "alice@example.com", AsAlias: true}},
		{"new alias is another's primary", update("bob@example.com", set(store.FieldAliases, []string{"bob2@example.com", "alice@example.com"})),
			store.ConflictError{Address: "alice@example.com", Owner: "alice@example.com"}},
		{"rename to another's primary", update("bob@example.com", set(store.FieldAddress, "alice@example.com")),
			store.ConflictError{Address: "alice@example.com", Owner: "alice@example.com"}},
		{"rename to another's alias", update("bob@example.com", set(store.FieldAddress, "al@example.com")),
			store.ConflictError{Address: "al@example.com", Owner: "alice@example.com", AsAlias: true}},
		{"partial create is undone", create("dave@example.com", "D-1", set(store.FieldAliases, []string{"dave.alias@example.com", "al@example.com"})),
			store.ConflictError{Address: "al@example.com", Owner: "alice@example.com", AsAlias: true}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The change after the refused one still applies.
			other := fmt.Sprintf("ok%d@example.com", i)
			audited := len(e.audit(store.AuditQuery{Limit: 1000}))
			out := e.apply(tc.change, create(other, fmt.Sprintf("OK-%d", i)))
			require.False(t, out[0].Applied)
			var ce *store.ConflictError
			require.ErrorAs(t, out[0].Err, &ce)
			require.Equal(t, tc.want, *ce)
			require.ErrorIs(t, out[0].Err, store.ErrConflict)
			require.NoError(t, out[1].Err)
			require.True(t, out[1].Applied)
			e.user(other)

			require.Equal(t, aliceBefore, e.user("al@example.com"))
			require.Equal(t, bobBefore, e.user("bob@example.com"))
			for _, addr := range []string{"carol@example.com", "dave@example.com", "dave.alias@example.com", "bob2@example.com"} {
				e.notFound(addr)
			}
			require.Len(t, e.audit(store.AuditQuery{Limit: 1000}), audited+1, "only the applied change is audited")
		})
	}
}

func testIdempotency(t *testing.T, e *env) {
	alice := create("alice@example.com", "A-1", set(store.FieldDisplayName, "Alice"),
		set(store.FieldAliases, []string{"al@example.com"}))
	e.applyOK(alice)
	first := e.user("alice@example.com")

	out := e.applyOne(alice)
	require.NoError(t, out.Err)
	require.False(t, out.Applied, "re-applied create")
	require.Equal(t, first, e.user("alice@example.com"))
	require.Len(t, e.audit(store.AuditQuery{Address: "alice@example.com"}), 1)

	// Same identity, new values: the create converges like an update.
	changed := create("alice@example.com", "A-1", set(store.FieldDisplayName, "Alice B"),
		set(store.FieldAliases, []string{"al@example.com"}))
	out = e.applyOne(changed)
	require.NoError(t, out.Err)
	require.True(t, out.Applied)
	got := e.user("alice@example.com")
	require.Equal(t, first.ID, got.ID)
	require.Equal(t, "Alice B", got.DisplayName)
	entries := e.audit(store.AuditQuery{Address: "alice@example.com"})
	require.Len(t, entries, 2)
	require.Equal(t, store.ActionUpdate, entries[0].Action)
	require.Equal(t, []store.FieldChange{{Field: store.FieldDisplayName, Before: "Alice", After: "Alice B"}},
		entries[0].Changes)

	// Same address, another identity: a conflict, not an update.
	for _, other := range []store.Change{
		create("alice@example.com", "A-2", set(store.FieldDisplayName, "Impostor")),
		func() store.Change {
			ch := create("alice@example.com", "A-1", set(store.FieldDisplayName, "Impostor"))
			ch.Origin = "c2"
			return ch
		}(),
	} {
		out := e.applyOne(other)
		require.False(t, out.Applied)
		var ce *store.ConflictError
		require.ErrorAs(t, out.Err, &ce)
		require.Equal(t, store.ConflictError{Address: "alice@example.com", Owner: "alice@example.com"}, *ce)
		require.Equal(t, "Alice B", e.user("alice@example.com").DisplayName)
	}

	// Manual objects have no anchor; the address alone is their identity.
	manual := create("bob@example.com", "", set(store.FieldDisplayName, "Bob"))
	manual.Origin = store.OriginManual
	e.applyOK(manual)
	out = e.applyOne(manual)
	require.NoError(t, out.Err)
	require.False(t, out.Applied)

	// Re-applied updates, twice in one request too, are silent.
	upd := update("alice@example.com", set(store.FieldTitle, "CEO"))
	outs := e.apply(upd, upd)
	require.True(t, outs[0].Applied)
	require.NoError(t, outs[1].Err)
	require.False(t, outs[1].Applied)
	require.Len(t, e.audit(store.AuditQuery{Address: "alice@example.com"}), 3)
}
