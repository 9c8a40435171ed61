package loadtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/dirsync/dirsync/internal/testenv"
)

// ldapConns is how many connections load and remove the fixture at once:
// slapd applies adds from several connections in parallel.
const ldapConns = 8

// directory is the test's own OU in the shared test OpenLDAP, filled with
// users and groups; it is removed when the test ends.
type directory struct {
	url, bindDN, password, ou, tag string
	users, groups                  int
}

// tagged returns a random tag that keeps this run's entries apart from any
// other test's on the shared server.
func tagged() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ldapDial opens an administrator's connection (plain LDAP on loopback).
func ldapDial(url, bindDN, password string) (*goldap.Conn, error) {
	conn, err := goldap.DialURL(url)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	if err := conn.Bind(bindDN, password); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bind %s: %w", bindDN, err)
	}
	return conn, nil
}

// userMail, aliasMail and groupMail are the addresses of the fixture's
// objects; every third user has an alias, every tenth is disabled
// (pwdAccountLockedTime, the openldap preset's rule) and every group holds
// the users whose number it divides.
func (d *directory) userMail(i int) string  { return fmt.Sprintf("u%d-%s@example.com", i, d.tag) }
func (d *directory) aliasMail(i int) string { return fmt.Sprintf("alias%d-%s@example.com", i, d.tag) }
func (d *directory) groupMail(g int) string { return fmt.Sprintf("g%d-%s@example.com", g, d.tag) }
func (d *directory) userDN(i int) string {
	return fmt.Sprintf("uid=u%d-%s,ou=people,%s", i, d.tag, d.ou)
}

// newDirectory loads users people and groups groups into an OU of the
// test's own over ldapConns connections, and deletes them all at cleanup.
func newDirectory(t *testing.T, users, groups int) *directory {
	t.Helper()
	url := testenv.Addr(t, testenv.EnvLDAPURL)
	bindDN := testenv.Addr(t, testenv.EnvLDAPBindDN)
	tag := tagged()
	d := &directory{url: url, bindDN: bindDN, password: testenv.Addr(t, testenv.EnvLDAPPassword), tag: tag,
		users: users, groups: groups, ou: "ou=load" + tag + "," + testenv.Addr(t, testenv.EnvLDAPBaseDN)}
	conn, err := ldapDial(url, bindDN, d.password)
	require.NoError(t, err)
	defer conn.Close()
	for _, dn := range []string{d.ou, "ou=people," + d.ou, "ou=groups," + d.ou} {
		add := goldap.NewAddRequest(dn, nil)
		add.Attribute("objectClass", []string{"top", "organizationalUnit"})
		require.NoError(t, conn.Add(add), "add %s", dn)
	}
	t.Cleanup(func() { d.remove(t) })

	adds := make(chan *goldap.AddRequest, 2*ldapConns)
	var g errgroup.Group
	for range ldapConns {
		g.Go(func() error {
			c, err := ldapDial(url, bindDN, d.password)
			if err != nil {
				for range adds {
				}
				return err
			}
			defer c.Close()
			for a := range adds {
				if err := c.Add(a); err != nil {
					for range adds { // drain, so the producer ends
					}
					return fmt.Errorf("add %s: %w", a.DN, err)
				}
			}
			return nil
		})
	}
	for i := range users {
		a := goldap.NewAddRequest(d.userDN(i), nil)
		a.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
		uid := fmt.Sprintf("u%d-%s", i, tag)
		a.Attribute("uid", []string{uid})
		a.Attribute("cn", []string{fmt.Sprintf("User %d", i)})
		a.Attribute("givenName", []string{"User"})
		a.Attribute("sn", []string{fmt.Sprintf("Number%d", i)})
		a.Attribute("mail", []string{d.userMail(i)})
		if i%3 == 0 {
			// The test slapd has no misc.schema (mailAlternateAddress):
			// the connector maps aliases to description instead.
			a.Attribute("description", []string{d.aliasMail(i)})
		}
		if i%10 == 0 {
			a.Attribute("pwdAccountLockedTime", []string{"000001010000Z"})
		}
		adds <- a
	}
	close(adds)
	require.NoError(t, g.Wait())
	// Groups after their members, on one connection: few and large.
	for gi := range groups {
		var members []string
		for i := gi + 1; i < users; i += gi + 1 {
			members = append(members, d.userDN(i))
		}
		a := goldap.NewAddRequest(fmt.Sprintf("cn=g%d-%s,ou=groups,%s", gi, tag, d.ou), nil)
		a.Attribute("objectClass", []string{"groupOfNames", "extensibleObject"})
		a.Attribute("cn", []string{fmt.Sprintf("g%d-%s", gi, tag)})
		a.Attribute("mail", []string{d.groupMail(gi)})
		a.Attribute("member", members)
		require.NoError(t, conn.Add(a), "add group %d", gi)
	}
	return d
}

// remove deletes the OU and everything under it, leaves first.
func (d *directory) remove(t *testing.T) {
	conn, err := ldapDial(d.url, d.bindDN, d.password)
	if err != nil {
		t.Errorf("remove the load fixture: %v", err)
		return
	}
	defer conn.Close()
	res, err := conn.SearchWithPaging(goldap.NewSearchRequest(d.ou, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"1.1"}, nil), 1000)
	if err != nil {
		t.Errorf("list %s for removal: %v", d.ou, err)
		return
	}
	var dns []string
	for _, e := range res.Entries {
		dns = append(dns, e.DN)
	}
	// Deepest first: an entry's DN is longer (more RDNs) than its parent's.
	depth := func(dn string) int { return strings.Count(dn, ",") }
	byDepth := map[int][]string{}
	maxDepth := 0
	for _, dn := range dns {
		byDepth[depth(dn)] = append(byDepth[depth(dn)], dn)
		maxDepth = max(maxDepth, depth(dn))
	}
	for lvl := maxDepth; lvl >= 0; lvl-- {
		level := byDepth[lvl]
		if len(level) == 0 {
			continue
		}
		var wg sync.WaitGroup
		errs := make(chan error, ldapConns)
		for w := range ldapConns {
			wg.Go(func() {
				c, err := ldapDial(d.url, d.bindDN, d.password)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				for i := w; i < len(level); i += ldapConns {
					if err := c.Del(goldap.NewDelRequest(level[i], nil)); err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
						errs <- fmt.Errorf("delete %s: %w", level[i], err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("remove the load fixture: %v", err)
		}
	}
}
