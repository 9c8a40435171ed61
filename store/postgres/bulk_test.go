package postgres

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/storetest"
)

func set(field string, v any) store.FieldChange { return store.FieldChange{Field: field, After: v} }

// TestBulkMatchesOneAtATime: the batched path gives the outcomes, objects
// and audit log of the one-at-a-time path (storetest.BulkMatchesOneAtATime).
func TestBulkMatchesOneAtATime(t *testing.T) {
	out := storetest.BulkMatchesOneAtATime(t, func(t *testing.T, bulk bool) store.Store {
		s := openTest(t, testSchema(t))
		s.c.bulk = bulk
		return s
	})
	// PostgreSQL cannot store a NUL byte in text: that create is refused.
	require.Contains(t, out[7], "not applied: invalid change: ")
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
