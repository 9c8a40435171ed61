// Package sqlite is the embedded store backend: one SQLite file, opened with the
// pure-Go driver modernc.org/sqlite so dirsync builds without cgo.
//
// Writes from this process are serialised by a mutex and run in BEGIN IMMEDIATE
// transactions; the busy timeout covers writers in other processes (an admin
// CLI on the same file).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"

	// Registers the "sqlite" database/sql driver.
	_ "modernc.org/sqlite"
)

// busyTimeout is how long a statement waits for another connection's lock
// before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// actionAddDomain is the audit action AddDomain records. store.Action has no
// constant for it because Apply never carries it.
const actionAddDomain = store.ActionAddDomain

// Store is a store.Store kept in one SQLite database file.
type Store struct {
	db  *sql.DB
	log *zap.Logger
	// writeMu serialises this process's writers so they queue in Go rather than
	// spin in SQLite's busy handler.
	writeMu sync.Mutex
}

var _ store.Store = (*Store)(nil)

// querier is what *sql.DB and *sql.Tx have in common, so read helpers serve
// both Apply (inside its transaction) and the read methods.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open opens (creating if needed) the database at path and applies any
// migrations it has not seen yet. A nil log discards logging.
func Open(path string, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("sqlite").With(zap.String("path", path))
	dsn, err := dataSourceName(path, false)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	ctx := context.Background()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	if err := migrate(ctx, db, migrationFiles, log); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	return &Store{db: db, log: log}, nil
}

// OpenReadOnly opens an existing store for reading only (dry runs): no migration
// runs and no row can be written. A store that still needs a migration is refused,
// since this build's queries expect the new schema.
func OpenReadOnly(path string, log *zap.Logger) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	dsn, err := dataSourceName(path, true)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	migrations, err := loadMigrations(migrationFiles)
	if err != nil {
		db.Close()
		return nil, err
	}
	var have int
	err = db.QueryRowContext(context.Background(), `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite open %s read-only: %w", path, err)
	}
	if want := migrations[len(migrations)-1].version; have < want {
		db.Close()
		return nil, fmt.Errorf("sqlite open %s read-only: the store is at schema version %d and this build needs %d: run once without --dry-run to migrate it", path, have, want)
	}
	return &Store{db: db, log: log.Named("sqlite").With(zap.String("path", path))}, nil
}

// dataSourceName builds a file: URI so that a path containing '?' or '#' is not
// mistaken for the start of the parameters. Pragmas go in the DSN because
// database/sql opens connections on its own and each needs them.
func dataSourceName(path string, readOnly bool) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite path %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// NORMAL is durable across application crashes in WAL mode; only a power
	// loss can drop the last commits, which the next sync run repairs.
	q.Add("_pragma", "synchronous(NORMAL)")
	// IMMEDIATE takes the write lock at BEGIN: a deferred transaction that
	// upgrades from read to write fails at once with SQLITE_BUSY when another
	// writer got there first, without waiting for the busy timeout. Read-only
	// transactions still begin deferred.
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("mode", "ro")
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String(), nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlite close: %w", err)
	}
	return nil
}

// Domains lists the internal domains, sorted.
func (s *Store) Domains(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM domains ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite domains: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("sqlite domains: %w", err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite domains: %w", err)
	}
	return out, nil
}

// AddDomain registers an internal domain; adding an existing one is a no-op and
// leaves no audit entry.
func (s *Store) AddDomain(ctx context.Context, name string, actor store.Actor) error {
	domain, err := mailaddr.NormalizeDomain(name)
	if err != nil {
		return fmt.Errorf("sqlite add domain: %w: %w", store.ErrInvalid, err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite add domain %s: %w", domain, err)
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO domains (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		domain, now.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite add domain %s: %w", domain, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite add domain %s: %w", domain, err)
	}
	if n == 0 {
		return nil
	}
	entry := store.AuditEntry{
		Time:    now,
		Actor:   actor,
		Action:  actionAddDomain,
		Address: domain,
		Changes: []store.FieldChange{{Field: "domain", After: domain}},
	}
	if err := writeAudit(ctx, tx, entry); err != nil {
		return fmt.Errorf("sqlite add domain %s: %w", domain, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite add domain %s: %w", domain, err)
	}
	s.log.Info("domain added", zap.String("domain", domain), zap.String("actor", actor.Name))
	return nil
}

// isInternal reports whether domain is registered.
func isInternal(ctx context.Context, q querier, domain string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM domains WHERE name = ?`, domain).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite domain %s: %w", domain, err)
	}
	return true, nil
}
