package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

func TestHoldsMaxAge(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       time.Duration
	}{
		{name: "default, a week", want: 168 * time.Hour},
		{name: "set", yaml: "holds: {max_age: 72h}\n", want: 72 * time.Hour},
		{name: "never", yaml: "holds: {max_age: 0s}\n", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "dirsync.yaml")
			require.NoError(t, os.WriteFile(f, []byte(tt.yaml+"connectors:\n  - {name: a, type: file, config: {path: a.ldif}}\n"), 0o600))
			cfg, err := config.Load(f, registry.Builtin())
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg.Holds.MaxAge)
		})
	}
}
