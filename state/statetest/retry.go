package statetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/state"
)

// testRetries checks the retry set: upserted and deleted by anchor in the
// commit that moves the cursor, all or nothing, per connector.
func testRetries(t *testing.T, b state.Backend) {
	ctx := t.Context()
	got, err := b.Retries(ctx, "c")
	require.NoError(t, err)
	require.Empty(t, got)

	lease := acquire(t, b, "c", "runner")
	x := state.Retry{Anchor: "x", Kind: "user", Address: "x@example.org",
		Record:   json.RawMessage(`{"Anchor":"x","Mail":"x@example.org"}`),
		Attempts: 1, LastError: "address x@example.org is already the alias of y@example.org",
		FirstFailed: t0, LastAttempt: t0, NextAttempt: t0.Add(time.Minute)}
	y := state.Retry{Anchor: "y/ü \"1\"", Kind: "group", Address: "y@example.org", Record: json.RawMessage(`{"Anchor":"y"}`),
		Attempts: 10, LastError: "boom", FirstFailed: t0, LastAttempt: t0.Add(time.Hour), GivenUp: true}
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Cursor: []byte("c1"),
		Retries: map[string]state.Retry{x.Anchor: x, y.Anchor: y}}))
	requireRetries(t, b, "c", x, y)
	requireState(t, b, "c", state.Snapshot{}, []byte("c1"))

	// Upsert replaces by anchor; deletes apply before upserts; unknown deletes are no error.
	x.Attempts, x.LastAttempt = 2, t0.Add(2*time.Minute)
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Retries: map[string]state.Retry{x.Anchor: x},
		RetryDeletes: []string{x.Anchor, "never-stored"}}))
	requireRetries(t, b, "c", x, y)
	require.NoError(t, b.Commit(ctx, lease, state.Commit{RetryDeletes: []string{y.Anchor}}))
	requireRetries(t, b, "c", x)
	other, err := b.Retries(ctx, "other")
	require.NoError(t, err)
	require.Empty(t, other, "retry sets are per connector")

	// A stale lease writes neither the cursor nor the retry set.
	require.NoError(t, b.Release(ctx, lease))
	stale := state.Commit{Cursor: []byte("c2"), RetryDeletes: []string{x.Anchor},
		Retries: map[string]state.Retry{"z": {Anchor: "z", Address: "z@example.org", Record: json.RawMessage(`{}`)}}}
	require.ErrorIs(t, b.Commit(ctx, lease, stale), state.ErrStaleLease)
	requireRetries(t, b, "c", x)
	requireState(t, b, "c", state.Snapshot{}, []byte("c1"))

	// A large commit (staged by some backends) carries the retry set too.
	current := acquire(t, b, "c", "runner")
	big := map[string]state.Entry{}
	for i := range 5000 {
		big[fmt.Sprintf("big%d", i)] = state.Entry{Fingerprint: "f", Kind: "user", Address: "u@example.org"}
	}
	require.NoError(t, b.Commit(ctx, current, state.Commit{Upserts: big, RetryDeletes: []string{x.Anchor},
		Retries: map[string]state.Retry{y.Anchor: y}}))
	requireRetries(t, b, "c", y)
}

// testDestructiveLedger checks the brakes' window: lines appended by commits,
// read from a time on, pruned by age, all under the lease.
func testDestructiveLedger(t *testing.T, b state.Backend) {
	ctx := t.Context()
	got, err := b.DestructiveSince(ctx, "c", t0)
	require.NoError(t, err)
	require.Empty(t, got)

	lease := acquire(t, b, "c", "runner")
	day := 24 * time.Hour
	l1 := state.Destructive{At: t0, RunID: "r1", Kind: "disable", Domain: "example.org", Count: 8}
	l2 := state.Destructive{At: t0, RunID: "r1", Kind: "disable", Domain: "example.net", Count: 1}
	l3 := state.Destructive{At: t0.Add(day), RunID: "r2", Kind: "disable", Domain: "example.org", Count: 7}
	l4 := state.Destructive{At: t0.Add(3 * day), RunID: "r3", Kind: "alias removal", Domain: "example.org", Count: 2}
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Destructive: []state.Destructive{l1, l2}}))
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Destructive: []state.Destructive{l3}}))
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Destructive: []state.Destructive{l4}}))

	got, err = b.DestructiveSince(ctx, "c", t0)
	require.NoError(t, err)
	require.ElementsMatch(t, []state.Destructive{l1, l2, l3, l4}, got)
	require.Equal(t, l4, got[3], "oldest first")
	got, err = b.DestructiveSince(ctx, "c", t0.Add(day))
	require.NoError(t, err)
	require.Equal(t, []state.Destructive{l3, l4}, got)
	other, err := b.DestructiveSince(ctx, "other", t0)
	require.NoError(t, err)
	require.Empty(t, other, "ledgers are per connector")

	// A stale lease neither appends nor prunes.
	require.NoError(t, b.Release(ctx, lease))
	l5 := state.Destructive{At: t0.Add(4 * day), RunID: "r4", Kind: "delete", Domain: "example.org", Count: 1}
	require.ErrorIs(t, b.Commit(ctx, lease, state.Commit{Destructive: []state.Destructive{l5}, PruneDestructive: t0.Add(2 * day)}),
		state.ErrStaleLease)
	got, err = b.DestructiveSince(ctx, "c", t0)
	require.NoError(t, err)
	require.Len(t, got, 4)

	// Pruning drops the lines before the given time, in the same commit as an append.
	lease = acquire(t, b, "c", "runner")
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Destructive: []state.Destructive{l5}, PruneDestructive: t0.Add(day)}))
	got, err = b.DestructiveSince(ctx, "c", t0)
	require.NoError(t, err)
	require.Equal(t, []state.Destructive{l3, l4, l5}, got)
}

func requireRetries(t *testing.T, b state.Backend, connector string, want ...state.Retry) {
	t.Helper()
	got, err := b.Retries(t.Context(), connector)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		// Times come back in UTC and without the monotonic reading.
		require.JSONEq(t, string(mustJSON(t, want[i])), string(mustJSON(t, got[i])), "retry entry %d", i)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return raw
}
