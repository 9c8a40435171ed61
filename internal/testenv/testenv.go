// Package testenv gives integration tests the addresses of the real servers
// that scripts/testenv.sh starts on loopback (Redis, OpenLDAP, PostgreSQL and
// a Samba Active Directory domain controller).
//
// The script writes the addresses to .testenv/env.sh; `scripts/testenv.sh run
// -- go test ./...` (what `make test` runs) exports them for the tests. A test
// asks for each address with Addr: outside CI a missing variable skips the
// test, so `go test ./...` on a bare machine still passes the unit tests; under
// CI=true it fails the test, because there a missing server is a broken
// pipeline, not a developer's shortcut (DESIGN.md, convention 10).
//
// It also holds the fixtures many packages' tests would otherwise build each
// on their own (backends.go): a SQLite store and a local state file in
// temporary files, and a Clock that moves only when told to.
package testenv

import (
	"os"
	"testing"
)

// Names of the environment variables scripts/testenv.sh exports.
const (
	// EnvRedisAddr holds the Redis address as host:port.
	EnvRedisAddr = "DIRSYNC_TEST_REDIS_ADDR"
	// EnvLDAPURL holds the plain LDAP URL (ldap://127.0.0.1:PORT); the server
	// also accepts StartTLS on it.
	EnvLDAPURL = "DIRSYNC_TEST_LDAP_URL"
	// EnvLDAPSURL holds the LDAP-over-TLS URL (ldaps://127.0.0.1:PORT).
	EnvLDAPSURL = "DIRSYNC_TEST_LDAPS_URL"
	// EnvLDAPCAFile holds the path of the PEM CA certificate that signed the
	// LDAP server's certificate (SANs 127.0.0.1, ::1, localhost, hostname).
	EnvLDAPCAFile = "DIRSYNC_TEST_LDAP_CA_FILE"
	// EnvLDAPBaseDN holds the directory suffix (dc=example,dc=com), which
	// holds ou=people and ou=groups.
	EnvLDAPBaseDN = "DIRSYNC_TEST_LDAP_BASE_DN"
	// EnvLDAPBindDN holds the DN of the directory's administrator (rootdn).
	EnvLDAPBindDN = "DIRSYNC_TEST_LDAP_BIND_DN"
	// EnvLDAPPassword holds the bind DN's password, generated per start.
	EnvLDAPPassword = "DIRSYNC_TEST_LDAP_PASSWORD"
	// EnvPostgresDSN holds a PostgreSQL URL for the database dirsync_test
	// (postgres://postgres@127.0.0.1:PORT/dirsync_test?sslmode=disable).
	EnvPostgresDSN = "DIRSYNC_TEST_PG_DSN"
	// EnvPostfix holds the path of Postfix's postfix command (Debian's
	// postfix package, which the script installs but does not start: each
	// test runs its own instance with StartPostfix).
	EnvPostfix = "DIRSYNC_TEST_POSTFIX"

	// The Samba AD domain controller (realm EXAMPLE.COM), on Samba's fixed
	// ports, so one per machine; unset when the script ran with
	// DIRSYNC_TESTENV_NO_SAMBA=1. scripts/testenv-samba.sh tells how to add
	// enabled and disabled users and groups over LDAP.

	// EnvADURL holds the plain LDAP URL (ldap://127.0.0.1:389); simple binds
	// are allowed on it, and so is StartTLS.
	EnvADURL = "DIRSYNC_TEST_AD_URL"
	// EnvADSURL holds the LDAP-over-TLS URL (ldaps://127.0.0.1:636).
	EnvADSURL = "DIRSYNC_TEST_ADS_URL"
	// EnvADCAFile holds the path of the PEM CA certificate that signed the
	// DC's certificate: the same test CA as EnvLDAPCAFile.
	EnvADCAFile = "DIRSYNC_TEST_AD_CA_FILE"
	// EnvADBaseDN holds the domain's naming context (DC=example,DC=com).
	EnvADBaseDN = "DIRSYNC_TEST_AD_BASE_DN"
	// EnvADBindDN holds the DN of the sync service account
	// (CN=svc-dirsync,CN=Users,DC=example,DC=com): not an administrator, but
	// granted Replicating Directory Changes (DirSync) and read on
	// CN=Deleted Objects (tombstones with the Show Deleted control).
	EnvADBindDN = "DIRSYNC_TEST_AD_BIND_DN"
	// EnvADPassword holds the sync account's password, generated per start.
	EnvADPassword = "DIRSYNC_TEST_AD_PASSWORD"
	// EnvADAdminDN holds the DN of the domain's Administrator
	// (CN=Administrator,CN=Users,DC=example,DC=com), for tests that write
	// their fixtures.
	EnvADAdminDN = "DIRSYNC_TEST_AD_ADMIN_DN"
	// EnvADAdminPassword holds the Administrator's password, generated per
	// start.
	EnvADAdminPassword = "DIRSYNC_TEST_AD_ADMIN_PASSWORD"
	// EnvADTestsOU holds the DN of an empty organisational unit
	// (OU=dirsync-tests,DC=example,DC=com) in which tests create their own
	// sub-OUs. The DC lives until the script stops it: tests share it, so
	// each should use a unique sub-OU.
	EnvADTestsOU = "DIRSYNC_TEST_AD_TESTS_OU"
)

// Addr returns the value of the environment variable envVar, one of the Env
// constants. When it is unset or empty, Addr skips the test, or fails it when
// the environment variable CI is "true".
func Addr(t testing.TB, envVar string) string {
	t.Helper()
	if v := os.Getenv(envVar); v != "" {
		return v
	}
	msg := envVar + " is not set: run the tests through `make test` (scripts/testenv.sh starts the servers)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so a missing test server is a failure", msg)
	} else {
		t.Skipf("%s", msg)
	}
	return "" // not reached with a real testing.TB: Fatalf and Skipf stop the test
}
