package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

// TestExamplesLoad loads and validates every shipped example configuration
// (deploy/examples/*.yaml), with every connector type's own settings, so that
// none can rot. They are copied into a temporary folder first, together with
// the one file an example expects a command to have written: the fake Graph's
// certificate (`fakegraph -cert-out data/fakegraph.pem`).
func TestExamplesLoad(t *testing.T) {
	src := filepath.Join("..", "deploy", "examples")
	files, err := filepath.Glob(filepath.Join(src, "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 6, "quickstart, AD, OpenLDAP, Entra, hybrid, the fake Entra")
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Type().IsRegular() {
			raw, err := os.ReadFile(filepath.Join(src, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), raw, 0o644))
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", "fakegraph.pem"), nil, 0o644))
	types := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := config.Load(filepath.Join(dir, filepath.Base(f)), registry.Builtin())
			require.NoError(t, err)
			require.NotEmpty(t, cfg.Connectors)
			for _, c := range cfg.Connectors {
				require.NotNil(t, c.Source, "connector %s has no prepared source config", c.Name)
				types[c.Type] = true
			}
		})
	}
	require.Equal(t, map[string]bool{"file": true, "ldap": true, "entra": true}, types, "every connector type has an example")
}
