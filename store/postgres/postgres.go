// Package postgres is the PostgreSQL store backend, for deployments that run
// several dirsync processes (or an admin API) against one shared store, or that
// want the store in the database they already back up.
//
// It talks to the server with pgx through a pgxpool.Pool rather than
// database/sql: pgx batches (several statements in one round trip), array
// parameters (= ANY($1), unnest) and a per-connection prepared-statement cache
// are what turn an apply request of 500 creates into a handful of round trips
// instead of thousands; pgxpool bounds the connections and health-checks them.
//
// The semantics are store/sqlite's, checked by the same conformance suite
// (store/storetest). Writers take one transaction-scoped advisory lock per
// schema, so they are serialised as SQLite's BEGIN IMMEDIATE serialises them:
// every check-then-write in Apply sees the rows it checked. Readers are never
// blocked (MVCC).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// Advisory lock class ids (the first key of pg_advisory_xact_lock(int, int)); the
// second key is hashtext(current_schema()), so stores in different schemas of one
// database do not wait for each other.
const (
	lockMigrate = 0x64697231 // "dir1"
	lockWrite   = 0x64697232 // "dir2"
)

// lockSQL takes an advisory lock ($1 is lockMigrate or lockWrite) held until
// the transaction ends.
const lockSQL = `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`

// ErrNoSchema is returned by OpenReadOnly when the database has never been
// migrated by dirsync: there is no store to read yet.
var ErrNoSchema = errors.New("the database holds no dirsync store yet")

// Store is a store.Store kept in a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	log  *zap.Logger
	// bulk enables the batched path for runs of creates; tests turn it off to
	// compare it with the one-change-at-a-time path.
	bulk bool
	// Rows created in bulk since the planner's statistics were last refreshed,
	// and the objects table's size then (see maybeAnalyze).
	grown, analyzedAt atomic.Int64
	analyzing         atomic.Bool
}

// analyzeMinRows is how many bulk-created objects trigger the first
// statistics refresh of a process.
const analyzeMinRows = 1_000

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
	if err := migrate(ctx, s.pool, migrationFiles, s.log); err != nil {
		s.pool.Close()
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
	if err := checkVersion(ctx, s.pool); err != nil {
		s.pool.Close()
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
	log = log.Named("postgres").With(zap.String("server", where(cfg)))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres open %s: %w", where(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres open %s: %w", where(cfg), err)
	}
	return &Store{pool: pool, log: log, bulk: true}, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Domains lists the internal domains, sorted.
func (s *Store) Domains(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM domains ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres domains: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres domains: %w", err)
	}
	return out, nil
}

// AddDomain registers an internal domain; adding an existing one is a no-op and
// leaves no audit entry.
func (s *Store) AddDomain(ctx context.Context, name string, actor store.Actor) error {
	domain, err := mailaddr.NormalizeDomain(name)
	if err != nil {
		return fmt.Errorf("postgres add domain: %w: %w", store.ErrInvalid, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres add domain %s: %w", domain, err)
	}
	defer rollback(ctx, tx)
	// Under the writers' lock, so an Apply that read the domain list keeps a
	// list that is true until it commits.
	if _, err := tx.Exec(ctx, lockSQL, lockWrite); err != nil {
		return fmt.Errorf("postgres add domain %s: %w", domain, err)
	}
	now := timestamp()
	tag, err := tx.Exec(ctx, `INSERT INTO domains (name, created) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		domain, now)
	if err != nil {
		return fmt.Errorf("postgres add domain %s: %w", domain, err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	entry := store.AuditEntry{
		Time:    now,
		Actor:   actor,
		Action:  store.ActionAddDomain,
		Address: domain,
		Changes: []store.FieldChange{{Field: "domain", After: domain}},
	}
	if err := writeAudit(ctx, tx, entry); err != nil {
		return fmt.Errorf("postgres add domain %s: %w", domain, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres add domain %s: %w", domain, err)
	}
	s.log.Info("domain added", zap.String("domain", domain), zap.String("actor", actor.Name))
	return nil
}

// timestamp is now in UTC at the microsecond precision PostgreSQL keeps, so a
// time written and read back compares equal.
func timestamp() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// rollback ends tx if it is still open. It runs even when ctx is cancelled (a
// cancelled rollback would make pgx close the connection instead).
func rollback(ctx context.Context, tx pgx.Tx) {
	_ = tx.Rollback(context.WithoutCancel(ctx))
}

// maybeAnalyze refreshes the planner's statistics of the tables bulk creates
// fill, once they have grown by analyzeMinRows or doubled since the last
// refresh. An initial sync grows them from nothing to 100k rows in seconds,
// long before autovacuum's next look (a minute by default), and with statistics
// that still describe an empty table the planner picks scans whose cost grows
// with the table: per-request pre-checks went from 1 ms to 14 ms over 100k
// creates. ANALYZE samples a bounded number of rows (~50 ms here), and doubling
// keeps it to a handful of runs. It runs after the commit, so a failure (a
// role that does not own the tables only gets a warning) costs nothing but the
// log line.
func (s *Store) maybeAnalyze(ctx context.Context, added int64) {
	if s.grown.Add(added) < max(analyzeMinRows, s.analyzedAt.Load()) || !s.analyzing.CompareAndSwap(false, true) {
		return
	}
	defer s.analyzing.Store(false)
	s.grown.Store(0)
	start := time.Now()
	var rows int64
	_, err := s.pool.Exec(ctx, `ANALYZE objects, addresses`)
	if err == nil {
		err = s.pool.QueryRow(ctx, `SELECT reltuples::bigint FROM pg_class WHERE oid = 'objects'::regclass`).Scan(&rows)
	}
	if err != nil {
		s.log.Warn("refresh planner statistics", zap.Error(err))
		return
	}
	s.analyzedAt.Store(rows)
	s.log.Debug("planner statistics refreshed", zap.Int64("objects", rows), zap.Duration("took", time.Since(start)))
}
