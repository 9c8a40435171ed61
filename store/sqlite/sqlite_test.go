package sqlite

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "dirsync.db"), zaptest.NewLogger(t))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}

// versions lists the recorded migrations, oldest first.
func versions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.c.db.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

// shippedMigrations copies the embedded migrations into a MapFS a test can add to.
func shippedMigrations(t *testing.T) fstest.MapFS {
	t.Helper()
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	require.NoError(t, err)
	out := fstest.MapFS{}
	for _, name := range names {
		data, err := migrationFiles.ReadFile(name)
		require.NoError(t, err)
		out[name] = &fstest.MapFile{Data: data}
	}
	return out
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dirsync.db")
	s, err := Open(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, versions(t, s))
	require.NoError(t, s.AddDomain(t.Context(), "example.com", store.Actor{Kind: "admin", Name: "root"}))
	require.NoError(t, s.Close())

	// Reopening applies nothing and keeps the data.
	s, err = Open(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, versions(t, s))
	domains, err := s.Domains(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"example.com"}, domains)

	// A new migration is applied once, on top of the recorded ones.
	next := shippedMigrations(t)
	next["migrations/0099_extra.sql"] = &fstest.MapFile{Data: []byte(`ALTER TABLE domains ADD COLUMN note TEXT NOT NULL DEFAULT '';`)}
	ctx := context.Background()
	for range 2 {
		require.NoError(t, s.Migrate(ctx, next))
		require.Equal(t, []int{1, 2, 3, 4, 5, 6, 99}, versions(t, s))
	}
	var note string
	require.NoError(t, s.c.db.QueryRowContext(ctx, `SELECT note FROM domains WHERE name = 'example.com'`).Scan(&note))
	require.NoError(t, s.Close())
}

func TestMigrationFailureRollsBack(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "dirsync.db"), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	bad := shippedMigrations(t)
	bad["migrations/0099_bad.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE half (x INTEGER);
			INSERT INTO no_such_table VALUES (1);`)}
	err = s.Migrate(context.Background(), bad)
	require.ErrorContains(t, err, "0099_bad.sql")
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, versions(t, s))
	var n int
	require.NoError(t, s.c.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n))
	require.Zero(t, n, "a failed migration leaves no trace")
}

func TestPragmas(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "dirsync.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"synchronous":  "1",
	} {
		var got string
		require.NoError(t, s.c.db.QueryRow(`PRAGMA `+pragma).Scan(&got))
		require.Equal(t, want, got, pragma)
	}
}

func TestOpenPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?#%", "dirsync.db")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	s, err := Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = os.Stat(path)
	require.NoError(t, err)
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	_, err := OpenReadOnly(path, zaptest.NewLogger(t))
	require.ErrorIs(t, err, os.ErrNotExist, "a missing store is not created")

	rw, err := Open(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.NoError(t, rw.AddDomain(ctx, "example.com", store.Actor{Kind: "system"}))
	require.NoError(t, rw.Close())

	ro, err := OpenReadOnly(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ro.Close()) })
	domains, err := ro.Domains(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"example.com"}, domains)
	require.Error(t, ro.AddDomain(ctx, "example.org", store.Actor{Kind: "system"}), "writes are refused")
}

// TestConformanceOneAtATime runs the suite with the batched create path off, so
// both paths are held to the same behaviour.
func TestConformanceOneAtATime(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return openBulk(t, false)
	})
}

// openBulk opens a fresh store with the batched create path on or off.
func openBulk(t testing.TB, bulk bool) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "dirsync.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	s.c.bulk = bulk
	return s
}

// TestBulkMatchesOneAtATime: the batched path gives the outcomes, objects and
// audit log of the one-at-a-time path (storetest.BulkMatchesOneAtATime).
func TestBulkMatchesOneAtATime(t *testing.T) {
	out := storetest.BulkMatchesOneAtATime(t, func(t *testing.T, bulk bool) store.Store { return openBulk(t, bulk) })
	// SQLite keeps a NUL byte in text.
	require.Equal(t, "applied", out[7])
}
