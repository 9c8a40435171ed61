package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
)

// openLDAPFixture fills a scratch OU with n people (every fifth one locked with
// pwdAccountLockedTime, person 1 with a phone, title and department) and two
// mail-enabled groups.
func openLDAPFixture(t *testing.T, srv server, n int) (base string, conn *goldap.Conn) {
	t.Helper()
	conn = srv.admin(t)
	base = scratchOU(t, conn, srv.suffix, "ou")
	for i := range n {
		attrs := map[string][]string{
			"objectClass": {"inetOrgPerson"}, "uid": {fmt.Sprintf("u%d", i)}, "cn": {fmt.Sprintf("User %d", i)},
			"sn": {fmt.Sprintf("Surname%d", i)}, "givenName": {"Given"}, "mail": {fmt.Sprintf("u%d@example.com", i)},
		}
		if i == 1 {
			attrs["telephoneNumber"] = []string{"+1 555 0101"}
			attrs["title"] = []string{"Engineer"}
			attrs["departmentNumber"] = []string{"R&D"}
		}
		if i%5 == 4 {
			attrs["employeeType"] = []string{"disabled"}
		}
		mustAdd(t, conn, fmt.Sprintf("uid=u%d,%s", i, base), attrs)
	}
	for g, members := range map[string][]string{"staff": {"u0", "u1", "u2"}, "ops": {"u3"}} {
		var dns []string
		for _, m := range members {
			dns = append(dns, fmt.Sprintf("uid=%s,%s", m, base))
		}
		mustAdd(t, conn, fmt.Sprintf("cn=%s,%s", g, base), map[string][]string{
			"objectClass": {"groupOfNames", "extensibleObject"}, "cn": {g}, "mail": {g + "@example.com"}, "member": dns})
	}
	return base, conn
}

// disabledByEmployeeType maps the fixture's disabled marker (the test slapd runs
// no ppolicy overlay, so pwdAccountLockedTime cannot be written there).
func disabledByEmployeeType(c *Config) {
	c.Attributes.Disabled.Attribute = "employeeType"
	c.Attributes.Disabled.Values = []string{"disabled"}
}

func TestOpenLDAPConformance(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 1200) // more than one 1000-entry page
	cfg := srv.config(t, "openldap", base, disabledByEmployeeType)
	connectortest.RunTests(t, func(t *testing.T) connectors.Source { return cfg.source(t) },
		connectortest.Expect{Users: 1200, Groups: 2})
}

func TestOpenLDAPPresetAndMapping(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 10)
	cfg := srv.config(t, "openldap", base, func(c *Config) {
		disabledByEmployeeType(c)
		c.PageSize = 3 // many pages
		c.Attributes.Title = "description"
	})
	src := cfg.source(t)
	recs := byMail(readAll(t, src.Read))
	require.Len(t, recs, 12)
	u1 := recs["u1@example.com"]
	require.Equal(t, connectors.KindUser, u1.Kind)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, u1.Anchor, "entryUUID is the anchor")
	require.Equal(t, "uid=u1,"+strings.ToLower(base), u1.Ref)
	require.Equal(t, []any{"User 1", "Given", "Surname1", "+1 555 0101", "R&D", ""},
		[]any{u1.DisplayName, u1.GivenName, u1.Surname, u1.Phone, u1.Department, u1.Title}, "title is remapped to the empty description")
	require.False(t, u1.Disabled)
	require.True(t, recs["u4@example.com"].Disabled)
	staff := recs["staff@example.com"]
	require.Equal(t, connectors.KindGroup, staff.Kind)
	require.ElementsMatch(t, []string{u1.Ref, recs["u0@example.com"].Ref, recs["u2@example.com"].Ref}, staff.Members)
	require.Contains(t, src.Fields(), "title")
}

func TestOpenLDAPPwdAccountLockedTimeDisables(t *testing.T) {
	// The preset's own disabled rule: pwdAccountLockedTime present. The test slapd
	// loads the ppolicy module (which defines the attribute) without the overlay,
	// so the rootdn can write it as an admin would lock an account.
	srv := openLDAPServer(t)
	base, conn := openLDAPFixture(t, srv, 2)
	mustModify(t, conn, "uid=u0,"+base, map[string][]string{"pwdAccountLockedTime": {"000001010000Z"}})
	recs := byMail(readAll(t, srv.config(t, "openldap", base, nil).source(t).Read))
	require.True(t, recs["u0@example.com"].Disabled)
	require.False(t, recs["u1@example.com"].Disabled)
}

func TestOpenLDAPStartTLS(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 3)
	cfg := srv.config(t, "openldap", base, func(c *Config) { c.URL, c.StartTLS = srv.url, true })
	require.Len(t, readAll(t, cfg.source(t).Read), 5)
}

