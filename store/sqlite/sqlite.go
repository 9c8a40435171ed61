// Package sqlite is the embedded store backend: one SQLite file, opened with the
// pure-Go driver modernc.org/sqlite so dirsync builds without cgo.
//
// The store's logic is store/sqlstore's; this package supplies the driver, the
// schema, the dialect, the set-based insert of sqlstore's batched create path
// (bulk.go) and the write locking: writes from this process are
// serialised by a mutex and run in BEGIN IMMEDIATE transactions; the busy
// timeout covers writers in other processes (an admin CLI on the same file).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlstore"
)

// busyTimeout is how long a statement waits for another connection's lock
// before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// migrationFiles holds the schema history (see sqlstore.Migration).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is a store.Store kept in one SQLite database file.
type Store struct {
	*sqlstore.Store
	c *conn
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and applies any
// migrations it has not seen yet. A nil log discards logging.
func Open(path string, log *zap.Logger) (*Store, error) {
	s, err := open(path, false, log)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(context.Background(), migrationFiles); err != nil {
		_ = s.c.db.Close() // the migration's error is the one to report
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	return s, nil
}

// OpenReadOnly opens an existing store for reading only (dry runs): no migration
// runs and no row can be written. A store that still needs a migration is refused,
// since this build's queries expect the new schema.
func OpenReadOnly(path string, log *zap.Logger) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	s, err := open(path, true, log)
	if err != nil {
		return nil, err
	}
	if err := s.CheckVersion(context.Background(), migrationFiles); err != nil {
		_ = s.c.db.Close() // the version check's error is the one to report
		return nil, fmt.Errorf("sqlite open %s read-only: %w", path, err)
	}
	return s, nil
}

func open(path string, readOnly bool, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	dsn, err := dataSourceName(path, readOnly)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err == nil {
		if err = db.PingContext(context.Background()); err != nil {
			_ = db.Close() // the ping's error is the one to report
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	return newStore(db, log.Named("sqlite").With(zap.String("path", path))), nil
}

func newStore(db *sql.DB, log *zap.Logger) *Store {
	c := &conn{db: db, bulk: true}
	return &Store{Store: sqlstore.New(c, dialect, log), c: c}
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
	// writer got there first, without waiting for the busy timeout.
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("mode", "ro")
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String(), nil
}
