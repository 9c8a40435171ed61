package main_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

// TestTruncatedLDAPReadThroughTheBinary: `dirsync sync` against the test
// OpenLDAP through a proxy. A good full run creates 40 people; then every
// connection is cut a few entries into its search, with the brakes open
// (max_destructive_percent 100, min_source_percent 0, missing_runs 1, no
// window), so only the failed read can keep the people the run did not see
// from being disabled. The run fails with its own exit code, nobody is
// disabled, and once the cut stops the next run converges with nothing to do.
func TestTruncatedLDAPReadThroughTheBinary(t *testing.T) {
	conn := ldapAdmin(t)
	tag := fixtureTag()
	ou := "ou=partial" + tag + "," + testenv.Addr(t, testenv.EnvLDAPBaseDN)
	ldapOU(t, conn, ou)
	t.Cleanup(func() { ldapDeleteTree(conn, ou) })
	const people = 40
	for i := range people {
		ldapPerson(t, conn, ou, fmt.Sprintf("p%s-%02d", tag, i))
	}
	var cutting atomic.Bool
	proxy := truncatingProxy(t, strings.TrimPrefix(testenv.Addr(t, testenv.EnvLDAPURL), "ldap://"), 600, &cutting)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`state: {backend: local, path: data/state.db}
store: {backend: sqlite, path: data/dirsync.db}
domains: [example.com]
sync: {max_destructive: 1000, max_destructive_percent: 100, min_source_percent: 0, missing_runs: 1, max_destructive_window: 0s}
connectors:
  - name: corp
    type: ldap
    ldap:
      url: ldap://%s
      start_tls: false
      allow_plaintext_bind: true
      bind_dn: %s
      bind_password: ${%s}
      preset: openldap
      base_dns: [%q]
      incremental: none
      page_size: 5
`, proxy, testenv.Addr(t, testenv.EnvLDAPBindDN), testenv.EnvLDAPPassword, ou)), 0o600))

	rep, res := syncJSON(t, cfg, "--connector", "corp")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "ok", rep.Runs[0].Status, "%+v", rep.Runs[0])
	require.Equal(t, people, rep.Runs[0].Counts["create"])
	require.Equal(t, people, enabledPeople(t, dir, tag, people))

	cutting.Store(true)
	rep, res = syncJSON(t, cfg, "--connector", "corp")
	run := rep.Runs[0]
	require.Equal(t, "failed", run.Status, "%+v", run)
	require.Equal(t, 1, res.code, "a failed run's exit code")
	require.NotEmpty(t, run.Errors)
	require.Contains(t, run.Errors[0], "nobody disabled")
	read := regexp.MustCompile(`after (\d+) records`).FindStringSubmatch(run.Errors[0])
	require.NotNil(t, read, run.Errors[0])
	require.NotEqual(t, "0", read[1], "the cut came mid-read, after some people were read: %s", run.Errors[0])
	require.Zero(t, run.Counts["disable"])
	require.Empty(t, run.Ops, "a failed read applies nothing")
	require.Equal(t, people, enabledPeople(t, dir, tag, people), "everyone enabled before stays enabled")

	cutting.Store(false)
	rep, res = syncJSON(t, cfg, "--connector", "corp")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "ok", rep.Runs[0].Status, "%+v", rep.Runs[0])
	require.Equal(t, people, rep.Runs[0].Counts["unchanged"], "the first healthy run converges with nothing to do")
	require.Equal(t, people, enabledPeople(t, dir, tag, people))
}

// enabledPeople counts the test's people enabled in the store.
func enabledPeople(t *testing.T, dir, tag string, n int) int {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "data", "dirsync.db"), zap.NewNop())
	require.NoError(t, err)
	defer func() { _ = st.Close() }()
	enabled := 0
	for i := range n {
		u, err := st.User(context.Background(), fmt.Sprintf("p%s-%02d@example.com", tag, i))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		require.NoError(t, err)
		if u.Enabled {
			enabled++
		}
	}
	return enabled
}

// truncatingProxy forwards to target; while cutting is set, a new connection
// is closed once it has sent the client more than budget bytes: a directory
// whose connection drops mid-read.
func truncatingProxy(t *testing.T, target string, budget int64, cutting *atomic.Bool) string {
	return testenv.TCPProxy(t, target, func() testenv.ProxyFault {
		if cutting.Load() {
			return testenv.ProxyFault{After: budget}
		}
		return testenv.NoFault
	})
}
