package postgres

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func set(field string, v any) store.FieldChange { return store.FieldChange{Field: field, After: v} }

func create(kind, addr, anchor string, fields ...store.FieldChange) store.Change {
	return store.Change{Action: store.ActionCreate, Kind: kind, Address: addr, Origin: "c1", Anchor: anchor,
		Changes: fields, Reason: "new in source"}
}

// awkwardRequest mixes, in one request, everything that must leave the batched
// path or interleave with it.
func awkwardRequest() []store.Change {
	u, g := store.KindUser, store.KindGroup
	rename := store.Change{Action: store.ActionUpdate, Address: "bob@example.com", Origin: "c1",
		Changes: []store.FieldChange{set(store.FieldAddress, "bob2@example.com")}, Reason: "renamed"}
	return []store.Change{
		create(u, "u1@example.com", "U-1", set(store.FieldAliases, []string{"U1.Alias@example.net"})),
		create(u, "alice@example.com", "A-1", set(store.FieldDisplayName, "Alice B")), // re-applied: an update
		create(u, "u2@example.com", "U-2", set(store.FieldEnabled, false), set(store.FieldProtected, true)),
		create(u, "u3@example.com", "U-3", set(store.FieldAliases, []string{"al@example.com"})), // alias taken
		create(g, "g1@example.com", "G-1", set(store.FieldMembers, []string{"carol@example.com"})),
		create(u, "dup@example.com", "D-1"),
		create(u, "DUP@example.com", "D-2"), // same address in the run
		create(u, "nul@example.com", "N-1", set(store.FieldDisplayName, "a\x00b")),
		create(u, "shared1@example.com", "S-1", set(store.FieldAliases, []string{"shared@example.com"})),
		create(u, "shared2@example.com", "S-2", set(store.FieldAliases, []string{"shared@example.com"})),
		create(g, "g2@example.com", "G-2", set(store.FieldMembers, []string{"u2@example.com", "carol@example.com"})),
		create(g, "g3@example.com", "G-3", set(store.FieldMembers, []string{"g3@example.com"})), // itself
		create(g, "g4@example.com", "G-4", set(store.FieldMembers, []string{"later@example.com"})),
		create(u, "later@example.com", "L-1"),
		create(u, "x@example.org", "X-1"),                                                          // not internal
		create(u, "carol.new@example.com", "C-1"),                                                  // renames carol by anchor
		create(g, "g5@example.com", "G-5", set(store.FieldMembers, []string{"carol@example.com"})), // gone by now
		create(u, "u4@example.com", "U-4", set("shoe_size", "42")),
		rename,
		create(g, "g6@example.com", "G-6", set(store.FieldMembers, []string{"bob2@example.com", "al@example.com", "alice@example.com"})),
		create(u, "u5@example.com", "U-5", set(store.FieldDisplayName, "Five")),
	}
}

// TestBulkMatchesOneAtATime applies the awkward request on two stores, one with
// the batched path and one without, and requires the same outcomes, objects and
// audit log.
func TestBulkMatchesOneAtATime(t *testing.T) {
	type result struct {
		outcomes []string
		users    []store.User
		audit    []store.AuditEntry
	}
	run := func(bulk bool) result {
		s := openTest(t, testSchema(t))
		s.c.bulk = bulk
		ctx := t.Context()
		for _, d := range []string{"example.com", "example.net"} {
			require.NoError(t, s.AddDomain(ctx, d, store.Actor{Kind: "system"}))
		}
		actor := store.Actor{Kind: "sync", Name: "c1", RunID: "r1"}
		manual := create(store.KindUser, "bob@example.com", "")
		manual.Origin = store.OriginManual
		_, err := s.Apply(ctx, store.ApplyRequest{Actor: actor, Changes: []store.Change{
			create(store.KindUser, "alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})),
			create(store.KindUser, "carol@example.com", "C-1"),
			manual,
		}})
		require.NoError(t, err)
		out, err := s.Apply(ctx, store.ApplyRequest{Actor: actor, Fence: &store.Fence{Name: "c1", Token: 3},
			Changes: awkwardRequest()})
		require.NoError(t, err)
		var r result
		for _, o := range out {
			msg := "applied"
			if !o.Applied {
				msg = "not applied"
			}
			if o.Err != nil {
				msg += ": " + o.Err.Error()
			}
			r.outcomes = append(r.outcomes, msg)
		}
		users, _, err := s.Users(ctx, store.ListQuery{Limit: 1000})
		require.NoError(t, err)
		for _, u := range users {
			// Ids and times differ between two stores, and only between them.
			u.ID, u.Created, u.Updated = 0, time.Time{}, time.Time{}
			r.users = append(r.users, u)
		}
		entries, err := s.Audit(ctx, store.AuditQuery{Limit: 1000})
		require.NoError(t, err)
		for _, e := range entries {
			e.ID, e.Time = 0, time.Time{}
			r.audit = append(r.audit, e)
		}
		return r
	}
	bulk, one := run(true), run(false)
	require.Equal(t, one.outcomes, bulk.outcomes)
	require.Equal(t, one.users, bulk.users)
	require.Equal(t, one.audit, bulk.audit)

	// What the request is meant to exercise did happen.
	want := map[int]string{
		1:  "applied",
		3:  "not applied: address al@example.com is already the alias of alice@example.com",
		6:  "not applied: address dup@example.com is already the primary address of dup@example.com",
		7:  "not applied: invalid change: ",
		9:  "not applied: address shared@example.com is already the alias of shared1@example.com",
		11: "not applied: invalid change: group g3@example.com cannot be a member of itself",
		12: "not applied: member later@example.com: not found",
		14: "not applied: domain example.org is not an internal domain of this directory",
		15: "applied",
		16: "not applied: member carol@example.com: not found",
		17: "not applied: invalid change: unknown field \"shoe_size\"",
		19: "applied",
	}
	for i, w := range want {
		require.Contains(t, bulk.outcomes[i], w, "change %d", i)
	}
	var g6 store.User
	for _, u := range bulk.users {
		if u.Address == "g6@example.com" {
			g6 = u
		}
	}
	require.Equal(t, []string{"alice@example.com", "bob2@example.com"}, g6.Members)
}

// TestBulkFallsBackWhenTheSchemaRefuses: a row the pre-check cannot judge (an
// anchor too large for its index) makes the batch fail; the batch is rolled back
// to its savepoint and its creates are redone one at a time, so only that one
// is refused.
func TestBulkFallsBackWhenTheSchemaRefuses(t *testing.T) {
	huge := make([]byte, 10000)
	_, _ = rand.Read(huge)
	for _, bulk := range []bool{true, false} {
		s := openTest(t, testSchema(t))
		s.c.bulk = bulk
		ctx := t.Context()
		require.NoError(t, s.AddDomain(ctx, "example.com", store.Actor{Kind: "system"}))
		changes := userCreates(0, 3, false)
		changes[1].Anchor = hex.EncodeToString(huge)
		out, err := s.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "c1"}, Changes: changes})
		require.NoError(t, err)
		require.True(t, out[0].Applied)
		require.ErrorIs(t, out[1].Err, store.ErrInvalid, "bulk %v", bulk)
		require.True(t, out[2].Applied)
		_, err = s.User(ctx, "user1@example.com")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Len(t, must(s.Audit(ctx, store.AuditQuery{Limit: 10})), 3) // add_domain + 2 creates
	}
}
