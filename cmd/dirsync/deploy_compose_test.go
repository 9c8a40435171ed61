package main

// deploy/docker/compose.yaml and the configuration it mounts (see deploy_manifests_test.go).

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/file"
	"github.com/dirsync/dirsync/connectors/registry"
)

// composeFile is the part of a compose file the test reads.
type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Secrets     []string          `yaml:"secrets"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// TestComposeConfig checks deploy/docker/compose.yaml and the configuration it
// mounts: the files land where dirsync.yaml reads them, the secrets it names
// are the service's, the backends are healthy before dirsync starts.
func TestComposeConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(dockerDir, "compose.yaml"))
	require.NoError(t, err)
	var cf composeFile
	require.NoError(t, yaml.Unmarshal(raw, &cf))
	svc, ok := cf.Services["dirsync"]
	require.True(t, ok, "a dirsync service")

	// The image is built from the repository root with the Dockerfile.
	require.NotNil(t, svc.Build)
	_, err = os.Stat(filepath.Join(dockerDir, svc.Build.Context, svc.Build.Dockerfile))
	require.NoError(t, err, "build context + dockerfile")
	_, err = os.Stat(filepath.Join(dockerDir, svc.Build.Context, "go.mod"))
	require.NoError(t, err, "the build context is the module's root")

	// The backends are healthy first.
	require.NotEmpty(t, svc.DependsOn)
	for dep, cond := range svc.DependsOn {
		require.Equal(t, "service_healthy", cond.Condition, "depends_on %s", dep)
		d, ok := cf.Services[dep]
		require.True(t, ok, "depends_on %s: no such service", dep)
		require.True(t, d.Healthcheck != nil && len(d.Healthcheck.Test) > 0, "%s has a healthcheck", dep)
	}

	// The container's /etc/dirsync, rebuilt from the bind mounts.
	etc := t.TempDir()
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		require.GreaterOrEqual(t, len(parts), 2, "volume %q", v)
		src, dst := parts[0], parts[1]
		rel, ok := strings.CutPrefix(dst, "/etc/dirsync/")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dockerDir, src))
		require.NoError(t, err, "volume %q: the mounted file", v)
		require.NoError(t, os.MkdirAll(filepath.Join(etc, filepath.Dir(rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(etc, rel), b, 0o644))
	}
	i := slices.Index(svc.Command, "--config")
	require.True(t, i >= 0 && i+1 < len(svc.Command), "command %v names --config FILE", svc.Command)
	rel, ok := strings.CutPrefix(svc.Command[i+1], "/etc/dirsync/")
	require.True(t, ok, "--config %s lies in /etc/dirsync", svc.Command[i+1])
	cfgPath := filepath.Join(etc, rel)
	cfgRaw, err := os.ReadFile(cfgPath)
	require.NoError(t, err, "--config %s is mounted", svc.Command[i+1])

	cfg, err := config.Load(cfgPath, registry.Builtin())
	require.NoError(t, err, "deploy/docker/dirsync.yaml")
	require.Equal(t, "redis", cfg.State.Backend)
	require.Equal(t, "postgres", cfg.Store.Backend)
	var fileConnectors int
	for _, cc := range cfg.Connectors {
		if fc, ok := cc.Source.(*file.Config); ok {
			fileConnectors++
			_, err := os.Stat(fc.Path)
			require.NoError(t, err, "connector %s reads %s: mount it", cc.Name, fc.Path)
		}
	}
	require.Positive(t, fileConnectors, "a file connector on the bundled sample: `docker compose up` syncs with no directory")

	// Listeners reachable and published.
	published := map[int32]bool{}
	for _, p := range svc.Ports {
		parts := strings.Split(p, ":")
		n, err := strconv.ParseInt(parts[len(parts)-1], 10, 32)
		require.NoError(t, err, "port %q", p)
		published[int32(n)] = true
	}
	require.True(t, published[listenPort(t, "server.listen", cfg.Server.Listen)], "server.listen is published")
	// Without TLS (tls_terminated_by_proxy), plain HTTP may only reach the
	// Docker host's loopback.
	if !cfg.Server.TLS.Enabled() {
		for _, p := range svc.Ports {
			parts := strings.Split(p, ":")
			if parts[len(parts)-1] == strconv.Itoa(int(listenPort(t, "server.listen", cfg.Server.Listen))) {
				require.True(t, len(parts) == 3 && parts[0] == "127.0.0.1", "port %q: plain HTTP is published on 127.0.0.1 only", p)
			}
		}
	}
	if cfg.Outbound.Policy.Listen != "" {
		require.True(t, published[listenPort(t, "outbound.policy.listen", cfg.Outbound.Policy.Listen)], "outbound.policy.listen is published")
	}

	// Secrets: file:/run/secrets/NAME of the service's own compose secrets;
	// ${NAME} from its environment.
	envs, files := configRefs(t, cfgRaw)
	for _, name := range envs {
		require.Contains(t, svc.Environment, name, "the configuration reads ${%s}: set it in the service's environment", name)
	}
	secretFile := func(name string) string {
		s, ok := cf.Secrets[name]
		require.True(t, ok, "compose secret %s is defined", name)
		b, err := os.ReadFile(filepath.Join(dockerDir, s.File))
		require.NoError(t, err, "compose secret %s", name)
		return strings.TrimRight(string(b), "\r\n")
	}
	require.NotEmpty(t, files)
	for _, f := range files {
		name, ok := strings.CutPrefix(f, "/run/secrets/")
		require.True(t, ok, "file:%s: compose mounts secrets in /run/secrets", f)
		require.Contains(t, svc.Secrets, name, "file:%s: list %s in the dirsync service's secrets", f, name)
		require.NotEmpty(t, secretFile(name))
	}

	// The store's connection string reaches the compose PostgreSQL with its password.
	dsn, err := url.Parse(secretFile("store_dsn"))
	require.NoError(t, err, "store_dsn is a postgres:// URL")
	require.Contains(t, cf.Services, dsn.Hostname(), "store_dsn's host is a compose service")
	pw, _ := dsn.User.Password()
	require.Equal(t, secretFile("postgres_password"), pw, "store_dsn's password is postgres_password's")
	for _, a := range cfg.State.Redis.Addrs {
		host, _, err := net.SplitHostPort(a)
		require.NoError(t, err)
		require.Contains(t, cf.Services, host, "state.redis.addrs %s is a compose service", a)
	}
}
