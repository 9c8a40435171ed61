package cluster_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/state/redis"
	"github.com/dirsync/dirsync/sync/cluster"
)

func backend(t *testing.T, prefix string) *redis.Backend {
	t.Helper()
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	b, err := redis.Open(context.Background(), redis.Options{Addrs: []string{addr}, Prefix: prefix}, zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

type replica struct {
	node    *cluster.Node
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	started []state.Trigger
	elected int
}

func startReplica(t *testing.T, prefix string, lease time.Duration) *replica {
	r := &replica{done: make(chan struct{})}
	r.node = cluster.New(backend(t, prefix), cluster.Options{Lease: lease,
		OnElected: func() { r.mu.Lock(); r.elected++; r.mu.Unlock() },
		Start:     func(tr state.Trigger) { r.mu.Lock(); r.started = append(r.started, tr); r.mu.Unlock() },
	}, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); r.node.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

func (r *replica) startedRuns() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, t := range r.started {
		ids = append(ids, t.RunID)
	}
	return ids
}

func leaders(rs ...*replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r.node.IsLeader() {
			out = append(out, r)
		}
	}
	return out
}

func prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "dirsync-test-" + hex.EncodeToString(b[:])
}

func TestOneLeaderHandoverAndForwarding(t *testing.T) {
	p := prefix()
	lease := 600 * time.Millisecond
	a, b, c := startReplica(t, p, lease), startReplica(t, p, lease), startReplica(t, p, lease)
	require.Eventually(t, func() bool { return len(leaders(a, b, c)) == 1 }, 2*time.Second, 10*time.Millisecond)
	// Over several renewals the leader stays the only one.
	first := leaders(a, b, c)[0]
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		ls := leaders(a, b, c)
		require.Len(t, ls, 1)
		require.Same(t, first, ls[0])
	}

	// A follower forwards a run: the leader starts it, exactly once.
	var follower *replica
	for _, r := range []*replica{a, b, c} {
		if r != first {
			follower = r
			break
		}
	}
	require.NoError(t, follower.node.Forward(t.Context(), state.Trigger{Connector: "hr", RunID: "run-1", Full: true}))
	require.Eventually(t, func() bool { return len(first.startedRuns()) == 1 }, 3*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"run-1"}, first.startedRuns())
	first.mu.Lock()
	require.Equal(t, follower.node.ID(), first.started[0].From)
	require.True(t, first.started[0].Full)
	first.mu.Unlock()

	// Shutting the leader down releases the lease: another takes over well
	// within the lease, and forwarded runs now reach it.
	stopped := time.Now()
	first.cancel()
	var next *replica
	require.Eventually(t, func() bool {
		ls := leaders(a, b, c)
		if len(ls) == 1 && ls[0] != first {
			next = ls[0]
		}
		return next != nil
	}, 2*lease, 10*time.Millisecond)
	require.Less(t, time.Since(stopped), lease/3+100*time.Millisecond, "a released lease is taken at the next campaign")
	first.stop()
	require.False(t, first.node.IsLeader())
	next.mu.Lock()
	require.Equal(t, 1, next.elected)
	next.mu.Unlock()
	require.NoError(t, follower.node.Forward(t.Context(), state.Trigger{Connector: "hr", RunID: "run-2"}))
	require.Eventually(t, func() bool {
		return len(next.startedRuns()) > 0 && next.startedRuns()[len(next.startedRuns())-1] == "run-2"
	},
		3*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"run-1"}, first.startedRuns(), "the old leader started nothing more")
}

// A leader that stops renewing (its backend gone) stops believing it leads once
// its lease is over, before anybody else can take it over.
func TestLeaderWithoutItsBackendStepsDown(t *testing.T) {
	p := prefix()
	lease := 300 * time.Millisecond
	be := backend(t, p)
	n := cluster.New(be, cluster.Options{Lease: lease}, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, n.IsLeader, time.Second, 5*time.Millisecond)
	require.NoError(t, be.Close()) // every later call fails, as with Redis down
	lost := time.Now()
	require.Eventually(t, func() bool { return !n.IsLeader() }, 2*lease, 5*time.Millisecond)
	require.LessOrEqual(t, time.Since(lost), lease+50*time.Millisecond)
}

// A leader that dies without releasing (SIGKILL) is replaced within the lease:
// followers campaign again just after the holder's lease runs out.
func TestDeadLeaderIsReplacedWithinTheLease(t *testing.T) {
	p := prefix()
	lease := 900 * time.Millisecond
	be := backend(t, p)
	// The dead leader: it took the lease and was never heard of again.
	l, err := be.HoldLeader(t.Context(), "dead", lease)
	require.NoError(t, err)
	require.True(t, l.Held)
	died := time.Now()
	a, b := startReplica(t, p, lease), startReplica(t, p, lease)
	require.Eventually(t, func() bool { return len(leaders(a, b)) == 1 }, 2*lease, 5*time.Millisecond)
	took := time.Since(died)
	require.Less(t, took, lease+100*time.Millisecond, "took over after %s", took)
	require.Greater(t, took, lease-100*time.Millisecond, "not before the lease ran out (%s)", took)
}
