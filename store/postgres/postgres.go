// Package postgres is the PostgreSQL store backend, for deployments that run
// several dirsync processes (or an admin API) against one shared store, or that
// want the store in the database they already back up.
//
// The store's logic is store/sqlstore's, checked by the conformance suite
// (store/storetest) as store/sqlite's is; this package supplies the driver,
// the schema, the dialect, the locking and a batched path for runs of creates
// (bulk.go).
//
// It talks to the server with pgx through a pgxpool.Pool rather than
// database/sql: pgx batches (several statements in one round trip), array
// parameters (= ANY($1), unnest) and a per-connection prepared-statement cache
// are what turn an apply request of 500 creates into a handful of round trips
// instead of thousands; pgxpool bounds the connections and health-checks them.
//
// Writers (Apply, Import, AddDomain) take one transaction-scoped advisory lock
// per schema, so they are serialised as SQLite's BEGIN IMMEDIATE serialises
// them: every check-then-write in Apply sees the rows it checked. Account
// writes lock the user's row instead, and readers are never blocked (MVCC).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlstore"
)

// migrationFiles holds the schema history (see sqlstore.Migration).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrNoSchema is returned by OpenReadOnly when the database has never been
// migrated by dirsync: there is no store to read yet.
var ErrNoSchema = errors.New("the database holds no dirsync store yet")

// Store is a store.Store kept in a PostgreSQL database.
type Store struct {
	*sqlstore.Store
	c *conn
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or key=value
// string; search_path may select a schema) and applies any migrations it has
// not seen yet. A nil log discards logging.
func Open(ctx context.Context, dsn string, log *zap.Logger) (*Store, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg, log)
}

// OpenConfig is Open with a parsed pool configuration, for callers (tests) that
// set runtime parameters such as search_path themselves.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config, log *zap.Logger) (*Store, error) {
	s, err := connect(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx, migrationFiles); err != nil {
		s.c.pool.Close()
		return nil, fmt.Errorf("postgres open %s: %w", where(cfg), err)
	}
	return s, nil
}

// OpenReadOnly opens an existing store for reading only (dry runs). Every
// connection starts with default_transaction_read_only on, so the server itself
// refuses any write (SQLSTATE 25006), and no migration runs. A database that
// was never migrated returns ErrNoSchema; one that needs a migration is refused,
// since this build's queries expect the new schema.
func OpenReadOnly(ctx context.Context, dsn string, log *zap.Logger) (*Store, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return OpenConfigReadOnly(ctx, cfg, log)
}

// OpenConfigReadOnly is OpenReadOnly with a parsed pool configuration.
func OpenConfigReadOnly(ctx context.Context, cfg *pgxpool.Config, log *zap.Logger) (*Store, error) {
	cfg = cfg.Copy()
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	s, err := connect(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	err = s.CheckVersion(ctx, migrationFiles)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		err = ErrNoSchema
	}
	if err != nil {
		s.c.pool.Close()
		return nil, fmt.Errorf("postgres open %s read-only: %w", where(cfg), err)
	}
	return s, nil
}

// parseDSN parses a connection string without ever showing it: it may hold a
// password, and pgx's own parse errors only redact it on a best-effort basis,
// so the error says what is wrong in words and leaves the value out.
func parseDSN(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w: the connection string does not parse as a postgres:// URL or key=value list "+
			"(its value is not shown: it may hold a password)", store.ErrInvalid)
	}
	return cfg, nil
}

// Describe names the server and database a connection string points at
// (host:port/database), never its password: for messages such as config check's.
func Describe(dsn string) (string, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return "", err
	}
	return where(cfg), nil
}

// where names the server and database for errors and logs, never credentials.
func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

func connect(ctx context.Context, cfg *pgxpool.Config, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("postgres open %s: %w", where(cfg), err)
	}
	return newStore(pool, log.Named("postgres").With(zap.String("server", where(cfg)))), nil
}

func newStore(pool *pgxpool.Pool, log *zap.Logger) *Store {
	c := &conn{pool: pool, log: log, bulk: true}
	return &Store{Store: sqlstore.New(c, dialect, log), c: c}
}

// Apply is sqlstore's, followed by a refresh of the planner's statistics when
// bulk creates have grown the tables enough (see maybeAnalyze).
func (s *Store) Apply(ctx context.Context, req store.ApplyRequest) ([]store.Outcome, error) {
	out, err := s.Store.Apply(ctx, req)
	if err == nil {
		s.c.maybeAnalyze(ctx)
	}
	return out, err
}
