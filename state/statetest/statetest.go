// Package statetest is the conformance suite every state.Backend passes. A backend's
// own test calls RunTests with a constructor for a fresh, empty backend:
//
//	func TestConformance(t *testing.T) {
//		statetest.RunTests(t, func(t *testing.T) state.Backend {
//			b, err := local.Open(filepath.Join(t.TempDir(), "state.db"), zaptest.NewLogger(t))
//			require.NoError(t, err)
//			return b
//		})
//	}
//
// What the suite cannot see through the interface (surviving a restart, sharing
// between processes, the exact history bound) is left to each backend's own tests.
package statetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/state"
)

// RunTests runs the conformance suite. newBackend is called once per subtest and
// must return an empty backend; RunTests closes it when the subtest ends, so Close
// must tolerate being called again by the constructor's own cleanup. Subtests run
// one after another, so backends sharing a server may simply flush it.
func RunTests(t *testing.T, newBackend func(t *testing.T) state.Backend) {
	tests := []struct {
		name string
		run  func(t *testing.T, b state.Backend)
	}{
		{"Empty", testEmpty},
		{"LockExclusive", testLockExclusive},
		{"LockRenew", testLockRenew},
		{"LockExpiry", testLockExpiry},
		{"LockConcurrentAcquire", testLockConcurrentAcquire},
		{"Commit", testCommit},
		{"CommitStaleLease", testCommitStaleLease},
		{"CommitConcurrent", testCommitConcurrent},
		{"LargeSnapshot", testLargeSnapshot},
		{"ConnectorsIndependent", testConnectorsIndependent},
		{"Runs", testRuns},
		{"RunHistoryBound", testRunHistoryBound},
		{"Holds", testHolds},
		{"Reports", testReports},
		{"ReportExpiry", testReportExpiry},
		{"Retries", testRetries},
		{"DestructiveLedger", testDestructiveLedger},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() { require.NoError(t, b.Close()) })
			tc.run(t, b)
		})
	}
}

func testEmpty(t *testing.T, b state.Backend) {
	ctx := t.Context()
	snap, err := b.Snapshot(ctx, "unknown")
	require.NoError(t, err)
	require.NotNil(t, snap, "Snapshot of an unknown connector must be an empty map, not nil")
	require.Empty(t, snap)

	cursor, err := b.Cursor(ctx, "unknown")
	require.NoError(t, err)
	require.Nil(t, cursor)

	runs, err := b.Runs(ctx, "unknown", 10)
	require.NoError(t, err)
	require.Empty(t, runs)
	runs, err = b.Runs(ctx, "", 10)
	require.NoError(t, err)
	require.Empty(t, runs)

	holds, err := b.Holds(ctx, "unknown")
	require.NoError(t, err)
	require.Empty(t, holds)
	holds, err = b.Holds(ctx, "")
	require.NoError(t, err)
	require.Empty(t, holds)
}

func testCommit(t *testing.T, b state.Backend) {
	ctx := t.Context()
	lease := acquire(t, b, "c", "runner")

	x := state.Entry{Fingerprint: "fx", Kind: "user", Address: "x@example.org"}
	y := state.Entry{Fingerprint: "fy", Kind: "group", Address: "y@example.org", Ref: "cn=y,dc=example,dc=org"}
	require.NoError(t, b.Commit(ctx, lease, state.Commit{
		Upserts: map[string]state.Entry{"x": x, "y": y},
		Cursor:  []byte("c1"),
	}))
	requireState(t, b, "c", state.Snapshot{"x": x, "y": y}, []byte("c1"))

	// The returned map belongs to the caller.
	snap, err := b.Snapshot(ctx, "c")
	require.NoError(t, err)
	delete(snap, "x")
	snap["q"] = x
	requireState(t, b, "c", state.Snapshot{"x": x, "y": y}, []byte("c1"))

	// A nil cursor leaves the stored one; deleting an unknown anchor is no error.
	z := state.Entry{Fingerprint: "fz", Kind: "user", Address: "z@example.org", Missing: 2, Gone: true}
	require.NoError(t, b.Commit(ctx, lease, state.Commit{
		Upserts: map[string]state.Entry{"z": z},
		Deletes: []string{"x", "never-stored"},
	}))
	requireState(t, b, "c", state.Snapshot{"y": y, "z": z}, []byte("c1"))

	y.Fingerprint, y.Missing = "fy2", 1
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Upserts: map[string]state.Entry{"y": y}}))
	requireState(t, b, "c", state.Snapshot{"y": y, "z": z}, []byte("c1"))

	// ClearCursor is ignored when a cursor is given.
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Cursor: []byte("c2"), ClearCursor: true}))
	requireState(t, b, "c", state.Snapshot{"y": y, "z": z}, []byte("c2"))

	require.NoError(t, b.Commit(ctx, lease, state.Commit{ClearCursor: true}))
	requireState(t, b, "c", state.Snapshot{"y": y, "z": z}, nil)

	require.NoError(t, b.Commit(ctx, lease, state.Commit{}))
	requireState(t, b, "c", state.Snapshot{"y": y, "z": z}, nil)
}

