package sqlite

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/store"
)

// adminPermissions is the Administrator role's permissions as stored (a JSON
// array), not as Roles cleans them up.
func adminPermissions(t *testing.T, s *Store) string {
	t.Helper()
	var perms string
	require.NoError(t, s.c.db.QueryRowContext(t.Context(), `SELECT permissions FROM roles WHERE name = 'Administrator'`).Scan(&perms))
	return perms
}

// TestConsolePermissionMigration opens a store made before "console" existed:
// migrated up to 0003, its Administrator role without the permission, as
// the builds of that time seeded it. Opening it adds the permission to
// Administrator only, keeping the stored list sorted.
func TestConsolePermissionMigration(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dirsync.db")
	old := shippedMigrations(t)
	delete(old, "migrations/0004_console.sql")
	s, err := open(path, false, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx, old))
	_, err = s.c.db.ExecContext(ctx, `UPDATE roles SET permissions = (
		SELECT json_group_array(value ORDER BY value) FROM json_each(roles.permissions) WHERE value <> 'console')`)
	require.NoError(t, err)
	require.NotContains(t, adminPermissions(t, s), `"console"`)
	rolesBefore, err := s.Roles(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = Open(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, versions(t, s))
	want := slices.Sorted(slices.Values(store.Permissions))
	require.Equal(t, jsonArray(want), adminPermissions(t, s), "sorted, every permission once")
	roles, err := s.Roles(ctx)
	require.NoError(t, err)
	require.Len(t, roles, len(rolesBefore))
	for i, r := range roles {
		if r.Name == "Administrator" {
			require.Equal(t, want, r.Permissions)
			continue
		}
		require.Equal(t, rolesBefore[i], r, "only Administrator changes")
	}
}

// TestConsolePermissionNewStore: a new store seeds Administrator with
// "console" (0002), and 0004 does not add it a second time.
func TestConsolePermissionNewStore(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "dirsync.db"), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, jsonArray(slices.Sorted(slices.Values(store.Permissions))), adminPermissions(t, s))
}
