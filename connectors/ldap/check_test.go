package ldap

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"os"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/connectors"
)

// check runs Check as `dirsync config check` would, through the Source that Open
// returns, and logs what it said.
func check(t *testing.T, cfg *Config) (string, error) {
	t.Helper()
	src, err := cfg.Open("test", zaptest.NewLogger(t))
	require.NoError(t, err)
	checker, ok := src.(connectors.Checker)
	require.True(t, ok, "the ldap source implements connectors.Checker")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	line, err := checker.Check(ctx)
	t.Logf("Check: %q, %v", line, err)
	return line, err
}

// wrongPassword points the config's bind_password at a wrong password.
func wrongPassword(t *testing.T) func(*Config) {
	t.Setenv("WRONG_CHECK_PW", "not-the-check-password")
	return func(c *Config) { c.BindPassword, _ = parseSecret("${WRONG_CHECK_PW}") }
}

func TestCheckOpenLDAP(t *testing.T) {
	srv := openLDAPServer(t)
	people, groups := "ou=people,"+srv.suffix, "ou=groups,"+srv.suffix
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ldaps with ca_file, syncrepl", nil,
			"bound to " + srv.ldapsURL + " as " + srv.bindDN + "; base DN " + people + " readable; syncrepl supported"},
		{"start_tls, two base DNs", func(c *Config) { c.URL, c.StartTLS, c.BaseDNs = srv.url, true, []string{people, groups} },
			"bound to " + srv.url + " (StartTLS) as " + srv.bindDN + "; 2 base DNs readable; syncrepl supported"},
		{"timestamp", func(c *Config) { c.Incremental = ModeTimestamp },
			"bound to " + srv.ldapsURL + " as " + srv.bindDN + "; base DN " + people + " readable; server clock for entryCSN readable"},
		{"no incremental", func(c *Config) { c.Incremental = ModeNone },
			"bound to " + srv.ldapsURL + " as " + srv.bindDN + "; base DN " + people + " readable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, err := check(t, srv.config(t, "openldap", people, tc.edit))
			require.NoError(t, err)
			require.Equal(t, tc.want, line)
			require.NotContains(t, line, mustEnv(t, srv.passwordEnv))
		})
	}
}

func TestCheckOpenLDAPFailuresSayWhatToFix(t *testing.T) {
	srv := openLDAPServer(t)
	people := "ou=people," + srv.suffix
	missing := "ou=no-such-ou," + srv.suffix
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"wrong password", wrongPassword(t), []string{"bind to " + srv.ldapsURL, "invalid credentials", "bind_password"}},
		{"unknown CA", func(c *Config) { c.CAFile = "" }, []string{"connect to " + srv.ldapsURL, "unknown authority", "ca_file"}},
		{"missing base DN", func(c *Config) { c.BaseDNs = []string{people, missing} }, []string{`base DN "` + missing + `"`, "check base_dns[1]"}},
		{"unreachable port", func(c *Config) { c.URL = "ldaps://127.0.0.1:1" }, []string{"connect to ldaps://127.0.0.1:1", "cannot be reached"}},
		{"dirsync on OpenLDAP", func(c *Config) { c.Incremental = ModeDirSync }, []string{"dirsync mode needs Active Directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, err := check(t, srv.config(t, "openldap", people, tc.edit))
			requireCheckFailed(t, line, err, tc.want, mustEnv(t, srv.passwordEnv))
		})
	}
}

func TestCheckAD(t *testing.T) {
	srv, testsOU := adServer(t)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ldaps, dirsync", nil,
			"bound to " + srv.ldapsURL + " as " + srv.bindDN + "; base DN " + testsOU + " readable; DirSync permitted"},
		{"start_tls, usn", func(c *Config) { c.URL, c.StartTLS, c.Incremental = srv.url, true, ModeUSN },
			"bound to " + srv.url + " (StartTLS) as " + srv.bindDN + "; base DN " + testsOU + " readable; uSNChanged tracking available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, err := check(t, srv.config(t, "ad", testsOU, tc.edit))
			require.NoError(t, err)
			require.Equal(t, tc.want, line)
		})
	}
}

func TestCheckADFailuresSayWhatToFix(t *testing.T) {
	srv, testsOU := adServer(t)
	missing := "OU=no-such-ou," + testsOU
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"wrong password", wrongPassword(t), []string{"invalid credentials", "bind_password"}},
		{"missing base DN", func(c *Config) { c.BaseDNs = []string{missing} }, []string{`base DN "` + missing + `"`, "check base_dns[0]"}},
		{"syncrepl on AD", func(c *Config) { c.Incremental = ModeSyncrepl }, []string{"does not list the sync control", "syncprov"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, err := check(t, srv.config(t, "ad", testsOU, tc.edit))
			requireCheckFailed(t, line, err, tc.want, mustEnv(t, srv.passwordEnv))
		})
	}
}

// TestCheckADDirSyncWithoutTheRight binds as an ordinary user, who may read the
// OU but was never granted Replicating Directory Changes.
func TestCheckADDirSyncWithoutTheRight(t *testing.T) {
	srv, d := newADDir(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	pw := "Aa1-" + hex.EncodeToString(b)
	d.addUser("plain", false, map[string][]string{
		"userAccountControl": {"512"}, // NORMAL_ACCOUNT, with the password below
		"unicodePwd":         {unicodePwd(pw)},
	})
	t.Setenv("PLAIN_USER_PW", pw)
	cfg := srv.config(t, "ad", d.base, func(c *Config) {
		c.BindDN = d.userDN("plain")
		c.BindPassword, _ = parseSecret("${PLAIN_USER_PW}")
	})
	line, err := check(t, cfg)
	require.Empty(t, line)
	require.ErrorContains(t, err, `lacks the "Replicating Directory Changes" right`)
	require.ErrorContains(t, err, "grant it")
	require.ErrorContains(t, err, d.userDN("plain"))
	require.NotContains(t, err.Error(), pw)

	// The same account passes with a mode that needs no such right.
	cfg.Incremental = ModeNone
	line, err = check(t, cfg)
	require.NoError(t, err)
	require.Equal(t, "bound to "+srv.ldapsURL+" as "+d.userDN("plain")+"; base DN "+d.base+" readable", line)
}

// unicodePwd is AD's password attribute value: the quoted password in UTF-16LE.
func unicodePwd(pw string) string {
	units := utf16.Encode([]rune(`"` + pw + `"`))
	out := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(out[2*i:], u)
	}
	return string(out)
}

func mustEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	require.NotEmpty(t, v, "%s is set", name)
	return v
}

// requireCheckFailed: Check failed with every wanted phrase and showed neither
// the wrong password the case may have set nor the real one.
func requireCheckFailed(t *testing.T, line string, err error, want []string, password string) {
	t.Helper()
	require.Error(t, err)
	require.Empty(t, line)
	for _, w := range want {
		require.ErrorContains(t, err, w)
	}
	require.NotContains(t, err.Error(), "not-the-check-password")
	require.NotContains(t, err.Error(), password)
}
