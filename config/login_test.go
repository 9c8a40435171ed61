package config_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

func TestLoginLimits(t *testing.T) {
	for _, tc := range []struct {
		name, login string
		want        []string // problems; none: accepted
	}{
		{"defaults", `{}`, nil},
		{"all set", `{max_concurrent_verifications: 2, max_waiting: 10, max_wait: 500ms, per_client_rate: 5.5,
			per_client_burst: 3, per_account_rate: 1, per_account_burst: 2, tracked: 500, trusted_proxies: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32"]}`, nil},
		{"negative", `{max_concurrent_verifications: -1, max_waiting: -1, max_wait: -1s, per_client_rate: -1,
			per_client_burst: -2, per_account_rate: -3, per_account_burst: -4, tracked: -5}`, []string{
			"server.login.max_concurrent_verifications: -1 is out of range",
			"server.login.max_waiting: -1: must not be negative",
			"server.login.max_wait: -1s is out of range",
			"server.login.per_client_rate: -1: must not be negative",
			"server.login.per_client_burst: -2: must not be negative",
			"server.login.per_account_rate: -3: must not be negative",
			"server.login.per_account_burst: -4: must not be negative",
			"server.login.tracked: -5 is out of range",
		}},
		{"too big", `{max_concurrent_verifications: 65, max_wait: 2m, tracked: 50}`, []string{
			"server.login.max_concurrent_verifications: 65 is out of range",
			"server.login.max_wait: 2m0s is out of range",
			"server.login.tracked: 50 is out of range",
		}},
		{"bad proxy", `{trusted_proxies: [10.0.0.0/8, proxy.example.com]}`, []string{
			`server.login.trusted_proxies[1]: "proxy.example.com" is not an address or CIDR`,
		}},
		{"unknown key", `{per_client: 5}`, []string{"per_client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := `server: {login: ` + tc.login + `}
connectors: [{name: a, type: file, config: {path: a.ldif}}]
`
			cfg, err := config.Parse([]byte(raw), t.TempDir(), "t.yaml", registry.Builtin())
			if len(tc.want) == 0 {
				require.NoError(t, err)
				require.NotNil(t, cfg)
				return
			}
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestLoginDefaults(t *testing.T) {
	cfg, err := config.Parse([]byte(`server: {login: {per_client_rate: 600, trusted_proxies: [10.0.0.0/8, 192.0.2.7]}}
connectors: [{name: a, type: file, config: {path: a.ldif}}]
`), t.TempDir(), "t.yaml", registry.Builtin())
	require.NoError(t, err)
	l := cfg.Server.Login.WithDefaults()
	require.Equal(t, config.Login{MaxWaiting: 64, MaxWait: 2 * time.Second, PerClientRate: 600, PerClientBurst: 10,
		PerAccountRate: 10, PerAccountBurst: 10, Tracked: 10000, TrustedProxies: []string{"10.0.0.0/8", "192.0.2.7"}}, l)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}, l.Proxies())
}
