// Package testenv gives integration tests the addresses of the real servers
// that scripts/testenv.sh starts on loopback (Redis, OpenLDAP, PostgreSQL).
//
// The script writes the addresses to .testenv/env.sh; `scripts/testenv.sh run
// -- go test ./...` (what `make test` runs) exports them for the tests. A test
// asks for each address with Addr: outside CI a missing variable skips the
// test, so `go test ./...` on a bare machine still passes the unit tests; under
// CI=true it fails the test, because there a missing server is a broken
// pipeline, not a developer's shortcut (DESIGN.md, convention 10).
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
