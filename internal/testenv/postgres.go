package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresSchemaDSN creates an empty schema of its own for one test (the
// test server is shared by every checkout and package on the machine) and
// returns a DSN whose connections use it (search_path); the schema is dropped
// when the test ends. It skips or fails like Addr when the server is not
// configured.
func PostgresSchemaDSN(t testing.TB) string {
	t.Helper()
	dsn := Addr(t, EnvPostgresDSN)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	schema := "dirsync_test_" + hex.EncodeToString(suffix)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("postgres %s: %v", EnvPostgresDSN, err)
	}
	defer func() { _ = admin.Close(ctx) }() // the schema is made (or the test failed); a failed goodbye loses nothing
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer func() { _ = conn.Close(ctx) }() // the DROP's own error is what counts
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("postgres %s: %v", EnvPostgresDSN, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresSchema is PostgresSchemaDSN as a pool configuration.
func PostgresSchema(t testing.TB) *pgxpool.Config {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(PostgresSchemaDSN(t))
	if err != nil {
		t.Fatalf("postgres %s: %v", EnvPostgresDSN, err)
	}
	return cfg
}
