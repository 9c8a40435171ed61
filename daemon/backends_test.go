package daemon

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
)

// TestRegistriesMatchTheConfiguration: every backend name the configuration
// accepts opens here, and nothing here is unreachable from a configuration.
func TestRegistriesMatchTheConfiguration(t *testing.T) {
	require.ElementsMatch(t, config.StateBackends(), slices.Collect(maps.Keys(stateBackends)))
	require.ElementsMatch(t, config.StoreBackends(), slices.Collect(maps.Keys(storeBackends)))
	for name, b := range stateBackends {
		require.NotNil(t, b.open, name)
		require.NotNil(t, b.openReadOnly, name)
		require.NotNil(t, b.check, name)
	}
	for name, b := range storeBackends {
		require.NotNil(t, b.open, name)
		require.NotNil(t, b.openReadOnly, name)
		require.NotNil(t, b.check, name)
	}
}
