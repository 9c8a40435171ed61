package main_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDryRunThatWouldBeHeldExits3: on a source that went empty, the real run
// is held (exit 3) and so is the dry run before it, which applies nothing.
func TestDryRunThatWouldBeHeldExits3(t *testing.T) {
	dir, cfg := quickstart(t)
	_, res := syncJSON(t, cfg)
	require.Equal(t, 0, res.code, res.stderr)

	only := "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sample-directory.ldif"), []byte(only), 0o644))
	rep, res := syncJSON(t, cfg, "--dry-run")
	require.Equal(t, 3, res.code, "a dry run that would be held exits 3\n%s", res.stderr)
	require.Equal(t, "dry-run", rep.Runs[0].Status)
	require.Contains(t, rep.Runs[0].HoldReason, "refusing to disable anyone")

	res = dirsync(t, "sync", "--config", cfg, "--dry-run")
	require.Equal(t, 3, res.code, "in text too")
	require.Contains(t, res.stdout, "sample: dry-run")
	require.Contains(t, res.stdout, "HELD: ")
}