func TestOpenLDAPConnectionErrorsSayWhatToFix(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 1)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unknown CA", func(c *Config) { c.CAFile = "" }, "set ca_file"},
		{"wrong name", func(c *Config) { c.ServerName = "ldap.elsewhere.test" }, "set server_name"},
		{"bad password", func(c *Config) {
			t.Setenv("WRONG_PW", "not-the-password")
			c.BindPassword, _ = parseSecret("${WRONG_PW}")
		}, "invalid credentials"},
		{"not TLS", func(c *Config) { c.URL = "ldaps://" + strings.TrimPrefix(srv.url, "ldap://") }, "did not answer TLS"},
		{"nothing listening", func(c *Config) { c.URL = "ldaps://127.0.0.1:1" }, "cannot be reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config(t, "openldap", base, tc.edit)
			err := cfg.source(t).Read(context.Background(), func(connectors.Record) error {
				t.Fatal("no record may be emitted")
				return nil
			})
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "not-the-password")
		})
	}
}

func TestOpenLDAPCutConnectionFailsTheRead(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 1200)
	target := strings.TrimPrefix(srv.url, "ldap://")
	proxy := cuttingProxy(t, target, 60_000) // a few hundred entries in
	cfg := srv.config(t, "openldap", base, func(c *Config) {
		c.URL, c.CAFile, c.BindDN = "ldap://"+proxy, "", ""
		c.Parallel = 1
		c.Timeout = 5 * time.Second
	})
	n := 0
	err := cfg.source(t).Read(context.Background(), func(connectors.Record) error { n++; return nil })
	require.Error(t, err, "a read cut mid-way must fail, never end as if complete")
	require.Less(t, n, 1200)
	t.Logf("cut after %d records: %v", n, err)
}

func TestOpenLDAPSyncreplIncremental(t *testing.T) {
	srv := openLDAPServer(t)
	base, conn := openLDAPFixture(t, srv, 20)
	cfg := srv.config(t, "openldap", base, func(c *Config) { disabledByEmployeeType(c); c.Incremental = ModeSyncrepl })
	src := cfg.source(t)
	full, cur := readChanges(t, src, nil)
	require.Len(t, full, 22)
	before := byMail(full)
	// Other tests delete entries on the same server at the same time, and a
	// syncrepl refresh reports deletions by UUID without a scope (the engine
	// ignores unknown anchors): keep only this fixture's tombstones.
	known := map[string]bool{}
	for _, r := range full {
		known[r.Anchor] = true
	}
	own := func(changes []connectors.Record) []connectors.Record {
		var out []connectors.Record
		for _, r := range changes {
			if !r.Deleted || known[r.Anchor] {
				out = append(out, r)
			}
		}
		return out
	}

	// Nothing changed: nothing read.
	none, cur := readChanges(t, src, cur)
	require.Empty(t, own(none))

	mustModify(t, conn, "uid=u1,"+base, map[string][]string{"employeeType": {"disabled"}})
	mustModify(t, conn, "uid=u2,"+base, map[string][]string{"mail": {"u2.renamed@example.com"}})
	require.NoError(t, conn.Del(goldap.NewDelRequest("uid=u3,"+base, nil)))
	mustAdd(t, conn, "uid=new,"+base, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"new"}, "cn": {"New"}, "sn": {"N"}, "mail": {"new@example.com"}})
	// Outside the connector's scope: must not show up.
	other := scratchOU(t, conn, srv.suffix, "ou")
	mustAdd(t, conn, "uid=x,"+other, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"x"}, "cn": {"X"}, "sn": {"X"}, "mail": {"x@example.com"}})

	changes, _ := readChanges(t, src, cur)
	got := map[string]connectors.Record{}
	for _, r := range own(changes) {
		if r.Deleted {
			got["deleted:"+r.Anchor] = r
			continue
		}
		got[r.Mail] = r
	}
	require.Len(t, got, 4, "exactly the four changes: %v", keys(got))
	require.True(t, got["u1@example.com"].Disabled)
	require.Equal(t, before["u2@example.com"].Anchor, got["u2.renamed@example.com"].Anchor, "a renamed address keeps its anchor")
	require.Contains(t, got, "deleted:"+before["u3@example.com"].Anchor)
	require.Contains(t, got, "new@example.com")
}

