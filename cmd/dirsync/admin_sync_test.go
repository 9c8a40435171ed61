package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

func TestAdminImport(t *testing.T) {
	e := newAdminEnv(t)
	res := e.ok("import", "--template")
	require.True(t, strings.HasPrefix(strings.TrimPrefix(res.stdout, "\ufeff"), "Email"), res.stdout)
	for _, col := range []string{"Name", "Password", "Force Change Password"} {
		require.Contains(t, res.stdout, col)
	}

	good := filepath.Join(e.dir, "users.csv")
	require.NoError(t, os.WriteFile(good, []byte("Email,Name,Password,Force Change Password\n"+
		"ann@example.com,Ann,,\n"+
		"ben@example.com,Ben,"+strongPassword+",TRUE\n"), 0o600))
	res = e.ok("import", good)
	require.Contains(t, res.stdout, "imported "+good+": 2 added, 0 updated, 0 unchanged")
	require.Regexp(t, `(?m)^2\s+added\s+ann@example\.com$`, res.stdout)
	require.NotContains(t, res.stdout, strongPassword)

	var result api.ImportResult
	e.jsonOf(&result, "import", good)
	require.Equal(t, 2, result.Unchanged)

	// Every problem is listed, and nothing is imported.
	bad := filepath.Join(e.dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("Email,Name,Password,Force Change Password\n"+
		"not-an-address,X,,\n"+
		"cat@example.com,Cat,,maybe\n"+
		"dan@elsewhere.org,Dan,,\n"), 0o600))
	res = e.fails(exitFailed, "import", bad)
	require.Regexp(t, `^dirsync: .+ \(import_invalid\)\n`, res.stderr)
	require.Contains(t, res.stderr, "\n  row 2, column Email: ")
	require.Contains(t, res.stderr, "\n  row 3, column Force Change Password: ")
	require.Contains(t, res.stderr, "\n  row 4, column Email: ")
	e.fails(exitFailed, "users", "show", "cat@example.com")

	// From standard input.
	withStdin(t, "Email,Name\neve@example.com,Eve\n")
	res = e.ok("import", "-")
	require.Contains(t, res.stdout, "1 added")

	res = e.fails(exitUsage, "import", filepath.Join(e.dir, "missing.csv"))
	require.Contains(t, res.stderr, "missing.csv")
}

func TestAdminTriggerExitCodes(t *testing.T) {
	e := newAdminEnv(t)
	tests := []struct {
		status api.RunStatus
		args   []string
		code   int
	}{
		{api.RunOK, nil, exitOK},
		{api.RunOK, []string{"--dry-run"}, exitOK},
		{api.RunFailed, nil, exitFailed},
		{api.RunHeld, nil, exitHeld},
		{api.RunHeld, []string{"--dry-run"}, exitHeld}, // what applying would do
		{api.RunPartial, nil, exitPartial},
	}
	for _, tt := range tests {
		e.syncer.mu.Lock()
		e.syncer.status = tt.status
		e.syncer.mu.Unlock()
		res := e.fails(tt.code, append([]string{"trigger", "--connector", "sample"}, tt.args...)...)
		want := tt.status
		if len(tt.args) > 0 {
			want = api.RunDryRun
		}
		require.Regexp(t, `^sample: `+string(want)+` \(incremental run run-\d+, `, res.stdout)
		require.Contains(t, res.stdout, "create 2  update 0")
	}
	e.syncer.status = api.RunHeld
	res := e.fails(exitHeld, "trigger")
	require.Contains(t, res.stdout, "HELD: 11 disables")
	require.Contains(t, res.stdout, "\nother: held")

	var got api.Triggered
	e.syncer.status = api.RunOK
	e.jsonOf(&got, "trigger", "--connector", "other", "--full")
	require.Len(t, got.Runs, 1)
	require.Equal(t, "other", got.Runs[0].Connector)
	require.NotEmpty(t, got.Runs[0].Report)

	res = e.ok("trigger", "--no-wait", "--connector", "sample")
	require.Regexp(t, `^sample: started run run-\d+ \(follow it with: dirsync runs show run-\d+\)\n$`, res.stdout)

	res = e.fails(exitFailed, "trigger", "--connector", "nope")
	require.Contains(t, res.stderr, "(unknown_connector)")
}

