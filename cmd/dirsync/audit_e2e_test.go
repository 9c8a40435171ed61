package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// TestAuditEndToEnd: one address, changed in turn by outbound auto-creation,
// a CSV import, an administrator and a sync that adopts it, all through a real
// `dirsync serve` and the built binary; `dirsync audit --address` then shows
// the four changes newest first, each with its fields before and after, and
// no token anywhere.
func TestAuditEndToEnd(t *testing.T) {
	const x = "xavier@example.com"
	dir := t.TempDir()
	listen := freePort(t)
	cfg := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info, format: json}
state: {backend: local, path: data/state.db}
store: {backend: sqlite, path: data/dirsync.db}
server: {listen: "%s"}
domains: [example.com]
connectors:
  - {name: corp, type: file, schedule: "@every 1h", config: {path: corp.csv}}
`, listen)), 0o600))
	// The directory starts without X (bob keeps the source from being empty).
	source := filepath.Join(dir, "corp.csv")
	const header = "Email,Name,Department,Title\n"
	require.NoError(t, os.WriteFile(source, []byte(header+"bob@example.com,Bob Corp,Ops,Operator\n"), 0o600))

	tok := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`)
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "auditor", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	admin := tok.FindString(res.stdout)
	res = dirsync(t, "tokens", "create", "--config", cfg, "--name", "gateway", "--scope", "senders")
	require.Equal(t, 0, res.code, res.stderr)
	gateway := tok.FindString(res.stdout)
	require.NotEmpty(t, admin, res.stdout)
	require.NotEmpty(t, gateway, res.stdout)

	d := startServe(t, listen, cfg)
	require.Eventually(t, func() bool {
		code, _ := d.call("GET", "/v1/users/bob@example.com", admin, "")
		return code == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "the start-up sync did not bring bob in")
	cli := func(args ...string) string {
		t.Helper()
		r := runEnv(t, []string{"DIRSYNC_SERVER=" + d.base, "DIRSYNC_TOKEN=" + admin}, args...)
		require.Equal(t, 0, r.code, "dirsync %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
		return r.stdout
	}

	// 1. Auto-creation: the gateway reports X as a first-time sender.
	code, raw := d.call("POST", "/v1/senders", gateway, `{"senders": ["`+x+`"]}`)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Contains(t, string(raw), `"status":"created"`, string(raw))

	// 2. A CSV import names X.
	csv := filepath.Join(dir, "import.csv")
	require.NoError(t, os.WriteFile(csv, []byte("Email,Name\n"+x+",Xavier Imported\n"), 0o600))
	require.Contains(t, cli("import", csv), "1 updated")

	// 3. An administrator gives X a title.
	cli("users", "update", x, "--title", "Admin Title")

	// 4. The directory gains X with its own name, department and title; the
	// sync adopts the outbound user (soft match) and takes those fields over.
	require.NoError(t, os.WriteFile(source, []byte(header+"bob@example.com,Bob Corp,Ops,Operator\n"+
		x+",Xavier Source,Sales,Source Title\n"), 0o600))
	var trig struct {
		Runs []struct {
			RunID  string `json:"run_id"`
			Report struct {
				Status string `json:"status"`
			} `json:"report"`
		} `json:"runs"`
	}
	out := cli("trigger", "--connector", "corp", "--output", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &trig), out)
	require.Len(t, trig.Runs, 1, out)
	require.Equal(t, "ok", trig.Runs[0].Report.Status, out)
	runID := trig.Runs[0].RunID
	require.NotEmpty(t, runID, out)

	// Text: an entry line per change, newest first, its fields indented below.
	// The import is recorded as actor kind import, named after the token
	// that sent the file.
	text := cli("audit", "--address", x)
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	stamp := `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  `
	require.Len(t, lines, 14, text)
	require.Regexp(t, stamp+`sync:corp \(run `+regexp.QuoteMeta(runID)+`\)  update  xavier@example\.com  soft match: adopting outbound user by address$`, lines[0])
	require.Equal(t, []string{
		"    origin: outbound → corp",
		`    anchor: "" → xavier@example.com`,
		"    display_name: Xavier Imported → Xavier Source",
		`    department: "" → Sales`,
		"    title: Admin Title → Source Title",
	}, lines[1:6], text)
	require.Regexp(t, stamp+`admin:auditor  update  xavier@example\.com  changed through the admin API$`, lines[6])
	require.Equal(t, `    title: "" → Admin Title`, lines[7], text)
	require.Regexp(t, stamp+`import:auditor  update  xavier@example\.com  CSV import$`, lines[8])
	require.Equal(t, `    display_name: "" → Xavier Imported`, lines[9], text)
	require.Regexp(t, stamp+`outbound:http  create  xavier@example\.com  first outbound message \(via http\)$`, lines[10])
	require.Equal(t, []string{"    address: - → xavier@example.com", "    origin: - → outbound", "    enabled: - → true"}, lines[11:14], text)
	require.Len(t, regexp.MustCompile(`(?m)^\S`).FindAllString(text, -1), 4, text)

	// JSON: the same four entries, with their actors' kinds.
	js := cli("audit", "--address", x, "--output", "json")
	var l api.AuditList
	require.NoError(t, json.Unmarshal([]byte(js), &l), js)
	require.Len(t, l.Entries, 4, js)
	require.Empty(t, l.NextCursor)
	type entry struct {
		Actor   api.AuditActor
		Action  string
		Reason  string
		Changes []api.FieldChange
	}
	var got []entry
	for i, e := range l.Entries {
		require.Equal(t, x, e.Address)
		if i > 0 {
			require.Less(t, e.ID, l.Entries[i-1].ID, "newest first")
			require.False(t, e.Time.After(l.Entries[i-1].Time), "newest first")
		}
		got = append(got, entry{e.Actor, e.Action, e.Reason, e.Changes})
	}
	require.Equal(t, []entry{
		{api.AuditActor{Kind: "sync", Name: "corp", RunID: runID}, "update", "soft match: adopting outbound user by address", []api.FieldChange{
			{Field: "origin", Before: "outbound", After: "corp"},
			{Field: "anchor", Before: "", After: x},
			{Field: "display_name", Before: "Xavier Imported", After: "Xavier Source"},
			{Field: "department", Before: "", After: "Sales"},
			{Field: "title", Before: "Admin Title", After: "Source Title"},
		}},
		{api.AuditActor{Kind: "admin", Name: "auditor"}, "update", "changed through the admin API", []api.FieldChange{
			{Field: "title", Before: "", After: "Admin Title"},
		}},
		{api.AuditActor{Kind: "import", Name: "auditor"}, "update", "CSV import", []api.FieldChange{
			{Field: "display_name", Before: "", After: "Xavier Imported"},
		}},
		{api.AuditActor{Kind: "outbound", Name: "http"}, "create", "first outbound message (via http)", []api.FieldChange{
			{Field: "address", After: x},
			{Field: "origin", After: "outbound"},
			{Field: "enabled", After: true},
		}},
	}, got, js)

	// The actor filter agrees with the kinds: one entry each for outbound
	// and sync, two for admin (the import and the edit).
	for kind, n := range map[string]int{"outbound": 1, "sync": 1, "admin": 1, "import": 1} {
		var f api.AuditList
		out := cli("audit", "--address", x, "--actor", kind, "--output", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &f), out)
		require.Len(t, f.Entries, n, "--actor %s: %s", kind, out)
	}

	// No token, nor any part of one past its public prefix, in what was shown.
	for _, secret := range []string{admin, gateway} {
		require.NotContains(t, text, secret)
		require.NotContains(t, js, secret)
		require.NotContains(t, d.logs.String(), secret)
	}
	require.NotContains(t, text+js, "dst_")
}
