package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/state/redis"
	"github.com/dirsync/dirsync/state/statetest"
)

// randomPrefix isolates a test's keys from every other test sharing the server.
func randomPrefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "dirsync-test-" + hex.EncodeToString(b[:])
}

// rawClient is a plain client on the test server, to look at or damage keys.
func rawClient(t testing.TB, addr string) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// dropPrefix deletes every key the backend wrote under prefix.
func dropPrefix(t testing.TB, rdb *goredis.Client, prefix string) {
	ctx := context.Background()
	for _, pattern := range []string{"{" + prefix + ":*", prefix + ":*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	}
}

func open(t testing.TB, addr, prefix string, log *zap.Logger) *redis.Backend {
	t.Helper()
	b, err := redis.Open(context.Background(), redis.Options{Addrs: []string{addr}, Prefix: prefix}, log)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func TestConformance(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	raw := rawClient(t, addr)
	statetest.RunTests(t, func(t *testing.T) state.Backend {
		prefix := randomPrefix(t)
		t.Cleanup(func() { dropPrefix(t, raw, prefix) })
		return open(t, addr, prefix, zaptest.NewLogger(t))
	})
}

func TestKeysShareAHashTag(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	raw := rawClient(t, addr)
	prefix := randomPrefix(t)
	t.Cleanup(func() { dropPrefix(t, raw, prefix) })
	b := open(t, addr, prefix, zaptest.NewLogger(t))
	ctx := t.Context()
	lease, err := b.Acquire(ctx, "c", "me", time.Minute)
	require.NoError(t, err)
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Upserts: map[string]state.Entry{"x": {Fingerprint: "f"}}, Cursor: []byte("c")}))
	require.NoError(t, b.AddRun(ctx, state.Run{ID: "r", Connector: "c"}))
	require.NoError(t, b.PutHold(ctx, state.Hold{ID: "h", Connector: "c"}))

	keys, err := raw.Keys(ctx, "{"+prefix+":c}:*").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"meta", "snap", "lock", "token", "runs", "holds"}, trimTag(keys, "{"+prefix+":c}:"))

	// A large commit is staged in keys of its own, merged, and leaves none behind;
	// into an empty snapshot the stage is renamed, and must not keep its TTL.
	big := map[string]state.Entry{}
	for i := range 3000 {
		big[fmt.Sprint(i)] = state.Entry{Fingerprint: fmt.Sprint(i)}
	}
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Upserts: big}))
	other, err := b.Acquire(ctx, "d", "me", time.Minute)
	require.NoError(t, err)
	require.NoError(t, b.Commit(ctx, other, state.Commit{Upserts: big}))
	keys, err = raw.Keys(ctx, "{"+prefix+":*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		require.NotContains(t, k, "stage", "staging key left behind")
	}
	for _, c := range []string{"c", "d"} {
		ttl, err := raw.TTL(ctx, "{"+prefix+":"+c+"}:snap").Result()
		require.NoError(t, err)
		require.Equal(t, time.Duration(-1), ttl, "snapshot of %s must not expire", c)
	}
	snap, err := b.Snapshot(ctx, "c")
	require.NoError(t, err)
	require.Len(t, snap, 3001)

	// A stale large commit writes nothing and removes its staging keys too.
	require.NoError(t, b.Release(ctx, other))
	require.ErrorIs(t, b.Commit(ctx, other, state.Commit{Upserts: big, Deletes: []string{"1"}}), state.ErrStaleLease)
	keys, err = raw.Keys(ctx, "{"+prefix+":d}:stage*").Result()
	require.NoError(t, err)
	require.Empty(t, keys)
}

func trimTag(keys []string, tag string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k[len(tag):]
	}
	return out
}