func TestAdminRuns(t *testing.T) {
	e := newAdminEnv(t)
	e.ok("trigger", "--connector", "sample")
	e.ok("trigger", "--connector", "other", "--full")

	res := e.ok("runs", "list")
	require.Regexp(t, `^RUN ID\s+CONNECTOR\s+STATUS\s+STARTED\s+DURATION\s+COUNTS\n`, res.stdout)
	require.Regexp(t, `(?m)^run-2\s+other\s+ok \(full\)\s+.*create 2, unchanged 5$`, res.stdout)
	require.Regexp(t, `(?m)^run-1\s+sample\s+ok\s+`, res.stdout)

	var list api.RunList
	e.jsonOf(&list, "runs", "list", "--connector", "sample")
	require.Len(t, list.Runs, 1)
	e.jsonOf(&list, "runs", "list", "--limit", "1")
	require.Len(t, list.Runs, 1)
	require.Equal(t, "run-2", list.Runs[0].RunID)

	res = e.ok("runs", "show", "run-1")
	require.Regexp(t, `^sample: ok \(incremental run run-1, `, res.stdout)
	var d api.RunDetail
	e.jsonOf(&d, "runs", "show", "run-1")
	require.Equal(t, "sample", d.Connector)
	require.NotEmpty(t, d.Report)

	res = e.fails(exitFailed, "runs", "show", "run-99")
	require.Contains(t, res.stderr, "(not_found)")
}

// heldSource emits one user (and any extra records), each read waiting for
// its gate first (closing Reading as the first read begins), so a test can
// hold a run in progress.
func heldSource(extra ...connectors.Record) *connectortest.Static {
	return &connectortest.Static{
		Gate:    make(chan struct{}),
		Reading: make(chan struct{}),
		Records: append([]connectors.Record{{Kind: connectors.KindUser, Ref: "uid=held", Anchor: "held",
			Mail: "held@example.com", DisplayName: "Held"}}, extra...),
	}
}

// newRunnerEnv is newAdminEnv with the daemon's real sync side (startDaemon).
func newRunnerEnv(t *testing.T, jobs ...engine.Job) (*adminEnv, *runner.Runner) {
	t.Helper()
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	token := createToken(t, cfg, "test-admin", "admin")
	t.Setenv(envToken, token)
	r, st := startDaemon(t, dir, jobs...)
	return &adminEnv{t: t, dir: dir, cfg: cfg, st: st, token: token}, r
}

