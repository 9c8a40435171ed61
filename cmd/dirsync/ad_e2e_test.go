package main_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
)

// adFixture is a scratch OU in the test Samba AD, written as the Administrator.
type adFixture struct {
	t    *testing.T
	conn *goldap.Conn
	ou   string
	tag  string
}

func newADFixture(t *testing.T) *adFixture {
	t.Helper()
	pem, err := os.ReadFile(testenv.Addr(t, testenv.EnvADCAFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	conn, err := goldap.DialURL(testenv.Addr(t, testenv.EnvADSURL), goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.Bind(testenv.Addr(t, testenv.EnvADAdminDN), testenv.Addr(t, testenv.EnvADAdminPassword)))
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	f := &adFixture{t: t, conn: conn, tag: hex.EncodeToString(b)}
	f.ou = "OU=e" + f.tag + "," + testenv.Addr(t, testenv.EnvADTestsOU)
	f.add(f.ou, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	t.Cleanup(func() {
		res, err := conn.Search(goldap.NewSearchRequest(f.ou, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		if err == nil {
			for _, e := range res.Entries {
				_ = conn.Del(goldap.NewDelRequest(e.DN, nil))
			}
		}
		_ = conn.Del(goldap.NewDelRequest(f.ou, nil))
	})
	return f
}

// corpConnector is the YAML list item of an AD connector "corp" reading ou of
// the test Samba AD with DirSync.
func corpConnector(t *testing.T, ou string) string {
	return fmt.Sprintf(`  - name: corp
    type: ldap
    ldap:
      url: %s
      ca_file: %s
      bind_dn: %s
      bind_password: ${%s}
      preset: ad
      base_dns: [%q]
      incremental: dirsync
`, testenv.Addr(t, testenv.EnvADSURL), testenv.Addr(t, testenv.EnvADCAFile), testenv.Addr(t, testenv.EnvADBindDN),
		testenv.EnvADPassword, ou)
}

func (f *adFixture) add(dn string, attrs map[string][]string) {
	f.t.Helper()
	req := goldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	require.NoError(f.t, f.conn.Add(req), "add %s", dn)
}

func (f *adFixture) dn(name string) string { return "CN=" + name + "," + f.ou }

// user adds an enabled AD user (userAccountControl 544: a normal account that
// needs no password) with mail name@example.com.
func (f *adFixture) user(name string) {
	f.add(f.dn(name), map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "user"}, "sAMAccountName": {f.tag + name},
		"userAccountControl": {"544"}, "mail": {name + "@example.com"}, "displayName": {"User " + name},
	})
}

func (f *adFixture) modify(dn, attr, value string) {
	f.t.Helper()
	m := goldap.NewModifyRequest(dn, nil)
	m.Replace(attr, []string{value})
	require.NoError(f.t, f.conn.Modify(m), "modify %s", dn)
}

// TestADIncrementalPlansExactlyTheFourChanges is the acceptance scenario:
// `dirsync sync --connector corp` against a real AD creates the users; after one
// is disabled, one's mail renamed, one deleted and one added, the next
// (incremental, DirSync) run plans exactly those four changes.
func TestADIncrementalPlansExactlyTheFourChanges(t *testing.T) {
	fx := newADFixture(t)
	var members []string
	for i := range 20 {
		name := fmt.Sprintf("p%d", i)
		fx.user(name)
		members = append(members, fx.dn(name))
	}
	fx.add(fx.dn("team"), map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {fx.tag + "team"},
		"groupType": {"-2147483646"}, "mail": {"team-" + fx.tag + "@example.com"}, "member": members[:5]})

	dir := t.TempDir()
	cfg := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
state: {backend: local, path: data/state.db}
store: {backend: sqlite, path: data/dirsync.db}
domains: [example.com]
connectors:
`+corpConnector(t, fx.ou)), 0o600))

	rep, res := syncJSON(t, cfg, "--connector", "corp")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "ok", rep.Runs[0].Status)
	require.Equal(t, 21, rep.Runs[0].Counts["create"], "20 users and the group: %+v", rep.Runs[0])

	again, _ := syncJSON(t, cfg, "--connector", "corp")
	require.Empty(t, again.Runs[0].Ops, "an incremental run with nothing changed plans nothing")

	fx.modify(fx.dn("p1"), "userAccountControl", "546")
	fx.modify(fx.dn("p2"), "mail", "p2.renamed@example.com")
	require.NoError(t, fx.conn.Del(goldap.NewDelRequest(fx.dn("p3"), nil)))
	fx.user("newcomer")

	want := []string{"create newcomer@example.com", "disable p1@example.com", "disable p3@example.com", "update p2@example.com"} // an update names the object by its address before the change
	plan, res := syncJSON(t, cfg, "--connector", "corp", "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, want, opList(plan), "the dry run plans exactly the four changes")

	applied, res := syncJSON(t, cfg, "--connector", "corp")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, want, opList(applied))

	st := openStore(t, dir)
	ctx := context.Background()
	for addr, enabled := range map[string]bool{"p1@example.com": false, "p3@example.com": false, "p2.renamed@example.com": true, "newcomer@example.com": true, "p4@example.com": true} {
		u, err := st.User(ctx, addr)
		require.NoError(t, err, addr)
		require.Equal(t, enabled, u.Enabled, addr)
		require.Equal(t, "corp", u.Origin)
	}
	_, err := st.User(ctx, "p2@example.com")
	require.ErrorIs(t, err, store.ErrNotFound, "the renamed user keeps one object, under its new address")
}

func opList(rep jsonReport) []string {
	var ops []string
	for _, op := range rep.Runs[0].Ops {
		ops = append(ops, op.Action+" "+op.Address)
	}
	slices.Sort(ops)
	return ops
}
