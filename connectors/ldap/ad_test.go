package ldap

import (
	"context"
	"fmt"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/internal/testenv"
)

// The Samba AD DC started by scripts/testenv.sh: real AD protocol (objectGUID,
// userAccountControl, proxyAddresses, DirSync, uSNChanged, tombstones), read as a
// non-admin sync account the way a deployment would.
func adServer(t *testing.T) (server, string) {
	return server{
		url:      testenv.Addr(t, testenv.EnvADURL),
		ldapsURL: testenv.Addr(t, testenv.EnvADSURL),
		caFile:   testenv.Addr(t, testenv.EnvADCAFile),
		suffix:   testenv.Addr(t, testenv.EnvADBaseDN),
		bindDN:   testenv.Addr(t, testenv.EnvADBindDN), passwordEnv: testenv.EnvADPassword,
		adminDN: testenv.Addr(t, testenv.EnvADAdminDN), adminPasswordEnv: testenv.EnvADAdminPassword,
	}, testenv.Addr(t, testenv.EnvADTestsOU)
}

// adDir is one test's scratch OU in the AD.
type adDir struct {
	t    *testing.T
	conn *goldap.Conn
	base string
	tag  string // makes sAMAccountNames unique across tests sharing the DC
}

func newADDir(t *testing.T) (server, *adDir) {
	srv, testsOU := adServer(t)
	conn := srv.admin(t)
	base := scratchOU(t, conn, testsOU, "OU")
	tag := strings.TrimPrefix(strings.SplitN(base, ",", 2)[0], "OU=t")
	return srv, &adDir{t: t, conn: conn, base: base, tag: tag}
}

func (d *adDir) userDN(name string) string { return "CN=" + name + "," + d.base }

// addUser adds an AD user; userAccountControl 544 (NORMAL_ACCOUNT|PASSWD_NOTREQD) is
// an enabled account without a password, 546 the same account disabled.
func (d *adDir) addUser(name string, disabled bool, extra map[string][]string) {
	d.t.Helper()
	uac := "544"
	if disabled {
		uac = "546"
	}
	attrs := map[string][]string{
		"objectClass":        {"top", "person", "organizationalPerson", "user"},
		"sAMAccountName":     {d.tag + name},
		"userAccountControl": {uac},
		"mail":               {name + "@example.com"},
		"givenName":          {"Given " + name}, "sn": {"Surname"}, "displayName": {"User " + name},
	}
	for k, v := range extra {
		if v == nil {
			delete(attrs, k) // leave the attribute out
			continue
		}
		attrs[k] = v
	}
	mustAdd(d.t, d.conn, d.userDN(name), attrs)
}

func (d *adDir) addGroup(name string, members []string) {
	d.t.Helper()
	var dns []string
	for _, m := range members {
		dns = append(dns, d.userDN(m))
	}
	attrs := map[string][]string{
		"objectClass": {"top", "group"}, "sAMAccountName": {d.tag + name},
		"groupType": {"-2147483646"}, // global security group
		"mail":      {name + "@example.com"},
	}
	if len(dns) > 0 {
		attrs["member"] = dns
	}
	mustAdd(d.t, d.conn, "CN="+name+","+d.base, attrs)
}

func TestADConformanceAndRangeRetrieval(t *testing.T) {
	srv, d := newADDir(t)
	var all []string
	for i := range 1100 { // more than one 1000-entry page
		name := fmt.Sprintf("u%d", i)
		d.addUser(name, i%7 == 0, nil)
		all = append(all, name)
	}
	d.addGroup("everyone", all)
	d.addGroup("few", all[:3])
	cfg := srv.config(t, "ad", d.base, nil)
	connectortest.RunTests(t, func(t *testing.T) connectors.Source { return cfg.source(t) },
		connectortest.Expect{Users: 1100, Groups: 2})

	t.Run("RangeRetrieval", func(t *testing.T) {
		// Samba never forces ranges, but answers member;range=0-N AD-style; ask
		// for 500-value ranges as AD imposes 1500-value ones on large groups.
		ranged := srv.config(t, "ad", d.base, nil)
		ranged.rangeStep = 500
		recs := byMail(readAll(t, ranged.source(t).Read))
		require.Len(t, recs["everyone@example.com"].Members, 1100)
		require.Len(t, recs["few@example.com"].Members, 3)
	})
}

