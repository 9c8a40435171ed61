package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

func TestSecretsListsEveryReferenceWithItsPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
state:
  backend: redis
  redis: {addrs: ["127.0.0.1:6379"], password: file:redis.pw}
store: {backend: postgres, dsn: "${STORE_DSN}"}
alerts:
  webhook: {url: "${HOOK}", signing_secret: "credential:alert-key"}
connectors:
  - name: corp
    type: ldap
    ldap:
      preset: ad
      url: ldaps://dc1.corp.example
      bind_dn: cn=svc
      bind_password: ${LDAP_PW}
      base_dns: ["dc=corp,dc=example"]
  - name: cloud
    type: entra
    entra: {tenant_id: 00000000-0000-0000-0000-000000000001, client_id: 00000000-0000-0000-0000-000000000002, client_secret: "${ENTRA_SECRET}"}
`), 0o600))
	cfg, err := config.Load(path, registry.Builtin())
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range cfg.Secrets() {
		got[r.Path] = r.Secret.String()
	}
	require.Equal(t, map[string]string{
		"state.redis.password":              "file:" + filepath.Join(dir, "redis.pw"),
		"store.dsn":                         "${STORE_DSN}",
		"alerts.webhook.url":                "${HOOK}",
		"alerts.webhook.signing_secret":     "credential:alert-key",
		"connectors[0].ldap.bind_password":  "${LDAP_PW}",
		"connectors[1].entra.client_secret": "${ENTRA_SECRET}",
	}, got)
}