// startDaemon serves the admin API with a runner over the engine, the state
// file and the store in dir, running jobs, and points the CLI at it.
func startDaemon(t *testing.T, dir string, jobs ...engine.Job) (*runner.Runner, store.Store) {
	t.Helper()
	log := zap.NewNop()
	st, err := sqlite.Open(filepath.Join(dir, "store.db"), log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.AddDomain(t.Context(), "example.com", store.Actor{Kind: "system", Name: "test"}))
	sb, err := local.Open(filepath.Join(dir, "state.db"), log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	r := runner.New(context.Background(), engine.New(st, sb, []string{"example.com"}, log), sb, jobs, log, runner.Options{})
	t.Cleanup(func() { _ = r.Wait(context.Background()) })
	srv := httptest.NewServer(api.New(api.Options{Store: st, Syncer: apiwire.NewSyncs(r), Log: log}))
	t.Cleanup(srv.Close)
	t.Setenv(envServer, srv.URL)
	return r, st
}

func TestAdminRunsPending(t *testing.T) {
	src := heldSource()
	e, r := newRunnerEnv(t, engine.Job{Name: "sample", Source: src})

	res := e.ok("trigger", "--no-wait")
	m := regexp.MustCompile(`^sample: started run (\S+) `).FindStringSubmatch(res.stdout)
	require.NotNil(t, m, res.stdout)
	first := m[1]
	<-src.Reading
	res = e.ok("trigger", "--no-wait", "--full")
	m = regexp.MustCompile(`^sample: queued \(behind the run in progress\) run (\S+) `).FindStringSubmatch(res.stdout)
	require.NotNil(t, m, res.stdout)
	queued := m[1]
	res = e.ok("trigger", "--no-wait")
	require.Contains(t, res.stdout, "run "+queued+" ", "merged into the pending run")

	res = e.ok("runs", "list", "--state", "pending")
	require.Regexp(t, `^RUN ID\s+CONNECTOR\s+STATUS\s+STARTED\s+DURATION\s+COUNTS\n`, res.stdout)
	require.Regexp(t, `(?m)^`+queued+`\s+sample\s+pending \(full\)\s+.*queued\s+requested by api \(2 triggers\)$`, res.stdout)
	require.NotContains(t, res.stdout, first)
	res = e.ok("runs", "list", "--state", "running")
	require.Regexp(t, `(?m)^`+first+`\s+sample\s+running\s+.*running\s+requested by api$`, res.stdout)
	require.NotContains(t, res.stdout, queued)
	res = e.ok("runs", "list")
	require.Contains(t, res.stdout, first)
	require.Contains(t, res.stdout, queued)

	var list api.RunList
	e.jsonOf(&list, "runs", "list", "--state", "pending")
	require.Len(t, list.Runs, 1)
	require.Equal(t, queued, list.Runs[0].RunID)
	require.Equal(t, []string{"api"}, list.Runs[0].RequestedBy)
	require.Equal(t, 2, list.Runs[0].Triggers)
	require.True(t, list.Runs[0].Full)
	e.fails(exitUsage, "runs", "list", "--state", "finished")

	close(src.Gate)
	require.NoError(t, r.Idle(t.Context(), "sample"))
	e.jsonOf(&list, "runs", "list", "--state", "pending")
	require.Empty(t, list.Runs)
	res = e.ok("runs", "show", queued)
	require.Regexp(t, `^sample: ok \(full run `+queued+`, `, res.stdout)

	// Both ended ok: a page of one, and the cursor to the next.
	res = e.ok("runs", "list", "--status", "ok", "--limit", "1")
	require.Contains(t, res.stdout, queued, "the newest first")
	require.NotContains(t, res.stdout, first)
	m = regexp.MustCompile(`^more runs: add --cursor (\S+)\n$`).FindStringSubmatch(res.stderr)
	require.NotNil(t, m, res.stderr)
	res = e.ok("runs", "list", "--status", "ok", "--limit", "1", "--cursor", m[1])
	require.Contains(t, res.stdout, first)
	require.Empty(t, res.stderr, "the last page")
	e.fails(exitUsage, "runs", "list", "--status", "finished")
}

// TestAdminRunsShowAfterRestart: the full report comes from the state backend
// once the daemon that ran it is gone.
func TestAdminRunsShowAfterRestart(t *testing.T) {
	src := heldSource(connectors.Record{Kind: connectors.KindUser, Ref: "uid=nomail", Anchor: "nomail", DisplayName: "No Mail"})
	close(src.Gate)
	jobs := []engine.Job{{Name: "sample", Source: src}}
	e, r := newRunnerEnv(t, jobs...)
	res := e.ok("trigger")
	m := regexp.MustCompile(`^sample: ok \(full run (\S+), `).FindStringSubmatch(res.stdout)
	require.NotNil(t, m, res.stdout)
	id := m[1]
	require.NoError(t, r.Wait(t.Context()))

	startDaemon(t, e.dir, jobs...)
	shown := e.ok("runs", "show", id)
	require.Equal(t, res.stdout, shown.stdout, "the report as the trigger printed it")
	require.Regexp(t, `(?m)^  applied\s+create\s+held@example\.com  \(`, shown.stdout)
	require.Regexp(t, `(?m)^  quarantined uid=nomail \[mail\]: .+; fix: .+$`, shown.stdout)
	require.Contains(t, shown.stdout, "quarantined 1")
}