func TestOpenLDAPGroupMembershipChangeIsReadFromTheGroup(t *testing.T) {
	srv := openLDAPServer(t)
	base, conn := openLDAPFixture(t, srv, 5)
	for _, mode := range []string{ModeSyncrepl, ModeTimestamp} {
		t.Run(mode, func(t *testing.T) {
			src := srv.config(t, "openldap", base, func(c *Config) { c.Incremental = mode }).source(t)
			_, cur := readChanges(t, src, nil)
			mustModify(t, conn, "cn=ops,"+base, map[string][]string{"member": {"uid=u3," + base, "uid=u4," + base}})
			all, _ := readChanges(t, src, cur)
			var changes []connectors.Record
			for _, r := range all {
				if !r.Deleted { // other tests' deletions on the shared server (syncrepl has no scope for them)
					changes = append(changes, r)
				}
			}
			require.Len(t, changes, 1, "only the group changed (membership does not touch the member)")
			require.Equal(t, connectors.KindGroup, changes[0].Kind)
			require.Len(t, changes[0].Members, 2)
		})
	}
}

func TestOpenLDAPTimestampIncremental(t *testing.T) {
	srv := openLDAPServer(t)
	for _, attr := range []string{"entryCSN", "modifyTimestamp"} {
		t.Run(attr, func(t *testing.T) {
			base, conn := openLDAPFixture(t, srv, 20)
			src := srv.config(t, "openldap", base, func(c *Config) {
				disabledByEmployeeType(c)
				c.Incremental, c.TimestampAttribute = ModeTimestamp, attr
			}).source(t)
			if attr == "modifyTimestamp" {
				// One-second resolution, and the server's clock is its last change:
				// move that change out of the fixture's second (and out of scope).
				time.Sleep(1100 * time.Millisecond)
				scratchOU(t, conn, srv.suffix, "ou")
			}
			full, cur := readChanges(t, src, nil)
			require.Len(t, full, 22)
			if attr == "modifyTimestamp" {
				time.Sleep(1100 * time.Millisecond)
			}
			mustModify(t, conn, "uid=u1,"+base, map[string][]string{"employeeType": {"disabled"}})
			require.NoError(t, conn.Del(goldap.NewDelRequest("uid=u3,"+base, nil)))
			changes, cur := readChanges(t, src, cur)
			require.Len(t, changes, 1, "the modified user; a deletion leaves nothing to read, the full run finds it")
			require.True(t, changes[0].Disabled)
			if attr == "entryCSN" {
				again, _ := readChanges(t, src, cur)
				require.Empty(t, again, "entryCSN is strict: a change is read once")
			}
		})
	}
}

func TestCursorFromAnotherScopeForcesAFullRead(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 2)
	_, cur := readChanges(t, srv.config(t, "openldap", base, nil).source(t), nil)
	narrower := srv.config(t, "openldap", base, func(c *Config) { c.UserFilter = "(&(objectClass=inetOrgPerson)(uid=u0))" }).source(t)
	_, err := narrower.ReadChanges(context.Background(), cur, func(connectors.Record) error { return nil })
	require.ErrorIs(t, err, connectors.ErrCursorExpired)
}

func readChanges(t *testing.T, src *source, cur []byte) ([]connectors.Record, []byte) {
	t.Helper()
	var out []connectors.Record
	next, err := src.ReadChanges(context.Background(), cur, func(r connectors.Record) error { out = append(out, r); return nil })
	require.NoError(t, err)
	require.True(t, json.Valid(next), "cursor %q", next)
	return out, next
}

func keys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

// lookupFixture makes an in-scope OU and an out-of-scope sibling with people whose
// addresses carry the OU's tag, so they are unique in the shared directory.
func lookupFixture(t *testing.T, srv server) (base, other, tag string) {
	t.Helper()
	conn := srv.admin(t)
	base = scratchOU(t, conn, srv.suffix, "ou")
	other = scratchOU(t, conn, srv.suffix, "ou")
	tag = strings.TrimPrefix(strings.SplitN(base, ",", 2)[0], "ou=")
	person := func(dn, name string, extra map[string][]string) {
		attrs := map[string][]string{"objectClass": {"inetOrgPerson", "extensibleObject"}, "cn": {name}, "sn": {"S"},
			"mail": {name + "-" + tag + "@example.com"}}
		for k, v := range extra {
			attrs[k] = v
		}
		mustAdd(t, conn, dn, attrs)
	}
	person("uid=ann,"+base, "ann", map[string][]string{"emailAddress": {"Ann.Alias-" + tag + "@example.com"},
		"userPassword": {"ann-secret-pw"}, "title": {"Lead"}})
	person("uid=bob,"+base, "bob", map[string][]string{"employeeType": {"contractor"}})
	person("uid=cat,"+other, "cat", nil)
	person("uid=dup1,"+base, "dup", nil)
	person("uid=dup2,"+other, "dup", nil)
	mustAdd(t, conn, "cn=team,"+base, map[string][]string{"objectClass": {"groupOfNames", "extensibleObject"}, "cn": {"team"},
		"mail": {"team-" + tag + "@example.com"}, "member": {"uid=ann," + base}})
	return base, other, tag
}

