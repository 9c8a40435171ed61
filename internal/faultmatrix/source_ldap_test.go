package faultmatrix_test

// The LDAP directory a source row reads: an OU of its own on the shared test
// OpenLDAP, with people, two groups, aliases and disabled people, and the
// changes a row makes to it before and during its fault.

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
)

// ldapDir is one row's directory: ou=dir (what dirsync reads) and ou=away
// (out of scope: where people go to shrink the result) under
// ou=fm-<row>-<random>, removed when the test ends. Nothing outside that OU
// is touched: the server is shared with other tests running at once.
type ldapDir struct {
	t      *testing.T
	conn   *goldap.Conn
	tag    string
	root   string // ou=fm-<row>-<tag>,suffix
	dir    string // ou=dir,root: the connector's base DN
	away   string // ou=away,root
	n      int    // people created by newLDAPDir
	ldaps  string // ldaps://host:port of the server
	caFile string
}

// newLDAPDir creates the row's OU with n people u0…u(n-1): every tenth
// (u9, u19…) disabled (employeeType: disabled; the test slapd has no ppolicy
// overlay), u1 and u3 with an alias (email, which core.schema also calls emailAddress: the test schema has no mailAlternateAddress), and two mail-enabled groups, staff
// (u0…u9) and ops (u10…u14).
func newLDAPDir(t *testing.T, row string, n int) *ldapDir {
	t.Helper()
	pem, err := os.ReadFile(testenv.Addr(t, testenv.EnvLDAPCAFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	ldaps := testenv.Addr(t, testenv.EnvLDAPSURL)
	conn, err := goldap.DialURL(ldaps, goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	require.NoError(t, err)
	require.NoError(t, conn.Bind(testenv.Addr(t, testenv.EnvLDAPBindDN), testenv.Addr(t, testenv.EnvLDAPPassword)))
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	d := &ldapDir{t: t, conn: conn, tag: hex.EncodeToString(b), n: n, ldaps: ldaps, caFile: testenv.Addr(t, testenv.EnvLDAPCAFile)}
	d.root = "ou=fm-" + row + "-" + d.tag + "," + testenv.Addr(t, testenv.EnvLDAPBaseDN)
	d.dir, d.away = "ou=dir,"+d.root, "ou=away,"+d.root
	t.Cleanup(func() { deleteTree(conn, d.root); conn.Close() })
	for _, ou := range []string{d.root, d.dir, d.away} {
		d.add(ou, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	}
	for i := range n {
		d.addPerson(fmt.Sprintf("u%d", i), i%10 == 9)
	}
	d.modify("uid=u1,"+d.dir, "email", d.addr("alias1"))
	d.modify("uid=u3,"+d.dir, "email", d.addr("alias3"))
	d.addGroup("staff", 0, 10)
	d.addGroup("ops", 10, 15)
	return d
}

// addr is the mail address of uid in this row (unique on the shared server).
func (d *ldapDir) addr(uid string) string { return uid + "." + d.tag + "@example.com" }

func (d *ldapDir) add(dn string, attrs map[string][]string) {
	d.t.Helper()
	req := goldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	require.NoError(d.t, d.conn.Add(req), "add %s", dn)
}

func (d *ldapDir) addPerson(uid string, disabled bool) {
	attrs := map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson", "extensibleObject"},
		"uid":         {uid}, "cn": {"Person " + uid}, "sn": {"S" + uid}, "givenName": {"G" + uid},
		"mail": {d.addr(uid)}, "title": {"Staff"},
	}
	if disabled {
		attrs["employeeType"] = []string{"disabled"}
	}
	d.add("uid="+uid+","+d.dir, attrs)
}

func (d *ldapDir) addGroup(cn string, from, to int) {
	var members []string
	for i := from; i < to && i < d.n; i++ {
		members = append(members, fmt.Sprintf("uid=u%d,%s", i, d.dir))
	}
	d.add("cn="+cn+","+d.dir, map[string][]string{
		"objectClass": {"groupOfNames", "extensibleObject"}, "cn": {cn}, "mail": {d.addr(cn)}, "member": members})
}

// modify replaces attr of dn with values (none: deletes the attribute).
func (d *ldapDir) modify(dn, attr string, values ...string) {
	d.t.Helper()
	req := goldap.NewModifyRequest(dn, nil)
	req.Replace(attr, values)
	require.NoError(d.t, d.conn.Modify(req), "modify %s %s", dn, attr)
}

// addMember adds a person to a group.
func (d *ldapDir) addMember(group, uid string) {
	d.t.Helper()
	req := goldap.NewModifyRequest("cn="+group+","+d.dir, nil)
	req.Add("member", []string{"uid=" + uid + "," + d.dir})
	require.NoError(d.t, d.conn.Modify(req), "add %s to %s", uid, group)
}

// moveOut moves entries (by RDN: uid=u3, cn=staff) out of the scope, into
// ou=away; moveIn brings them back.
func (d *ldapDir) moveOut(rdns ...string) { d.move(rdns, d.dir, d.away) }
func (d *ldapDir) moveIn(rdns ...string)  { d.move(rdns, d.away, d.dir) }

func (d *ldapDir) move(rdns []string, from, to string) {
	d.t.Helper()
	for _, rdn := range rdns {
		require.NoError(d.t, d.conn.ModifyDN(goldap.NewModifyDNRequest(rdn+","+from, rdn, true, to)), "move %s", rdn)
	}
}

// connector renders the ldap connector "corp" reading ou=dir from url with
// the given extra settings (indented YAML lines under ldap:, which must set
// timeout). The password is a reference to the environment variable
// passwordEnv, never inline.
func (d *ldapDir) connector(url, passwordEnv, extra string) string {
	return fmt.Sprintf(`  - name: corp
    type: ldap
    ldap:
      url: %s
      ca_file: %s
      bind_dn: %s
      bind_password: ${%s}
      preset: openldap
      base_dns: [%q]
      attributes: {aliases: [email], disabled: {attribute: employeeType, values: [disabled]}}
      page_size: 5
      connect_timeout: 3s
%s`, url, d.caFile, testenv.Addr(d.t, testenv.EnvLDAPBindDN), passwordEnv, d.dir, extra)
}

// hostPort is the LDAPS server's host:port, for a proxy in front of it.
func (d *ldapDir) hostPort() string { return strings.TrimPrefix(d.ldaps, "ldaps://") }

// people lists the RDNs uid=u<from>…uid=u<to-1>.
func people(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("uid=u%d", i))
	}
	return out
}

// sourceChanges are what happens in the directory while a fault is on its
// way: two people join (one into staff), one gets a new title, one an alias,
// one is disabled, a disabled one comes back, and ops gains a member. Each
// comes with how a store shows it, to count what a fault lost.
func (d *ldapDir) sourceChanges() []change {
	d.t.Helper()
	d.addPerson("new1", false)
	d.addPerson("new2", false)
	d.addMember("staff", "new1")
	d.modify("uid=u2,"+d.dir, "title", "Lead")
	d.modify("uid=u4,"+d.dir, "email", d.addr("alias4"))
	d.modify("uid=u5,"+d.dir, "employeeType", "disabled")
	d.modify("uid=u19,"+d.dir, "employeeType")
	d.addMember("ops", "u20")
	return expectedChanges(d.addr)
}

// expectedChanges are the store's view of sourceChanges (and of the file
// row's same edits), with addr giving an uid's address.
func expectedChanges(addr func(string) string) []change {
	user := func(uid string, ok func(entry) bool) func(listing) bool {
		return func(l listing) bool { e, found := l[addr(uid)]; return found && ok(e) }
	}
	return []change{
		{"new1 created", user("new1", func(e entry) bool { return e.Enabled })},
		{"new2 created", user("new2", func(e entry) bool { return e.Enabled })},
		{"new1 joins staff", user("staff", func(e entry) bool { return slices.Contains(e.Members, addr("new1")) })},
		{"u2 title Lead", user("u2", func(e entry) bool { return e.Title == "Lead" })},
		{"u4 alias", user("u4", func(e entry) bool { return slices.Contains(e.Aliases, addr("alias4")) })},
		{"u5 disabled", user("u5", func(e entry) bool { return !e.Enabled })},
		{"u19 re-enabled", user("u19", func(e entry) bool { return e.Enabled })},
		{"u20 joins ops", user("ops", func(e entry) bool { return slices.Contains(e.Members, addr("u20")) })},
	}
}

// changeDuring is a change made while the fault is on (after the faulty run,
// before it clears), to u7 where it is now (d.dir, or d.away).
func (d *ldapDir) changeDuring(container string) change {
	d.modify("uid=u7,"+container, "title", "During")
	return duringChange(d.addr)
}

// duringChange is the store's view of changeDuring.
func duringChange(addr func(string) string) change {
	return change{"u7 title During (during the fault)", func(l listing) bool {
		e, ok := l[addr("u7")]
		return ok && e.Title == "During"
	}}
}

// deleteTree removes dn and everything under it, leaves first.
func deleteTree(conn *goldap.Conn, dn string) {
	res, err := conn.SearchWithPaging(goldap.NewSearchRequest(dn, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil), 500)
	if err == nil {
		for _, e := range res.Entries {
			deleteTree(conn, e.DN)
		}
	}
	_ = conn.Del(goldap.NewDelRequest(dn, nil))
}
