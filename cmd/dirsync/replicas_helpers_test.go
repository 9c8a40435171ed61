package main_test

// Helpers of TestReplicas: the replica processes, their logs, a Redis of the
// test's own, a PostgreSQL schema, and the FIFO that holds a run mid-read.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

const (
	replicaLeaderLease = 2 * time.Second
	replicaRunLease    = 3 * time.Second
	replicaSchedule    = 2 * time.Second
	// replicaSettle is added to every wait for something that normally takes
	// well under a second: a loaded 2-core CI machine under -race can stall a
	// process for seconds, and Eventually costs nothing past success.
	replicaSettle    = 20 * time.Second
	replicaConnector = "sample"
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
	defer func() { _ = rdb.Close() }()
	require.Eventually(t, func() bool { return rdb.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond)
	return &redisServer{port: port, cmd: cmd}
}

func (r *redisServer) kill() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
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
	defer func() { _ = conn.Close(ctx) }()
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
