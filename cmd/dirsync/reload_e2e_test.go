package main_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSIGHUPReloadsConnectors runs a real `dirsync serve` and edits its
// configuration under it: a connector added by SIGHUP runs at once while the
// unchanged one is left alone; an invalid file is rejected and the running
// configuration keeps working; a removed connector is gone and a changed
// schedule is taken. SIGTERM then stops the daemon cleanly.
func TestSIGHUPReloadsConnectors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hr.ldif"), []byte(corpLDIF("ann", "ben")), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sales.ldif"), []byte(corpLDIF("sam", "sue", "sid")), 0o644))
	listen := freePort(t)
	cfg := filepath.Join(dir, "dirsync.yaml")
	write := func(connectors string) {
		t.Helper()
		require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info, format: json}
state: {path: data/state.db}
store: {path: data/dirsync.db}
server: {listen: "%s"}
domains: [example.com]
connectors:
%s`, listen, connectors)), 0o644))
	}
	hr := `  - {name: hr, type: file, schedule: "@every 1h", config: {path: hr.ldif, preset: openldap}}
`
	sales := `  - {name: sales, type: file, schedule: "@every 1h", config: {path: sales.ldif, preset: openldap}}
`
	write(hr)
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "admin", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	token := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)
	require.NotEmpty(t, token)

	// systemd's side of Type=notify: a datagram socket named by $NOTIFY_SOCKET.
	notified := listenNotify(t, filepath.Join(dir, "notify.sock"))
	d := startServe(t, listen, cfg, "NOTIFY_SOCKET="+filepath.Join(dir, "notify.sock"))
	require.Eventually(t, func() bool { return notified.has("READY=1\nSTATUS=serving on " + listen + ", 1 connector(s)") },
		30*time.Second, 50*time.Millisecond, "READY=1 once the daemon serves; got %q", notified.all())
	finishedRuns := func(connector string) int {
		n := 0
		for _, l := range logsOf(d.logs, "run finished") {
			if l["connector"] == connector {
				n++
			}
		}
		return n
	}
	userExists := func(addr string) bool {
		code, _ := d.call("GET", "/v1/users/"+addr, token, "")
		return code == http.StatusOK
	}
	require.Eventually(t, func() bool { return finishedRuns("hr") == 1 && userExists("ben@example.com") },
		30*time.Second, 50*time.Millisecond, "the start-up run of hr")
	hup := func() {
		t.Helper()
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	}

	// Add a connector: it runs at once; hr is neither reopened nor run again.
	write(hr + sales)
	hup()
	require.Eventually(t, func() bool { return len(logsOf(d.logs, "configuration reloaded")) == 1 },
		20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return notified.has("RELOADING=1\nSTATUS=reloading the configuration") &&
			notified.has("READY=1\nSTATUS=configuration reloaded; serving on "+listen+", 2 connector(s)")
	}, 20*time.Second, 50*time.Millisecond, "RELOADING=1 then READY=1; got %q", notified.all())
	reloaded := logsOf(d.logs, "configuration reloaded")[0]
	require.Equal(t, []any{"sales"}, reloaded["added"])
	require.Equal(t, []any{"hr"}, reloaded["unchanged"])
	require.Eventually(t, func() bool { return finishedRuns("sales") == 1 && userExists("sid@example.com") },
		30*time.Second, 50*time.Millisecond, "the added connector's first run")
	require.Equal(t, 1, finishedRuns("hr"), "the unchanged connector is left alone")

	// An invalid file is rejected, saying why; the running configuration stays.
	write(hr + sales + `  - {name: broken, type: nosuch}
`)
	hup()
	require.Eventually(t, func() bool { return len(logsOf(d.logs, "configuration reload rejected")) == 1 },
		20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return notified.has("READY=1\nSTATUS=configuration reload rejected (see the log); serving on " + listen + ", 2 connector(s)")
	}, 20*time.Second, 50*time.Millisecond, "a rejected reload is READY=1 with the old configuration; got %q", notified.all())
	rejected := logsOf(d.logs, "configuration reload rejected")[0]
	require.Equal(t, "error", rejected["level"])
	require.Contains(t, fmt.Sprint(rejected["error"]), "nosuch")
	code, raw := d.call("POST", "/v1/syncs", token, `{"connectors": ["sales"], "wait": true}`)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, 2, finishedRuns("sales"), "still configured and running")

	// Remove sales and reschedule hr.
	write(strings.Replace(hr, "@every 1h", "@every 2h", 1))
	hup()
	require.Eventually(t, func() bool { return len(logsOf(d.logs, "configuration reloaded")) == 2 },
		20*time.Second, 50*time.Millisecond)
	reloaded = logsOf(d.logs, "configuration reloaded")[1]
	require.Equal(t, []any{"sales"}, reloaded["removed"])
	require.Equal(t, []any{"hr"}, reloaded["rescheduled"])
	code, raw = d.call("POST", "/v1/syncs", token, `{"connectors": ["sales"]}`)
	require.Equal(t, http.StatusNotFound, code, string(raw))
	var apiErr struct {
		Error struct{ Code string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &apiErr))
	require.Equal(t, "unknown_connector", apiErr.Error.Code)
	code, raw = d.call("POST", "/v1/syncs", token, `{"connectors": ["hr"], "wait": true}`)
	require.Equal(t, http.StatusOK, code, string(raw))

	// SIGTERM: a clean stop.
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	require.Equal(t, 0, d.cmd.ProcessState.ExitCode())
	require.Len(t, logsOf(d.logs, "stopped"), 1)
	require.True(t, notified.has("STOPPING=1\nSTATUS=stopping: waiting for runs in flight"), "got %q", notified.all())
}

// notifySocket collects the datagrams a daemon sends to $NOTIFY_SOCKET.
type notifySocket struct {
	mu   sync.Mutex
	msgs []string
}

func (n *notifySocket) has(msg string) bool { return slices.Contains(n.all(), msg) }

func (n *notifySocket) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// listenNotify listens where systemd would for a Type=notify unit's messages.
func listenNotify(t *testing.T, path string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	n := &notifySocket{}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return n
}

// logsOf returns the daemon's JSON log lines with message msg, every field.
func logsOf(b *lockedBuffer, msg string) []map[string]any {
	var out []map[string]any
	for _, raw := range strings.Split(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(raw), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// startServe runs `dirsync serve --config cfg` listening on listen, with env
// added to the environment; the test's end kills it and, if the test failed,
// prints its log.
func startServe(t *testing.T, listen, cfg string, env ...string) *daemon {
	t.Helper()
	d := &daemon{base: "http://" + listen, logs: &lockedBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binary, "serve", "--config", cfg)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stderr = d.logs
	require.NoError(t, d.cmd.Start())
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("--- dirsync log:\n%s", d.logs.String())
		}
	})
	return d
}
