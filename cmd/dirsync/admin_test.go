package main

// End-to-end tests of the admin commands: the CLI's run() against the real
// admin API (api.New) over a real SQLite store, with a fake sync side. The
// bearer token is made the way an operator makes the first one: with
// `dirsync tokens create` on the same store.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

// strongPassword passes the password strength check.
const strongPassword = "Correct-Horse-Battery-42"

type adminEnv struct {
	t      *testing.T
	dir    string
	cfg    string
	st     store.Store
	syncer *fakeSyncer
	token  string
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the CLI in-process as main does, exit code included.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code := exitCode(err, &errb)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// writeConfig writes a minimal configuration whose store is dir/store.db.
func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dir.ldif"), nil, 0o644))
	cfg := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`log: {level: info}
state: {backend: local, path: state.db}
store: {backend: sqlite, path: store.db}
server: {listen: "127.0.0.1:0"}
domains: [example.com]
connectors:
  - name: sample
    type: file
    config: {path: dir.ldif, preset: openldap}
`), 0o600))
	return cfg
}

var exportLine = regexp.MustCompile(`export DIRSYNC_TOKEN=(\S+)`)

// createToken makes a token with the CLI and returns it.
func createToken(t *testing.T, cfg, name string, scopes ...string) string {
	t.Helper()
	args := []string{"tokens", "create", "--config", cfg, "--name", name}
	for _, s := range scopes {
		args = append(args, "--scope", s)
	}
	res := runCLI(t, args...)
	require.Equal(t, 0, res.code, res.stderr)
	m := exportLine.FindStringSubmatch(res.stdout)
	require.NotNil(t, m, res.stdout)
	return m[1]
}

// newAdminEnv starts the admin API on a fresh store and points the CLI at it.
func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	token := createToken(t, cfg, "test-admin", "admin")
	st, err := sqlite.Open(filepath.Join(dir, "store.db"), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.AddDomain(context.Background(), "example.com", store.Actor{Kind: "system", Name: "test"}))
	fs := &fakeSyncer{status: api.RunOK}
	srv := httptest.NewServer(api.New(api.Options{Store: st, Syncer: fs, Log: zap.NewNop(),
		PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1}}))
	t.Cleanup(srv.Close)
	t.Setenv(envServer, srv.URL)
	t.Setenv(envToken, token)
	return &adminEnv{t: t, dir: dir, cfg: cfg, st: st, syncer: fs, token: token}
}

