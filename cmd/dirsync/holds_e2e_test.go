package main_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
)

// fixtureTag names one test's LDAP fixtures apart from any other run's.
func fixtureTag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ldapAdmin opens a fixture-writing connection to the test OpenLDAP.
func ldapAdmin(t *testing.T) *goldap.Conn {
	t.Helper()
	pem, err := os.ReadFile(testenv.Addr(t, testenv.EnvLDAPCAFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	conn, err := goldap.DialURL(testenv.Addr(t, testenv.EnvLDAPSURL), goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	require.NoError(t, err)
	require.NoError(t, conn.Bind(testenv.Addr(t, testenv.EnvLDAPBindDN), testenv.Addr(t, testenv.EnvLDAPPassword)))
	t.Cleanup(func() { conn.Close() })
	return conn
}

func ldapAdd(t *testing.T, conn *goldap.Conn, dn string, attrs map[string][]string) {
	t.Helper()
	add := goldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		add.Attribute(k, v)
	}
	require.NoError(t, conn.Add(add), "add %s", dn)
}

func ldapDeleteTree(conn *goldap.Conn, dn string) {
	res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if err == nil {
		for _, e := range res.Entries {
			ldapDeleteTree(conn, e.DN)
		}
	}
	_ = conn.Del(goldap.NewDelRequest(dn, nil))
}

func ldapOU(t *testing.T, conn *goldap.Conn, dn string) {
	ldapAdd(t, conn, dn, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
}

func ldapPerson(t *testing.T, conn *goldap.Conn, ou, uid string) {
	ldapAdd(t, conn, "uid="+uid+","+ou, map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"},
		"uid":         {uid}, "cn": {uid}, "sn": {uid}, "mail": {uid + "@example.com"},
	})
}

// moveOU moves an OU with its people under another parent (out of or back into scope).
func moveOU(t *testing.T, conn *goldap.Conn, dn, rdn, parent string) {
	t.Helper()
	require.NoError(t, conn.ModifyDN(goldap.NewModifyDNRequest(dn, rdn, true, parent)), "move %s under %s", dn, parent)
}

// stallingProxy forwards to target; once stall is set, a new connection
// stops forwarding after budget bytes to the client: an LDAP server that
// hangs mid-read.
func stallingProxy(t *testing.T, target string, budget int, stall *atomic.Bool) string {
	return testenv.TCPProxy(t, target, func() testenv.ProxyFault {
		if stall.Load() {
			return testenv.ProxyFault{After: int64(budget), Stall: true}
		}
		return testenv.NoFault
	})
}

type holdsEnv struct {
	t              *testing.T
	d              *daemon
	admin, root    string
	sales, archive string
	cfgPath        string
}

func (h *holdsEnv) sync(full bool) map[string]any {
	h.t.Helper()
	code, raw := h.d.call("POST", "/v1/syncs", h.admin, fmt.Sprintf(`{"connectors": ["corp"], "wait": true, "full": %v}`, full))
	require.Equal(h.t, http.StatusOK, code, string(raw))
	var out struct{ Runs []map[string]any }
	require.NoError(h.t, json.Unmarshal(raw, &out))
	require.Len(h.t, out.Runs, 1)
	rep, ok := out.Runs[0]["report"].(map[string]any)
	require.True(h.t, ok, string(raw))
	return rep
}

func (h *holdsEnv) holds(status string) []api.Hold {
	h.t.Helper()
	code, raw := h.d.call("GET", "/v1/holds?connector=corp&status="+status, h.admin, "")
	require.Equal(h.t, http.StatusOK, code, string(raw))
	var out api.HoldList
	require.NoError(h.t, json.Unmarshal(raw, &out))
	return out.Holds
}

func (h *holdsEnv) enabled(addr string) bool {
	h.t.Helper()
	code, raw := h.d.call("GET", "/v1/users/"+addr, h.admin, "")
	require.Equal(h.t, http.StatusOK, code, string(raw))
	var u struct{ Enabled bool }
	require.NoError(h.t, json.Unmarshal(raw, &u))
	return u.Enabled
}

// TestHoldsAgainstOpenLDAP: an OU leaves the scope; its disables are held
// while a new user elsewhere is created; approving half applies exactly those;
// when the OU is back, the rest expire. A source that returns nothing, and one
// that hangs mid-read, disable nobody.
func TestHoldsAgainstOpenLDAP(t *testing.T) {
	conn := ldapAdmin(t)
	tag := fixtureTag()
	base := testenv.Addr(t, testenv.EnvLDAPBaseDN)
	root, archive := "ou=holds"+tag+","+base, "ou=archive"+tag+","+base
	ldapOU(t, conn, root)
	ldapOU(t, conn, archive)
	t.Cleanup(func() { ldapDeleteTree(conn, root); ldapDeleteTree(conn, archive) })
	sales, eng, hang := "ou=sales,"+root, "ou=eng,"+root, "ou=hang"+tag+","+base
	ldapOU(t, conn, sales)
	ldapOU(t, conn, eng)
	ldapOU(t, conn, hang)
	t.Cleanup(func() { ldapDeleteTree(conn, hang) })
	for i := range 8 {
		ldapPerson(t, conn, hang, fmt.Sprintf("h%s-%d", tag, i))
	}
	for i := range 6 {
		ldapPerson(t, conn, sales, fmt.Sprintf("s%s-%d", tag, i))
	}
	for i := range 10 {
		ldapPerson(t, conn, eng, fmt.Sprintf("e%s-%d", tag, i))
	}

	dir := t.TempDir()
	var stall atomic.Bool
	plainLDAP := strings.TrimPrefix(testenv.Addr(t, testenv.EnvLDAPURL), "ldap://")
	listen := freePort(t)
	cfg := filepath.Join(dir, "dirsync.yaml")
	connector := func(name, url, ou, extra string) string {
		return fmt.Sprintf(`  - name: %s
    type: ldap
    schedule: "@every 1h"
    ldap:
      url: %s
      start_tls: false
      allow_plaintext_bind: true
      bind_dn: %s
      bind_password: ${%s}
      preset: openldap
      base_dns: [%q]
      incremental: none
%s`, name, url, testenv.Addr(t, testenv.EnvLDAPBindDN), testenv.EnvLDAPPassword, ou, extra)
	}
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info}
state: {backend: local, path: state.db}
store: {backend: sqlite, path: store.db}
server: {listen: "%s"}
domains: [example.com]
sync: {max_destructive: 3, max_destructive_percent: 100, min_source_percent: 30, missing_runs: 1}
alerts: {webhook: {url: "${DIRSYNC_TEST_ALERT_URL}", backoff: 100ms}}
connectors:
%s%s`, listen, connector("corp", "ldap://"+plainLDAP, root, ""),
		connector("hanging", "ldap://"+stallingProxy(t, plainLDAP, 1500, &stall), hang, "      page_size: 3\n      timeout: 2s\n"))), 0o644))
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "alice", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	token := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)

	// Alerts go to a webhook of the test's own.
	var alertMu sync.Mutex
	var alerts []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a map[string]any
		if r.URL.Path == "/hook/t0ken" && json.NewDecoder(r.Body).Decode(&a) == nil {
			alertMu.Lock()
			alerts = append(alerts, a)
			alertMu.Unlock()
		}
	}))
	t.Cleanup(hook.Close)
	alerted := func(kind, connector, runID string) bool {
		alertMu.Lock()
		defer alertMu.Unlock()
		for _, a := range alerts {
			if a["kind"] == kind && a["connector"] == connector && (runID == "" || a["run_id"] == runID) {
				return true
			}
		}
		return false
	}
	d := startServe(t, listen, cfg, "DIRSYNC_TEST_ALERT_URL="+hook.URL+"/hook/t0ken")
	h := &holdsEnv{t: t, d: d, admin: token, root: root, sales: sales, archive: archive, cfgPath: cfg}
	salesAddr := func(i int) string { return fmt.Sprintf("s%s-%d@example.com", tag, i) }
	// The start-up run creates the 16 people.
	require.Eventually(t, func() bool {
		code, _ := d.call("GET", "/v1/users/"+salesAddr(5), token, "")
		return code == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "start-up sync; log:\n%s", d.logs.String())

	// Sales leaves the scope; a new engineer arrives.
	moveOU(t, conn, sales, "ou=sales", archive)
	ldapPerson(t, conn, eng, "new"+tag)
	run := h.sync(true)
	require.Equal(t, "held", run["status"], run)
	counts := run["counts"].(map[string]any)
	require.EqualValues(t, 6, counts["held"])
	require.EqualValues(t, 1, counts["create"], "the new user elsewhere is still created")
	require.True(t, h.enabled("new"+tag+"@example.com"))
	pending := h.holds("pending")
	require.Len(t, pending, 6)
	require.Eventually(t, func() bool { return alerted("held", "corp", run["run_id"].(string)) }, 10*time.Second, 50*time.Millisecond,
		"a held run raises an alert on the webhook")
	require.NotContains(t, d.logs.String(), "t0ken", "the webhook URL's token is never logged")
	for i := range 6 {
		require.True(t, h.enabled(salesAddr(i)), "held, not applied")
	}

	// Approve half, through the CLI.
	byAddr := map[string]string{}
	for _, p := range pending {
		byAddr[p.Address] = p.ID
	}
	approve := []string{byAddr[salesAddr(0)], byAddr[salesAddr(1)], byAddr[salesAddr(2)]}
	cli := exec.Command(binary, append([]string{"holds", "approve", "--server", d.base}, approve...)...)
	cli.Env = append(os.Environ(), "DIRSYNC_TOKEN="+token)
	out, err := cli.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "applied")
	for i := range 6 {
		require.Equal(t, i >= 3, h.enabled(salesAddr(i)), "exactly the approved ones are disabled (%s)", salesAddr(i))
	}
	// The held gauge follows the decision at once, not at the next run.
	held, ok := sample(scrape(t, d.base), "dirsync_held_operations", "connector", "corp")
	require.True(t, ok)
	require.EqualValues(t, 3, held, "dirsync_held_operations after approving 3 of 6")
	// Approving one again is a specific error, from the API and the CLI.
	code, raw := d.call("POST", "/v1/holds/"+approve[0]+"/approve", token, "")
	require.Equal(t, http.StatusConflict, code, string(raw))
	require.Contains(t, string(raw), `"code":"hold_decided"`)
	require.Contains(t, string(raw), "applied by alice")
	cli = exec.Command(binary, "holds", "approve", "--server", d.base, approve[0])
	cli.Env = append(os.Environ(), "DIRSYNC_TOKEN="+token)
	out, err = cli.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "already decided")
	code, raw = d.call("POST", "/v1/holds/hdoesnotexist/reject", token, "")
	require.Equal(t, http.StatusNotFound, code, string(raw))
	require.Contains(t, string(raw), `"code":"hold_not_found"`)

	// Another run with sales still out: the other three stay pending, not applied.
	run = h.sync(true)
	require.Equal(t, "held", run["status"], run)
	require.Len(t, h.holds("pending"), 3)
	require.True(t, h.enabled(salesAddr(3)))

	// Sales is back: the pending holds expire; the approved ones are re-enabled.
	moveOU(t, conn, "ou=sales,"+archive, "ou=sales", root)
	run = h.sync(true)
	require.Equal(t, "ok", run["status"], run)
	expired := h.holds("expired")
	require.Len(t, expired, 3)
	require.Empty(t, h.holds("pending"))
	require.Len(t, h.holds("applied"), 3)
	for i := range 6 {
		require.True(t, h.enabled(salesAddr(i)), "%s back in scope", salesAddr(i))
	}
	code, raw = d.call("POST", "/v1/holds/"+expired[0].ID+"/approve", token, "")
	require.Equal(t, http.StatusConflict, code, string(raw))
	require.Contains(t, string(raw), "expired by run")

	// A source that returns no entries: nobody is disabled.
	moveOU(t, conn, sales, "ou=sales", archive)
	moveOU(t, conn, eng, "ou=eng", archive)
	run = h.sync(true)
	require.Equal(t, "held", run["status"], run)
	for i := range 6 {
		require.True(t, h.enabled(salesAddr(i)))
	}
	require.True(t, h.enabled("new"+tag+"@example.com"))

	// A source that hangs mid-read (a proxy that stops after the first pages):
	// the run fails, and the people it did not get to are not disabled.
	require.True(t, h.enabled(fmt.Sprintf("h%s-7@example.com", tag)), "the hanging connector's start-up run synced its OU")
	stall.Store(true)
	code, raw = d.call("POST", "/v1/syncs", token, `{"connectors": ["hanging"], "wait": true, "full": true}`)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Contains(t, string(raw), `"status":"failed"`, string(raw))
	require.Eventually(t, func() bool { return alerted("failed", "hanging", "") }, 10*time.Second, 50*time.Millisecond,
		"a failed run raises an alert")
	for i := range 8 {
		require.True(t, h.enabled(fmt.Sprintf("h%s-%d@example.com", tag, i)))
	}
}
