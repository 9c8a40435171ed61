package apiwire_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/sync/runner"
)

// TestSyncsErrors: the runner's errors reach the API as its sentinels, with
// the runner's message (what api.RaisedAs shows the caller).
func TestSyncsErrors(t *testing.T) {
	sb, err := local.Open(filepath.Join(t.TempDir(), "state.db"), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	r := runner.New(t.Context(), nil, sb, nil, zap.NewNop(), runner.Options{})
	s := apiwire.NewSyncs(r)

	_, err = s.Trigger(t.Context(), api.TriggerSync{Connectors: []string{"nope"}})
	require.ErrorIs(t, err, api.ErrUnknownConnector)
	require.ErrorIs(t, err, runner.ErrUnknownConnector)
	require.Equal(t, `unknown connector "nope": configured connectors are []`, api.RaisedAs(err, api.ErrUnknownConnector))

	_, err = s.Run(t.Context(), "no-such-run")
	require.ErrorIs(t, err, api.ErrRunNotFound)
	require.Contains(t, api.RaisedAs(err, api.ErrRunNotFound), "run not found: no-such-run")

	require.NoError(t, r.Wait(context.Background()))
}
