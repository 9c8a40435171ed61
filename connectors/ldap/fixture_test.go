package ldap

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"os"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/internal/testenv"
)

// server is one test directory: where it is and how to administer it.
type server struct {
	url, ldapsURL, caFile, suffix string
	bindDN, passwordEnv           string // the sync account
	adminDN, adminPasswordEnv     string // writes fixtures
}

func openLDAPServer(t *testing.T) server {
	return server{
		url:      testenv.Addr(t, testenv.EnvLDAPURL),
		ldapsURL: testenv.Addr(t, testenv.EnvLDAPSURL),
		caFile:   testenv.Addr(t, testenv.EnvLDAPCAFile),
		suffix:   testenv.Addr(t, testenv.EnvLDAPBaseDN),
		bindDN:   testenv.Addr(t, testenv.EnvLDAPBindDN), passwordEnv: testenv.EnvLDAPPassword,
		adminDN: testenv.Addr(t, testenv.EnvLDAPBindDN), adminPasswordEnv: testenv.EnvLDAPPassword,
	}
}

// config returns a prepared connector config reading base over LDAPS.
func (s server) config(t *testing.T, preset string, base string, edit func(*Config)) *Config {
	t.Helper()
	pw, err := config.ParseSecret("${" + s.passwordEnv + "}")
	require.NoError(t, err)
	c := &Config{URL: s.ldapsURL, CAFile: s.caFile, BindDN: s.bindDN, BindPassword: pw, Preset: preset, BaseDNs: []string{base}}
	if edit != nil {
		edit(c)
	}
	require.Empty(t, c.Prepare(t.TempDir()))
	return c
}

func (c *Config) source(t *testing.T) *source {
	src, err := c.Open("test", zaptest.NewLogger(t))
	require.NoError(t, err)
	return src.(*source)
}

// admin opens a fixture-writing connection.
func (s server) admin(t *testing.T) *goldap.Conn {
	t.Helper()
	pem, err := os.ReadFile(s.caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	conn, err := goldap.DialURL(s.ldapsURL, goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	require.NoError(t, err)
	require.NoError(t, conn.Bind(s.adminDN, os.Getenv(s.adminPasswordEnv)))
	t.Cleanup(func() { conn.Close() })
	return conn
}

// scratchOU creates an OU of its own for one test under parent and removes it after.
func scratchOU(t *testing.T, conn *goldap.Conn, parent, attr string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	dn := attr + "=t" + hex.EncodeToString(b) + "," + parent
	add := goldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"top", "organizationalUnit"})
	require.NoError(t, conn.Add(add), "create %s", dn)
	t.Cleanup(func() { deleteTree(conn, dn) })
	return dn
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

func mustAdd(t *testing.T, conn *goldap.Conn, dn string, attrs map[string][]string) {
	t.Helper()
	add := goldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		add.Attribute(k, v)
	}
	require.NoError(t, conn.Add(add), "add %s", dn)
}

func mustModify(t *testing.T, conn *goldap.Conn, dn string, replace map[string][]string) {
	t.Helper()
	mod := goldap.NewModifyRequest(dn, nil)
	for k, v := range replace {
		mod.Replace(k, v)
	}
	require.NoError(t, conn.Modify(mod), "modify %s", dn)
}

func readAll(t *testing.T, read func(context.Context, connectors.Emit) error) []connectors.Record {
	t.Helper()
	var out []connectors.Record
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, read(ctx, func(r connectors.Record) error { out = append(out, r); return nil }))
	return out
}

func byMail(recs []connectors.Record) map[string]connectors.Record {
	m := map[string]connectors.Record{}
	for _, r := range recs {
		m[r.Mail] = r
	}
	return m
}

// cuttingProxy forwards TCP to target and cuts every connection once the server
// has sent after bytes, like a firewall dropping a long-lived session.
func cuttingProxy(t *testing.T, target string, after int64) string {
	return testenv.TCPProxy(t, target, func() testenv.ProxyFault { return testenv.ProxyFault{After: after} })
}

func parseSecret(ref string) (config.Secret, error) { return config.ParseSecret(ref) }
