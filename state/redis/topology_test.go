package redis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/state/redis"
	"github.com/dirsync/dirsync/state/statetest"
)

// The shared test server is standalone; these tests start their own Sentinel
// and Cluster from the same redis-server binary, on free ports, and run the
// conformance suite and the coordination through each.

func redisServerBin(t *testing.T) string {
	t.Helper()
	testenv.Addr(t, testenv.EnvRedisAddr) // scripts/testenv.sh ran, so redis-server is installed
	bin, err := exec.LookPath("redis-server")
	require.NoError(t, err, "redis-server is installed by scripts/testenv.sh")
	return bin
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runRedis starts redis-server with args (a config file first, if any) and
// waits until it answers.
func runRedis(t *testing.T, bin string, port int, args ...string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("redis-server %s:\n%s", addr, out.String())
		}
	})
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer func() { _ = rdb.Close() }() // only pinged
	require.Eventually(t, func() bool { return rdb.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond)
	return addr
}

func TestSentinel(t *testing.T) {
	bin := redisServerBin(t)
	dir := t.TempDir()
	mport := freeTCPPort(t)
	master := runRedis(t, bin, mport, "--port", fmt.Sprint(mport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	sport := freeTCPPort(t)
	conf := filepath.Join(dir, "sentinel.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor dirsync 127.0.0.1 %d 1\n",
		sport, dir, mport)), 0o600))
	sentinel := runRedis(t, bin, sport, conf, "--sentinel")

	open := func(t *testing.T) state.Backend {
		b, err := redis.Open(context.Background(), redis.Options{Addrs: []string{sentinel}, MasterName: "dirsync",
			Prefix: randomPrefix(t)}, zaptest.NewLogger(t))
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	statetest.RunTests(t, open)

	// The data went to the master the sentinel names.
	prefix := randomPrefix(t)
	b, err := redis.Open(t.Context(), redis.Options{Addrs: []string{sentinel}, MasterName: "dirsync", Prefix: prefix}, zaptest.NewLogger(t))
	require.NoError(t, err)
	defer func() { _ = b.Close() }() // the assertions are done
	lease, err := b.Acquire(t.Context(), "c", "me", time.Minute)
	require.NoError(t, err)
	held, err := rawClient(t, master).Exists(t.Context(), "{"+prefix+":c}:lock").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, held)
	require.NoError(t, b.Release(t.Context(), lease))
}

func TestCluster(t *testing.T) {
	bin := redisServerBin(t)
	cli, err := exec.LookPath("redis-cli")
	require.NoError(t, err, "redis-cli comes with redis-server (redis-tools)")
	var addrs []string
	for i := range 3 {
		port := freeTCPPort(t)
		dir := t.TempDir()
		addrs = append(addrs, runRedis(t, bin, port, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i),
			// The bus port defaults to port+10000, past 65535 for a high ephemeral port.
			"--cluster-port", fmt.Sprint(freeTCPPort(t))))
	}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, a := range addrs {
		rdb := rawClient(t, a)
		require.Eventually(t, func() bool {
			info, err := rdb.ClusterInfo(context.Background()).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		}, 20*time.Second, 50*time.Millisecond)
	}

	open := func(t *testing.T) state.Backend {
		b, err := redis.Open(context.Background(), redis.Options{Addrs: addrs, Prefix: randomPrefix(t)}, zaptest.NewLogger(t))
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	// Every script touches keys of one connector only: one hash tag, one slot.
	statetest.RunTests(t, open)

	// The replicas' coordination works across the cluster's nodes too.
	b := open(t).(*redis.Backend)
	l, err := b.HoldLeader(t.Context(), "node-a", time.Second)
	require.NoError(t, err)
	require.True(t, l.Held)
	require.NoError(t, b.PublishTrigger(t.Context(), state.Trigger{Connector: "hr", RunID: "r1"}))
	got, err := b.ReadTriggers(t.Context(), "node-a", 100*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.NoError(t, b.AckTriggers(t.Context(), got[0].ID))
}
