package main_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
)

// redisQuickstart is the quickstart with its state in the Redis at addr, under a
// connector name of its own so tests sharing the server do not meet.
func redisQuickstart(t *testing.T, addr string) (cfg, connector string) {
	t.Helper()
	_, cfg = quickstart(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	connector = "sample-" + hex.EncodeToString(b[:])
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	text := strings.Replace(string(raw), "  backend: local\n  path: data/state.db\n",
		"  backend: redis\n  redis: {addrs: [\""+addr+"\"], timeout: 2s}\n", 1)
	text = strings.Replace(text, "- name: sample\n", "- name: "+connector+"\n", 1)
	require.NotEqual(t, string(raw), text, "the quickstart's state section changed: update this test")
	require.NoError(t, os.WriteFile(cfg, []byte(text), 0o644))
	return cfg, connector
}

func TestRedisStateBackend(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	cfg, connector := redisQuickstart(t, addr)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, "{dirsync:"+connector+"}:*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
		_ = rdb.SRem(ctx, "dirsync:connectors", connector).Err()
		_ = rdb.Close()
	})

	rep, res := syncJSON(t, cfg, "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	created := rep.Runs[0].Counts["create"]
	require.Positive(t, created)
	n, err := rdb.Exists(t.Context(), "{dirsync:"+connector+"}:snap").Result()
	require.NoError(t, err)
	require.Zero(t, n, "a dry run writes no state")

	rep, res = syncJSON(t, cfg)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, created, rep.Runs[0].Counts["create"])
	entries, err := rdb.HLen(t.Context(), "{dirsync:"+connector+"}:snap").Result()
	require.NoError(t, err)
	require.EqualValues(t, created, entries)

	rep, res = syncJSON(t, cfg)
	require.Equal(t, 0, res.code, res.stderr)
	c := rep.Runs[0].Counts
	require.Zero(t, c["create"]+c["update"]+c["disable"], "the second run finds its state in Redis")
}

func TestRedisStateUnreachable(t *testing.T) {
	cfg, _ := redisQuickstart(t, "127.0.0.1:1")
	res := dirsync(t, "sync", "--config", cfg)
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, "redis 127.0.0.1:1 unreachable")
	require.Contains(t, res.stderr, "check state.redis.addrs")
}
