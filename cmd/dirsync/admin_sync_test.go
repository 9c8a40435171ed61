package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/sync/engine"
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
		status string
		args   []string
		code   int
	}{
		{engine.StatusOK, nil, exitOK},
		{engine.StatusOK, []string{"--dry-run"}, exitOK},
		{engine.StatusFailed, nil, exitFailed},
		{engine.StatusHeld, nil, exitHeld},
		{engine.StatusPartial, nil, exitPartial},
	}
	for _, tt := range tests {
		e.syncer.mu.Lock()
		e.syncer.status = tt.status
		e.syncer.mu.Unlock()
		res := e.fails(tt.code, append([]string{"trigger", "--connector", "sample"}, tt.args...)...)
		want := tt.status
		if len(tt.args) > 0 {
			want = engine.StatusDryRun
		}
		require.Regexp(t, `^sample: `+want+` \(incremental run run-\d+, `, res.stdout)
		require.Contains(t, res.stdout, "create 2  update 0")
	}
	e.syncer.status = engine.StatusHeld
	res := e.fails(exitHeld, "trigger")
	require.Contains(t, res.stdout, "HELD: 11 disables")
	require.Contains(t, res.stdout, "\nother: held")

	var got api.Triggered
	e.syncer.status = engine.StatusOK
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
