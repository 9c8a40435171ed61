package storetest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func testGroups(t *testing.T, e *env) {
	e.applyOK(
		create("u1@example.com", "U-1"),
		create("u2@example.com", "U-2"),
		create("u3@example.com", "U-3"),
		create("u4@example.com", "U-4", set(store.FieldAliases, []string{"u4.alias@example.net"})),
	)
	e.applyOK(createGroup("team@example.com", "G-1",
		set(store.FieldDisplayName, "Team"),
		set(store.FieldAliases, []string{"all@example.com"}),
		set(store.FieldMembers, []string{"u3@example.com", "U1@Example.com"})))
	team := e.user("all@example.com")
	require.Equal(t, store.KindGroup, team.Kind)
	require.Equal(t, "team@example.com", team.Address)
	require.Equal(t, "Team", team.DisplayName)
	require.Equal(t, []string{"u1@example.com", "u3@example.com"}, team.Members, "sorted by primary address")
	require.Empty(t, e.user("u1@example.com").Members)

	// Replace the member list.
	e.applyOK(update("team@example.com", set(store.FieldMembers, []string{"u1@example.com", "u2@example.com"})))
	require.Equal(t, []string{"u1@example.com", "u2@example.com"}, e.user("team@example.com").Members)
	entry := e.audit(store.AuditQuery{Address: "team@example.com", Limit: 1})[0]
	require.Equal(t, []store.FieldChange{{
		Field:  store.FieldMembers,
		Before: []string{"u1@example.com", "u3@example.com"},
		After:  []string{"u1@example.com", "u2@example.com"},
	}}, entry.Changes)

	// A member named by alias is stored as its object, listed by primary.
	e.applyOK(update("team@example.com",
		set(store.FieldMembers, []string{"u1@example.com", "u2@example.com", "u4.alias@example.net"})))
	require.Equal(t, []string{"u1@example.com", "u2@example.com", "u4@example.com"}, e.user("team@example.com").Members)

	// An unknown member refuses the whole change.
	out := e.applyOne(update("team@example.com",
		set(store.FieldDisplayName, "Renamed"),
		set(store.FieldMembers, []string{"u1@example.com", "ghost@example.com"})))
	require.False(t, out.Applied)
	require.ErrorIs(t, out.Err, store.ErrNotFound)
	require.ErrorContains(t, out.Err, "ghost@example.com")
	team = e.user("team@example.com")
	require.Equal(t, "Team", team.DisplayName)
	require.Len(t, team.Members, 3)

	// Renaming a member shows in the group without touching it.
	e.applyOK(update("u1@example.com", set(store.FieldAddress, "zed@example.com")))
	require.Equal(t, []string{"u2@example.com", "u4@example.com", "zed@example.com"}, e.user("team@example.com").Members)

	// Removing every member, then nesting a group.
	e.applyOK(update("team@example.com", set(store.FieldMembers, []string{})))
	require.Empty(t, e.user("team@example.com").Members)
	e.applyOK(createGroup("outer@example.com", "G-2", set(store.FieldMembers, []string{"team@example.com", "u2@example.com"})))
	require.Equal(t, []string{"team@example.com", "u2@example.com"}, e.user("outer@example.com").Members)

	// Kind is checked against the stored object.
	wrongKind := update("u2@example.com", set(store.FieldTitle, "x"))
	wrongKind.Kind = store.KindGroup
	out = e.applyOne(wrongKind)
	require.False(t, out.Applied)
	require.Error(t, out.Err)

	groups, next, err := e.s.Users(e.ctx, store.ListQuery{Kind: store.KindGroup})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, groups, 2)
	require.Equal(t, "outer@example.com", groups[0].Address)
	require.Equal(t, []string{"team@example.com", "u2@example.com"}, groups[0].Members)
	require.Equal(t, "team@example.com", groups[1].Address)
	require.Equal(t, []string{"all@example.com"}, groups[1].Aliases)
}

// testDecodedValues applies changes that went through JSON, as a plan read back
// from disk or the admin API does: lists arrive as []any.
func testDecodedValues(t *testing.T, e *env) {
	e.applyOK(create("u1@example.com", "U-1"), create("u2@example.com", "U-2"))
	plan := `[
		{"action": "create", "kind": "user", "address": "alice@example.com", "origin": "c1", "anchor": "A-1",
		 "changes": [
			{"field": "display_name", "after": "Alice"},
			{"field": "aliases", "after": ["al@example.com", "alice2@example.net"]},
			{"field": "enabled", "after": false}
		 ], "reason": "new"},
		{"action": "create", "kind": "group", "address": "team@example.com", "origin": "c1", "anchor": "G-1",
		 "changes": [{"field": "members", "after": ["u2@example.com", "alice@example.com"]}], "reason": "new"}
	]`
	var changes []store.Change
	require.NoError(t, json.Unmarshal([]byte(plan), &changes))
	require.IsType(t, []any{}, changes[0].Changes[1].After)
	e.applyOK(changes...)

	alice := e.user("alice@example.com")
	require.Equal(t, "Alice", alice.DisplayName)
	require.Equal(t, []string{"al@example.com", "alice2@example.net"}, alice.Aliases)
	require.False(t, alice.Enabled)
	require.Equal(t, []string{"alice@example.com", "u2@example.com"}, e.user("team@example.com").Members)

	e.applyOK(
		update("alice@example.com", set(store.FieldAliases, []any{"al@example.com"})),
		update("team@example.com", set(store.FieldMembers, []any{"u1@example.com"})),
	)
	require.Equal(t, []string{"al@example.com"}, e.user("alice@example.com").Aliases)
	require.Equal(t, []string{"u1@example.com"}, e.user("team@example.com").Members)

	// The same values as []any and as []string are the same state.
	out := e.applyOne(update("alice@example.com", set(store.FieldAliases, []string{"al@example.com"})))
	require.NoError(t, out.Err)
	require.False(t, out.Applied)

	out = e.applyOne(update("alice@example.com", set(store.FieldAliases, []any{"al@example.com", 7})))
	require.ErrorIs(t, out.Err, store.ErrInvalid)
}
