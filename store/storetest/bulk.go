package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// The batched create path (store/sqlstore's ApplyBatched) must be invisible:
// BulkMatchesOneAtATime applies one request that mixes everything that must
// leave the batched path or interleave with it, on a store with the path and
// one without, and requires the same outcomes, objects and audit log.

func bulkSet(field string, v any) store.FieldChange { return store.FieldChange{Field: field, After: v} }

func bulkCreate(kind, addr, anchor string, fields ...store.FieldChange) store.Change {
	return store.Change{Action: store.ActionCreate, Kind: kind, Address: addr, Origin: "c1", Anchor: anchor,
		Changes: fields, Reason: "new in source"}
}

// AwkwardRequest mixes, in one request, everything that must leave the batched
// path or interleave with it. Change 7 carries a NUL byte in a display name,
// which PostgreSQL refuses and SQLite keeps.
func AwkwardRequest() []store.Change {
	u, g := store.KindUser, store.KindGroup
	set, create := bulkSet, bulkCreate
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
		create(u, "u5@example.com", "U-5", set(store.FieldDisplayName, "Five"), set(store.FieldLicensed, true)),
		create(g, "g7@example.com", "G-7", set(store.FieldDirectoryAdmin, true)), // users only
	}
}

// BulkMatchesOneAtATime applies AwkwardRequest on two fresh stores from open,
// one with the batched create path (bulk true) and one without, requires the
// same outcomes, objects and audit log, and returns the outcomes as text
// ("applied", "not applied: <error>").
func BulkMatchesOneAtATime(t *testing.T, open func(t *testing.T, bulk bool) store.Store) []string {
	type result struct {
		outcomes []string
		users    []store.User
		audit    []store.AuditEntry
	}
	run := func(bulk bool) result {
		s := open(t, bulk)
		ctx := t.Context()
		for _, d := range []string{domainA, domainB} {
			require.NoError(t, s.AddDomain(ctx, d, store.Actor{Kind: "system"}))
		}
		actor := store.Actor{Kind: "sync", Name: "c1", RunID: "r1"}
		manual := bulkCreate(store.KindUser, "bob@example.com", "")
		manual.Origin = store.OriginManual
		_, err := s.Apply(ctx, store.ApplyRequest{Actor: actor, Changes: []store.Change{
			bulkCreate(store.KindUser, "alice@example.com", "A-1", bulkSet(store.FieldAliases, []string{"al@example.com"})),
			bulkCreate(store.KindUser, "carol@example.com", "C-1"),
			manual,
		}})
		require.NoError(t, err)
		out, err := s.Apply(ctx, store.ApplyRequest{Actor: actor, Fence: &store.Fence{Name: "c1", Token: 3},
			Changes: AwkwardRequest()})
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
		9:  "not applied: address shared@example.com is already the alias of shared1@example.com",
		11: "not applied: invalid change: group g3@example.com cannot be a member of itself",
		12: "not applied: member later@example.com: not found",
		14: "not applied: domain example.org is not an internal domain of this directory",
		15: "applied",
		16: "not applied: member carol@example.com: not found",
		17: "not applied: invalid change: unknown field \"shoe_size\"",
		19: "applied",
		20: "applied",
		21: "not applied: invalid change: g7@example.com is a group and cannot have field directory_admin",
	}
	for i, w := range want {
		require.Contains(t, bulk.outcomes[i], w, "change %d", i)
	}
	var g6, u5 store.User
	for _, u := range bulk.users {
		switch u.Address {
		case "g6@example.com":
			g6 = u
		case "u5@example.com":
			u5 = u
		}
	}
	require.Equal(t, []string{"alice@example.com", "bob2@example.com"}, g6.Members)
	require.True(t, u5.Licensed)
	require.Equal(t, "Five", u5.DisplayName)
	return bulk.outcomes
}
