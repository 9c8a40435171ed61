package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dirsync/dirsync/config"
)

type withSecret struct {
	Password config.Secret `yaml:"password"`
}

func TestSecretFromEnv(t *testing.T) {
	t.Setenv("DIRSYNC_TEST_SECRET", "s3cr3t-value")
	var v withSecret
	require.NoError(t, yaml.Unmarshal([]byte("password: ${DIRSYNC_TEST_SECRET}"), &v))
	got, err := v.Password.Value()
	require.NoError(t, err)
	require.Equal(t, "s3cr3t-value", got)
	require.Equal(t, "${DIRSYNC_TEST_SECRET}", v.Password.String())
	js, err := json.Marshal(v)
	require.NoError(t, err)
	require.NotContains(t, string(js), "s3cr3t-value")
}

func TestSecretFromRelativeFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pw"), []byte("from-file\n"), 0o600))
	var v withSecret
	require.NoError(t, yaml.Unmarshal([]byte("password: file:pw"), &v))
	v.Password.ResolvePath(dir)
	got, err := v.Password.Value()
	require.NoError(t, err)
	require.Equal(t, "from-file", got)
}

func TestSecretRefusesInlineValueWithoutEchoingIt(t *testing.T) {
	var v withSecret
	err := yaml.Unmarshal([]byte("password: hunter2"), &v)
	require.ErrorIs(t, err, config.ErrInlineSecret)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestSecretUnsetEnvNamesTheVariableNotAValue(t *testing.T) {
	s, err := config.ParseSecret("${DIRSYNC_SURELY_UNSET_VAR}")
	require.NoError(t, err)
	_, err = s.Value()
	require.ErrorContains(t, err, "DIRSYNC_SURELY_UNSET_VAR")
}

func TestSecretFromSystemdCredential(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ldap-bind-password"), []byte("cred-value\n"), 0o600))
	var v withSecret
	require.NoError(t, yaml.Unmarshal([]byte("password: credential:ldap-bind-password"), &v))
	require.Equal(t, "credential:ldap-bind-password", v.Password.String())

	t.Setenv("CREDENTIALS_DIRECTORY", "")
	_, err := v.Password.Value()
	require.ErrorContains(t, err, "$CREDENTIALS_DIRECTORY is not set")
	require.ErrorContains(t, err, "LoadCredential=ldap-bind-password:PATH")

	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	got, err := v.Password.Value()
	require.NoError(t, err)
	require.Equal(t, "cred-value", got)

	for _, bad := range []string{"credential:", "credential:../etc/shadow", "credential:a/b"} {
		_, err := config.ParseSecret(bad)
		require.Error(t, err, bad)
	}
}
