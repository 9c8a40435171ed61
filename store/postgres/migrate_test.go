package postgres

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/store"
)

// versions lists the recorded migrations, oldest first.
func versions(t *testing.T, pool *pgxpool.Pool) []int32 {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	return out
}

func TestMigrations(t *testing.T) {
	cfg := testSchema(t)
	ctx := t.Context()
	s, err := OpenConfig(ctx, cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.Equal(t, []int32{1}, versions(t, s.pool))
	require.NoError(t, s.AddDomain(ctx, "example.com", store.Actor{Kind: "admin", Name: "root"}))
	require.NoError(t, s.Close())

	// Reopening applies nothing and keeps the data.
	s = openTest(t, cfg)
	require.Equal(t, []int32{1}, versions(t, s.pool))
	require.Equal(t, []string{"example.com"}, must(s.Domains(ctx)))

	// A new migration is applied once, on top of the recorded ones.
	initSQL, err := migrationFiles.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	next := fstest.MapFS{
		"migrations/0001_init.sql":  {Data: initSQL},
		"migrations/0002_extra.sql": {Data: []byte(`ALTER TABLE domains ADD COLUMN note text NOT NULL DEFAULT '';`)},
	}
	for range 2 {
		require.NoError(t, migrate(ctx, s.pool, next, zaptest.NewLogger(t)))
		require.Equal(t, []int32{1, 2}, versions(t, s.pool))
	}
	var note string
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT note FROM domains WHERE name = 'example.com'`).Scan(&note))
}

func TestMigrationFailureRollsBack(t *testing.T) {
	s := openTest(t, testSchema(t))
	ctx := t.Context()
	initSQL, err := migrationFiles.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	bad := fstest.MapFS{
		"migrations/0001_init.sql": {Data: initSQL},
		"migrations/0002_ok.sql":   {Data: []byte(`CREATE TABLE fine (x integer);`)},
		"migrations/0003_bad.sql": {Data: []byte(`CREATE TABLE half (x integer);
			INSERT INTO no_such_table VALUES (1);`)},
	}
	err = migrate(ctx, s.pool, bad, zaptest.NewLogger(t))
	require.ErrorContains(t, err, "0003_bad.sql")
	require.Equal(t, []int32{1}, versions(t, s.pool), "pending migrations apply together or not at all")
	var n int
	require.NoError(t, s.pool.QueryRow(ctx,
		`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ('half', 'fine')`).Scan(&n))
	require.Zero(t, n, "a failed migration leaves no trace")
}

// TestConcurrentOpen starts several processes' worth of stores on one new
// schema at once: the advisory lock makes one migrate and the others wait and
// find the work done.
func TestConcurrentOpen(t *testing.T) {
	cfg := testSchema(t)
	const n = 6
	var wg sync.WaitGroup
	stores := make([]*Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = OpenConfig(context.Background(), cfg, nil) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "store %d", i)
		defer stores[i].Close()
	}
	require.Equal(t, []int32{1}, versions(t, stores[0].pool))
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for _, fsys := range []fstest.MapFS{
		{"migrations/init.sql": {Data: []byte("SELECT 1;")}},
		{"migrations/0001_a.sql": {Data: []byte("SELECT 1;")}, "migrations/1_b.sql": {Data: []byte("SELECT 1;")}},
		{},
	} {
		_, err := loadMigrations(fsys)
		require.Error(t, err)
	}
}

func TestOpenReadOnly(t *testing.T) {
	cfg := testSchema(t)
	ctx := t.Context()
	_, err := OpenConfigReadOnly(ctx, cfg, nil)
	require.ErrorIs(t, err, ErrNoSchema, "an empty database is not migrated by a dry run")

	rw := openTest(t, cfg)
	require.NoError(t, rw.AddDomain(ctx, "example.com", store.Actor{Kind: "system"}))
	out, err := rw.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "c1"}, Changes: userCreates(0, 3, false)})
	require.NoError(t, err)
	require.True(t, out[0].Applied)

	ro, err := OpenConfigReadOnly(ctx, cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	defer ro.Close()
	require.Equal(t, []string{"example.com"}, must(ro.Domains(ctx)))
	require.Equal(t, "User 1", must(ro.User(ctx, "user1@example.com")).DisplayName)
	require.Len(t, must(ro.Lookup(ctx, "c1", []string{"A-0", "A-2"}, nil)), 2)

	require.ErrorContains(t, ro.AddDomain(ctx, "example.org", store.Actor{Kind: "system"}), "read-only")
	_, err = ro.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "c1"}, Changes: userCreates(3, 2, false)})
	require.ErrorContains(t, err, "read-only")
	_, err = ro.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "c1"},
		Fence: &store.Fence{Name: "c1", Token: 9}, Changes: userCreates(3, 2, false)})
	require.ErrorContains(t, err, "read-only")
	_, err = rw.User(ctx, "user3@example.com")
	require.ErrorIs(t, err, store.ErrNotFound)

	// A schema older than this build is refused rather than misread.
	_, err = rw.pool.Exec(ctx, `DELETE FROM schema_migrations`)
	require.NoError(t, err)
	_, err = OpenConfigReadOnly(ctx, cfg, nil)
	require.ErrorContains(t, err, "schema version 0 and this build needs 1")
}

func TestDSNNeverInErrors(t *testing.T) {
	const secret = "s3cr3t-pw"
	for _, dsn := range []string{
		"postgres://dirsync:" + secret + "@127.0.0.1:notaport/db",
		"host=127.0.0.1 password=" + secret + " port='unterminated",
		"postgres://dirsync:" + secret + "@127.0.0.1:1/db?connect_timeout=2&sslmode=disable",
	} {
		_, err := Open(context.Background(), dsn, nil)
		require.Error(t, err)
		require.NotContains(t, err.Error(), secret)
		_, err = OpenReadOnly(context.Background(), dsn, nil)
		require.Error(t, err)
		require.NotContains(t, err.Error(), secret)
	}
}
