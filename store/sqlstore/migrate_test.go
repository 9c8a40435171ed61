package sqlstore

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for _, fsys := range []fstest.MapFS{
		{"migrations/init.sql": {Data: []byte("SELECT 1;")}},
		{"migrations/0001_a.sql": {Data: []byte("SELECT 1;")}, "migrations/1_b.sql": {Data: []byte("SELECT 1;")}},
		{},
	} {
		_, err := LoadMigrations(fsys)
		require.Error(t, err)
	}
}

func TestLoadMigrationsOrdersByVersion(t *testing.T) {
	ms, err := LoadMigrations(fstest.MapFS{
		"migrations/0010_c.sql": {Data: []byte("C")},
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
	})
	require.NoError(t, err)
	require.Equal(t, []Migration{{1, "0001_a.sql", "A"}, {2, "0002_b.sql", "B"}, {10, "0010_c.sql", "C"}}, ms)
}
