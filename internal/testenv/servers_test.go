package testenv_test

// Smoke tests for the servers scripts/testenv.sh starts: each one proves its
// server is real and reachable with the client library the project uses, so
// a broken environment fails here, by name, before any connector or store
// test has to be debugged.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/dirsync/dirsync/internal/testenv"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRedis(t *testing.T) {
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	ctx := testContext(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })

	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis PING %s: %v", addr, err)
	}
	key := fmt.Sprintf("testenv:smoke:%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = rdb.Del(context.Background(), key).Err() })
	if err := rdb.Set(ctx, key, "hello", time.Minute).Err(); err != nil {
		t.Fatalf("redis SET %s: %v", key, err)
	}
	got, err := rdb.Get(ctx, key).Result()
	if err != nil {
		t.Fatalf("redis GET %s: %v", key, err)
	}
	if got != "hello" {
		t.Fatalf("redis GET %s = %q, want %q", key, got, "hello")
	}
}

// ldapEnv is what every LDAP smoke test needs.
type ldapEnv struct {
	url, ldapsURL, baseDN, bindDN, password string
	caPool                                  *x509.CertPool
}

func loadLDAPEnv(t *testing.T) ldapEnv {
	t.Helper()
	e := ldapEnv{
		url:      testenv.Addr(t, testenv.EnvLDAPURL),
		ldapsURL: testenv.Addr(t, testenv.EnvLDAPSURL),
		baseDN:   testenv.Addr(t, testenv.EnvLDAPBaseDN),
		bindDN:   testenv.Addr(t, testenv.EnvLDAPBindDN),
		password: testenv.Addr(t, testenv.EnvLDAPPassword),
	}
	e.caPool = loadCAPool(t, testenv.Addr(t, testenv.EnvLDAPCAFile))
	return e
}

func loadCAPool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("read CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return pool
}

// tlsConfig verifies the server certificate against the test CA and the host
// of rawURL, as a connector would.
func (e ldapEnv) tlsConfig(t *testing.T, rawURL string) *tls.Config {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %q: %v", rawURL, err)
	}
	return &tls.Config{RootCAs: e.caPool, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
}

func dialLDAP(t *testing.T, rawURL string, tc *tls.Config) *ldap.Conn {
	t.Helper()
	opts := []ldap.DialOpt{ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second})}
	if tc != nil {
		opts = append(opts, ldap.DialWithTLSConfig(tc))
	}
	conn, err := ldap.DialURL(rawURL, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", rawURL, err)
	}
	conn.SetTimeout(10 * time.Second)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// bindAndReadBase binds as the bind DN, then checks that the base entry and
// the two organisational units the script loads are there, with the
// operational attributes only a real OpenLDAP with syncprov provides.
func (e ldapEnv) bindAndReadBase(t *testing.T, conn *ldap.Conn) {
	t.Helper()
	if err := conn.Bind(e.bindDN, e.password); err != nil {
		t.Fatalf("bind as %s: %v", e.bindDN, err)
	}
	res, err := conn.Search(ldap.NewSearchRequest(e.baseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 10, false, "(objectClass=*)", []string{"objectClass", "entryUUID", "contextCSN"}, nil))
	if err != nil {
		t.Fatalf("read base entry %s: %v", e.baseDN, err)
	}
	if len(res.Entries) != 1 || !strings.EqualFold(res.Entries[0].DN, e.baseDN) {
		t.Fatalf("base search returned %d entries, want the single entry %s", len(res.Entries), e.baseDN)
	}
	base := res.Entries[0]
	for _, attr := range []string{"entryUUID", "contextCSN"} {
		if base.GetAttributeValue(attr) == "" {
			t.Errorf("base entry has no %s", attr)
		}
	}

	res, err = conn.Search(ldap.NewSearchRequest(e.baseDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
		0, 10, false, "(objectClass=organizationalUnit)", []string{"ou"}, nil))
	if err != nil {
		t.Fatalf("list units under %s: %v", e.baseDN, err)
	}
	units := map[string]bool{}
	for _, entry := range res.Entries {
		units[strings.ToLower(entry.GetAttributeValue("ou"))] = true
	}
	for _, ou := range []string{"people", "groups"} {
		if !units[ou] {
			t.Errorf("ou=%s,%s missing (found %v)", ou, e.baseDN, units)
		}
	}
}