// ok runs the CLI and requires exit 0.
func (e *adminEnv) ok(args ...string) cliResult {
	e.t.Helper()
	res := runCLI(e.t, args...)
	require.Equal(e.t, 0, res.code, "dirsync %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.stdout, res.stderr)
	return res
}

// fails runs the CLI and requires the exit code.
func (e *adminEnv) fails(code int, args ...string) cliResult {
	e.t.Helper()
	res := runCLI(e.t, args...)
	require.Equal(e.t, code, res.code, "dirsync %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.stdout, res.stderr)
	return res
}

// jsonOf runs the CLI with --output json and decodes stdout into v.
func (e *adminEnv) jsonOf(v any, args ...string) {
	e.t.Helper()
	res := e.ok(append(args, "--output", "json")...)
	require.NoError(e.t, json.Unmarshal([]byte(res.stdout), v), res.stdout)
}

// fakeSyncer is the daemon's sync side: every triggered run ends with status
// (dry-run for a dry run) and two creates.
type fakeSyncer struct {
	mu     sync.Mutex
	status api.RunStatus
	runs   []api.RunDetail
}

var _ api.Syncer = (*fakeSyncer)(nil)

func (f *fakeSyncer) Connectors() []string { return []string{"sample", "other"} }

func (f *fakeSyncer) Trigger(_ context.Context, req api.TriggerSync) ([]api.TriggeredRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := req.Connectors
	if len(names) == 0 {
		names = f.Connectors()
	}
	var out []api.TriggeredRun
	for _, n := range names {
		if n != "sample" && n != "other" {
			return nil, fmt.Errorf("connector %q: %w", n, api.ErrUnknownConnector)
		}
		id := fmt.Sprintf("run-%d", len(f.runs)+1)
		status := f.status
		if req.DryRun {
			status = api.RunDryRun
		}
		rep := &api.RunReport{RunID: id, Connector: n, Status: status, Full: req.Full,
			Counts:     api.RunCounts{Create: 2, Unchanged: 5},
			Operations: []api.Operation{}, Quarantined: []api.QuarantineEntry{}, Errors: []string{}}
		if f.status == api.RunHeld {
			// A dry run plans what the real run would hold.
			rep.HoldReason = "11 disables exceed max_destructive_percent 10"
		}
		if status == api.RunFailed {
			rep.Errors = []string{"ldap search: connection reset"}
		}
		rep.Finished = rep.Started
		f.runs = append(f.runs, api.RunDetail{Run: api.Run{RunID: id, Connector: n, Status: status, Full: req.Full,
			DryRun: req.DryRun, Counts: map[string]int{"create": 2, "unchanged": 5}}, Report: rep})
		tr := api.TriggeredRun{Connector: n, RunID: id}
		if req.Wait {
			tr.Report = rep
		}
		out = append(out, tr)
	}
	return out, nil
}

func (f *fakeSyncer) Runs(_ context.Context, connector string, limit int) ([]api.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Run
	for i := len(f.runs) - 1; i >= 0; i-- {
		if connector == "" || f.runs[i].Connector == connector {
			out = append(out, f.runs[i].Run)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeSyncer) Run(_ context.Context, id string) (api.RunDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.runs {
		if r.RunID == id {
			return r, nil
		}
	}
	return api.RunDetail{}, fmt.Errorf("run %s: %w", id, api.ErrRunNotFound)
}

func (f *fakeSyncer) FieldOwner(connector, field string) bool {
	return connector == "sample" && field == "display_name"
}

func TestParseMixed(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		out  string
		n    int
	}{
		{[]string{"a@x", "--output", "json"}, []string{"a@x"}, "json", 0},
		{[]string{"--output=json", "a@x", "b", "--n", "3", "c"}, []string{"a@x", "b", "c"}, "json", 3},
		{[]string{"a", "--", "--output", "json"}, []string{"a", "--output", "json"}, "table", 0},
		{[]string{"-"}, []string{"-"}, "table", 0},
		{nil, nil, "table", 0},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("output", "table", "")
		n := fs.Int("n", 0, "")
		pos, err := parseMixed(fs, tt.args)
		require.NoError(t, err, tt.args)
		require.Equal(t, tt.pos, pos, tt.args)
		require.Equal(t, tt.out, *out, tt.args)
		require.Equal(t, tt.n, *n, tt.args)
	}
}

func TestAdminUsageErrors(t *testing.T) {
	t.Setenv(envToken, "x")
	t.Setenv(envServer, "http://127.0.0.1:1")
	for _, args := range [][]string{
		{"users"},
		{"users", "frobnicate"},
		{"users", "show"},
		{"users", "show", "a@example.com", "b@example.com"},
		{"users", "show", "a@example.com", "--output", "xml"},
		{"users", "list", "--registration", "some"},
		{"users", "update", "a@example.com"},
		{"users", "delete", "a@example.com"},
		{"users", "create", "a@example.com", "--no-force-change"},
		{"users", "register", "a@example.com", "--question", "Q"},
		{"users", "invite", "a@example.com", "--expires", "soon"},
		{"roles", "assign", "a@example.com"},
		{"roles", "assign", "a@example.com", "Sales", "--none"},
		{"roles", "add", "Helpdesk"},
		{"import"},
		{"import", "x.csv", "--template"},
		{"runs", "show"},
		{"users", "show", "a@example.com", "--server", "localhost:8080"},
	} {
		res := runCLI(t, args...)
		require.Equal(t, exitUsage, res.code, "%v: %s", args, res.stderr)
	}
}

func TestAdminHelp(t *testing.T) {
	res := runCLI(t, "help")
	require.Equal(t, 0, res.code)
	for _, cmd := range []string{"users", "domains", "roles", "import", "runs", "trigger", "tokens"} {
		require.Contains(t, res.stdout, "dirsync "+cmd)
	}
	res = runCLI(t, "users", "help")
	require.Equal(t, 0, res.code)
	require.Contains(t, res.stdout, "dirsync users register ADDRESS")
	res = runCLI(t, "users", "show", "--help")
	require.Equal(t, 0, res.code)
	require.Contains(t, res.stderr, "Usage: dirsync users show ADDRESS")
}

func TestAdminNeedsToken(t *testing.T) {
	t.Setenv(envToken, "")
	res := runCLI(t, "users", "list")
	require.Equal(t, exitUsage, res.code)
	require.Contains(t, res.stderr, "DIRSYNC_TOKEN is not set")
	require.Contains(t, res.stderr, "dirsync tokens create --config FILE")
}

func TestAdminDaemonUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	t.Setenv(envToken, "some-token")
	t.Setenv(envServer, url)
	res := runCLI(t, "domains", "list")
	require.Equal(t, exitFailed, res.code)
	require.Contains(t, res.stderr, "dirsync: the dirsync daemon is not reachable at "+url)
	require.Contains(t, res.stderr, "dirsync serve --config FILE")
	require.NotContains(t, res.stderr, "some-token")
}

func TestAdminTokens(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	// Before the daemon's first start the store's folder does not exist yet.
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, bytes.Replace(raw, []byte("path: store.db"), []byte("path: data/store.db"), 1), 0o600))

	res := runCLI(t, "tokens", "create", "--config", cfg, "--name", "ci", "--scope", "read,sync", "--scope", "read")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, `Created token "ci" with scopes read, sync`)
	require.Contains(t, res.stdout, "shown only this once")
	token := exportLine.FindStringSubmatch(res.stdout)[1]
	require.NotEmpty(t, token)

	// The same name again is refused; a bad scope is a usage error.
	res = runCLI(t, "tokens", "create", "--config", cfg, "--name", "ci", "--scope", "admin")
	require.Equal(t, exitFailed, res.code)
	require.Contains(t, res.stderr, `a token named "ci" already exists`)
	res = runCLI(t, "tokens", "create", "--config", cfg, "--name", "x", "--scope", "root")
	require.Equal(t, exitUsage, res.code)
	require.Contains(t, res.stderr, `--scope "root": no such scope; use admin, read, sync, senders`)
	res = runCLI(t, "tokens", "create", "--config", cfg, "--name", "x")
	require.Equal(t, exitUsage, res.code)
	res = runCLI(t, "tokens", "create", "--name", "x", "--scope", "admin")
	require.Equal(t, exitUsage, res.code)
	require.Contains(t, res.stderr, "--config is required")

	res = runCLI(t, "tokens", "create", "--config", cfg, "--name", "ops", "--scope", "admin", "--output", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var created struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
		Token  string   `json:"token"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &created))
	require.Equal(t, "ops", created.Name)
	require.Equal(t, []string{"admin"}, created.Scopes)
	require.NotEmpty(t, created.Token)
	require.NotEqual(t, token, created.Token)

	res = runCLI(t, "tokens", "list", "--config", cfg)
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `(?m)^NAME\s+SCOPES\s+CREATED\s+LAST USED\s+EXPIRES$`, res.stdout)
	require.Regexp(t, `(?m)^ci\s+read,sync\s+\S+ \S+\s+never\s+never$`, res.stdout)
	require.NotContains(t, res.stdout, token)

	res = runCLI(t, "tokens", "list", "--config", cfg, "--output", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var list struct {
		Tokens []struct {
			Name string `json:"name"`
		} `json:"tokens"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &list))
	require.Len(t, list.Tokens, 2)
	require.NotContains(t, res.stdout, "hash")

	res = runCLI(t, "tokens", "revoke", "ci", "--config", cfg)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, `revoked token "ci"`)
	res = runCLI(t, "tokens", "revoke", "--config", cfg, "ci")
	require.Equal(t, exitFailed, res.code)
	require.Contains(t, res.stderr, `no token named "ci"`)
}

