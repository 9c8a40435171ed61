package postgres

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/store"
)

// adminPermissions is the Administrator role's permissions as stored, not as
// Roles cleans them up.
func adminPermissions(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var perms []string
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT permissions FROM roles WHERE name = 'Administrator'`).Scan(&perms))
	return perms
}

// TestConsolePermissionMigration opens a store made before "console" existed:
// migrated up to 0003, its Administrator role without the permission, as
// the builds of that time seeded it. Opening it adds the permission to
// Administrator only, keeping the stored list sorted.
func TestConsolePermissionMigration(t *testing.T) {
	cfg := testSchema(t)
	ctx := t.Context()
	want, all := shipped(t)
	old := fstest.MapFS{}
	for name, f := range all {
		if name != "migrations/0004_console.sql" {
			old[name] = f
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, newStore(pool, zaptest.NewLogger(t)).Migrate(ctx, old))
	_, err = pool.Exec(ctx, `UPDATE roles SET permissions = array_remove(permissions, 'console')`)
	require.NoError(t, err)
	require.NotContains(t, adminPermissions(t, pool), store.PermissionConsole)
	rolesBefore := must(newStore(pool, nil).Roles(ctx))

	s := openTest(t, cfg)
	require.Equal(t, want, versions(t, s.c.pool))
	perms := slices.Sorted(slices.Values(store.Permissions))
	require.Equal(t, perms, adminPermissions(t, pool), "sorted, every permission once")
	roles := must(s.Roles(ctx))
	require.Len(t, roles, len(rolesBefore))
	for i, r := range roles {
		if r.Name == "Administrator" {
			require.Equal(t, perms, r.Permissions)
			continue
		}
		require.Equal(t, rolesBefore[i], r, "only Administrator changes")
	}
}

// TestConsolePermissionNewStore: a new store seeds Administrator with
// "console" (0002), and 0004 does not add it a second time.
func TestConsolePermissionNewStore(t *testing.T) {
	s := openTest(t, testSchema(t))
	require.Equal(t, slices.Sorted(slices.Values(store.Permissions)), adminPermissions(t, s.c.pool))
}
