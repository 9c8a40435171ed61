package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlstore"
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

// shipped lists the versions of this build's migrations, and returns them as
// a file system that tests can add to.
func shipped(t *testing.T) ([]int32, fstest.MapFS) {
	t.Helper()
	all, err := sqlstore.LoadMigrations(migrationFiles)
	require.NoError(t, err)
	var vs []int32
	fsys := fstest.MapFS{}
	for _, m := range all {
		vs = append(vs, int32(m.Version))
		fsys["migrations/"+m.Name] = &fstest.MapFile{Data: []byte(m.SQL)}
	}
	return vs, fsys
}

func TestMigrations(t *testing.T) {
	cfg := testSchema(t)
	ctx := t.Context()
	want, next := shipped(t)
	s, err := OpenConfig(ctx, cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.Equal(t, want, versions(t, s.c.pool))
	require.NoError(t, s.AddDomain(ctx, "example.com", store.Actor{Kind: "admin", Name: "root"}))
	require.NoError(t, s.Close())

	// Reopening applies nothing and keeps the data.
	s = openTest(t, cfg)
	require.Equal(t, want, versions(t, s.c.pool))
	require.Equal(t, []string{"example.com"}, must(s.Domains(ctx)))

	// A new migration is applied once, on top of the recorded ones.
	next["migrations/0999_extra.sql"] = &fstest.MapFile{Data: []byte(`ALTER TABLE domains ADD COLUMN note text NOT NULL DEFAULT '';`)}
	for range 2 {
		require.NoError(t, s.Migrate(ctx, next))
		require.Equal(t, append(want, 999), versions(t, s.c.pool))
	}
	var note string
	require.NoError(t, s.c.pool.QueryRow(ctx, `SELECT note FROM domains WHERE name = 'example.com'`).Scan(&note))
}

func TestMigrationFailureRollsBack(t *testing.T) {
	s := openTest(t, testSchema(t))
	ctx := t.Context()
	want, bad := shipped(t)
	bad["migrations/0998_ok.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE fine (x integer);`)}
	bad["migrations/0999_bad.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE half (x integer);
			INSERT INTO no_such_table VALUES (1);`)}
	err := s.Migrate(ctx, bad)
	require.ErrorContains(t, err, "0999_bad.sql")
	require.Equal(t, want, versions(t, s.c.pool), "pending migrations apply together or not at all")
	var n int
	require.NoError(t, s.c.pool.QueryRow(ctx,
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
		t.Cleanup(func() { require.NoError(t, stores[i].Close()) })
	}
	want, _ := shipped(t)
	require.Equal(t, want, versions(t, stores[0].c.pool))
}

// TestUpgradeFromInit migrates a store holding data under the first schema
// only: existing objects read back with the account columns' defaults, and
// the new sort columns order by bytes.
func TestUpgradeFromInit(t *testing.T) {
	cfg := testSchema(t)
	ctx := t.Context()
	_, all := shipped(t)
	old := fstest.MapFS{"migrations/0001_init.sql": all["migrations/0001_init.sql"]}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, newStore(pool, zaptest.NewLogger(t)).Migrate(ctx, old))
	_, err = pool.Exec(ctx, `INSERT INTO domains VALUES ('example.com', now());
		INSERT INTO objects (kind, address, surname, origin, created, updated)
			VALUES ('user', 'a@example.com', 'b', 'c1', now(), now()), ('user', 'b@example.com', 'B', 'c1', now(), now());
		INSERT INTO addresses SELECT address, id, false FROM objects`)
	require.NoError(t, err)

	s := openTest(t, cfg)
	u := must(s.User(ctx, "a@example.com"))
	require.Equal(t, store.Account{}, u.Account)
	page, _, err := s.Users(ctx, store.ListQuery{Sort: "surname"})
	require.NoError(t, err)
	require.Equal(t, "b@example.com", page[0].Address, "upper case first: byte order")
	require.Len(t, must(s.Roles(ctx)), len(store.DefaultRoles))
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
	t.Cleanup(func() { require.NoError(t, ro.Close()) })
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
	_, err = rw.c.pool.Exec(ctx, `DELETE FROM schema_migrations`)
	require.NoError(t, err)
	_, err = OpenConfigReadOnly(ctx, cfg, nil)
	want, _ := shipped(t)
	require.ErrorContains(t, err, fmt.Sprintf("schema version 0 and this build needs %d", want[len(want)-1]))
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
