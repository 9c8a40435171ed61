package main_test

// Three `dirsync serve` replicas on one Redis and one PostgreSQL store: one
// leader runs the schedule, a dead leader is replaced within the lease, a
// paused one cannot write when it wakes up, and a Redis restart fails the run
// it cuts through without touching the store.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
)

func TestReplicas(t *testing.T) {
	testenv.Addr(t, testenv.EnvRedisAddr) // the test environment installed redis-server
	dsn := testenv.PostgresSchemaDSN(t)
	dir := t.TempDir()
	rs := startRedisServer(t, strings.TrimPrefix(freePort(t), "127.0.0.1:"))
	redisAddr := "127.0.0.1:" + rs.port
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rdb.Close() })

	sample, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "sample-directory.ldif"))
	require.NoError(t, err)
	set := &replicaSet{t: t, dir: dir, dsnFile: filepath.Join(dir, "dsn"), redis: redisAddr, sample: sample}
	require.NoError(t, os.WriteFile(set.dsnFile, []byte(dsn), 0o600))

	// An admin token in the shared store, made with the CLI before any replica runs.
	bootstrap := filepath.Join(dir, "bootstrap.yaml")
	require.NoError(t, os.WriteFile(bootstrap, []byte(fmt.Sprintf(`state: {backend: redis, redis: {addrs: ["%s"]}}
store: {backend: postgres, dsn: "file:%s"}
domains: [example.com]
connectors: [{name: %s, type: file, config: {path: %s, preset: openldap}}]
`, redisAddr, set.dsnFile, replicaConnector, filepath.Join("..", "..", "deploy", "examples", "sample-directory.ldif"))), 0o644))
	res := dirsync(t, "tokens", "create", "--config", bootstrap, "--name", "replicas", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	replicaToken = regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)
	require.NotEmpty(t, replicaToken)

	st, err := postgres.Open(context.Background(), dsn, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	userExists := func(addr string) bool {
		_, err := st.User(context.Background(), addr)
		return err == nil
	}

	// 1. Three replicas: one leader; over several scheduled ticks every run
	// happens once, on the leader, and the history holds exactly those runs.
	a, b, c := set.start("a"), set.start("b"), set.start("c")
	leader := set.waitForOneLeader(3*replicaLeaderLease + replicaSettle)
	// Wait for the runs rather than for a time: on a loaded machine a tick can
	// come late, and four of them are what this part needs.
	require.Eventually(t, func() bool { return len(leader.logs.lines("run finished")) >= 4 },
		4*replicaSchedule+replicaSettle, 50*time.Millisecond, "the start-up reconcile and the scheduled ticks")
	require.Len(t, set.leaders(), 1, "still one leader")
	for _, r := range []*replica{a, b, c} {
		if r != leader {
			require.Empty(t, r.runsStarted(), "%s is not the leader and runs nothing", r.name)
		}
	}
	// Runs finished before the history is read must be in it once each; runs
	// in it must be the leader's (read after, in case one started meanwhile).
	var finished []string
	for _, l := range leader.logs.lines("run finished") {
		finished = append(finished, l.RunID)
	}
	require.GreaterOrEqual(t, len(finished), 4, "the start-up reconcile and the scheduled ticks")
	follower := a
	if leader == a {
		follower = b
	}
	var body struct {
		Runs []struct {
			RunID  string `json:"run_id"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"runs"`
	}
	require.Equal(t, http.StatusOK, follower.get("/v1/runs?connector="+replicaConnector+"&limit=500", &body))
	seen := map[string]int{}
	for _, h := range body.Runs {
		seen[h.RunID]++
		if h.Status != "running" {
			require.Equal(t, "ok", h.Status, "run %s: %s", h.RunID, h.Error)
		}
	}
	for _, id := range finished {
		require.Equal(t, 1, seen[id], "run %s is in the history once", id)
	}
	ran := leader.runsStarted()
	for id := range seen {
		require.Contains(t, ran, id, "the history holds the leader's runs and nothing else")
	}
	all, _, err := st.Users(context.Background(), store.ListQuery{Limit: 1000})
	require.NoError(t, err)
	require.NotEmpty(t, all)

	// A follower forwards an on-demand run to the leader instead of running it.
	var trig struct {
		Runs []struct {
			RunID     string `json:"run_id"`
			Forwarded bool   `json:"forwarded"`
			Run       *struct {
				Status string `json:"status"`
			} `json:"run"`
		} `json:"runs"`
	}
	require.Equal(t, http.StatusOK, follower.call("POST", "/v1/syncs", `{"wait": true}`, &trig))
	require.Len(t, trig.Runs, 1)
	require.True(t, trig.Runs[0].Forwarded)
	require.NotNil(t, trig.Runs[0].Run)
	require.Equal(t, "ok", trig.Runs[0].Run.Status)
	require.Contains(t, leader.runsStarted(), trig.Runs[0].RunID, "the leader ran it")
	require.NotContains(t, follower.runsStarted(), trig.Runs[0].RunID)
	var ready map[string]string
	require.Equal(t, http.StatusOK, leader.get("/readyz", &ready))
	require.Equal(t, "leader", ready["role"])
	require.Equal(t, http.StatusOK, follower.get("/readyz", &ready))
	require.Equal(t, "follower", ready["role"])

	// 2. SIGKILL the leader: another replica leads within the lease time.
	killed := time.Now()
	require.NoError(t, leader.cmd.Process.Kill())
	<-leader.exited
	next := set.waitForOneLeader(2*replicaLeaderLease + replicaSettle)
	// Measured by the new leader's own log line, not by when this test saw it.
	// How soon after the lease's end a follower campaigns is checked exactly
	// in sync/cluster (TestFollowerCampaignsWhenTheHoldersLeaseEnds); here a
	// loaded machine only has to stay within a generous bound.
	elected := next.logs.lines("became leader: this replica runs the schedule")
	handover := elected[len(elected)-1].TS.Sub(killed)
	t.Logf("leader killed: %s took over after %s (lease %s)", next.name, handover.Round(time.Millisecond), replicaLeaderLease)
	require.LessOrEqual(t, handover, replicaLeaderLease+replicaSettle, "handover within the lease time")
	startedBefore := len(next.runsStarted())
	require.Eventually(t, func() bool { return len(next.runsStarted()) > startedBefore }, 2*replicaSchedule+replicaSettle, 20*time.Millisecond,
		"the new leader runs the schedule")

	// 3. Freeze the leader in the middle of a run, past its leases: another
	// replica takes over and runs; the frozen one, resumed, writes nothing.
	frozen := next
	fifo := holdAtFIFO(t, frozen)
	require.Eventually(t, func() bool { return readingSource(frozen) }, 3*replicaSchedule+replicaSettle, 10*time.Millisecond,
		"the leader's next run takes the lock and blocks reading its source")
	pid, frozenToken := set.lockHolder(rdb)
	require.Equal(t, frozen.pid(), pid)
	blocked := frozen.runsStarted()[len(frozen.runsStarted())-1]
	okBefore := map[*replica]int{}
	for _, r := range set.all {
		okBefore[r] = r.okRunsSince(0)
	}
	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGSTOP))
	// Another replica leads, takes the connector over once the frozen run's
	// lease has run out, and completes a run: the store's fence moves past
	// the frozen run's token.
	require.Eventually(t, func() bool { return fenceToken(t, dsn) > frozenToken },
		replicaLeaderLease+replicaRunLease+3*replicaSchedule+replicaSettle, 20*time.Millisecond, "another replica takes the connector over")
	var taker *replica
	require.Eventually(t, func() bool {
		for _, r := range set.all {
			if r != frozen && r.alive() && r.okRunsSince(okBefore[r]) > 0 {
				taker = r
			}
		}
		return taker != nil
	}, 2*replicaSchedule+replicaSettle, 20*time.Millisecond, "another replica completes a run")
	t.Logf("%s froze holding token %d; %s took over and ran with token %d", frozen.name, frozenToken, taker.name, fenceToken(t, dsn))

	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGCONT))
	feed(t, frozen, fifo, withUser(sample, "late-writer"), sample)
	require.Eventually(t, func() bool { _, ok := frozen.finished(blocked); return ok }, replicaSettle, 20*time.Millisecond)
	fin, _ := frozen.finished(blocked)
	require.Equal(t, "failed", fin.Status)
	require.NotEmpty(t, fin.Errors)
	t.Logf("the resumed ex-leader's run failed with: %s", fin.Errors[0])
	require.Regexp(t, `run lock lost|stale fencing token`, fin.Errors[0])
	require.False(t, userExists("late-writer@example.com"), "the resumed ex-leader wrote nothing")
	// And the store itself refuses that run's token now.
	_, err = st.Apply(context.Background(), store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: replicaConnector},
		Fence: &store.Fence{Name: replicaConnector, Token: frozenToken}})
	require.ErrorIs(t, err, store.ErrStaleFence)

	// 4. Restart Redis in the middle of a run: the run fails without store
	// writes, the replicas report not ready, and the next run succeeds: a
	// full run from an empty Redis that recreates nobody.
	cur := set.waitForOneLeader(3*replicaLeaderLease + replicaSettle)
	fifo = holdAtFIFO(t, cur)
	require.Eventually(t, func() bool { return readingSource(cur) }, 3*replicaSchedule+replicaSettle, 10*time.Millisecond)
	midRun := cur.runsStarted()[len(cur.runsStarted())-1]
	rs.kill()
	require.Eventually(t, func() bool { return cur.get("/readyz", nil) == http.StatusServiceUnavailable }, replicaSettle, 20*time.Millisecond,
		"not ready without Redis")
	time.Sleep(replicaRunLease / 3) // the run's lease renewal fails (or, later, finds the new Redis empty)
	startRedisServer(t, rs.port)
	feed(t, cur, fifo, withUser(sample, "mid-run"), sample)
	require.Eventually(t, func() bool { _, ok := cur.finished(midRun); return ok }, replicaSettle, 20*time.Millisecond)
	fin, _ = cur.finished(midRun)
	require.Equal(t, "failed", fin.Status)
	t.Logf("the run cut by the Redis restart failed with: %s", fin.Errors[0])
	require.False(t, userExists("mid-run@example.com"), "the cut run wrote nothing")

	// Everybody is ready again by themselves, and the next run (on whichever
	// replica leads now) is ok and only creates the one new user.
	for _, r := range set.all {
		if r.alive() {
			require.Eventually(t, func() bool { return r.get("/readyz", nil) == http.StatusOK }, replicaSettle, 50*time.Millisecond,
				"%s ready again", r.name)
		}
	}
	for _, r := range set.all {
		if r.alive() {
			require.NoError(t, os.WriteFile(r.source, withUser(sample, "mid-run"), 0o644))
		}
	}
	require.Eventually(t, func() bool { return userExists("mid-run@example.com") }, 3*replicaLeaderLease+3*replicaSchedule+replicaSettle, 50*time.Millisecond)
	var after struct {
		Runs []struct {
			RunID  string         `json:"run_id"`
			Status string         `json:"status"`
			Full   bool           `json:"full"`
			Counts map[string]int `json:"counts"`
		} `json:"runs"`
	}
	require.Equal(t, http.StatusOK, cur.get("/v1/runs?connector="+replicaConnector, &after))
	var created bool
	for _, run := range after.Runs {
		if run.Status == "ok" && run.Counts["create"] > 0 {
			require.Equal(t, 1, run.Counts["create"], "an emptied Redis costs no mass create: %+v", run)
			require.Positive(t, run.Counts["unchanged"], "the rest is matched in the store: %+v", run)
			created = true
		}
	}
	require.True(t, created, "the run after the restart is in the new Redis's history: %+v", after.Runs)
	users, _, err := st.Users(context.Background(), store.ListQuery{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, users, len(all)+1)
}
