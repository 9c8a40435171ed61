package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
	"github.com/dirsync/dirsync/store/sqlite"
)

// dirsyncBin is the dirsync command, built once for the browser tests, which
// run against a real `dirsync serve`.
var dirsyncBin string

func TestMain(m *testing.M) { os.Exit(testenv.MainWithDirsync(m, &dirsyncBin)) }

// serveOptions shape the daemon startServe runs.
type serveOptions struct {
	// Source is the file connector's LDIF directory (the bundled sample
	// directory when empty).
	Source string
	// IdleTimeout is server.console.idle_timeout (the default when zero).
	IdleTimeout time.Duration
	// Setup runs on the store before the daemon starts (users, roles).
	Setup func(t *testing.T, svc *api.Service)
	// Connectors, when set, replaces the connectors list of the
	// configuration (YAML list items, indented by two spaces).
	Connectors string
	// State and Store, when set, replace the body of the configuration's
	// state and store sections (YAML indented by two spaces); the local
	// state.db and SQLite store.db when empty.
	State, Store string
	// StoreDSN is the PostgreSQL store the seed writes to (SQLite store.db
	// when empty); Seeded says another daemon's startServe seeded it already.
	StoreDSN string
	Seeded   bool
}

// served is a running `dirsync serve`.
type served struct {
	URL    string // http://127.0.0.1:PORT
	Admin  string // an Administrator's address, registered with adminPassword
	Dir    string // the daemon's folder: config.yaml, store.db, state.db
	Config string
	pid    int
	logs   *lockedBuffer
	exited chan struct{}
}

// repoRoot is the module's root folder.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// startServe runs `dirsync serve` on a fresh SQLite store and local state file,
// on a free loopback port, with the quickstart's domains (example.com,
// example.net) and a file connector, and an Administrator admin@example.com.
// It returns once /readyz answers; the test's end stops it and, if the test
// failed, prints its log.
func startServe(t *testing.T, o serveOptions) *served {
	t.Helper()
	dir := t.TempDir()
	src := o.Source
	if src == "" {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "examples", "sample-directory.ldif"))
		if err != nil {
			t.Fatal(err)
		}
		src = string(b)
	}
	if err := os.WriteFile(filepath.Join(dir, "directory.ldif"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	connectors := o.Connectors
	if connectors == "" {
		connectors = `  - name: sample
    type: file
    schedule: "@every 1h"
    config:
      path: directory.ldif
      preset: openldap
`
	}
	idle := ""
	if o.IdleTimeout > 0 {
		idle = fmt.Sprintf("\n  console:\n    idle_timeout: %s\n    absolute_timeout: 1h", o.IdleTimeout)
	}
	stateYAML, storeYAML := o.State, o.Store
	if stateYAML == "" {
		stateYAML = "  backend: local\n  path: state.db\n"
	}
	if storeYAML == "" {
		storeYAML = "  backend: sqlite\n  path: store.db\n"
	}
	cfg := fmt.Sprintf(`log:
  level: debug
  format: json
state:
%sstore:
%sserver:
  listen: %s%s
domains: [example.com, example.net]
sync:
  soft_match: true
connectors:
%s`, stateYAML, storeYAML, addr, idle, connectors)
	s := &served{URL: "http://" + addr, Admin: "admin@example.com", Dir: dir, Config: filepath.Join(dir, "config.yaml"),
		logs: &lockedBuffer{}, exited: make(chan struct{})}
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if !o.Seeded {
		s.seed(t, o)
	}

	cmd := exec.Command(dirsyncBin, "serve", "--config", s.Config)
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dirsync serve: %v", err)
	}
	s.pid = cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("--- dirsync log:\n%s", s.logs.String())
		}
	})
	s.waitReady(t)
	return s
}

// seed creates the store before the daemon opens it: the domains, the
// administrator and whatever the test's Setup adds.
func (s *served) seed(t *testing.T, o serveOptions) {
	t.Helper()
	var st store.Store
	var err error
	if o.StoreDSN != "" {
		st, err = postgres.Open(context.Background(), o.StoreDSN, zap.NewNop())
	} else {
		st, err = sqlite.Open(filepath.Join(s.Dir, "store.db"), zap.NewNop())
	}
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer func() { _ = st.Close() }() // read-only use is over; the daemon opens it next
	ctx := context.Background()
	for _, d := range []string{"example.com", "example.net"} {
		if err := st.AddDomain(ctx, d, system); err != nil {
			t.Fatal(err)
		}
	}
	svc := api.NewService(api.Options{Store: st, PasswordParams: fast})
	if _, err := svc.CreateUser(ctx, system, api.CreateUser{Address: s.Admin, DisplayName: "Ada Admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Register(ctx, system, s.Admin, api.Register{Password: adminPassword, Question: "First pet?", Answer: "Rex"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetRoles(ctx, system, s.Admin, []string{"Administrator"}); err != nil {
		t.Fatal(err)
	}
	if o.Setup != nil {
		o.Setup(t, svc)
	}
}

// waitReady polls /readyz until it answers 200 (the daemon opened its store and
// state) or the daemon exits.
func (s *served) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for wait := 20 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 500*time.Millisecond) {
		select {
		case <-s.exited:
			t.Fatalf("dirsync serve exited before it was ready:\n%s", s.logs.String())
		default:
		}
		res, err := http.Get(s.URL + "/readyz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(wait)
	}
	t.Fatalf("dirsync serve not ready within 30 s:\n%s", s.logs.String())
}

// RSS is the daemon's peak resident set size from the OS (VmHWM), in bytes.
func (s *served) RSS(t testing.TB) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		t.Fatalf("read the daemon's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", s.pid)
	return 0
}

// Logs is what the daemon logged so far.
func (s *served) Logs() string { return s.logs.String() }

// lockedBuffer is a bytes.Buffer the daemon writes and the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
