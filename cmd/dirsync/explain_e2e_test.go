package main_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
)

// TestExplainAgainstOpenLDAP: `dirsync explain` reads one entry from a real
// OpenLDAP and prints every stage for an included user (unchanged, then
// changed and applied on its own), one the filter excludes, one outside the
// base DN, one quarantined for its address, and says which search found
// nothing for an unknown address.
func TestExplainAgainstOpenLDAP(t *testing.T) {
	conn := ldapAdmin(t)
	tag := fixtureTag()
	base := testenv.Addr(t, testenv.EnvLDAPBaseDN)
	root, other := "ou=explain"+tag+","+base, "ou=elsewhere"+tag+","+base
	ldapOU(t, conn, root)
	ldapOU(t, conn, other)
	t.Cleanup(func() { ldapDeleteTree(conn, root); ldapDeleteTree(conn, other) })
	ann, ben := "ann"+tag, "ben"+tag
	ldapPerson(t, conn, root, ann)
	ldapPerson(t, conn, root, ben)
	ldapPerson(t, conn, other, "olga"+tag)
	ldapAdd(t, conn, "uid=carl"+tag+","+root, map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"},
		"uid":         {"carl" + tag}, "cn": {"carl"}, "sn": {"carl"}, "mail": {"carl" + tag + "@example.com"},
		"employeeType": {"contractor"}, "userPassword": {"s3cret-carl"},
	})
	ldapAdd(t, conn, "uid=dave"+tag+","+root, map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"},
		"uid":         {"dave" + tag}, "cn": {"dave"}, "sn": {"dave"}, "mail": {"dave" + tag + "@external.org"},
	})

	dir := t.TempDir()
	listen := freePort(t)
	cfg := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info}
state: {path: state.db}
store: {path: store.db}
server: {listen: "%s"}
domains: [example.com]
connectors:
  - name: corp
    type: ldap
    schedule: "@every 1h"
    ldap:
      url: %s
      allow_plaintext_bind: true
      bind_dn: %s
      bind_password: ${%s}
      preset: openldap
      base_dns: [%q]
      user_filter: "(&(objectClass=inetOrgPerson)(mail=*)(!(employeeType=contractor)))"
      incremental: none
`, listen, testenv.Addr(t, testenv.EnvLDAPURL), testenv.Addr(t, testenv.EnvLDAPBindDN), testenv.EnvLDAPPassword, root)), 0o644))
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "alice", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	token := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)

	d := startServe(t, listen, cfg)
	require.Eventually(t, func() bool {
		code, _ := d.call("GET", "/v1/users/"+ben+"@example.com", token, "")
		return code == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "start-up sync")

	explain := func(user string, extra ...string) (string, error) {
		t.Helper()
		cli := exec.Command(binary, append([]string{"explain", "--server", d.base, "--connector", "corp", "--user", user}, extra...)...)
		cli.Env = append(os.Environ(), "DIRSYNC_TOKEN="+token)
		out, err := cli.CombinedOutput()
		t.Logf("dirsync explain --user %s %v:\n%s", user, extra, out)
		return string(out), err
	}
	stages := func(out string) {
		t.Helper()
		for _, s := range []string{"1. read", "2. scope", "3. normalise", "4. join", "5. plan"} {
			require.Contains(t, out, s)
		}
	}

	// Included, unchanged.
	out, err := explain(ann + "@example.com")
	require.NoError(t, err)
	stages(out)
	require.Contains(t, out, "uid="+ann+","+root)
	require.Contains(t, out, "2. scope      in scope")
	require.Regexp(t, `admitted +user_filter`, out)
	require.Contains(t, out, "3. normalise  ok")
	require.Contains(t, out, "4. join       by anchor")
	require.Contains(t, out, "5. plan       no change")

	// Changed in the directory: the update with before and after; --apply
	// applies it, and only it.
	require.NoError(t, conn.Modify(modify("uid="+ann+","+root, "cn", "Ann Renamed")))
	require.NoError(t, conn.Modify(modify("uid="+ben+","+root, "cn", "Ben Renamed")))
	out, err = explain(ann+"@example.com", "--apply")
	require.NoError(t, err)
	require.Contains(t, out, `display_name: "`+ann+`" -> "Ann Renamed"`)
	require.Regexp(t, `6\. apply +run \S+: ok`, out)
	require.Equal(t, "Ann Renamed", displayName(t, d, token, ann+"@example.com"))
	require.Equal(t, ben, displayName(t, d, token, ben+"@example.com"), "only the explained user is applied")

	// Excluded by the filter; the password is never shown.
	out, err = explain("carl" + tag + "@example.com")
	require.NoError(t, err)
	stages(out)
	require.Contains(t, out, "OUT OF SCOPE")
	require.Regexp(t, `EXCLUDED +user_filter`, out)
	require.Contains(t, out, "employeeType=contractor")
	require.Contains(t, out, "never synchronised by this connector")
	require.NotContains(t, out, "s3cret-carl")
	require.Contains(t, out, "[redacted]")

	// Outside the base DN.
	out, err = explain("olga" + tag + "@example.com")
	require.NoError(t, err)
	require.Contains(t, out, "OUT OF SCOPE")
	require.Regexp(t, `EXCLUDED +base_dns`, out)

	// Quarantined: the address is not in an internal domain.
	out, err = explain("dave" + tag + "@external.org")
	require.NoError(t, err)
	stages(out)
	require.Contains(t, out, "2. scope      in scope")
	require.Contains(t, out, "3. normalise  QUARANTINED")
	require.Contains(t, out, "external.org")
	require.Contains(t, out, "5. plan       quarantined")

	// Not in the directory: the error names the search.
	out, err = explain("nobody" + tag + "@example.com")
	require.Error(t, err)
	require.Contains(t, out, "nobody"+tag+"@example.com")
	require.Contains(t, out, "mail=")
	code, raw := d.call("POST", "/v1/explain", token, `{"connector": "corp", "user": "nobody`+tag+`@example.com"}`)
	require.Equal(t, http.StatusNotFound, code, string(raw))
	require.Contains(t, string(raw), `"code":"not_in_source"`)
}

func modify(dn, attr, value string) *goldap.ModifyRequest {
	m := goldap.NewModifyRequest(dn, nil)
	m.Replace(attr, []string{value})
	return m
}

func displayName(t *testing.T, d *daemon, token, addr string) string {
	t.Helper()
	code, raw := d.call("GET", "/v1/users/"+addr, token, "")
	require.Equal(t, http.StatusOK, code, string(raw))
	m := regexp.MustCompile(`"display_name":"([^"]*)"`).FindStringSubmatch(string(raw))
	require.NotNil(t, m, string(raw))
	return m[1]
}
