package statetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/state"
)

// clockSlack allows for a backend whose clock (a server's) differs a little from ours.
const clockSlack = 5 * time.Second

func testLockExclusive(t *testing.T, b state.Backend) {
	ctx := t.Context()
	before := time.Now()
	first, err := b.Acquire(ctx, "c", "owner-1", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "c", first.Connector)
	require.Equal(t, "owner-1", first.Owner)
	require.Positive(t, first.Token)
	require.WithinRange(t, first.Expires, before.Add(time.Minute-clockSlack), time.Now().Add(time.Minute+clockSlack))

	_, err = b.Acquire(ctx, "c", "owner-2", time.Minute)
	require.ErrorIs(t, err, state.ErrLocked, "another owner")
	// Not reentrant: two runs started by one process must not both write.
	_, err = b.Acquire(ctx, "c", "owner-1", time.Minute)
	require.ErrorIs(t, err, state.ErrLocked, "the same owner again")

	require.NoError(t, b.Release(ctx, first))
	require.NoError(t, b.Release(ctx, first), "releasing twice")
	_, err = b.Renew(ctx, first, time.Minute)
	require.ErrorIs(t, err, state.ErrStaleLease, "renewing a released lease")

	// Every hand-over gets a higher token.
	prev := first
	for i := range 3 {
		l := acquire(t, b, "c", fmt.Sprintf("owner-%d", i+2))
		require.Greater(t, l.Token, prev.Token)
		require.NoError(t, b.Release(ctx, l))
		prev = l
	}

	// Releasing a stale lease leaves the current holder's lock alone.
	holder := acquire(t, b, "c", "holder")
	require.Greater(t, holder.Token, prev.Token)
	require.NoError(t, b.Release(ctx, first))
	require.NoError(t, b.Release(ctx, prev))
	_, err = b.Acquire(ctx, "c", "intruder", time.Minute)
	require.ErrorIs(t, err, state.ErrLocked)
	require.NoError(t, b.Commit(ctx, holder, state.Commit{Cursor: []byte("still mine")}))
}

func testLockRenew(t *testing.T, b state.Backend) {
	ctx := t.Context()
	const short = 300 * time.Millisecond
	l, err := b.Acquire(ctx, "c", "runner", short)
	require.NoError(t, err)

	renewed, err := b.Renew(ctx, l, time.Minute)
	require.NoError(t, err)
	require.Equal(t, l.Connector, renewed.Connector)
	require.Equal(t, l.Owner, renewed.Owner)
	require.Equal(t, l.Token, renewed.Token, "renewing keeps the token")
	require.True(t, renewed.Expires.After(l.Expires), "renewed expiry %s is not after %s", renewed.Expires, l.Expires)

	// Outlive the first ttl: the renewal must be what keeps the lock.
	time.Sleep(short + 200*time.Millisecond)
	_, err = b.Acquire(ctx, "c", "other", time.Minute)
	require.ErrorIs(t, err, state.ErrLocked)

	// The lease is identified by its token, so the value from before the renewal
	// (which a committing goroutine may still hold) is as good as the renewed one.
	require.NoError(t, b.Commit(ctx, renewed, state.Commit{Cursor: []byte("c1")}))
	require.NoError(t, b.Commit(ctx, l, state.Commit{Cursor: []byte("c2")}))
	requireState(t, b, "c", state.Snapshot{}, []byte("c2"))
}

func testLockExpiry(t *testing.T, b state.Backend) {
	ctx := t.Context()
	const ttl = 200 * time.Millisecond
	old, err := b.Acquire(ctx, "c", "old", ttl)
	require.NoError(t, err)
	require.NoError(t, b.Commit(ctx, old, state.Commit{Cursor: []byte("old")}))

	// Poll rather than sleep a fixed time: the expiry is the backend's to judge.
	time.Sleep(ttl)
	var current state.Lease
	deadline := time.Now().Add(5 * time.Second)
	for {
		current, err = b.Acquire(ctx, "c", "new", time.Minute)
		if err == nil {
			break
		}
		require.ErrorIs(t, err, state.ErrLocked)
		require.True(t, time.Now().Before(deadline), "expired lock was not taken over within 5s")
		time.Sleep(25 * time.Millisecond)
	}
	require.Greater(t, current.Token, old.Token)

	require.ErrorIs(t, b.Commit(ctx, old, state.Commit{Cursor: []byte("stale")}), state.ErrStaleLease)
	_, err = b.Renew(ctx, old, time.Minute)
	require.ErrorIs(t, err, state.ErrStaleLease)
	require.NoError(t, b.Release(ctx, old), "releasing a stale lease is a no-op")
	_, err = b.Acquire(ctx, "c", "third", time.Minute)
	require.ErrorIs(t, err, state.ErrLocked, "the stale release must not free the new holder's lock")

	require.NoError(t, b.Commit(ctx, current, state.Commit{Cursor: []byte("new")}))
	requireState(t, b, "c", state.Snapshot{}, []byte("new"))
}

func testLockConcurrentAcquire(t *testing.T, b state.Backend) {
	ctx := t.Context()
	const racers = 8
	errs := make([]error, racers)
	leases := make([]state.Lease, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			leases[i], errs[i] = b.Acquire(ctx, "c", fmt.Sprintf("racer-%d", i), time.Minute)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "racers %d and %d both acquired the lock", winner, i)
			winner = i
			continue
		}
		require.ErrorIs(t, err, state.ErrLocked, "racer %d", i)
	}
	require.NotEqual(t, -1, winner, "no racer acquired the lock")
	require.Equal(t, fmt.Sprintf("racer-%d", winner), leases[winner].Owner)
	require.NoError(t, b.Commit(ctx, leases[winner], state.Commit{}))
}
