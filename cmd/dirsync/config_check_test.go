package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/daemon"
	"github.com/dirsync/dirsync/internal/testenv"
)

// configCheck runs `dirsync config check` in-process and returns its output and exit code.
func configCheck(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"config", "check"}, args...), &out, &errOut)
	code = exitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

func TestConfigCheckQuickstartNeedsNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dirsync.yaml")
	ldif, err := filepath.Abs("../../deploy/examples/sample-directory.ldif")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, []byte(`
state: {backend: local, path: data/state.db}
store: {backend: sqlite, path: data/dirsync.db}
domains: [example.com]
connectors:
  - name: sample
    type: file
    config: {path: `+ldif+`}
`), 0o600))
	out, _, code := configCheck(t, "--config", cfg)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "ok  configuration")
	require.Contains(t, out, filepath.Join(dir, "data", "state.db")+" does not exist yet; it will be created")
	require.Regexp(t, `ok  connector sample  read .*sample-directory.ldif: \d+ users`, out)
	require.Contains(t, out, "all 4 checks passed")
	_, err = os.Stat(filepath.Join(dir, "data"))
	require.True(t, os.IsNotExist(err), "config check must write nothing, yet it made %s", filepath.Join(dir, "data"))
}

func TestConfigCheckInvalidFileIsAUsageErrorNamingEveryProblem(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
store: {backend: postgres, dsn: "postgres://dirsync:hunter2@db/dirsync"}
connectors:
  - {name: x, type: nope}
`), 0o600))
	out, stderr, code := configCheck(t, "--config", cfg)
	require.Equal(t, exitUsage, code)
	require.Empty(t, out)
	require.Contains(t, stderr, "inline secrets are not allowed")
	require.NotContains(t, stderr, "hunter2")
}

// TestConfigCheckAgainstRealServers checks a multi-replica configuration (Redis
// state, PostgreSQL store, OpenLDAP over LDAPS) against the test servers: every
// check passes; then a wrong bind password, an unset secret, an unreachable
// Redis each fail with the fix named and no secret shown; --offline connects
// to nothing.
func TestConfigCheckAgainstRealServers(t *testing.T) {
	redisAddr := testenv.Addr(t, testenv.EnvRedisAddr)
	dsn := testenv.PostgresSchemaDSN(t)
	ldapsURL := testenv.Addr(t, testenv.EnvLDAPSURL)
	ca := testenv.Addr(t, testenv.EnvLDAPCAFile)
	base := testenv.Addr(t, testenv.EnvLDAPBaseDN)
	bindDN := testenv.Addr(t, testenv.EnvLDAPBindDN)
	password := testenv.Addr(t, testenv.EnvLDAPPassword)

	dir := t.TempDir()
	write := func(redis string) string {
		cfg := filepath.Join(dir, "dirsync.yaml")
		require.NoError(t, os.WriteFile(cfg, []byte(`
state:
  backend: redis
  redis: {addrs: ["`+redis+`"], timeout: 2s}
store: {backend: postgres, dsn: "${CHECK_STORE_DSN}"}
domains: [example.com]
connectors:
  - name: corp
    type: ldap
    ldap:
      preset: openldap
      url: `+ldapsURL+`
      ca_file: `+ca+`
      server_name: 127.0.0.1
      bind_dn: "`+bindDN+`"
      bind_password: ${CHECK_LDAP_PASSWORD}
      base_dns: ["`+base+`"]
      incremental: none
  - name: old
    type: ldap
    disabled: true
    ldap: {preset: openldap, url: "ldap://127.0.0.1:1", base_dns: ["`+base+`"], incremental: none}
`), 0o600))
		return cfg
	}
	cfg := write(redisAddr)
	t.Setenv("CHECK_STORE_DSN", dsn)
	t.Setenv("CHECK_LDAP_PASSWORD", password)

	out, stderr, code := configCheck(t, "--config", cfg)
	require.Equal(t, 0, code, out+stderr)
	require.Regexp(t, `ok\s+secret store.dsn\s+\$\{CHECK_STORE_DSN\} resolved`, out)
	require.Contains(t, out, "${CHECK_LDAP_PASSWORD} resolved (value not shown)")
	require.Contains(t, out, "redis "+redisAddr+" answered PING")
	require.Contains(t, out, "holds no dirsync store yet") // a fresh schema
	require.Regexp(t, `ok\s+connector corp\s+bound to `+ldapsURL, out)
	require.Regexp(t, `skipped\s+connector old\s+disabled: true`, out)
	require.NotContains(t, out+stderr, password)

	// JSON, for scripts.
	out, _, code = configCheck(t, "--config", cfg, "--output", "json")
	require.Equal(t, 0, code)
	var rep checkReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.True(t, rep.OK)
	byName := map[string]daemon.CheckResult{}
	for _, r := range rep.Checks {
		byName[r.Check+" "+r.Name] = r
	}
	require.Equal(t, daemon.CheckOK, byName["connector corp"].Status)
	require.Equal(t, daemon.CheckOK, byName["store postgres"].Status)

	// A wrong bind password: the connector fails, naming the fix, not the value.
	t.Setenv("CHECK_LDAP_PASSWORD", "wrong-"+password)
	out, stderr, code = configCheck(t, "--config", cfg)
	require.Equal(t, exitFailed, code, out)
	require.Regexp(t, `FAILED\s+connector corp\s+.*invalid credentials: check bind_dn and the password behind bind_password`, out)
	require.Contains(t, out, "1 of 7 checks failed")
	require.NotContains(t, out+stderr, password)

	// An unset secret is named by its reference; --offline still resolves secrets
	// but connects to nothing.
	require.NoError(t, os.Unsetenv("CHECK_LDAP_PASSWORD"))
	out, _, code = configCheck(t, "--config", cfg, "--offline")
	require.Equal(t, exitFailed, code, out)
	require.Regexp(t, `FAILED\s+secret connectors\[0\]\.ldap\.bind_password\s+secret \$\{CHECK_LDAP_PASSWORD\}: environment variable is not set`, out)
	require.Regexp(t, `skipped\s+connector corp\s+offline`, out)
	require.Regexp(t, `skipped\s+store postgres\s+offline`, out)

	// An unreachable Redis fails the state check within the timeout.
	t.Setenv("CHECK_LDAP_PASSWORD", password)
	cfg = write("127.0.0.1:1")
	out, _, code = configCheck(t, "--config", cfg, "--timeout", "3s")
	require.Equal(t, exitFailed, code, out)
	require.Regexp(t, `FAILED\s+state redis\s+open state: .*127\.0\.0\.1:1`, out)
	require.Equal(t, 1, strings.Count(out, "FAILED"), out)
}

// A simple bind over plain ldap:// is a configuration error: config check
// --offline reports it (exit 2) with both fixes, until allow_plaintext_bind is set.
func TestConfigCheckOfflineRefusesPlaintextBind(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dirsync.yaml")
	write := func(extra string) {
		require.NoError(t, os.WriteFile(cfg, []byte(`
state: {backend: local, path: state.db}
store: {backend: sqlite, path: dirsync.db}
domains: [example.com]
connectors:
  - name: corp
    type: ldap
    ldap:
      url: ldap://127.0.0.1:1
      bind_dn: cn=dirsync,dc=example,dc=com
      bind_password: ${PLAINTEXT_CHECK_PW}
      preset: openldap
      base_dns: ["dc=example,dc=com"]
`+extra), 0o600))
	}
	t.Setenv("PLAINTEXT_CHECK_PW", "pw")
	write("")
	out, stderr, code := configCheck(t, "--config", cfg, "--offline")
	require.Equal(t, exitUsage, code, out+stderr)
	require.Contains(t, out+stderr, "connectors[0].ldap.url")
	require.Contains(t, out+stderr, "use ldaps:// or start_tls: true; only in a lab, set allow_plaintext_bind: true")

	write("      allow_plaintext_bind: true\n")
	out, stderr, code = configCheck(t, "--config", cfg, "--offline")
	require.Equal(t, 0, code, out+stderr)
}
