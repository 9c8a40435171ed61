package faultmatrix_test

// Helpers of the infrastructure rows: the dirsync binary, its processes and
// their logs, a generated directory, the store's state as the rows compare it,
// and the fault-free reference. Prefixed infra so they never collide with the
// source rows' helpers.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
	"github.com/dirsync/dirsync/store/sqlite"
)

// infraRunTimeout bounds one `dirsync sync`: generous, a 2-core CI machine
// under -race is slow, and a hung run must fail the row, not the suite.
const infraRunTimeout = 3 * time.Minute

// infraLog collects a process's log lines while the test reads them.
type infraLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *infraLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *infraLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// infraLogLine is the part of a JSON log line the rows look at.
type infraLogLine struct {
	Msg    string   `json:"msg"`
	RunID  string   `json:"run_id"`
	DryRun bool     `json:"dry_run"`
	Status string   `json:"status"`
	Errors []string `json:"errors"`
}

func (l *infraLog) lines(msg string) []infraLogLine {
	var out []infraLogLine
	for _, raw := range strings.Split(l.String(), "\n") {
		var ll infraLogLine
		if json.Unmarshal([]byte(raw), &ll) == nil && ll.Msg == msg {
			out = append(out, ll)
		}
	}
	return out
}

// count is how many lines carry msg (cheaper than lines for polling).
func (l *infraLog) count(msg string) int {
	return strings.Count(l.String(), `"msg":"`+msg+`"`)
}

// infraProc is one dirsync process the row watches and may signal.
type infraProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	logs   *infraLog
	exited chan struct{}
	code   int
}

