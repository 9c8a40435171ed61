package config_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

// TestServerListenNeedsTLSOffLoopback: plaintext is only accepted on loopback,
// unless TLS is on or a TLS-terminating proxy is declared.
func TestServerListenNeedsTLSOffLoopback(t *testing.T) {
	const tls = `, tls: {cert_file: tls.crt, key_file: tls.key}`
	const proxy = `, tls_terminated_by_proxy: true`
	for _, tc := range []struct {
		listen, extra string
		want          string // "" accepted
	}{
		{"127.0.0.1:8080", "", ""},
		{"127.0.0.2:8080", "", ""},
		{"[::1]:8080", "", ""},
		{"localhost:8080", "", ""},
		{"api.localhost:8080", "", ""},
		{"0.0.0.0:8080", "", "listens on every interface"},
		{":8080", "", "listens on every interface"},
		{"[::]:8080", "", "listens on every interface"},
		{"192.168.1.20:8080", "", "listens on a non-loopback address"},
		{"[fe80::1]:8080", "", "listens on a non-loopback address"},
		{"dirsync.invalid:8080", "", "is a host name that does not resolve"},
		{"0.0.0.0:8443", tls, ""},
		{"[::]:8443", tls, ""},
		{"0.0.0.0:8080", proxy, ""},
		{"192.168.1.20:8080", proxy, ""},
	} {
		t.Run(tc.listen+tc.extra, func(t *testing.T) {
			raw := `server: {listen: "` + tc.listen + `"` + tc.extra + `}
connectors: [{name: a, type: file, config: {path: a.ldif}}]
`
			_, err := config.Parse([]byte(raw), t.TempDir(), "t.yaml", registry.Builtin())
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "server.listen: \""+tc.listen+"\" "+tc.want)
			require.ErrorContains(t, err, "set server.tls.cert_file and server.tls.key_file")
			require.ErrorContains(t, err, "set server.tls_terminated_by_proxy: true")
		})
	}
}

func TestServerDefaultsAndTLSPaths(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`server: {listen: ":8443", tls: {cert_file: tls/tls.crt, key_file: /abs/tls.key}, timeouts: {write: 5m}}
connectors: [{name: a, type: file, config: {path: a.ldif}}]
`), dir, "t.yaml", registry.Builtin())
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "tls/tls.crt"), cfg.Server.TLS.CertFile, "relative to the config file")
	require.Equal(t, "/abs/tls.key", cfg.Server.TLS.KeyFile)
	require.Equal(t, config.ServerTimeouts{ReadHeader: 10 * time.Second, Read: time.Minute, Write: 5 * time.Minute, Idle: 2 * time.Minute},
		cfg.Server.Timeouts, "defaults, but what the file sets")
}

func TestServerConsoleTimeouts(t *testing.T) {
	parse := func(console string) (*config.Config, error) {
		return config.Parse([]byte(`server: {console: `+console+`}
connectors: [{name: a, type: file, config: {path: a.ldif}}]
`), t.TempDir(), "t.yaml", registry.Builtin())
	}
	cfg, err := parse(`{}`)
	require.NoError(t, err)
	require.Equal(t, config.Console{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour}, cfg.Server.Console, "the defaults")

	_, err = parse(`{idle_timeout: 0s}`)
	require.ErrorContains(t, err, "server.console.idle_timeout: 0s: use a positive duration")
	_, err = parse(`{idle_timeout: 2h, absolute_timeout: 1h}`)
	require.ErrorContains(t, err, "server.console.absolute_timeout: 1h0m0s is shorter than idle_timeout 2h0m0s")
	cfg, err = parse(`{disabled: true, idle_timeout: 0s}`)
	require.NoError(t, err, "a console that is off has no timeouts to check")
	require.True(t, cfg.Server.Console.Disabled)
}
