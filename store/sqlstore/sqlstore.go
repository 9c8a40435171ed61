// Package sqlstore is the one SQL implementation of store.Store that the SQL
// backends share: every rule (the applier, accounts, invitations, tokens,
// listing, the audit log, migrations and role seeding) lives here once, and a
// backend supplies only what truly differs: a Conn (its driver, its write
// locking) and a Dialect (a handful of SQL spellings and value encodings).
//
// The SQL is written once, with $1-style parameters, which both SQLite
// (modernc.org/sqlite reads $N as the Nth argument) and PostgreSQL accept.
// Where the two disagree (lists, times, array parameters, collations) the
// Dialect says how.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// Querier runs statements, on the database or inside a transaction.
type Querier interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow reads one row; its Scan returns an error that errors.Is
	// sql.ErrNoRows when there is none.
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows is a query's result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is one row of a result.
type Row interface {
	Scan(dest ...any) error
}

// Stmt is one statement of a Batch. Scan, when set, is called with each row
// the statement returns.
type Stmt struct {
	SQL  string
	Args []any
	Scan func(Row) error
}

// Tx is a transaction.
type Tx interface {
	Querier
	// Batch runs stmts in order, each seeing the ones before it, in one round
	// trip where the backend can; the first error stops it.
	Batch(ctx context.Context, stmts ...Stmt) error
	Commit(ctx context.Context) error
	// Rollback ends the transaction if it is still open; after Commit it does
	// nothing. It reports no error: a failed rollback leaves nothing
	// committed, and the caller is already returning the error that caused it.
	Rollback(ctx context.Context)
}

// Lock says what a transaction must exclude.
type Lock int

// The transactions the core begins.
const (
	// LockAccount: a write on one user's account. The core locks the user's
	// row (Dialect.RowLocks); a backend may exclude more.
	LockAccount Lock = iota
	// LockWriters: Apply, Import and AddDomain, whose checks (address
	// uniqueness, fences, internal domains) hold only while no other such
	// writer runs: one at a time per store.
	LockWriters
	// LockMigrate: schema migrations, one process at a time.
	LockMigrate
)

// Conn is a backend's connection to its database.
type Conn interface {
	Querier
	// Begin starts a transaction that excludes what lock says.
	Begin(ctx context.Context, lock Lock) (Tx, error)
	Close() error
}

// BulkCreator is an optional capability of a Conn: it inserts runs of
// creates set-based (ApplyBatched), with exactly the outcomes, objects and
// audit entries Applier.ApplyOne would give one change at a time. Bulk says
// whether that path is on (tests turn it off to compare the two).
type BulkCreator interface {
	CreateInserter
	Bulk() bool
}

// Store is a store.Store on a Conn. Backends embed it.
type Store struct {
	conn Conn
	d    *Dialect
	log  *zap.Logger
	// objectColumns and accountColumns are the dialect's spelling of what
	// scanObject and scanAccount read.
	objectColumns, accountColumns string
}

var _ store.Store = (*Store)(nil)

// New returns a store on conn, which it owns (Close closes it).
func New(conn Conn, d *Dialect, log *zap.Logger) *Store {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{conn: conn, d: d, log: log}
	s.accountColumns = `o.registered, o.password_hash <> '', o.force_change, o.locked,
		o.failed_logins, o.last_login, o.last_login_error, o.last_seen, o.default_lead, ` +
		d.ListAgg("r.name", "user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.object_id = o.id")
	s.objectColumns = `o.id, o.kind, o.address, o.display_name, o.given_name, o.surname,
		o.phone, o.department, o.title, o.enabled, o.origin, o.anchor, o.protected, o.licensed, o.directory_admin, o.created, o.updated, ` +
		d.ListAgg("a.address", "addresses a WHERE a.object_id = o.id AND a.is_alias") + `, ` +
		d.ListAgg("m.address", "group_members gm JOIN objects m ON m.id = gm.member_id WHERE gm.group_id = o.id") + `, ` +
		s.accountColumns
	return s
}

// Close closes the connection.
func (s *Store) Close() error {
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("%s close: %w", s.d.Name, err)
	}
	return nil
}

// errorf prefixes an error with the backend's name.
func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf(s.d.Name+" "+format, args...)
}

// now is the store's clock, at the precision its columns keep, so a time
// written and read back compares equal.
func (s *Store) now() time.Time { return s.dbTime(time.Now()) }

// dbTime is t as the backend keeps it.
func (s *Store) dbTime(t time.Time) time.Time { return t.UTC().Truncate(s.d.Precision) }

// inTx runs fn in a transaction that excludes lock and commits it; what names
// the operation for errors and must hold no secret.
func (s *Store) inTx(ctx context.Context, lock Lock, what string, fn func(tx Tx) error) error {
	tx, err := s.conn.Begin(ctx, lock)
	if err != nil {
		return s.errorf("%s: %w", what, err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return s.errorf("%s: %w", what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.errorf("%s: %w", what, err)
	}
	return nil
}

// Domains lists the internal domains, sorted.
func (s *Store) Domains(ctx context.Context) ([]string, error) {
	out, err := collectStrings(s.conn.Query(ctx, `SELECT name FROM domains ORDER BY name`))
	if err != nil {
		return nil, s.errorf("domains: %w", err)
	}
	return out, nil
}

// AddDomain registers an internal domain; adding an existing one is a no-op and
// leaves no audit entry. It runs as a writer, so an Apply that read the domain
// list keeps a list that is true until it commits.
func (s *Store) AddDomain(ctx context.Context, name string, actor store.Actor) error {
	domain, err := mailaddr.NormalizeDomain(name)
	if err != nil {
		return s.errorf("add domain: %w: %w", store.ErrInvalid, err)
	}
	added := false
	err = s.inTx(ctx, LockWriters, "add domain "+domain, func(tx Tx) error {
		now := s.now()
		n, err := tx.Exec(ctx, `INSERT INTO domains (name, created) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			domain, s.d.Time(now))
		if err != nil || n == 0 {
			return err
		}
		added = true
		return s.writeAudit(ctx, tx, store.AuditEntry{Time: now, Actor: actor, Action: store.ActionAddDomain,
			Address: domain, Changes: []store.FieldChange{{Field: "domain", After: domain}}})
	})
	if err == nil && added {
		s.log.Info("domain added", zap.String("domain", domain), zap.String("actor", actor.Name))
	}
	return err
}

// collectStrings reads a one-column result of strings.
func collectStrings(rows Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// eachRow calls fn for each row of rows.
func eachRow(rows Rows, err error, fn func(Row) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// IsRefusal tells a change the store refused (reported in its Outcome) from a
// failure of the database itself.
func IsRefusal(err error) bool {
	for _, target := range []error{store.ErrNotFound, store.ErrConflict, store.ErrNotInternal, store.ErrInvalid} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
