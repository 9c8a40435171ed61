package main_test

// Three `dirsync serve` replicas on one Redis and one PostgreSQL store: one
// leader runs the schedule, a dead leader is replaced within the lease, a
// paused one cannot write when it wakes up, and a Redis restart fails the run
// it cuts through without touching the store.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
)

const (
	replicaLeaderLease = 2 * time.Second
	replicaRunLease    = 3 * time.Second
	replicaSchedule    = 2 * time.Second
	replicaConnector   = "sample"
)

// lockedBuffer collects a process's log lines while the test reads them.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logLine is the part of a JSON log line the test looks at.
type logLine struct {
	TS     time.Time `json:"ts"`
	Msg    string    `json:"msg"`
	RunID  string    `json:"run_id"`
	DryRun bool      `json:"dry_run"`
	Status string    `json:"status"`
	Errors []string  `json:"errors"`
}

func (l *lockedBuffer) lines(msg string) []logLine {
	var out []logLine
	for _, raw := range strings.Split(l.String(), "\n") {
		var ll logLine
		if json.Unmarshal([]byte(raw), &ll) == nil && ll.Msg == msg {
			out = append(out, ll)
		}
	}
	return out
}

// redisServer is a Redis of the test's own, so that it can be killed and
// restarted without disturbing the tests sharing the test environment's.
type redisServer struct {
	port string
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T, port string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed; scripts/testenv.sh installs it")
		}
		t.Skip("redis-server is not installed: run the tests through `make test`")
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + port})
	defer rdb.Close()
	require.Eventually(t, func() bool { return rdb.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond)
	return &redisServer{port: port, cmd: cmd}
}

func (r *redisServer) kill() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// pgSchemaDSN returns a DSN whose connections use a fresh schema of their own,
// dropped when the test ends.
func pgSchemaDSN(t *testing.T) string {
	t.Helper()
	dsn := testenv.Addr(t, testenv.EnvPostgresDSN)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "dirsync_replicas_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		require.NoError(t, err)
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// replica is one `dirsync serve` process with a source file of its own, so the
// test can hold this replica's runs mid-read by turning the file into a FIFO.
type replica struct {
	name   string
	cfg    string
	source string
	base   string
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{}
}

func (r *replica) pid() int { return r.cmd.Process.Pid }

func (r *replica) alive() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

func (r *replica) leads() bool {
	return len(r.logs.lines("became leader: this replica runs the schedule")) > len(r.logs.lines("no longer leader"))
}

// runsStarted lists the ids of this replica's runs that are not dry runs.
func (r *replica) runsStarted() []string {
	var ids []string
	for _, l := range r.logs.lines("run started") {
		if !l.DryRun {
			ids = append(ids, l.RunID)
		}
	}
	return ids
}

func (r *replica) finished(runID string) (logLine, bool) {
	for _, l := range r.logs.lines("run finished") {
		if l.RunID == runID {
			return l, true
		}
	}
	return logLine{}, false
}

// okRunsSince counts the replica's runs that finished ok, beyond the first n.
func (r *replica) okRunsSince(n int) int {
	ok := 0
	for _, l := range r.logs.lines("run finished") {
		if l.Status == "ok" {
			ok++
		}
	}
	return ok - n
}

// fenceToken is the highest fencing token the store has seen for the connector.
func fenceToken(t *testing.T, dsn string) uint64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var tok int64
	err = conn.QueryRow(ctx, `SELECT token FROM fences WHERE name = $1`, replicaConnector).Scan(&tok)
	require.NoError(t, err)
	return uint64(tok)
}

type replicaSet struct {
	t       *testing.T
	dir     string
	dsnFile string
	redis   string
	sample  []byte
	token   string
	all     []*replica
}

