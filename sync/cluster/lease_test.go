package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
)

// stubCoordinator answers HoldLeader with what the test sets; the rest is unused.
type stubCoordinator struct {
	state.Coordinator
	hold func() (state.LeaderLease, error)
}

func (s *stubCoordinator) HoldLeader(context.Context, string, time.Duration) (state.LeaderLease, error) {
	return s.hold()
}

// The lease counts from before the request that took it: a node whose request
// took long must not believe it leads for the request's time past the moment
// Redis lets another replica in. Checked at the exact nanosecond.
func TestLeaseCountsFromBeforeTheRequest(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const lease = 15 * time.Second
	start := clock.Now()
	coord := &stubCoordinator{hold: func() (state.LeaderLease, error) {
		clock.Advance(2 * time.Second) // a slow round trip
		return state.LeaderLease{Held: true}, nil
	}}
	n := New(coord, Options{Lease: lease, Now: clock.Now}, zaptest.NewLogger(t))
	require.Equal(t, lease/3, n.campaign(t.Context()))
	require.True(t, n.IsLeader())
	clock.Advance(start.Add(lease).Add(-time.Nanosecond).Sub(clock.Now()))
	require.True(t, n.IsLeader(), "not before the lease's end")
	clock.Advance(time.Nanosecond)
	require.False(t, n.IsLeader(), "over at start+lease, not at the end of the request that took it")
}

// While the backend does not answer, the node keeps leading by its clock until
// the lease's end, then steps down at the next campaign.
func TestUnansweredRenewalLeadsUntilTheLeaseEnds(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const lease = 9 * time.Second
	var down error
	coord := &stubCoordinator{hold: func() (state.LeaderLease, error) {
		return state.LeaderLease{Held: down == nil}, down
	}}
	n := New(coord, Options{Lease: lease, Now: clock.Now}, zaptest.NewLogger(t))
	n.campaign(t.Context())
	require.True(t, n.isElectedNow())
	down = errors.New("connection refused")
	clock.Advance(lease - time.Nanosecond)
	n.campaign(t.Context())
	require.True(t, n.IsLeader())
	require.True(t, n.isElectedNow(), "still leading: the lease is not over")
	clock.Advance(time.Nanosecond)
	require.False(t, n.IsLeader())
	n.campaign(t.Context())
	require.False(t, n.isElectedNow(), "stepped down once the lease ended")
}

// A follower campaigns again just after the holder's lease ends, not a whole
// renewal period later: a dead leader is replaced within the lease.
func TestFollowerCampaignsWhenTheHoldersLeaseEnds(t *testing.T) {
	const lease = 900 * time.Millisecond
	for _, tc := range []struct {
		name string
		left time.Duration
		next time.Duration
	}{
		{"ends before the next renewal", 100 * time.Millisecond, 110 * time.Millisecond},
		{"ends after the next renewal", lease - time.Millisecond, lease / 3},
		{"no expiry known", 0, lease / 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coord := &stubCoordinator{hold: func() (state.LeaderLease, error) {
				return state.LeaderLease{Holder: "dead", Left: tc.left}, nil
			}}
			n := New(coord, Options{Lease: lease}, zaptest.NewLogger(t))
			require.Equal(t, tc.next, n.campaign(t.Context()))
			require.False(t, n.IsLeader())
		})
	}
}

func (n *Node) isElectedNow() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.isElected()
}
