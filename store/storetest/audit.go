package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func testFencing(t *testing.T, e *env) {
	applyFenced := func(name string, token uint64, addr string) error {
		t.Helper()
		req := store.ApplyRequest{
			Actor:   syncActor,
			Fence:   &store.Fence{Name: name, Token: token},
			Changes: []store.Change{create(addr, addr)},
		}
		out, err := e.s.Apply(e.ctx, req)
		if err != nil {
			return err
		}
		require.Len(t, out, 1)
		require.NoError(t, out[0].Err)
		require.True(t, out[0].Applied)
		return nil
	}
	steps := []struct {
		name  string
		token uint64
		addr  string
		stale bool
	}{
		{"c1", 5, "a1@example.com", false},
		{"c1", 4, "a2@example.com", true},
		{"c1", 5, "a3@example.com", false}, // the holder's own token again
		{"c2", 1, "a4@example.com", false}, // fences are per name
		{"c1", 6, "a5@example.com", false},
		{"c1", 5, "a6@example.com", true},
		{"c2", 1, "a7@example.com", false},
		{"c2", 0, "a8@example.com", true},
	}
	for _, st := range steps {
		err := applyFenced(st.name, st.token, st.addr)
		if st.stale {
			require.ErrorIs(t, err, store.ErrStaleFence, "%s:%d", st.name, st.token)
			e.notFound(st.addr)
			require.Empty(t, e.audit(store.AuditQuery{Address: st.addr}))
			continue
		}
		require.NoError(t, err, "%s:%d", st.name, st.token)
		e.user(st.addr)
	}

	// Unfenced requests (admin edits) are not affected by fences.
	e.applyOK(create("admin-edit@example.com", "X-1"))
}

func testAudit(t *testing.T, e *env) {
	start := time.Now().Add(-time.Second) // tolerate a little clock skew
	run1 := store.Actor{Kind: "sync", Name: "c1", RunID: "run-1"}
	run2 := store.Actor{Kind: "sync", Name: "c1", RunID: "run-2"}
	admin := store.Actor{Kind: "admin", Name: "root"}

	e.applyAs(run1, create("alice@example.com", "A-1", set(store.FieldDisplayName, "Alice"),
		set(store.FieldAliases, []string{"al@example.com"})))
	upd := update("alice@example.com",
		store.FieldChange{Field: store.FieldDisplayName, Before: "what the planner thought", After: "Alice B"},
		store.FieldChange{Field: store.FieldAliases, Before: []string{"stale@example.com"}, After: []string{"al@example.com", "ally@example.com"}})
	upd.Reason = "renamed in source"
	e.applyAs(run2, upd)
	e.applyAs(run2, create("bob@example.com", "B-1"))
	disable := action(store.ActionDisable, "alice@example.com")
	disable.Reason = "left the company"
	e.applyAs(admin, disable)
	// Refused and not-applied changes leave no entry.
	e.applyAs(run2, create("carol@example.org", "C-1"), action(store.ActionEnable, "bob@example.com"))
	end := time.Now().Add(time.Second)

	entries := e.audit(store.AuditQuery{Address: "ALICE@example.com"})
	require.Len(t, entries, 3)
	require.Equal(t, []store.Action{store.ActionDisable, store.ActionUpdate, store.ActionCreate},
		[]store.Action{entries[0].Action, entries[1].Action, entries[2].Action}, "newest first")
	for i, en := range entries {
		require.Equal(t, "alice@example.com", en.Address)
		require.True(t, en.Time.After(start) && en.Time.Before(end), "entry %d time %s", i, en.Time)
		if i > 0 {
			require.Greater(t, entries[i-1].ID, en.ID)
			require.False(t, entries[i-1].Time.Before(en.Time))
		}
	}

	dis, upd2, crt := entries[0], entries[1], entries[2]
	require.Equal(t, admin, dis.Actor)
	require.Equal(t, "left the company", dis.Reason)
	require.Equal(t, []store.FieldChange{{Field: store.FieldEnabled, Before: true, After: false}}, dis.Changes)

	require.Equal(t, run2, upd2.Actor)
	require.Equal(t, "renamed in source", upd2.Reason)
	require.Equal(t, []store.FieldChange{
		{Field: store.FieldAliases, Before: []string{"al@example.com"}, After: []string{"al@example.com", "ally@example.com"}},
		{Field: store.FieldDisplayName, Before: "Alice", After: "Alice B"},
	}, sortChanges(upd2.Changes), "before values come from the store")

	require.Equal(t, run1, crt.Actor)
	require.Equal(t, "new in source", crt.Reason)
	for _, want := range []store.FieldChange{
		{Field: store.FieldDisplayName, After: "Alice"},
		{Field: store.FieldAliases, After: []string{"al@example.com"}},
		{Field: store.FieldEnabled, After: true},
	} {
		require.Equal(t, want, field(t, crt.Changes, want.Field))
	}

	byRun := e.audit(store.AuditQuery{RunID: "run-2"})
	require.Len(t, byRun, 2)
	require.Equal(t, "bob@example.com", byRun[0].Address)
	require.Equal(t, "alice@example.com", byRun[1].Address)

	both := e.audit(store.AuditQuery{Address: "alice@example.com", RunID: "run-2"})
	require.Len(t, both, 1)
	require.Equal(t, store.ActionUpdate, both[0].Action)

	limited := e.audit(store.AuditQuery{Address: "alice@example.com", Limit: 2})
	require.Equal(t, entries[:2], limited)

	require.Empty(t, e.audit(store.AuditQuery{Address: "carol@example.org"}))
	require.Empty(t, e.audit(store.AuditQuery{RunID: "run-3"}))
}

