package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/fakegraph"
)

// TestEntraFactsThroughTheBinary (dirsync issue 23): a `dirsync serve`
// synchronising the fake Graph shows each user's Microsoft 365 facts in the
// API (licensed: assignedLicenses is not empty; directory_admin: a member of
// one of the connector's admin_roles); a licence and a role changed in the
// tenant reach the store on the next sync, audited before and after, and
// inviting with an administrator role follows them.
func TestEntraFactsThroughTheBinary(t *testing.T) {
	srv, err := fakegraph.Start(fakegraph.Options{ClientSecret: "e2e-secret"})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	const sku = "c7df2760-2c81-4ef7-b578-5b5392b571df"
	boss, temp, clerk := cloudUser(1), cloudUser(2), cloudUser(3)
	boss.AssignedLicenses = []string{sku}
	clerk.AssignedLicenses = []string{sku} // licensed, no administrator role
	srv.PutUser(boss)
	srv.PutUser(temp)
	srv.PutUser(clerk)
	srv.SetRoleMembers("Global Administrator", boss.ID)

	dir, _ := entraConfig(t, srv, "")
	listen := freePort(t)
	cfg := filepath.Join(dir, "serve.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info, format: json}
state: {backend: local, path: data/state.db}
store: {backend: sqlite, path: data/dirsync.db}
server: {listen: "%s"}
domains: [example.com]
connectors:
  - name: cloud
    type: entra
    schedule: "@every 1h"
    entra:
      tenant_id: %s
      client_id: %s
      client_secret: ${%s}
      authority_host: %s
      graph_url: %s
      ca_file: graph-ca.pem
      admin_roles: ["Global Administrator"]
`, listen, srv.TenantID(), srv.ClientID(), entraSecretEnv, srv.AuthorityHost(), srv.GraphURL())), 0o600))
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "e2e", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	admin := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)
	require.NotEmpty(t, admin, res.stdout)

	d := startServe(t, listen, cfg)
	user := func(addr string) (api.User, bool) {
		code, raw := d.call("GET", "/v1/users/"+addr, admin, "")
		if code != http.StatusOK {
			return api.User{}, false
		}
		var u api.User
		require.NoError(t, json.Unmarshal(raw, &u), string(raw))
		require.Contains(t, string(raw), `"licensed":`, "false is shown, not left out")
		require.Contains(t, string(raw), `"directory_admin":`, "false is shown, not left out")
		return u, true
	}
	require.Eventually(t, func() bool {
		_, ok := user(temp.Mail)
		return ok
	}, 30*time.Second, 100*time.Millisecond, "the start-up sync did not bring the cloud users in")
	u, _ := user(boss.Mail)
	require.True(t, u.Licensed, "boss has a licence in the tenant")
	require.True(t, u.DirectoryAdmin, "boss is a Global Administrator")
	u, _ = user(temp.Mail)
	require.False(t, u.Licensed)
	require.False(t, u.DirectoryAdmin)

	// In Microsoft 365: boss loses the licence, temp gets one and the role.
	boss.AssignedLicenses = nil
	temp.AssignedLicenses = []string{sku}
	srv.PutUser(boss)
	srv.PutUser(temp)
	srv.SetRoleMembers("Global Administrator", boss.ID, temp.ID)
	code, raw := d.call("POST", "/v1/syncs", admin, `{"connectors": ["cloud"], "wait": true}`)
	require.Equal(t, http.StatusOK, code, string(raw))
	var trig api.Triggered
	require.NoError(t, json.Unmarshal(raw, &trig), string(raw))
	require.Len(t, trig.Runs, 1)
	require.NotNil(t, trig.Runs[0].Report, string(raw))
	require.Equal(t, api.RunOK, trig.Runs[0].Report.Status, string(raw))

	u, _ = user(boss.Mail)
	require.False(t, u.Licensed, "the licence removal reached the store")
	require.True(t, u.DirectoryAdmin)
	u, _ = user(temp.Mail)
	require.True(t, u.Licensed)
	require.True(t, u.DirectoryAdmin)

	lastUpdate := func(addr string) []api.FieldChange {
		code, raw := d.call("GET", "/v1/audit?address="+addr+"&action=update", admin, "")
		require.Equal(t, http.StatusOK, code, string(raw))
		var l api.AuditList
		require.NoError(t, json.Unmarshal(raw, &l), string(raw))
		require.NotEmpty(t, l.Entries, "no update of %s in the audit log", addr)
		require.Equal(t, "sync", l.Entries[0].Actor.Kind)
		return l.Entries[0].Changes
	}
	require.Equal(t, []api.FieldChange{{Field: "licensed", Before: true, After: false}}, lastUpdate(boss.Mail))
	require.ElementsMatch(t, []api.FieldChange{{Field: "licensed", Before: false, After: true},
		{Field: "directory_admin", Before: false, After: true}}, lastUpdate(temp.Mail))

	// The administrator-invitation rule reads the same facts.
	code, raw = d.call("POST", "/v1/users/"+boss.Mail+"/invite", admin, `{"roles": ["Administrator"]}`)
	require.Equal(t, http.StatusUnprocessableEntity, code, string(raw))
	require.Contains(t, string(raw), `"code":"validation_failed"`, string(raw))
	require.Contains(t, string(raw), "has no licensed mailbox in Microsoft 365: assign a licence in Microsoft 365 and sync", string(raw))
	code, raw = d.call("POST", "/v1/users/"+clerk.Mail+"/invite", admin, `{"roles": ["Administrator"]}`)
	require.Equal(t, http.StatusUnprocessableEntity, code, string(raw))
	require.Contains(t, string(raw), "has no administrator role in Microsoft 365", string(raw))
	require.NotContains(t, string(raw), "licensed mailbox", "the licence is there: only the role is named")
	code, raw = d.call("POST", "/v1/users/"+clerk.Mail+"/invite", admin, `{"roles": ["Sales"]}`)
	require.Equal(t, http.StatusCreated, code, "a role that is not an administrator's needs neither: %s", raw)
	code, raw = d.call("POST", "/v1/users/"+temp.Mail+"/invite", admin, `{"roles": ["Administrator"]}`)
	require.Equal(t, http.StatusCreated, code, string(raw))
}
