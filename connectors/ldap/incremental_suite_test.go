package ldap

import (
	"fmt"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
)

// anchorOf finds the anchor of the user with mail in a full read.
func anchorOf(t *testing.T, full []connectors.Record, mail string) string {
	t.Helper()
	r, ok := byMail(full)[mail]
	require.True(t, ok, "no record with mail %s in the full read", mail)
	return r.Anchor
}

// The incremental suite against OpenLDAP's syncrepl (RFC 4533) and, without
// deletions, its entryCSN timestamp mode. The fixture's groups hold u0..u3;
// the changes touch users outside them.
func TestOpenLDAPIncrementalConformance(t *testing.T) {
	srv := openLDAPServer(t)
	for _, mode := range []string{ModeSyncrepl, ModeTimestamp} {
		t.Run(mode, func(t *testing.T) {
			base, conn := openLDAPFixture(t, srv, 20)
			cfg := srv.config(t, "openldap", base, func(c *Config) {
				disabledByEmployeeType(c)
				c.Incremental = mode
				if mode == ModeTimestamp {
					c.TimestampAttribute = "entryCSN" // strict: a change is read once
				}
			})
			ch := connectortest.Changes{
				Modify: func(t *testing.T, full []connectors.Record) string {
					mustModify(t, conn, "uid=u10,"+base, map[string][]string{"sn": {"Changed"}})
					return anchorOf(t, full, "u10@example.com")
				},
			}
			if mode == ModeSyncrepl {
				ch.Delete = func(t *testing.T, full []connectors.Record) string {
					require.NoError(t, conn.Del(goldap.NewDelRequest("uid=u11,"+base, nil)))
					return anchorOf(t, full, "u11@example.com")
				}
			}
			connectortest.RunIncrementalTests(t, func(t *testing.T) connectors.Source { return cfg.source(t) },
				connectortest.Expect{Users: 20, Groups: 2}, ch)
		})
	}
}

// The incremental suite against Samba AD: DirSync and uSNChanged.
func TestADIncrementalConformance(t *testing.T) {
	for _, mode := range []string{ModeDirSync, ModeUSN} {
		t.Run(mode, func(t *testing.T) {
			srv, d := newADDir(t)
			for i := range 10 {
				d.addUser(fmt.Sprintf("u%d", i), false, nil)
			}
			d.addGroup("team", []string{"u0", "u1"})
			cfg := srv.config(t, "ad", d.base, func(c *Config) { c.Incremental = mode })
			connectortest.RunIncrementalTests(t, func(t *testing.T) connectors.Source { return cfg.source(t) },
				connectortest.Expect{Users: 10, Groups: 1}, connectortest.Changes{
					Modify: func(t *testing.T, full []connectors.Record) string {
						mustModify(t, d.conn, d.userDN("u5"), map[string][]string{"displayName": {"Changed"}})
						return anchorOf(t, full, "u5@example.com")
					},
					Delete: func(t *testing.T, full []connectors.Record) string {
						require.NoError(t, d.conn.Del(goldap.NewDelRequest(d.userDN("u6"), nil)))
						return anchorOf(t, full, "u6@example.com")
					},
				})
		})
	}
}