func testCommitStaleLease(t *testing.T, b state.Backend) {
	ctx := t.Context()
	x := state.Entry{Fingerprint: "fx", Kind: "user", Address: "x@example.org"}
	old := acquire(t, b, "c", "old")
	require.NoError(t, b.Commit(ctx, old, state.Commit{
		Upserts: map[string]state.Entry{"x": x},
		Cursor:  []byte("c1"),
	}))

	// Everything the stale commit would change, so a partial apply shows.
	stale := state.Commit{
		Upserts: map[string]state.Entry{"y": {Fingerprint: "fy", Address: "y@example.org"}},
		Deletes: []string{"x"},
		Cursor:  []byte("c2"),
	}
	require.NoError(t, b.Release(ctx, old))
	require.ErrorIs(t, b.Commit(ctx, old, stale), state.ErrStaleLease, "commit after release")
	requireState(t, b, "c", state.Snapshot{"x": x}, []byte("c1"))

	current := acquire(t, b, "c", "new")
	require.ErrorIs(t, b.Commit(ctx, old, stale), state.ErrStaleLease, "commit with a replaced lease")
	clearing := state.Commit{Deletes: []string{"x"}, ClearCursor: true}
	require.ErrorIs(t, b.Commit(ctx, old, clearing), state.ErrStaleLease, "clearing commit with a replaced lease")

	forged := []state.Lease{
		{Connector: "c", Owner: current.Owner, Token: current.Token + 1, Expires: current.Expires},
		{Connector: "c", Owner: "someone-else", Token: current.Token, Expires: current.Expires},
		{Connector: "other", Owner: current.Owner, Token: current.Token, Expires: current.Expires},
	}
	for _, l := range forged {
		require.ErrorIs(t, b.Commit(ctx, l, stale), state.ErrStaleLease, "forged lease %+v", l)
	}
	requireState(t, b, "c", state.Snapshot{"x": x}, []byte("c1"))
	requireState(t, b, "other", state.Snapshot{}, nil)

	require.NoError(t, b.Commit(ctx, current, stale))
	requireState(t, b, "c", state.Snapshot{"y": stale.Upserts["y"]}, []byte("c2"))
}