func TestDamagedStateIsDiscarded(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	raw := rawClient(t, addr)
	prefix := randomPrefix(t)
	t.Cleanup(func() { dropPrefix(t, raw, prefix) })
	core, logs := observer.New(zap.WarnLevel)
	b := open(t, addr, prefix, zap.New(core))
	ctx := t.Context()

	good := state.Entry{Fingerprint: "f", Kind: "user", Address: "x@example.org"}
	lease, err := b.Acquire(ctx, "c", "me", time.Minute)
	require.NoError(t, err)
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Upserts: map[string]state.Entry{"x": good, "y": good}, Cursor: []byte("cur")}))

	// A damaged entry: dropped with a warning, and the cursor is ignored so that
	// the run is a full one.
	require.NoError(t, raw.HSet(ctx, "{"+prefix+":c}:snap", "y", "\x00garbage").Err())
	snap, err := b.Snapshot(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, state.Snapshot{"x": good}, snap)
	require.Equal(t, 1, logs.FilterMessageSnippet("snapshot entries that cannot be decoded").Len())
	cur, err := b.Cursor(ctx, "c")
	require.NoError(t, err)
	require.Nil(t, cur)

	// The next commit removes the damaged entry and restores the cursor.
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Cursor: []byte("cur2")}))
	n, err := raw.HLen(ctx, "{"+prefix+":c}:snap").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	cur, err = b.Cursor(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, []byte("cur2"), cur)

	// A damaged cursor: nil with a warning.
	require.NoError(t, raw.HSet(ctx, "{"+prefix+":c}:meta", "cursor", "not json").Err())
	cur, err = b.Cursor(ctx, "c")
	require.NoError(t, err)
	require.Nil(t, cur)
	require.Equal(t, 1, logs.FilterMessageSnippet("cursor that cannot be decoded").Len())

	// State of another schema version: all of it discarded, and replaced by the
	// next commit.
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Cursor: []byte("cur3")}))
	require.NoError(t, raw.HSet(ctx, "{"+prefix+":c}:meta", "v", "999").Err())
	snap, err = b.Snapshot(ctx, "c")
	require.NoError(t, err)
	require.Empty(t, snap)
	cur, err = b.Cursor(ctx, "c")
	require.NoError(t, err)
	require.Nil(t, cur)
	require.Positive(t, logs.FilterMessageSnippet("another schema version").Len())
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Upserts: map[string]state.Entry{"z": good}, Cursor: []byte("cur4")}))
	snap, err = b.Snapshot(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, state.Snapshot{"z": good}, snap)
	cur, err = b.Cursor(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, []byte("cur4"), cur)
}

func TestUnreachable(t *testing.T) {
	// A port nothing listens on: bind one, then close it.
	const secret = "s3cret-Pa55word"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := redis.Open(ctx, redis.Options{Addrs: []string{"127.0.0.1:1"}, Password: secret, DialTimeout: time.Second}, zaptest.NewLogger(t))
	require.Error(t, err)
	require.ErrorContains(t, err, "redis 127.0.0.1:1 unreachable")
	require.ErrorContains(t, err, "check state.redis.addrs")
	require.NotContains(t, err.Error(), secret)
}

func TestWrongPasswordIsNotRepeated(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	const secret = "s3cret-Pa55word"
	_, err := redis.Open(t.Context(), redis.Options{Addrs: []string{addr}, Username: "nobody", Password: secret}, zaptest.NewLogger(t))
	require.Error(t, err)
	require.NotContains(t, err.Error(), secret)
}

// TestReportKey: a report is one key under the backend's prefix, which Redis
// expires after the retention.
func TestReportKey(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	raw := rawClient(t, addr)
	prefix := randomPrefix(t)
	t.Cleanup(func() { dropPrefix(t, raw, prefix) })
	b := open(t, addr, prefix, zaptest.NewLogger(t))
	ctx := t.Context()
	require.NoError(t, b.SaveReport(ctx, state.StoredReport{ID: "r1", Connector: "c", Body: []byte(`{}`)}, 720*time.Hour))

	keys, err := raw.Keys(ctx, prefix+":report:*").Result()
	require.NoError(t, err)
	require.Equal(t, []string{prefix + ":report:r1"}, keys)
	ttl, err := raw.TTL(ctx, prefix+":report:r1").Result()
	require.NoError(t, err)
	require.InDelta(t, (720 * time.Hour).Seconds(), ttl.Seconds(), 60)
}