func TestAdminAuthErrors(t *testing.T) {
	e := newAdminEnv(t)
	readOnly := createToken(t, e.cfg, "reader", "read")

	t.Setenv(envToken, readOnly)
	e.ok("domains", "list")
	res := e.fails(exitFailed, "domains", "add", "example.org")
	require.Contains(t, res.stderr, "(forbidden)")
	require.Contains(t, res.stderr, "dirsync tokens list")

	t.Setenv(envToken, "not-a-token")
	res = e.fails(exitFailed, "domains", "list")
	require.Contains(t, res.stderr, "(unauthorized)")
	require.Contains(t, res.stderr, "dirsync tokens create")
	require.NotContains(t, res.stderr, "not-a-token")
}

func TestAdminDomainsAndRoles(t *testing.T) {
	e := newAdminEnv(t)
	res := e.ok("domains", "add", "example.org")
	require.Equal(t, "added internal domain example.org\n", res.stdout)
	res = e.ok("domains", "list")
	require.Regexp(t, `(?s)^DOMAIN\s+example\.com\s+example\.org\s*$`, res.stdout)
	var ds struct {
		Domains []api.Domain `json:"domains"`
	}
	e.jsonOf(&ds, "domains", "list")
	require.Equal(t, []api.Domain{{Name: "example.com"}, {Name: "example.org"}}, ds.Domains)

	res = e.ok("roles", "list")
	require.Regexp(t, `(?m)^ROLE\s+PERMISSIONS\s+SUPPORT CONTACT\s+DEFAULT$`, res.stdout)
	require.Regexp(t, `(?m)^Administrator\s+.*\byes\s+yes$`, res.stdout)

	res = e.ok("roles", "add", "Helpdesk Admin", "--permission", "support,users.read", "--permission", "users.write")
	require.Contains(t, res.stdout, "added role Helpdesk Admin")
	require.Contains(t, res.stdout, "support contacts")
	res = e.fails(exitFailed, "roles", "add", "Helpdesk Admin", "--permission", "support")
	require.Contains(t, res.stderr, "(role_exists)")
	res = e.fails(exitFailed, "roles", "add", "Odd", "--permission", "fly")
	require.Contains(t, res.stderr, "dirsync: ")

	var roles struct {
		Roles []api.Role `json:"roles"`
	}
	e.jsonOf(&roles, "roles", "list")
	require.Len(t, roles.Roles, len(store.DefaultRoles)+1)

	e.ok("users", "create", "carol@example.com", "--name", "Carol")
	res = e.ok("roles", "assign", "carol@example.com", "Helpdesk Admin", "Sales")
	require.Contains(t, res.stdout, "carol@example.com: roles now Helpdesk Admin, Sales")
	var u api.User
	e.jsonOf(&u, "users", "show", "carol@example.com")
	require.Equal(t, []string{"Helpdesk Admin", "Sales"}, u.Roles)
	require.True(t, u.SupportContact)

	res = e.fails(exitFailed, "roles", "assign", "carol@example.com", "Astronaut")
	require.Contains(t, res.stderr, "(unknown_role)")
	res = e.fails(exitFailed, "roles", "assign", "nobody@example.com", "Sales")
	require.Regexp(t, `\((not_found|user_not_saved)\)`, res.stderr)

	res = e.ok("roles", "assign", "carol@example.com", "--none")
	require.Contains(t, res.stdout, "carol@example.com: roles cleared")
	e.jsonOf(&u, "users", "show", "carol@example.com")
	require.Empty(t, u.Roles)
}
