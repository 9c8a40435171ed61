package main_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/fakegraph"
)

const entraSecretEnv = "DIRSYNC_TEST_ENTRA_SECRET"

// entraConfig writes a config with the cloud connector pointed at the fake
// Graph (and, when corpOU is set, the corp connector at the test Samba AD).
func entraConfig(t *testing.T, srv *fakegraph.Server, corpOU string) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "graph-ca.pem"), srv.CertPEM(), 0o600))
	t.Setenv(entraSecretEnv, "e2e-secret")
	body := fmt.Sprintf(`
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
      page_size: 3
      max_retries: 2
      max_retry_wait: 2s
      admin_roles: ["Global Administrator"]
`, srv.TenantID(), srv.ClientID(), entraSecretEnv, srv.AuthorityHost(), srv.GraphURL())
	if corpOU != "" {
		body += corpConnector(t, corpOU)
	}
	cfg = filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(body), 0o600))
	return dir, cfg
}

func cloudUser(i int) fakegraph.User {
	return fakegraph.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), UserPrincipalName: fmt.Sprintf("c%d@example.com", i),
		Mail: fmt.Sprintf("c%d@example.com", i), DisplayName: fmt.Sprintf("Cloud %d", i), AccountEnabled: true, UserType: "Member"}
}

// TestEntraSyncThroughTheBinary: `dirsync sync --connector cloud` against the
// fake Graph: a first full run, a delta run, an expired delta link that turns
// into a full run the report mentions, and a 503 storm that fails the run and
// disables nobody.
func TestEntraSyncThroughTheBinary(t *testing.T) {
	srv, err := fakegraph.Start(fakegraph.Options{ClientSecret: "e2e-secret"})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	for i := 1; i <= 10; i++ {
		srv.PutUser(cloudUser(i))
	}
	srv.PutUser(fakegraph.User{ID: "00000000-0000-4000-8000-000000000099", UserPrincipalName: "g#EXT#@example.onmicrosoft.com",
		Mail: "g@partner.example", AccountEnabled: true, UserType: "Guest"})
	srv.PutGroup(fakegraph.Group{ID: "00000000-0000-4000-8000-000000000100", DisplayName: "Team", Mail: "team@example.com",
		MailEnabled: true, Members: []string{cloudUser(1).ID, cloudUser(2).ID}})
	dir, cfg := entraConfig(t, srv, "")

	first, res := syncJSON(t, cfg, "--connector", "cloud")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "ok", first.Runs[0].Status, "%+v", first.Runs[0])
	require.Equal(t, 11, first.Runs[0].Counts["create"], "ten members and the group; the guest is skipped")
	require.NotContains(t, res.stderr+res.stdout, "e2e-secret", "the client secret is never printed")

	srv.SoftDeleteUser(cloudUser(3).ID)
	u4 := cloudUser(4)
	u4.Department = "Finance"
	srv.PutUser(u4)
	srv.PutUser(cloudUser(11))
	delta, res := syncJSON(t, cfg, "--connector", "cloud")
	require.Equal(t, 0, res.code, res.stderr)
	require.False(t, delta.Runs[0].Full, "the second run resumes from the delta link")
	require.Equal(t, []string{"create c11@example.com", "disable c3@example.com", "update c4@example.com"}, opList(delta))

	srv.ExpireDeltaTokens()
	expired, res := syncJSON(t, cfg, "--connector", "cloud")
	require.Equal(t, 0, res.code, res.stderr)
	require.True(t, expired.Runs[0].Full, "an expired delta link turns into a full run")
	require.NotEmpty(t, expired.Runs[0].Warnings)
	require.Equal(t, "cursor", expired.Runs[0].Warnings[0].Field)
	require.Contains(t, expired.Runs[0].Warnings[0].Reason, "syncStateNotFound")
	require.Empty(t, opList(expired), "the full run finds everything in place")

	srv.InjectFault(fakegraph.Fault{Status: 503, RetryAfter: time.Second, Count: -1})
	storm, res := syncJSON(t, cfg, "--connector", "cloud", "--full")
	require.NotEqual(t, 0, res.code)
	require.Equal(t, "failed", storm.Runs[0].Status)
	require.Contains(t, storm.Runs[0].Errors[0], "503")
	st := openStore(t, dir)
	all, enabled := storeCount(t, st)
	require.Equal(t, 12, all)
	require.Equal(t, 11, enabled, "only c3 (soft-deleted in Entra) is disabled: the failed run disabled nobody")
}

// TestHybridADAndEntraEndAsOneUser: the same person synchronised from AD (corp)
// and from Entra (cloud, onPremisesImmutableId = base64 of the AD objectGUID)
// is one user, owned by corp; a cloud-only user is created by cloud.
func TestHybridADAndEntraEndAsOneUser(t *testing.T) {
	fx := newADFixture(t)
	fx.user("hyb")
	res, err := fx.conn.Search(goldap.NewSearchRequest(fx.dn("hyb"), goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"objectGUID"}, nil))
	require.NoError(t, err)
	guid := res.Entries[0].GetRawAttributeValue("objectGUID")
	require.Len(t, guid, 16)

	srv, err := fakegraph.Start(fakegraph.Options{ClientSecret: "e2e-secret"})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	srv.PutUser(fakegraph.User{ID: "00000000-0000-4000-8000-0000000000a1", UserPrincipalName: "hyb@example.com", Mail: "hyb@example.com",
		DisplayName: "Hybrid in Entra", AccountEnabled: true, UserType: "Member", OnPremisesImmutableID: base64.StdEncoding.EncodeToString(guid)})
	srv.PutUser(cloudUser(1))
	dir, cfg := entraConfig(t, srv, fx.ou)

	corp, r := syncJSON(t, cfg, "--connector", "corp")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, []string{"create hyb@example.com"}, opList(corp))
	cloud, r := syncJSON(t, cfg, "--connector", "cloud")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, []string{"create c1@example.com"}, opList(cloud), "the hybrid user joins corp's object; only the cloud-only user is created")
	require.Equal(t, 1, cloud.Runs[0].Counts["joined"])
	require.Empty(t, cloud.Runs[0].Quarantined)

	st := openStore(t, dir)
	u, err := st.User(context.Background(), "hyb@example.com")
	require.NoError(t, err)
	require.Equal(t, "corp", u.Origin, "one user, owned by the AD connector")
	require.Equal(t, "User hyb", u.DisplayName, "AD's fields stand")
	all, _ := storeCount(t, st)
	require.Equal(t, 2, all)

	again, r := syncJSON(t, cfg, "--connector", "cloud", "--full")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, opList(again), "the join holds on the next full run")
}