func (s *replicaSet) start(name string) *replica {
	t := s.t
	t.Helper()
	r := &replica{name: name, source: filepath.Join(s.dir, name+"-source.ldif"), logs: &lockedBuffer{}, exited: make(chan struct{})}
	require.NoError(t, os.WriteFile(r.source, s.sample, 0o644))
	addr := freePort(t)
	r.base = "http://" + addr
	r.cfg = filepath.Join(s.dir, name+".yaml")
	cfg := fmt.Sprintf(`log: {level: info, format: json}
state:
  backend: redis
  redis: {addrs: ["%s"], timeout: 1s, leader_lease: %s, run_lease: %s}
store:
  backend: postgres
  dsn: file:%s
server: {listen: "%s"}
domains: [example.com, example.net]
sync: {max_destructive: 500, max_destructive_percent: 10, min_source_percent: 50, missing_runs: 2, soft_match: true}
connectors:
  - name: %s
    type: file
    schedule: "@every %s"
    full_schedule: "@every 1h"
    config: {path: %s, preset: openldap}
`, s.redis, replicaLeaderLease, replicaRunLease, s.dsnFile, addr, replicaConnector, replicaSchedule, r.source)
	require.NoError(t, os.WriteFile(r.cfg, []byte(cfg), 0o644))
	r.cmd = exec.Command(binary, "serve", "--config", r.cfg)
	r.cmd.Stderr = r.logs
	require.NoError(t, r.cmd.Start())
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
		_ = r.cmd.Process.Kill()
		<-r.exited
		if t.Failed() {
			t.Logf("--- %s's log:\n%s", r.name, r.logs.String())
		}
	})
	require.Eventually(t, func() bool { return r.get("/healthz", nil) == http.StatusOK }, 30*time.Second, 50*time.Millisecond,
		"%s did not come up; log:\n%s", name, r.logs.String())
	s.all = append(s.all, r)
	return r
}

// get calls the replica's HTTP API with the admin token and decodes into out.
func (r *replica) get(path string, out any) int {
	return r.call("GET", path, "", out)
}

func (r *replica) call(method, path, body string, out any) int {
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+replicaToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode
}

// replicaToken is set once per test binary by TestReplicas (the replicas read
// it from the store they share).
var replicaToken string

func (s *replicaSet) leaders() []*replica {
	var out []*replica
	for _, r := range s.all {
		if r.alive() && r.leads() {
			out = append(out, r)
		}
	}
	return out
}

func (s *replicaSet) waitForOneLeader(within time.Duration) *replica {
	s.t.Helper()
	var leader *replica
	require.Eventually(s.t, func() bool {
		ls := s.leaders()
		if len(ls) == 1 {
			leader = ls[0]
		}
		return len(ls) == 1
	}, within, 10*time.Millisecond, "expected exactly one leader")
	return leader
}

// lockHolder is the pid in the connector's run lock ("<token>\n<host>:<pid>")
// and the lease's fencing token, or 0s when nobody holds it.
func (s *replicaSet) lockHolder(rdb *goredis.Client) (pid int, token uint64) {
	v, err := rdb.Get(context.Background(), "{dirsync:"+replicaConnector+"}:lock").Result()
	if err != nil {
		return 0, 0
	}
	tok, owner, _ := strings.Cut(v, "\n")
	token, _ = strconv.ParseUint(tok, 10, 64)
	pid, _ = strconv.Atoi(owner[strings.LastIndex(owner, ":")+1:])
	return pid, token
}

// holdAtFIFO turns the replica's source into a FIFO that the test holds open
// for writing: the replica's next run opens it and blocks reading, with the
// run lock taken, until feed writes the content and closes it.
func holdAtFIFO(t *testing.T, r *replica) *os.File {
	t.Helper()
	require.NoError(t, os.Remove(r.source))
	require.NoError(t, syscall.Mkfifo(r.source, 0o644))
	// O_RDWR does not wait for a reader (Linux), and keeps the FIFO from
	// reporting end-of-file to the replica until feed closes it.
	w, err := os.OpenFile(r.source, os.O_RDWR, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// readingSource reports whether the replica has its source open (a run is
// blocked reading the FIFO).
func readingSource(r *replica) bool {
	dir := fmt.Sprintf("/proc/%d/fd", r.pid())
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && target == r.source {
			return true
		}
	}
	return false
}

// feed writes content into the FIFO the blocked run reads, closes it (end of
// file), and turns the source back into a plain file holding after.
func feed(t *testing.T, r *replica, w *os.File, content, after []byte) {
	t.Helper()
	_, err := w.Write(content) // the sample fits in the pipe's buffer
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, os.Remove(r.source))
	require.NoError(t, os.WriteFile(r.source, after, 0o644))
}

// withUser is the sample directory plus one more user.
func withUser(sample []byte, uid string) []byte {
	entry := fmt.Sprintf("\ndn: uid=%s,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\nentryUUID: %s\n",
		uid, uid, uid, uid, uid, uuidFor(uid))
	return append(bytes.TrimRight(bytes.Clone(sample), "\n"), []byte("\n"+entry)...)
}

