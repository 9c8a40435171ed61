package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

func TestGoodFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := config.Load(f, registry.Builtin())
			require.NoError(t, err)
			require.NotEmpty(t, cfg.Connectors)
			for _, c := range cfg.Connectors {
				require.NotNil(t, c.Source, "connector %s has no prepared source config", c.Name)
			}
		})
	}
}

func TestBadFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			var wants []string
			for _, line := range strings.Split(string(raw), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			require.NotEmpty(t, wants, "%s has no '# want:' line", f)
			_, err = config.Load(f, registry.Builtin())
			require.Error(t, err)
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			for _, w := range wants {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestDefaultsAndRelativePaths(t *testing.T) {
	cfg, err := config.Load("testdata/minimal.good.yaml", registry.Builtin())
	require.NoError(t, err)
	dir, err := filepath.Abs("testdata")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "data/state.db"), cfg.State.Path)
	require.Equal(t, filepath.Join(dir, "data/dirsync.db"), cfg.Store.Path)
	require.Equal(t, "info", cfg.Log.Level)
	require.Equal(t, "json", cfg.Log.Format)
	pol := cfg.Connectors[0].Policy
	require.Equal(t, 500, pol.MaxDestructive)
	require.Equal(t, 10.0, pol.MaxDestructivePercent)
	require.Equal(t, 2, pol.MissingRuns)
	require.True(t, pol.SoftMatch)
}

func TestConnectorOverridesOnlyWhatItSets(t *testing.T) {
	cfg, err := config.Load("testdata/full.good.yaml", registry.Builtin())
	require.NoError(t, err)
	c := cfg.Connector("ldif-drop")
	require.NotNil(t, c)
	require.Equal(t, 10, c.Policy.MaxDestructive, "the connector's own value")
	require.Equal(t, 5.0, c.Policy.MaxDestructivePercent, "inherited from the top-level sync section")
	require.Equal(t, 3, c.Policy.MissingRuns)
	require.False(t, c.Policy.SoftMatch)
	require.Equal(t, "/var/lib/dirsync/state.db", cfg.State.Path, "absolute paths stay as written")
	require.True(t, cfg.Connector("csv").Disabled)
}

func TestEmptyFileReportsMissingConnectors(t *testing.T) {
	_, err := config.Parse(nil, t.TempDir(), "empty.yaml", registry.Builtin())
	require.ErrorContains(t, err, "no connector configured")
}

func TestMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), registry.Builtin())
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	require.ErrorContains(t, err, "no such file")
}

func TestRedisState(t *testing.T) {
	cfg, err := config.Load("testdata/redis.good.yaml", registry.Builtin())
	require.NoError(t, err)
	dir, err := filepath.Abs("testdata")
	require.NoError(t, err)
	r := cfg.State.Redis
	require.Equal(t, "redis", cfg.State.Backend)
	require.Equal(t, []string{"redis.example.com:6379"}, r.Addrs)
	require.Equal(t, 2, r.DB)
	require.Equal(t, 3*time.Second, r.Timeout)
	require.Equal(t, 10*time.Second, r.LeaderLease)
	require.Equal(t, time.Minute, r.RunLease)
	require.Equal(t, filepath.Join(dir, "ca.pem"), r.TLS.CAFile, "ca_file is relative to the config file")
	require.Equal(t, "${DIRSYNC_REDIS_PASSWORD}", r.Password.String())
	t.Setenv("DIRSYNC_REDIS_PASSWORD", "pw")
	v, err := r.Password.Value()
	require.NoError(t, err)
	require.Equal(t, "pw", v)
}

func TestOutboundSettings(t *testing.T) {
	cfg, err := config.Load("testdata/minimal.good.yaml", registry.Builtin())
	require.NoError(t, err)
	require.Equal(t, config.Outbound{
		Stream:    config.OutboundStream{Name: "dirsync:senders", Group: "dirsync", ClaimIdle: time.Minute},
		RateLimit: config.OutboundRate{PerDomain: 100, Period: time.Hour},
		SeenSize:  100_000, SeenTTL: 24 * time.Hour, Workers: 4, Queue: 10_000,
	}, cfg.Outbound, "defaults: no policy listener, no stream")

	cfg, err = config.Load("testdata/outbound.good.yaml", registry.Builtin())
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:10040", cfg.Outbound.Policy.Listen)
	require.Equal(t, config.OutboundStream{Enabled: true, Name: "gateway:senders", Group: "dirsync", ClaimIdle: 30 * time.Second}, cfg.Outbound.Stream)
	require.Equal(t, config.OutboundRate{PerDomain: 20, Period: 10 * time.Minute}, cfg.Outbound.RateLimit)
}
