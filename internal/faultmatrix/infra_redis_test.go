package faultmatrix_test

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

	"github.com/dirsync/dirsync/internal/testenv"
)

// infraRedisServer is a redis-server of the row's own on an ephemeral port,
// so that killing it disturbs no other test (the shared one is never touched).
type infraRedisServer struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startInfraRedis starts an empty Redis on addr ("" = a free port), stopped
// when the test ends.
func startInfraRedis(t *testing.T, addr string) *infraRedisServer {
	t.Helper()
	testenv.Addr(t, testenv.EnvRedisAddr) // the test environment installed redis-server
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed; scripts/testenv.sh installs it")
		}
		t.Skip("redis-server is not installed: run the tests through `make test`")
	}
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr = ln.Addr().String()
		require.NoError(t, ln.Close())
	}
	_, port, _ := strings.Cut(addr, ":")
	r := &infraRedisServer{addr: addr, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	require.NoError(t, r.cmd.Start())
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.kill)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer func() { _ = rdb.Close() }() // only pinged
	infraEventually(t, 20*time.Second, func() bool { return rdb.Ping(context.Background()).Err() == nil }, "redis-server on %s answers", addr)
	return r
}

func (r *infraRedisServer) kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// infraRedisState is the state section for a Redis at addr with short leases,
// so that a dead runner's lock runs out within the row.
func infraRedisState(addr string) string {
	return fmt.Sprintf(`{backend: redis, redis: {addrs: ["%s"], timeout: 1s, leader_lease: 2s, run_lease: 3s}}`, addr)
}

// infraSyncPastLock runs `dirsync sync`, retrying while a dead runner's run
// lock has not run out yet (a refusal that touches nothing), within a bound.
func infraSyncPastLock(t *testing.T, cfg string, o *outcome) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		status, err := infraSync(t, cfg)
		if !strings.Contains(err, "run lock is held") || time.Now().After(deadline) {
			return status
		}
		if !strings.Contains(o.Note, "lock") {
			o.Note += " reruns refused until the dead run's lock lease ran out;"
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// infraWriteAtomic replaces a source file in one rename, so that a run never
// reads it half written.
func infraWriteAtomic(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	require.NoError(t, os.WriteFile(tmp, content, 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

// infraRedisRestart: the state backend (Redis) is killed while a run
// applies a generation of changes, and comes back empty: the cut run must
// not commit, and the next runs, from an empty state, must recreate or
// disable nobody and bring every change.
func infraRedisRestart(t *testing.T) outcome {
	rs := startInfraRedis(t, "")
	dir := t.TempDir()
	source := filepath.Join(dir, "source.ldif")
	cfg := infraFileConfig(t, dir, source, infraRedisState(rs.addr), infraSQLite)
	gen0, gen1 := infraDirectory(infraUsers, 0), infraDirectory(infraUsers, 1)
	ref := infraReference(t, gen0, gen1)

	infraWriteAtomic(t, source, gen0)
	status, err := infraSync(t, cfg)
	require.Equal(t, "ok", status, err)
	st := infraOpenSQLite(t, dir)
	before := infraSnapshot(t, st)

	infraWriteAtomic(t, source, gen1)
	p := infraStart(t, "sync", "--config", cfg, "--output", "json")
	applied := infraWaitMidApply(t, p, 0)
	rs.kill()
	p.wait(t)
	runStatus, runErr := p.report(t)
	startInfraRedis(t, rs.addr) // back for the converging runs; its cleanup stops it
	after := infraSnapshot(t, st)

	o := outcome{Status: runStatus, WronglyDisabled: infraWronglyDisabled(before, after, ref),
		Note: fmt.Sprintf("Redis killed after %d of %d changes applied;", applied, infraGen1Changes(infraUsers))}
	t.Logf("the run cut by the Redis kill ended %s: %s", runStatus, runErr)
	infraConverge(t, &o, ref, func() infraState { return infraSnapshot(t, st) }, func() string {
		return infraSyncPastLock(t, cfg, &o)
	}, 3)
	return o
}