// infraStart starts the binary with args; the process is killed (after a
// SIGCONT, should the row have stopped it) when the test ends.
func infraStart(t *testing.T, args ...string) *infraProc {
	t.Helper()
	p := &infraProc{logs: &infraLog{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, p.logs
	require.NoError(t, p.cmd.Start())
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("--- log of %v (last 4000 bytes):\n%s", args, tail(p.logs.String(), 4000))
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *infraProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(infraRunTimeout):
		t.Fatalf("dirsync did not exit within %s; log:\n%s", infraRunTimeout, tail(p.logs.String(), 4000))
		return -1
	}
}

func (p *infraProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// infraReport is the part of `dirsync sync --output json` the rows read.
type infraReport struct {
	Runs []struct {
		Status string         `json:"status"`
		Full   bool           `json:"full"`
		Counts map[string]int `json:"counts"`
		Errors []string       `json:"errors"`
	} `json:"runs"`
}

// infraSync runs `dirsync sync` to its end and returns the run's status
// ("killed" when it did not report) and first error.
func infraSync(t *testing.T, cfg string, extra ...string) (status, firstErr string) {
	t.Helper()
	p := infraStart(t, append([]string{"sync", "--config", cfg, "--output", "json"}, extra...)...)
	p.wait(t)
	return p.report(t)
}

func (p *infraProc) report(t *testing.T) (status, firstErr string) {
	t.Helper()
	var rep infraReport
	if json.Unmarshal(p.stdout.Bytes(), &rep) != nil || len(rep.Runs) != 1 {
		return "killed", ""
	}
	r := rep.Runs[0]
	if len(r.Errors) > 0 {
		firstErr = r.Errors[0]
	}
	return r.Status, firstErr
}

// infraUsers is the generated directory's size: big enough that applying it
// takes a moment (a fault can land mid-apply), small enough for CI.
const infraUsers = 1500

// infraDirectory is an OpenLDAP export of the generated directory at a
// generation: gen 0 is n users; gen 1 changes every title, adds n/20 users and
// locks (disables) one user in a hundred, under the brakes' limits; gen 2
// changes every title again and unlocks them. Every gen is a change of every
// user, so that applying it takes the time a fault needs to land mid-apply.
func infraDirectory(n, gen int) []byte {
	var b bytes.Buffer
	b.WriteString("dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n")
	total := n
	if gen >= 1 {
		total += n / 20
	}
	for i := range total {
		fmt.Fprintf(&b, "dn: uid=u%05d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: u%05d\ncn: User %05d\nsn: U%05d\n", i, i, i, i)
		fmt.Fprintf(&b, "mail: u%05d@example.com\ntitle: Title g%d\nentryUUID: 00000000-0000-4000-8000-%012d\n", i, gen, i)
		if gen == 1 && i%100 == 7 {
			b.WriteString("pwdAccountLockedTime: 000001010000Z\n")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// infraGen1Changes is how many changes going from gen 0 to gen 1 makes: an
// update of every user, the new users, and the locks of existing users.
func infraGen1Changes(n int) int {
	return n + n/20 + (n+92)/100
}

// infraState is the store's users and groups as the rows compare them: every
// field a source sets, by address, without ids and times.
type infraState map[string]string

func infraSnapshot(t *testing.T, st store.Store) infraState {
	t.Helper()
	out := infraState{}
	q := store.ListQuery{Limit: 1000}
	for {
		us, next, err := st.Users(context.Background(), q)
		require.NoError(t, err)
		for _, u := range us {
			out[u.Address] = fmt.Sprintf("%s|%t|%s|%s|%s|%s|%s|%s|%s|%v|%v|%s", u.Kind, u.Enabled, u.DisplayName, u.GivenName,
				u.Surname, u.Title, u.Department, u.Phone, u.Origin, u.Aliases, u.Members, u.Anchor)
		}
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

func (s infraState) enabled(addr string) bool {
	v, ok := s[addr]
	return ok && strings.Contains(v, "|true|")
}

// infraWronglyDisabled counts the users enabled before the fault, enabled in
// the fault-free reference, and disabled or gone after the faulty run.
func infraWronglyDisabled(before, after, ref infraState) int {
	n := 0
	for addr := range before {
		if before.enabled(addr) && ref.enabled(addr) && !after.enabled(addr) {
			n++
		}
	}
	return n
}

// infraDiff counts the addresses whose state differs from the reference.
func infraDiff(ref, cur infraState) int {
	n := 0
	for addr, v := range ref {
		if cur[addr] != v {
			n++
		}
	}
	for addr := range cur {
		if _, ok := ref[addr]; !ok {
			n++
		}
	}
	return n
}

// infraDiffSample names a few differing addresses for a failure message.
func infraDiffSample(ref, cur infraState) string {
	var out []string
	for addr, v := range ref {
		if cur[addr] != v {
			out = append(out, fmt.Sprintf("%s: want %q got %q", addr, v, cur[addr]))
		}
	}
	for addr, v := range cur {
		if _, ok := ref[addr]; !ok {
			out = append(out, fmt.Sprintf("%s: unexpected %q", addr, v))
		}
	}
	slices.Sort(out)
	if len(out) > 5 {
		out = out[:5]
	}
	return strings.Join(out, "; ")
}

// infraConverge runs healthy runs (at most max) until the store equals the
// reference, and fills the outcome's RunsToConverge and Lost.
func infraConverge(t *testing.T, o *outcome, ref infraState, snapshot func() infraState, healthyRun func() string, max int) {
	t.Helper()
	cur := snapshot()
	for i := 1; i <= max && infraDiff(ref, cur) != 0; i++ {
		status := healthyRun()
		cur = snapshot()
		if infraDiff(ref, cur) == 0 {
			o.RunsToConverge = i
			if status != "ok" {
				o.Note += fmt.Sprintf(" converging run ended %s;", status)
			}
			return
		}
	}
	if o.Lost = infraDiff(ref, cur); o.Lost != 0 {
		o.RunsToConverge = -1
		t.Logf("not converged after %d healthy runs: %s", max, infraDiffSample(ref, cur))
	}
}

// infraFileConfig writes a config for the file connector "dir" reading
// source, with the given state and store sections, in dir.
func infraFileConfig(t *testing.T, dir, source, stateYAML, storeYAML string) string {
	t.Helper()
	cfg := filepath.Join(dir, "dirsync.yaml")
	body := fmt.Sprintf(`log: {level: info, format: json}
state: %s
store: %s
domains: [example.com]
sync: {batch_size: 50}
connectors:
  - name: dir
    type: file
    config: {path: %q, preset: openldap}
`, stateYAML, storeYAML, source)
	require.NoError(t, os.WriteFile(cfg, []byte(body), 0o600))
	return cfg
}

const (
	infraLocalState = "{backend: local, path: data/state.db}"
	infraSQLite     = "{backend: sqlite, path: data/dirsync.db}"
)

func infraOpenSQLite(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "data", "dirsync.db"), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func infraOpenPostgres(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var (
	infraRefMu sync.Mutex
	infraRefs  = map[[32]byte]infraState{}
)

// infraReference is the store a fault-free history produces: the file
// connector synchronised once per directory in gens, on SQLite and local
// state. The state backend and the store do not change what a run writes, so
// the rows on Redis and PostgreSQL compare against it too. Computed once per
// history.
func infraReference(t *testing.T, gens ...[]byte) infraState {
	t.Helper()
	h := sha256.New()
	for _, g := range gens {
		fmt.Fprintf(h, "%d:", len(g))
		h.Write(g)
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	infraRefMu.Lock()
	defer infraRefMu.Unlock()
	if ref, ok := infraRefs[key]; ok {
		return ref
	}
	dir := t.TempDir()
	source := filepath.Join(dir, "source.ldif")
	cfg := infraFileConfig(t, dir, source, infraLocalState, infraSQLite)
	for i, g := range gens {
		require.NoError(t, os.WriteFile(source, g, 0o644))
		status, err := infraSync(t, cfg)
		require.Equal(t, "ok", status, "reference run %d: %s", i, err)
	}
	ref := infraSnapshot(t, infraOpenSQLite(t, dir))
	infraRefs[key] = ref
	return ref
}

// infraEventually polls cond every 10ms until it holds or within passes.
func infraEventually(t *testing.T, within time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, within, 10*time.Millisecond, fmt.Sprintf(msg, args...))
}