func TestOpenLDAPLookup(t *testing.T) {
	srv := openLDAPServer(t)
	base, other, tag := lookupFixture(t, srv)
	const filter = "(&(objectClass=inetOrgPerson)(mail=*)(!(employeeType=contractor)))"
	cfg := srv.config(t, "openldap", base, func(c *Config) {
		c.UserFilter = filter
		c.Attributes.Aliases = []string{"emailAddress"}
	})
	src := cfg.source(t)
	ctx := context.Background()
	read := byMail(readAll(t, src.Read))
	addr := func(name string) string { return name + "-" + tag + "@example.com" }

	ann, err := src.Lookup(ctx, strings.ToUpper(addr("ann")))
	require.NoError(t, err)
	require.True(t, ann.InScope, "%+v", ann.Scope)
	require.Equal(t, read[addr("ann")], ann.Record, "the record is exactly what Read emits")
	require.Equal(t, []string{"[redacted]"}, ann.Raw["userPassword"])
	require.NotContains(t, fmt.Sprint(ann.Raw), "ann-secret-pw")
	require.Equal(t, []string{"Lead"}, ann.Raw["title"])
	require.Regexp(t, `^ldapsearch -H ldaps://\S+ -b 'dc=example,dc=com' -s sub '\(\|\(mail=`+regexp.QuoteMeta(strings.ToUpper(addr("ann")))+`\)\(emailAddress=`, ann.Query)
	require.Len(t, ann.Scope, 3)
	require.Contains(t, ann.Scope[0].Detail, `under base_dns[0] "`+base+`"`)
	require.Equal(t, fmt.Sprintf("user_filter %q", filter), ann.Scope[1].Rule)
	require.True(t, ann.Scope[1].Admitted)

	t.Run("by alias", func(t *testing.T) {
		f, err := src.Lookup(ctx, "ann.alias-"+tag+"@EXAMPLE.com")
		require.NoError(t, err)
		require.Equal(t, ann.Record, f.Record)
	})
	t.Run("by anchor", func(t *testing.T) {
		f, err := src.Lookup(ctx, strings.ToUpper(ann.Record.Anchor))
		require.NoError(t, err)
		require.Equal(t, ann.Record, f.Record)
		require.Contains(t, f.Query, "(entryUUID="+ann.Record.Anchor+")")
	})
	t.Run("group", func(t *testing.T) {
		f, err := src.Lookup(ctx, addr("team"))
		require.NoError(t, err)
		require.True(t, f.InScope)
		require.Equal(t, connectors.KindGroup, f.Record.Kind)
		require.Equal(t, read[addr("team")], f.Record)
		require.Contains(t, f.Scope[1].Rule, "group_filter")
	})
	t.Run("excluded by the filter", func(t *testing.T) {
		f, err := src.Lookup(ctx, addr("bob"))
		require.NoError(t, err)
		require.NotContains(t, read, addr("bob"))
		require.False(t, f.InScope)
		require.True(t, f.Scope[0].Admitted, "inside the base")
		require.False(t, f.Scope[1].Admitted)
		require.Contains(t, f.Scope[1].Detail, "does not match")
		require.Equal(t, addr("bob"), f.Record.Mail, "the record is mapped even out of scope")
	})
	t.Run("outside the base DN", func(t *testing.T) {
		f, err := src.Lookup(ctx, addr("cat"))
		require.NoError(t, err)
		require.False(t, f.InScope)
		require.False(t, f.Scope[0].Admitted)
		require.Contains(t, f.Scope[0].Detail, "outside every base DN: uid=cat,"+other)
		require.True(t, f.Scope[1].Admitted, "the filter alone would admit it")
	})
	t.Run("not found", func(t *testing.T) {
		_, err := src.Lookup(ctx, "nobody*)(-"+tag+"@example.com")
		require.ErrorIs(t, err, connectors.ErrNotInSource)
		require.ErrorContains(t, err, `(mail=nobody\2a\29\28-`+tag+"@example.com)", "names the escaped filter")
	})
	t.Run("several found", func(t *testing.T) {
		_, err := src.Lookup(ctx, addr("dup"))
		require.ErrorContains(t, err, "2 entries match")
		require.ErrorContains(t, err, "uid=dup1,"+base)
		require.ErrorContains(t, err, "uid=dup2,"+other)
		require.NotErrorIs(t, err, connectors.ErrNotInSource)
	})
}