// sortChanges orders changes by field so a test does not depend on the order a
// backend lists them in.
func sortChanges(changes []store.FieldChange) []store.FieldChange {
	out := slices.Clone(changes)
	slices.SortFunc(out, func(a, b store.FieldChange) int { return strings.Compare(a.Field, b.Field) })
	return out
}

func testAuditActorKind(t *testing.T, e *env) {
	e.applyAs(syncActor, create("alice@example.com", "A-1"), create("bob@example.com", "B-1"))
	e.applyAs(adminActor, update("alice@example.com", set(store.FieldTitle, "CEO")))
	e.lock("alice@example.com")

	kinds := func(q store.AuditQuery) []store.Action {
		t.Helper()
		var out []store.Action
		for _, en := range e.audit(q) {
			require.Equal(t, q.ActorKind, en.Actor.Kind, "%s %s", en.Action, en.Address)
			out = append(out, en.Action)
		}
		return out
	}
	require.Equal(t, []store.Action{store.ActionLock}, kinds(store.AuditQuery{ActorKind: "system"}))
	require.Equal(t, []store.Action{store.ActionCreate, store.ActionCreate}, kinds(store.AuditQuery{ActorKind: "sync"}))
	require.Equal(t, []store.Action{store.ActionCreate}, kinds(store.AuditQuery{ActorKind: "sync", Address: "bob@example.com"}))
	require.Equal(t, []store.Action{store.ActionUpdate}, kinds(store.AuditQuery{ActorKind: "admin", Address: "alice@example.com"}))
	var all []store.Action
	for _, en := range e.audit(store.AuditQuery{Address: "alice@example.com"}) {
		all = append(all, en.Action)
	}
	require.Equal(t, []store.Action{store.ActionLock, store.ActionUpdate, store.ActionCreate}, all, "every kind without the filter")
	require.Contains(t, kinds(store.AuditQuery{ActorKind: "admin"}), store.ActionAddDomain, "the set-up's domains")
	require.Empty(t, kinds(store.AuditQuery{ActorKind: "import"}))
	require.Equal(t, []store.Action{store.ActionCreate}, kinds(store.AuditQuery{ActorKind: "sync", RunID: "run-1", Limit: 1}))
}
