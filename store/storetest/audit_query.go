package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// testAuditQuery pins down AuditQuery's filters (actor name, action, time
// range) and its paging by BeforeID.
func testAuditQuery(t *testing.T, e *env) {
	c2 := store.Actor{Kind: "sync", Name: "c2", RunID: "run-9"}
	e.applyAs(syncActor, create("alice@example.com", "A-1"), create("bob@example.com", "B-1"))
	e.applyAs(c2, create("carol@example.com", "C-1"))
	e.applyAs(adminActor, update("alice@example.com", set(store.FieldTitle, "CEO")))
	e.applyAs(c2, update("carol@example.com", set(store.FieldTitle, "CFO")))
	// Locks are audited at the time the failed logins give, so the time
	// range can be tested at exact instants, long before everything else.
	day1 := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	e.lockAt("alice@example.com", day1)
	e.lockAt("bob@example.com", day2)

	type key struct {
		action store.Action
		addr   string
	}
	keys := func(q store.AuditQuery) []key {
		t.Helper()
		var out []key
		for i, en := range e.audit(q) {
			if q.ActorName != "" {
				require.Equal(t, q.ActorName, en.Actor.Name, "entry %d", i)
			}
			if q.Action != "" {
				require.Equal(t, q.Action, en.Action, "entry %d", i)
			}
			if en.Action == store.ActionAddDomain {
				continue // the set-up's
			}
			out = append(out, key{en.Action, en.Address})
		}
		return out
	}

	t.Run("ActorName", func(t *testing.T) {
		require.Equal(t, []key{{store.ActionUpdate, "carol@example.com"}, {store.ActionCreate, "carol@example.com"}},
			keys(store.AuditQuery{ActorName: "c2"}))
		require.Equal(t, []key{{store.ActionCreate, "bob@example.com"}, {store.ActionCreate, "alice@example.com"}},
			keys(store.AuditQuery{ActorKind: "sync", ActorName: "c1"}))
		require.Equal(t, []key{{store.ActionUpdate, "alice@example.com"}},
			keys(store.AuditQuery{ActorKind: "admin", ActorName: "root"}))
		require.Equal(t, []key{{store.ActionLock, "bob@example.com"}, {store.ActionLock, "alice@example.com"}},
			keys(store.AuditQuery{ActorKind: store.LoginActor.Kind, ActorName: store.LoginActor.Name}))
		require.Empty(t, keys(store.AuditQuery{ActorKind: "admin", ActorName: "c2"}), "both must hold")
		require.Empty(t, keys(store.AuditQuery{ActorName: "C2"}), "names keep their case")
	})

	t.Run("Action", func(t *testing.T) {
		require.Equal(t, []key{{store.ActionUpdate, "carol@example.com"}, {store.ActionUpdate, "alice@example.com"}},
			keys(store.AuditQuery{Action: store.ActionUpdate}))
		require.Equal(t, []key{{store.ActionCreate, "alice@example.com"}},
			keys(store.AuditQuery{Action: store.ActionCreate, Address: "alice@example.com"}))
		require.Equal(t, []key{{store.ActionLock, "bob@example.com"}, {store.ActionLock, "alice@example.com"}},
			keys(store.AuditQuery{Action: store.ActionLock}))
		require.Empty(t, keys(store.AuditQuery{Action: store.ActionDelete}))
		require.Empty(t, keys(store.AuditQuery{Action: "no_such_action"}))
	})

	t.Run("TimeRange", func(t *testing.T) {
		aliceLock := []key{{store.ActionLock, "alice@example.com"}}
		bobLock := []key{{store.ActionLock, "bob@example.com"}}
		require.Equal(t, aliceLock, keys(store.AuditQuery{Since: day1, Until: day2}), "Since is in, Until is out")
		require.Equal(t, aliceLock, keys(store.AuditQuery{Until: day2}))
		require.Equal(t, bobLock, keys(store.AuditQuery{Since: day2, Until: day2.Add(time.Second)}))
		require.Equal(t, bobLock, keys(store.AuditQuery{Since: day1.Add(time.Second), Until: day2.AddDate(1, 0, 0)}))
		require.Empty(t, keys(store.AuditQuery{Until: day1}))
		require.Empty(t, keys(store.AuditQuery{Since: day2, Until: day2}))
		require.Equal(t, bobLock, keys(store.AuditQuery{Since: day1, Until: day2.Add(time.Hour), Address: "bob@example.com"}))

		recent := keys(store.AuditQuery{Since: day2.Add(time.Second)})
		require.Len(t, recent, 5, "the creates and updates, not the locks: %v", recent)
		for _, k := range recent {
			require.NotEqual(t, store.ActionLock, k.action)
		}
		// Every entry's own time is in a range that starts at it.
		for _, en := range e.audit(store.AuditQuery{Limit: 1000}) {
			in := e.audit(store.AuditQuery{Since: en.Time, Until: en.Time.Add(time.Microsecond), Limit: 1000})
			require.Contains(t, ids(in), en.ID, "entry %d at %s", en.ID, en.Time)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		for _, q := range []store.AuditQuery{
			{},
			{ActorKind: "sync"},
			{Address: "alice@example.com"},
			{Since: day2.Add(time.Second)},
		} {
			all := e.audit(store.AuditQuery{Address: q.Address, ActorKind: q.ActorKind, Since: q.Since, Limit: 1000})
			require.NotEmpty(t, all)
			for _, size := range []int{1, 2, 3, len(all), len(all) + 1} {
				var paged []store.AuditEntry
				page := q
				page.Limit = size
				for range len(all) + 1 {
					got := e.audit(page)
					require.LessOrEqual(t, len(got), size)
					paged = append(paged, got...)
					if len(got) < size {
						break
					}
					page.BeforeID = got[len(got)-1].ID
				}
				require.Equal(t, all, paged, "query %+v, pages of %d: no gap, no overlap", q, size)
			}
		}
	})

	t.Run("PagingWhileWriting", func(t *testing.T) {
		all := e.audit(store.AuditQuery{Limit: 1000})
		first := e.audit(store.AuditQuery{Limit: 3})
		require.Equal(t, all[:3], first)
		// Entries made after the first page are newer: the next pages do not
		// show them and lose nothing.
		e.applyOK(create("dave@example.com", "D-1"))
		rest := e.audit(store.AuditQuery{BeforeID: first[len(first)-1].ID, Limit: 1000})
		require.Equal(t, all[3:], rest)
		require.Equal(t, "dave@example.com", e.audit(store.AuditQuery{Limit: 1})[0].Address)
		require.Empty(t, e.audit(store.AuditQuery{BeforeID: all[len(all)-1].ID}), "nothing before the oldest")
	})
}

// lockAt locks addr with failed logins at the instant at, so its lock entry
// has that time.
func (e *env) lockAt(addr string, at time.Time) {
	e.t.Helper()
	var a store.Account
	for range store.LockAfter {
		var err error
		a, err = e.s.LoginFailed(e.ctx, addr, "wrong password", at)
		require.NoError(e.t, err, "login failure of %s", addr)
	}
	require.True(e.t, a.Locked, "%s is locked", addr)
}

func ids(entries []store.AuditEntry) []int64 {
	out := make([]int64, len(entries))
	for i, en := range entries {
		out[i] = en.ID
	}
	return out
}