// testCommitConcurrent checks that concurrent commits under one lease lose nothing.
func testCommitConcurrent(t *testing.T, b state.Backend) {
	ctx := t.Context()
	lease := acquire(t, b, "c", "runner")
	const writers, perWriter = 8, 25
	want := state.Snapshot{}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		upserts := map[string]state.Entry{}
		for i := range perWriter {
			e := state.Entry{Fingerprint: fmt.Sprintf("f%d-%d", w, i), Kind: "user", Address: fmt.Sprintf("u%d-%d@example.org", w, i)}
			upserts[fmt.Sprintf("w%d/%d", w, i)] = e
			want[fmt.Sprintf("w%d/%d", w, i)] = e
		}
		wg.Go(func() {
			errs[w] = b.Commit(ctx, lease, state.Commit{Upserts: upserts})
			if errs[w] == nil {
				_, errs[w] = b.Snapshot(ctx, "c")
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		require.NoError(t, err, "writer %d", w)
	}
	requireState(t, b, "c", want, nil)
}

func testLargeSnapshot(t *testing.T, b state.Backend) {
	ctx := t.Context()
	n := 100_000
	if testing.Short() {
		n = 5_000
	}
	want := make(state.Snapshot, n)
	for i := range n {
		e := state.Entry{
			Fingerprint: fmt.Sprintf("%064x", i*7919),
			Kind:        "user",
			Address:     fmt.Sprintf("user%06d@example.org", i),
			Missing:     i % 5,
			Gone:        i%7 == 0,
		}
		if i%3 == 0 {
			e.Kind = "group"
			e.Ref = fmt.Sprintf("CN=Grüppe %d,OU=Groups,DC=example,DC=org", i)
		}
		// Anchors are opaque to the backend: GUIDs, DNs, anything.
		want[fmt.Sprintf("anchor/%d/ü \"%x\"", i, i)] = e
	}
	lease := acquire(t, b, "big", "runner")
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Upserts: want, Cursor: []byte("big-cursor")}))

	got, err := b.Snapshot(ctx, "big")
	require.NoError(t, err)
	requireSameSnapshot(t, want, got)

	// An incremental commit on top of the large snapshot touches only its anchors.
	deletes := make([]string, 0, n/10)
	for k := range want {
		if len(deletes) == cap(deletes) {
			break
		}
		deletes = append(deletes, k)
	}
	for _, k := range deletes {
		delete(want, k)
	}
	want["new"] = state.Entry{Fingerprint: "fnew", Kind: "user", Address: "new@example.org"}
	require.NoError(t, b.Commit(ctx, lease, state.Commit{
		Upserts: map[string]state.Entry{"new": want["new"]},
		Deletes: deletes,
	}))
	got, err = b.Snapshot(ctx, "big")
	require.NoError(t, err)
	requireSameSnapshot(t, want, got)
}

func testConnectorsIndependent(t *testing.T, b state.Backend) {
	ctx := t.Context()
	la := acquire(t, b, "a", "runner")
	// The same owner may hold several connectors' locks.
	lb := acquire(t, b, "b", "runner")

	ea := state.Entry{Fingerprint: "fa", Kind: "user", Address: "shared@example.org"}
	eb := state.Entry{Fingerprint: "fb", Kind: "group", Address: "shared@example.org"}
	require.NoError(t, b.Commit(ctx, la, state.Commit{Upserts: map[string]state.Entry{"shared": ea}, Cursor: []byte("ca")}))
	requireState(t, b, "b", state.Snapshot{}, nil)

	require.NoError(t, b.Commit(ctx, lb, state.Commit{Upserts: map[string]state.Entry{"shared": eb}, Cursor: []byte("cb")}))
	requireState(t, b, "a", state.Snapshot{"shared": ea}, []byte("ca"))
	requireState(t, b, "b", state.Snapshot{"shared": eb}, []byte("cb"))

	require.NoError(t, b.Commit(ctx, la, state.Commit{Deletes: []string{"shared"}, ClearCursor: true}))
	requireState(t, b, "a", state.Snapshot{}, nil)
	requireState(t, b, "b", state.Snapshot{"shared": eb}, []byte("cb"))

	// Releasing a's lock leaves b's held.
	require.NoError(t, b.Release(ctx, la))
	_, err := b.Acquire(ctx, "b", "other", time.Minute)
	require.ErrorIs(t, err, state.ErrLocked)
	require.NoError(t, b.Commit(ctx, lb, state.Commit{}))
}

// acquire takes connector's lock for a minute, long enough that it cannot expire
// during a test.
func acquire(t *testing.T, b state.Backend, connector, owner string) state.Lease {
	t.Helper()
	l, err := b.Acquire(t.Context(), connector, owner, time.Minute)
	require.NoError(t, err, "acquire %q as %q", connector, owner)
	return l
}

// requireState checks connector's whole snapshot and cursor.
func requireState(t *testing.T, b state.Backend, connector string, want state.Snapshot, cursor []byte) {
	t.Helper()
	got, err := b.Snapshot(t.Context(), connector)
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Equal(t, want, got, "snapshot of %q", connector)
	c, err := b.Cursor(t.Context(), connector)
	require.NoError(t, err)
	require.Equal(t, cursor, c, "cursor of %q", connector)
}

// requireSameSnapshot compares entry by entry: a failing require.Equal on 100k
// entries would print both maps.
func requireSameSnapshot(t *testing.T, want, got state.Snapshot) {
	t.Helper()
	require.Len(t, got, len(want))
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			require.Failf(t, "entry missing", "anchor %q", k)
		}
		if g != w {
			require.Failf(t, "entry differs", "anchor %q: want %+v, got %+v", k, w, g)
		}
	}
}
