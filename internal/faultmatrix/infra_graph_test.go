package faultmatrix_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/fakegraph"
	"github.com/dirsync/dirsync/store"
)

// infraGraphSecretEnv carries the fake tenant's client secret to dirsync.
const infraGraphSecretEnv = "DIRSYNC_FAULTMATRIX_ENTRA_SECRET"

// infraGraphUsers is the fake tenant's size: a few pages of 10.
const infraGraphUsers = 40

func infraCloudUser(i int) fakegraph.User {
	return fakegraph.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), UserPrincipalName: fmt.Sprintf("c%d@example.com", i),
		Mail: fmt.Sprintf("c%d@example.com", i), DisplayName: fmt.Sprintf("Cloud %d", i), AccountEnabled: true, UserType: "Member"}
}

// infraGraph is a fake tenant and two dirsync setups reading it: the
// reference, which never sees a fault, and the one under test.
type infraGraph struct {
	srv           *fakegraph.Server
	refCfg, cfg   string
	refSt, testSt store.Store
}

func newInfraGraph(t *testing.T) *infraGraph {
	t.Helper()
	srv, err := fakegraph.Start(fakegraph.Options{ClientSecret: "faultmatrix-secret"})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	for i := 1; i <= infraGraphUsers; i++ {
		srv.PutUser(infraCloudUser(i))
	}
	srv.PutGroup(fakegraph.Group{ID: "00000000-0000-4000-8000-000000000900", DisplayName: "Team", Mail: "team@example.com",
		MailEnabled: true, Members: []string{infraCloudUser(1).ID, infraCloudUser(2).ID, infraCloudUser(3).ID}})
	t.Setenv(infraGraphSecretEnv, "faultmatrix-secret")
	g := &infraGraph{srv: srv}
	var refDir, dir string
	refDir, g.refCfg = infraGraphConfig(t, srv)
	dir, g.cfg = infraGraphConfig(t, srv)
	for _, cfg := range []string{g.refCfg, g.cfg} {
		status, err := infraSync(t, cfg)
		require.Equal(t, "ok", status, err)
	}
	g.refSt, g.testSt = infraOpenSQLite(t, refDir), infraOpenSQLite(t, dir)
	return g
}

func infraGraphConfig(t *testing.T, srv *fakegraph.Server) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "graph-ca.pem"), srv.CertPEM(), 0o600))
	cfg = filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info, format: json}
state: {backend: local, path: data/state.db}
store: {backend: sqlite, path: data/dirsync.db}
domains: [example.com]
connectors:
  - name: cloud
    type: entra
    entra:
      tenant_id: %s
      client_id: %s
      client_secret: ${%s}
      authority_host: %s
      graph_url: %s
      ca_file: graph-ca.pem
      page_size: 10
      max_retries: 2
      max_retry_wait: 2s
`, srv.TenantID(), srv.ClientID(), infraGraphSecretEnv, srv.AuthorityHost(), srv.GraphURL())), 0o600))
	return dir, cfg
}

// change makes the source changes the fault must not lose: a soft delete, an
// update, a new user and a group change.
func (g *infraGraph) change() {
	g.srv.SoftDeleteUser(infraCloudUser(5).ID)
	u := infraCloudUser(6)
	u.Department = "Finance"
	g.srv.PutUser(u)
	g.srv.PutUser(infraCloudUser(infraGraphUsers + 1))
	g.srv.PutGroup(fakegraph.Group{ID: "00000000-0000-4000-8000-000000000900", DisplayName: "Team", Mail: "team@example.com",
		MailEnabled: true, Members: []string{infraCloudUser(1).ID, infraCloudUser(infraGraphUsers + 1).ID}})
}

// infraGraphStorm: every Graph request answers status (with Retry-After)
// while the source has changes; the run must fail without touching the
// store, and the next healthy run must bring every change.
func infraGraphStorm(status int) func(t *testing.T) outcome {
	return func(t *testing.T) outcome {
		g := newInfraGraph(t)
		before := infraSnapshot(t, g.testSt)
		g.change()
		s, err := infraSync(t, g.refCfg)
		require.Equal(t, "ok", s, err)
		ref := infraSnapshot(t, g.refSt)

		g.srv.InjectFault(fakegraph.Fault{Status: status, RetryAfter: time.Second, Count: -1})
		runStatus, runErr := infraSync(t, g.cfg)
		require.Contains(t, runErr, fmt.Sprint(status), "the run fails on the storm")
		after := infraSnapshot(t, g.testSt)
		g.srv.ClearFaults()

		o := outcome{Status: runStatus, WronglyDisabled: infraWronglyDisabled(before, after, ref)}
		if infraDiff(before, after) != 0 {
			o.Note = fmt.Sprintf("the failed run changed %d objects;", infraDiff(before, after))
		}
		infraConverge(t, &o, ref, func() infraState { return infraSnapshot(t, g.testSt) }, func() string {
			s, _ := infraSync(t, g.cfg)
			return s
		}, 3)
		return o
	}
}

// infraGraphExpiredDelta: the delta link dirsync kept has expired when the
// source has changes (410 syncStateNotFound); the run must read everything
// again instead, and lose none of the changes.
func infraGraphExpiredDelta(t *testing.T) outcome {
	g := newInfraGraph(t)
	before := infraSnapshot(t, g.testSt)
	g.change()
	s, err := infraSync(t, g.refCfg)
	require.Equal(t, "ok", s, err)
	ref := infraSnapshot(t, g.refSt)

	g.srv.ExpireDeltaTokens()
	p := infraStart(t, "sync", "--config", g.cfg, "--output", "json")
	p.wait(t)
	runStatus, _ := p.report(t)
	after := infraSnapshot(t, g.testSt)
	o := outcome{Status: runStatus, WronglyDisabled: infraWronglyDisabled(before, after, ref)}
	if infraFull(p) {
		o.Note = "a full read;"
	}
	// A full read cannot see a soft delete: the user is missing, and is
	// disabled once missing from sync.missing_runs (2) full reads. Delta
	// runs do not count, so the healthy runs here are the daemon's next
	// full runs (full_schedule).
	infraConverge(t, &o, ref, func() infraState { return infraSnapshot(t, g.testSt) }, func() string {
		s, _ := infraSync(t, g.cfg, "--full")
		return s
	}, 3)
	return o
}

// infraFull reports whether the process's run was a full read.
func infraFull(p *infraProc) bool {
	var rep infraReport
	if err := json.Unmarshal(p.stdout.Bytes(), &rep); err != nil || len(rep.Runs) != 1 {
		return false
	}
	return rep.Runs[0].Full
}