func TestLDAP(t *testing.T) {
	e := loadLDAPEnv(t)

	t.Run("plain", func(t *testing.T) {
		conn := dialLDAP(t, e.url, nil)
		e.bindAndReadBase(t, conn)
	})

	t.Run("StartTLS", func(t *testing.T) {
		conn := dialLDAP(t, e.url, nil)
		if err := conn.StartTLS(e.tlsConfig(t, e.url)); err != nil {
			t.Fatalf("StartTLS on %s: %v", e.url, err)
		}
		if _, ok := conn.TLSConnectionState(); !ok {
			t.Fatal("no TLS state after StartTLS")
		}
		e.bindAndReadBase(t, conn)
	})

	t.Run("LDAPS", func(t *testing.T) {
		conn := dialLDAP(t, e.ldapsURL, e.tlsConfig(t, e.ldapsURL))
		state, ok := conn.TLSConnectionState()
		if !ok || !state.HandshakeComplete {
			t.Fatal("ldaps connection without a completed TLS handshake")
		}
		e.bindAndReadBase(t, conn)
	})

	// Verification must really be on: without the test CA the handshake fails.
	t.Run("LDAPS rejects an unknown CA", func(t *testing.T) {
		tc := e.tlsConfig(t, e.ldapsURL)
		tc.RootCAs = x509.NewCertPool()
		conn, err := ldap.DialURL(e.ldapsURL, ldap.DialWithTLSConfig(tc),
			ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
		if err == nil {
			_ = conn.Close()
			t.Fatal("ldaps handshake succeeded with an empty CA pool")
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("ldaps with an empty CA pool: %v, want an unknown-authority error", err)
		}
	})
}

// TestAD binds to the Samba AD DC over LDAPS as the sync service account, as
// the LDAP connector would, and reads the rootDSE's highestCommittedUSN (where
// AD change tracking starts) and the tests' OU.
func TestAD(t *testing.T) {
	e := ldapEnv{
		ldapsURL: testenv.Addr(t, testenv.EnvADSURL),
		baseDN:   testenv.Addr(t, testenv.EnvADBaseDN),
		bindDN:   testenv.Addr(t, testenv.EnvADBindDN),
		password: testenv.Addr(t, testenv.EnvADPassword),
		caPool:   loadCAPool(t, testenv.Addr(t, testenv.EnvADCAFile)),
	}
	testsOU := testenv.Addr(t, testenv.EnvADTestsOU)

	conn := dialLDAP(t, e.ldapsURL, e.tlsConfig(t, e.ldapsURL))
	if err := conn.Bind(e.bindDN, e.password); err != nil {
		t.Fatalf("bind as %s: %v", e.bindDN, err)
	}
	res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 10, false, "(objectClass=*)", []string{"defaultNamingContext", "highestCommittedUSN"}, nil))
	if err != nil {
		t.Fatalf("read the rootDSE: %v", err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("rootDSE search returned %d entries, want 1", len(res.Entries))
	}
	rootDSE := res.Entries[0]
	if got := rootDSE.GetAttributeValue("defaultNamingContext"); !strings.EqualFold(got, e.baseDN) {
		t.Errorf("defaultNamingContext = %q, want %q", got, e.baseDN)
	}
	usn, err := strconv.ParseInt(rootDSE.GetAttributeValue("highestCommittedUSN"), 10, 64)
	if err != nil || usn <= 0 {
		t.Errorf("highestCommittedUSN = %q, want a positive number", rootDSE.GetAttributeValue("highestCommittedUSN"))
	}

	res, err = conn.Search(ldap.NewSearchRequest(testsOU, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 10, false, "(objectClass=organizationalUnit)", []string{"objectGUID"}, nil))
	if err != nil {
		t.Fatalf("read %s: %v", testsOU, err)
	}
	if len(res.Entries) != 1 || len(res.Entries[0].GetRawAttributeValue("objectGUID")) != 16 {
		t.Fatalf("%s: want one organizational unit with a 16-byte objectGUID, got %d entries", testsOU, len(res.Entries))
	}
}

func TestPostgres(t *testing.T) {
	dsn := testenv.Addr(t, testenv.EnvPostgresDSN)
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	var version, db string
	if err := conn.QueryRow(ctx, "select version(), current_database()").Scan(&version, &db); err != nil {
		t.Fatalf("select version(): %v", err)
	}
	if !strings.Contains(version, "PostgreSQL") {
		t.Fatalf("version() = %q, want it to contain PostgreSQL", version)
	}
	if db != "dirsync_test" {
		t.Errorf("current_database() = %q, want dirsync_test", db)
	}

	if _, err := conn.Exec(ctx, "create temp table testenv_smoke (id int primary key, name text not null)"); err != nil {
		t.Fatalf("create temp table: %v", err)
	}
	if _, err := conn.Exec(ctx, "insert into testenv_smoke values ($1, $2)", 1, "alice"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var name string
	if err := conn.QueryRow(ctx, "select name from testenv_smoke where id = $1", 1).Scan(&name); err != nil {
		t.Fatalf("select: %v", err)
	}
	if name != "alice" {
		t.Errorf("name = %q, want alice", name)
	}
	if _, err := conn.Exec(ctx, "drop table testenv_smoke"); err != nil {
		t.Fatalf("drop temp table: %v", err)
	}
}
