package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
)

// binary is the dirsync command TestMain builds for the test's daemons.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithDirsync(m, &binary))
}

// lockedBuffer collects a daemon's log, written by the process while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail is the log's last n lines, for a failure message.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// daemon is one `dirsync serve` process of the test's own.
type daemon struct {
	t      *testing.T
	base   string
	token  string
	logs   *lockedBuffer
	cmd    *exec.Cmd
	exited chan struct{}
}

// site is a daemon's folder: its config, store and state.
type site struct {
	dir, cfg, listen string
}

// newSite writes a config that syncs the directory's OU through the ldap
// connector into a store of its own (storeYAML's, given the site's folder),
// with the internal domains example.com (the directory's) and
// loadtest.example (the API clients' manual users).
func newSite(t *testing.T, d *directory, storeYAML func(t *testing.T, dir string) string) site {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	listen := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: warn, format: json}
state: {backend: local, path: state.db}
store: %s
server: {listen: "%s"}
domains: [example.com, %s]
connectors:
  - name: corp
    type: ldap
    schedule: "@every 1h"
    full_schedule: "@every 24h"
    ldap:
      url: %s
      allow_plaintext_bind: true
      bind_dn: %s
      bind_password: ${DIRSYNC_TEST_LDAP_PASSWORD}
      preset: openldap
      base_dns: [%q]
      attributes: {aliases: [description]}
`, storeYAML(t, dir), listen, loadDomain, d.url, d.bindDN, d.ou)), 0o600))
	return site{dir: dir, cfg: cfg, listen: listen}
}

// adminToken makes an admin API token in the site's store.
func (s site) adminToken(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "tokens", "create", "--config", s.cfg, "--name", "load", "--scope", "admin").CombinedOutput()
	require.NoError(t, err, "tokens create: %s", out)
	tok := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(string(out))
	require.NotEmpty(t, tok, "tokens create printed no token")
	return tok
}

// start runs `dirsync serve` on the site and returns once /healthz answers;
// the daemon is killed at cleanup if the test has not stopped it.
func (s site) start(t *testing.T, token string) *daemon {
	t.Helper()
	d := &daemon{t: t, base: "http://" + s.listen, token: token, logs: &lockedBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binary, "serve", "--config", s.cfg)
	d.cmd.Dir = s.dir
	d.cmd.Stderr = d.logs
	require.NoError(t, d.cmd.Start())
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("--- dirsync log (last lines):\n%s", d.logs.tail(60))
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get(d.base + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 10*time.Millisecond, "dirsync serve did not answer /healthz; log:\n%s", d.logs.tail(30))
	return d
}

// stop sends SIGTERM and waits for the daemon to exit.
func (d *daemon) stop() {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.exited:
	case <-time.After(2 * time.Minute):
		d.t.Fatalf("dirsync serve did not stop within 2 minutes of SIGTERM")
	}
}

// get decodes a GET answer that must be 200.
func (d *daemon) get(path string, out any) {
	d.t.Helper()
	req, err := http.NewRequestWithContext(d.t.Context(), http.MethodGet, d.base+path, nil)
	require.NoError(d.t, err)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err, "GET %s", path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(d.t, err)
	require.Equal(d.t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, raw)
	require.NoError(d.t, json.Unmarshal(raw, out), "GET %s", path)
}

// runs is the connector's run history, newest first.
func (d *daemon) runs() []api.Run {
	var out api.RunList
	d.get("/v1/runs?connector=corp&limit=1000", &out)
	return out.Runs
}

// idle waits until no run is running or pending and returns the history.
func (d *daemon) idle(within time.Duration) []api.Run {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var busy api.RunList
		d.get("/v1/runs?connector=corp&state=running", &busy)
		var pending api.RunList
		d.get("/v1/runs?connector=corp&state=pending", &pending)
		if len(busy.Runs)+len(pending.Runs) == 0 {
			// A run may start between those answers and this one (the start-up
			// run right after the daemon is ready): the history itself must
			// show nothing in flight.
			runs := d.runs()
			if len(runs) > 0 && !slices.ContainsFunc(runs, func(r api.Run) bool {
				return r.Status == api.RunRunning || r.Status == api.RunPending
			}) {
				return runs
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("runs still going after %s: %d running, %d pending", within, len(busy.Runs), len(pending.Runs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// vmHWM is the process's peak resident set size in bytes (the kernel's
// figure, from /proc).
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err, "VmHWM %q", rest)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
