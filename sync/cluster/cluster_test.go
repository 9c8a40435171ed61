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

// settle bounds every wait for something that normally takes a few
// milliseconds: generous, because a loaded 2-core CI machine under -race can
// stall a goroutine for seconds, and free when things go well.
const settle = 10 * time.Second

func TestOneLeaderHandoverAndForwarding(t *testing.T) {
	p := prefix()
	// Renewed every 500ms; only a renewal late by a whole second would lose it.
	lease := 1500 * time.Millisecond
	a, b, c := startReplica(t, p, lease), startReplica(t, p, lease), startReplica(t, p, lease)
	require.Eventually(t, func() bool { return len(leaders(a, b, c)) == 1 }, lease+settle, 10*time.Millisecond)
	// Over several renewals the leader stays the only one.
	first := leaders(a, b, c)[0]
	for range 40 {
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
	require.Eventually(t, func() bool { return len(first.startedRuns()) == 1 }, settle, 10*time.Millisecond)
	require.Equal(t, []string{"run-1"}, first.startedRuns())
	first.mu.Lock()
	require.Equal(t, follower.node.ID(), first.started[0].From)
	require.True(t, first.started[0].Full)
	first.mu.Unlock()

	// Shutting the leader down releases the lease (checked in the backend, not
	// by timing the takeover): another takes it at its next campaign, and
	// forwarded runs now reach it.
	first.stop()
	require.False(t, first.node.IsLeader())
	probe := backend(t, p)
	l, err := probe.HoldLeader(t.Context(), "probe", lease)
	require.NoError(t, err)
	if l.Held {
		require.NoError(t, probe.ReleaseLeader(t.Context(), "probe"))
	} else {
		require.NotEqual(t, first.node.ID(), l.Holder, "the stopped leader released its lease")
	}
	var next *replica
	require.Eventually(t, func() bool {
		ls := leaders(a, b, c)
		if len(ls) == 1 && ls[0] != first {
			next = ls[0]
		}
		return next != nil
	}, lease+settle, 10*time.Millisecond)
	// OnElected runs in its own goroutine: it may lag IsLeader a little.
	require.Eventually(t, func() bool {
		next.mu.Lock()
		defer next.mu.Unlock()
		return next.elected == 1
	}, settle, 10*time.Millisecond, "the new leader's OnElected ran once")
	require.NoError(t, follower.node.Forward(t.Context(), state.Trigger{Connector: "hr", RunID: "run-2"}))
	require.Eventually(t, func() bool {
		return len(next.startedRuns()) > 0 && next.startedRuns()[len(next.startedRuns())-1] == "run-2"
	},
		settle, 10*time.Millisecond)
	require.Equal(t, []string{"run-1"}, first.startedRuns(), "the old leader started nothing more")
}

// A leader that stops renewing (its backend gone) stops believing it leads once
// its lease is over, before anybody else can take it over. The node's clock is
// a fake that moves only when told, so "once its lease is over" is checked to
// the nanosecond however slow the machine is.
func TestLeaderWithoutItsBackendStepsDown(t *testing.T) {
	p := prefix()
	lease := 300 * time.Millisecond
	be := backend(t, p)
	clock := testenv.NewClock(time.Now())
	n := cluster.New(be, cluster.Options{Lease: lease, Now: clock.Now}, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, n.IsLeader, settle, 5*time.Millisecond)
	// Every campaign so far started at the clock's one reading, so the lease
	// ends at exactly that plus lease, and no later renewal can move it.
	took := clock.Now()
	require.NoError(t, be.Close()) // every later call fails, as with Redis down
	time.Sleep(lease)              // renewals fail meanwhile (the clock stands still)
	clock.Set(took.Add(lease - time.Nanosecond))
	require.True(t, n.IsLeader(), "not before its lease is over")
	clock.Set(took.Add(lease))
	require.False(t, n.IsLeader(), "over at its end")
}

// A leader that dies without releasing (SIGKILL) is replaced within the lease:
// followers campaign again just after the holder's lease runs out.
func TestDeadLeaderIsReplacedWithinTheLease(t *testing.T) {
	p := prefix()
	lease := 900 * time.Millisecond
	be := backend(t, p)
	// The dead leader: it took the lease and was never heard of again. Redis
	// counts the lease from when it ran the SET, after died.
	died := time.Now()
	l, err := be.HoldLeader(t.Context(), "dead", lease)
	require.NoError(t, err)
	require.True(t, l.Held)
	a, b := startReplica(t, p, lease), startReplica(t, p, lease)
	var took time.Duration
	require.Eventually(t, func() bool {
		if len(leaders(a, b)) == 1 {
			took = time.Since(died)
			return true
		}
		return false
	}, lease+settle, 5*time.Millisecond)
	t.Logf("took over %s after the dead leader's lease began (lease %s)", took, lease)
	require.GreaterOrEqual(t, took, lease, "not before the lease ran out")
	// How soon after the lease's end is TestFollowerCampaignsWhenTheHoldersLeaseEnds's
	// business (exactly, with no clock to race); here it is bounded by settle.
}