func TestADPresetMapping(t *testing.T) {
	srv, d := newADDir(t)
	d.addUser("alice", false, map[string][]string{
		"proxyAddresses":  {"SMTP:alice@example.com", "smtp:ali@example.com", "smtp:a.smith@example.net", "X500:/o=Org/cn=alice", "SIP:alice@example.com"},
		"telephoneNumber": {"+1 555 0100"}, "department": {"Sales"}, "title": {"Manager"},
	})
	d.addUser("bob", true, nil)
	d.addUser("carol", false, map[string][]string{"mail": nil, "proxyAddresses": {"SMTP:carol@example.com"}})
	src := srv.config(t, "ad", d.base, nil).source(t)
	recs := byMail(readAll(t, src.Read))
	require.Len(t, recs, 3)

	alice := recs["alice@example.com"]
	require.ElementsMatch(t, []string{"ali@example.com", "a.smith@example.net"}, alice.Aliases, "smtp: aliases; X500 and SIP ignored")
	require.Equal(t, []string{"User alice", "Given alice", "Surname", "+1 555 0100", "Sales", "Manager"},
		[]string{alice.DisplayName, alice.GivenName, alice.Surname, alice.Phone, alice.Department, alice.Title})
	require.False(t, alice.Disabled)
	require.True(t, recs["bob@example.com"].Disabled, "userAccountControl bit 0x2")
	require.Contains(t, recs, "carol@example.com", "the SMTP: proxy address is the primary when mail is empty")

	// The anchor is objectGUID in the standard string form: AD itself resolves it.
	res, err := d.conn.Search(goldap.NewSearchRequest("<GUID="+alice.Anchor+">", goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	require.True(t, strings.EqualFold(d.userDN("alice"), res.Entries[0].DN))
}

func TestADStartTLSAndBindErrors(t *testing.T) {
	srv, d := newADDir(t)
	d.addUser("one", false, nil)
	require.Len(t, readAll(t, srv.config(t, "ad", d.base, func(c *Config) { c.URL, c.StartTLS = srv.url, true }).source(t).Read), 1)

	t.Setenv("WRONG_AD_PW", "definitely-wrong")
	bad := srv.config(t, "ad", d.base, func(c *Config) { c.BindPassword, _ = parseSecret("${WRONG_AD_PW}") })
	err := bad.source(t).Read(context.Background(), func(connectors.Record) error { return nil })
	require.ErrorContains(t, err, "invalid credentials")
	require.NotContains(t, err.Error(), "definitely-wrong")
}

// fourChanges disables one user, renames one's mail, deletes one and adds one,
// and returns what the incremental read reported, keyed by address ("deleted:" +
// anchor for tombstones).
func fourChanges(t *testing.T, mode string) {
	srv, d := newADDir(t)
	for i := range 10 {
		d.addUser(fmt.Sprintf("u%d", i), false, nil)
	}
	d.addGroup("team", []string{"u0", "u1"})
	src := srv.config(t, "ad", d.base, func(c *Config) { c.Incremental = mode }).source(t)
	full, cur := readChanges(t, src, nil)
	require.Len(t, full, 11)
	before := byMail(full)
	none, cur := readChanges(t, src, cur)
	require.Empty(t, none, "nothing changed, nothing read")

	mustModify(t, d.conn, d.userDN("u1"), map[string][]string{"userAccountControl": {"546"}})
	mustModify(t, d.conn, d.userDN("u2"), map[string][]string{"mail": {"u2.renamed@example.com"}})
	require.NoError(t, d.conn.Del(goldap.NewDelRequest(d.userDN("u3"), nil)))
	d.addUser("new", false, nil)

	changes, cur := readChanges(t, src, cur)
	got := map[string]connectors.Record{}
	for _, r := range changes {
		if r.Deleted {
			got["deleted:"+r.Anchor] = r
		} else {
			got[r.Mail] = r
		}
	}
	require.Len(t, got, 4, "exactly the four changes, got %v", keys(got))
	require.True(t, got["u1@example.com"].Disabled)
	require.Equal(t, "Given u1", got["u1@example.com"].GivenName, "a disable arrives alone; the record is read whole")
	require.Equal(t, before["u2@example.com"].Anchor, got["u2.renamed@example.com"].Anchor)
	require.Contains(t, got, "deleted:"+before["u3@example.com"].Anchor)
	require.Contains(t, got, "new@example.com")

	// Membership is tracked from the group.
	mustModify(t, d.conn, "CN=team,"+d.base, map[string][]string{"member": {d.userDN("u4")}})
	changes, _ = readChanges(t, src, cur)
	require.Len(t, changes, 1)
	require.Equal(t, connectors.KindGroup, changes[0].Kind)
	require.Equal(t, []string{strings.ToLower(d.userDN("u4"))}, changes[0].Members)
}

func TestADDirSyncIncremental(t *testing.T) { fourChanges(t, ModeDirSync) }

func TestADUSNIncremental(t *testing.T) { fourChanges(t, ModeUSN) }

func TestADMemberOfScope(t *testing.T) {
	srv, d := newADDir(t)
	for _, n := range []string{"in1", "in2", "out"} {
		d.addUser(n, false, nil)
	}
	d.addGroup("mail users (eu)", []string{"in1", "in2"}) // filter metacharacters in the DN
	src := srv.config(t, "ad", d.base, func(c *Config) {
		c.MemberOf = []string{"CN=mail users (eu)," + d.base}
		c.GroupFilter = "-"
	}).source(t)
	recs := byMail(readAll(t, src.Read))
	require.Len(t, recs, 2)
	require.Contains(t, recs, "in1@example.com")
	require.Contains(t, recs, "in2@example.com")
}

func TestADLookup(t *testing.T) {
	srv, d := newADDir(t)
	a, b, g := "a-"+d.tag, "b-"+d.tag, "g-"+d.tag
	d.addUser(a, false, map[string][]string{"proxyAddresses": {"SMTP:" + a + "@example.com", "smtp:alias-" + d.tag + "@example.net"}})
	d.addUser(b, false, nil)
	d.addGroup(g, []string{a})
	group := "CN=" + g + "," + d.base
	src := srv.config(t, "ad", d.base, func(c *Config) { c.MemberOf = []string{group} }).source(t)
	read := byMail(readAll(t, src.Read))
	require.Len(t, read, 2, "a and the group; b is not in member_of")
	ctx := context.Background()

	byAlias, err := src.Lookup(ctx, "ALIAS-"+d.tag+"@example.net")
	require.NoError(t, err)
	require.True(t, byAlias.InScope, "%+v", byAlias.Scope)
	require.Equal(t, read[a+"@example.com"], byAlias.Record)
	require.Contains(t, byAlias.Query, "(proxyAddresses=smtp:ALIAS-"+d.tag+"@example.net)")
	require.Equal(t, []string{byAlias.Record.Anchor}, byAlias.Raw["objectGUID"], "objectGUID in its string form")
	require.Regexp(t, `^S-1-5-21-\d+-\d+-\d+-\d+$`, byAlias.Raw["objectSid"][0])
	require.Equal(t, "member_of "+quoteList([]string{group}), byAlias.Scope[2].Rule)
	require.True(t, byAlias.Scope[2].Admitted)

	byAnchor, err := src.Lookup(ctx, strings.ToUpper(byAlias.Record.Anchor))
	require.NoError(t, err)
	require.Equal(t, byAlias.Record, byAnchor.Record)
	require.Contains(t, byAnchor.Query, `(objectGUID=\`, "the GUID as a binary filter value")

	out, err := src.Lookup(ctx, b+"@example.com")
	require.NoError(t, err)
	require.False(t, out.InScope)
	require.True(t, out.Scope[1].Admitted, "user_filter admits it")
	require.False(t, out.Scope[2].Admitted)
	require.Contains(t, out.Scope[2].Detail, "not a member of")

	grp, err := src.Lookup(ctx, g+"@example.com")
	require.NoError(t, err)
	require.True(t, grp.InScope, "member_of limits users only")
	require.Equal(t, read[g+"@example.com"], grp.Record)
}
