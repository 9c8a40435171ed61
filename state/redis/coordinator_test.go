package redis_test

import (
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
)

func TestLeaderLease(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	raw := rawClient(t, addr)
	prefix := randomPrefix(t)
	t.Cleanup(func() { dropPrefix(t, raw, prefix) })
	a := open(t, addr, prefix, zaptest.NewLogger(t))
	b := open(t, addr, prefix, zaptest.NewLogger(t))
	ctx := t.Context()

	l, err := a.HoldLeader(ctx, "a", 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, l.Held)
	require.Equal(t, "a", l.Holder)

	l, err = b.HoldLeader(ctx, "b", time.Second)
	require.NoError(t, err)
	require.False(t, l.Held, "a holds the lease")
	require.Equal(t, "a", l.Holder)
	require.Positive(t, l.Left, "for what is left of it")
	require.LessOrEqual(t, l.Left, 300*time.Millisecond, "never more than a's ttl")

	// Renewing keeps it past the first ttl: renewed for a minute, it still
	// holds once the first 300ms are certainly over (sleeping longer under
	// load only makes that more certain).
	l, err = a.HoldLeader(ctx, "a", time.Minute)
	require.NoError(t, err)
	require.True(t, l.Held)
	time.Sleep(400 * time.Millisecond)
	l, err = b.HoldLeader(ctx, "b", time.Second)
	require.NoError(t, err)
	require.False(t, l.Held, "a renewed")
	require.Greater(t, l.Left, 300*time.Millisecond, "by the renewal's ttl")

	// Not renewed: it expires and b takes it, not before the ttl is over (Redis
	// counts it from when it ran a's SET, after renewed); a's release then
	// touches nothing.
	renewed := time.Now()
	l, err = a.HoldLeader(ctx, "a", 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, l.Held)
	var took time.Duration
	require.Eventually(t, func() bool { // runs in its own goroutine: no require inside
		if l, err := b.HoldLeader(ctx, "b", time.Second); err != nil || !l.Held {
			return false
		}
		took = time.Since(renewed)
		return true
	}, 10*time.Second, 10*time.Millisecond, "the lease expires and b takes it")
	require.GreaterOrEqual(t, took, 300*time.Millisecond, "b took it only once a's ttl was over")
	require.NoError(t, a.ReleaseLeader(ctx, "a"))
	l, err = a.HoldLeader(ctx, "a", time.Second)
	require.NoError(t, err)
	require.False(t, l.Held)
	require.Equal(t, "b", l.Holder)

	// Released on shutdown: the next one takes it at once.
	require.NoError(t, b.ReleaseLeader(ctx, "b"))
	l, err = a.HoldLeader(ctx, "a", time.Second)
	require.NoError(t, err)
	require.True(t, l.Held)
}

func TestTriggers(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	raw := rawClient(t, addr)
	prefix := randomPrefix(t)
	t.Cleanup(func() { dropPrefix(t, raw, prefix) })
	follower := open(t, addr, prefix, zaptest.NewLogger(t))
	leader := open(t, addr, prefix, zaptest.NewLogger(t))
	ctx := t.Context()

	// Published before anybody reads: still delivered.
	at := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, follower.PublishTrigger(ctx, state.Trigger{Connector: "hr", RunID: "r1", Full: true, From: "f", At: at}))
	require.NoError(t, follower.PublishTrigger(ctx, state.Trigger{Connector: "ad", RunID: "r2", From: "f", At: at}))
	got, err := leader.ReadTriggers(ctx, "l", 100*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "hr", got[0].Connector)
	require.Equal(t, "r1", got[0].RunID)
	require.True(t, got[0].Full)
	require.Equal(t, "f", got[0].From)
	require.True(t, at.Equal(got[0].At))
	require.Equal(t, "r2", got[1].RunID)
	require.NotEmpty(t, got[0].ID)

	// Read once: another consumer does not get them again.
	again, err := leader.ReadTriggers(ctx, "other", 50*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, again)
	require.NoError(t, leader.AckTriggers(ctx, got[0].ID, got[1].ID))
	n, err := raw.XLen(ctx, prefix+":triggers").Result()
	require.NoError(t, err)
	require.Zero(t, n, "acknowledged triggers are deleted")

	// A message that cannot be decoded is dropped, not handed out forever.
	require.NoError(t, raw.XAdd(ctx, &goredis.XAddArgs{Stream: prefix + ":triggers", Values: []string{"t", "{not json"}}).Err())
	got, err = leader.ReadTriggers(ctx, "l", 50*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, got)
	n, err = raw.XLen(ctx, prefix+":triggers").Result()
	require.NoError(t, err)
	require.Zero(t, n)

	// The stream emptied under the reader (FLUSHALL): reading goes on.
	dropPrefix(t, raw, prefix)
	got, err = leader.ReadTriggers(ctx, "l", 50*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, got)
	require.NoError(t, follower.PublishTrigger(ctx, state.Trigger{Connector: "hr", RunID: "r3"}))
	got, err = leader.ReadTriggers(ctx, "l", 50*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "r3", got[0].RunID)
}

// Emptying Redis must not restart the fencing tokens below those handed out
// before: the store remembers the highest token and would refuse every run.
func TestTokensSurviveAnEmptiedRedis(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	raw := rawClient(t, addr)
	prefix := randomPrefix(t)
	t.Cleanup(func() { dropPrefix(t, raw, prefix) })
	b := open(t, addr, prefix, zaptest.NewLogger(t))
	ctx := t.Context()
	first, err := b.Acquire(ctx, "c", "me", time.Minute)
	require.NoError(t, err)
	require.Greater(t, first.Token, uint64(time.Now().Add(-time.Hour).UnixMicro()), "tokens start at the clock")
	require.NoError(t, b.Release(ctx, first))
	second, err := b.Acquire(ctx, "c", "me", time.Minute)
	require.NoError(t, err)
	require.Greater(t, second.Token, first.Token)
	// The holder string carries the token digit for digit (no %.14g rounding).
	holder, err := raw.Get(ctx, "{"+prefix+":c}:lock").Result()
	require.NoError(t, err)
	require.Equal(t, fmtToken(second.Token)+"\nme", holder)

	dropPrefix(t, raw, prefix)
	third, err := b.Acquire(ctx, "c", "me", time.Minute)
	require.NoError(t, err)
	require.Greater(t, third.Token, second.Token)
	require.NoError(t, b.Commit(ctx, third, state.Commit{Cursor: []byte("x")}), "the new lease is current")
}

func fmtToken(t uint64) string { return strconv.FormatUint(t, 10) }