func uuidFor(s string) string {
	h := fmt.Sprintf("%032x", []byte(s+"................"))[:32]
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func TestReplicas(t *testing.T) {
	testenv.Addr(t, testenv.EnvRedisAddr) // the test environment installed redis-server
	dsn := pgSchemaDSN(t)
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
	leader := set.waitForOneLeader(3 * replicaLeaderLease)
	time.Sleep(4*replicaSchedule + replicaSchedule/2)
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
	next := set.waitForOneLeader(2 * replicaLeaderLease)
	// Measured by the new leader's own log line, not by when this test saw it.
	elected := next.logs.lines("became leader: this replica runs the schedule")
	handover := elected[len(elected)-1].TS.Sub(killed)
	t.Logf("leader killed: %s took over after %s (lease %s)", next.name, handover.Round(time.Millisecond), replicaLeaderLease)
	require.LessOrEqual(t, handover, replicaLeaderLease+250*time.Millisecond, "handover within the lease time")
	startedBefore := len(next.runsStarted())
	require.Eventually(t, func() bool { return len(next.runsStarted()) > startedBefore }, 2*replicaSchedule+time.Second, 20*time.Millisecond,
		"the new leader runs the schedule")

	// 3. Freeze the leader in the middle of a run, past its leases: another
	// replica takes over and runs; the frozen one, resumed, writes nothing.
	frozen := next
	fifo := holdAtFIFO(t, frozen)
	require.Eventually(t, func() bool { return readingSource(frozen) }, 3*replicaSchedule, 10*time.Millisecond,
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
		replicaLeaderLease+replicaRunLease+3*replicaSchedule, 20*time.Millisecond, "another replica takes the connector over")
	var taker *replica
	require.Eventually(t, func() bool {
		for _, r := range set.all {
			if r != frozen && r.alive() && r.okRunsSince(okBefore[r]) > 0 {
				taker = r
			}
		}
		return taker != nil
	}, 10*time.Second, 20*time.Millisecond, "another replica completes a run")
	t.Logf("%s froze holding token %d; %s took over and ran with token %d", frozen.name, frozenToken, taker.name, fenceToken(t, dsn))

	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGCONT))
	feed(t, frozen, fifo, withUser(sample, "late-writer"), sample)
	require.Eventually(t, func() bool { _, ok := frozen.finished(blocked); return ok }, 10*time.Second, 20*time.Millisecond)
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
	cur := set.waitForOneLeader(3 * replicaLeaderLease)
	fifo = holdAtFIFO(t, cur)
	require.Eventually(t, func() bool { return readingSource(cur) }, 3*replicaSchedule, 10*time.Millisecond)
	midRun := cur.runsStarted()[len(cur.runsStarted())-1]
	rs.kill()
	require.Eventually(t, func() bool { return cur.get("/readyz", nil) == http.StatusServiceUnavailable }, 5*time.Second, 20*time.Millisecond,
		"not ready without Redis")
	time.Sleep(replicaRunLease / 3) // the run's lease renewal fails (or, later, finds the new Redis empty)
	rs = startRedisServer(t, rs.port)
	feed(t, cur, fifo, withUser(sample, "mid-run"), sample)
	require.Eventually(t, func() bool { _, ok := cur.finished(midRun); return ok }, 10*time.Second, 20*time.Millisecond)
	fin, _ = cur.finished(midRun)
	require.Equal(t, "failed", fin.Status)
	t.Logf("the run cut by the Redis restart failed with: %s", fin.Errors[0])
	require.False(t, userExists("mid-run@example.com"), "the cut run wrote nothing")

	// Everybody is ready again by themselves, and the next run (on whichever
	// replica leads now) is ok and only creates the one new user.
	for _, r := range set.all {
		if r.alive() {
			require.Eventually(t, func() bool { return r.get("/readyz", nil) == http.StatusOK }, 10*time.Second, 50*time.Millisecond,
				"%s ready again", r.name)
		}
	}
	for _, r := range set.all {
		if r.alive() {
			require.NoError(t, os.WriteFile(r.source, withUser(sample, "mid-run"), 0o644))
		}
	}
	require.Eventually(t, func() bool { return userExists("mid-run@example.com") }, 3*replicaLeaderLease+3*replicaSchedule, 50*time.Millisecond)
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
