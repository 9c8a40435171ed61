package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/dirsync/dirsync/store/sqlstore"
)

// conn is the sqlstore.Conn of a database/sql handle on SQLite. Every
// transaction is a writer: BEGIN IMMEDIATE (the DSN's _txlock) takes the
// database's write lock, which excludes other processes, and writeMu queues
// this process's writers in Go rather than in SQLite's busy handler. That
// covers every Lock the core asks for, so no row needs locking.
type conn struct {
	db      *sql.DB
	writeMu sync.Mutex
	// bulk enables the batched path for runs of creates; tests turn it off to
	// compare it with the one-change-at-a-time path.
	bulk bool
}

var (
	_ sqlstore.Conn        = (*conn)(nil)
	_ sqlstore.BulkCreator = (*conn)(nil)
)

// Exec runs a write outside a transaction, queued like the others.
func (c *conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return rowsAffected(c.db.ExecContext(ctx, query, args...))
}

// Query reads outside a transaction.
func (c *conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return wrapRows(c.db.QueryContext(ctx, query, args...))
}

// QueryRow reads one row outside a transaction.
func (c *conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return c.db.QueryRowContext(ctx, query, args...)
}

// Begin starts a write transaction, whatever lock asks for.
func (c *conn) Begin(ctx context.Context, _ sqlstore.Lock) (sqlstore.Tx, error) {
	c.writeMu.Lock()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		c.writeMu.Unlock()
		return nil, err
	}
	return &txn{tx: tx, stmts: map[string]*sql.Stmt{}, unlock: c.writeMu.Unlock}, nil
}

// Close closes the database.
func (c *conn) Close() error { return c.db.Close() }

// txn is a transaction that prepares each distinct statement once. An Apply
// request runs the same dozen statements for each of up to hundreds of changes,
// and preparing them anew every time was a third of the cost of an initial sync.
type txn struct {
	tx     *sql.Tx
	stmts  map[string]*sql.Stmt
	unlock func() // releases writeMu; nil once the transaction ended
}

func (t *txn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := t.stmts[query]; ok {
		return s, nil
	}
	s, err := t.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = s
	return s, nil
}

// Exec runs a statement in the transaction.
func (t *txn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	return rowsAffected(s.ExecContext(ctx, args...))
}

// Query reads in the transaction.
func (t *txn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return wrapRows(s.QueryContext(ctx, args...))
}

// QueryRow runs a statement that does not prepare unprepared, so its error
// reaches the caller through the returned Row.
func (t *txn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// Batch runs the statements one after the other: in-process, a round trip
// costs nothing.
func (t *txn) Batch(ctx context.Context, stmts ...sqlstore.Stmt) error {
	for _, st := range stmts {
		var err error
		if st.Scan == nil {
			_, err = t.Exec(ctx, st.SQL, st.Args...)
		} else {
			err = eachRow(t.Query(ctx, st.SQL, st.Args...))(st.Scan)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Commit commits the transaction and releases the write lock.
func (t *txn) Commit(context.Context) error {
	defer t.end()
	return t.tx.Commit()
}

// Rollback ends the transaction unless it was committed.
func (t *txn) Rollback(context.Context) {
	defer t.end()
	_ = t.tx.Rollback()
}

// end releases the write lock once.
func (t *txn) end() {
	if t.unlock != nil {
		t.unlock()
		t.unlock = nil
	}
}

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// rows adapts *sql.Rows to sqlstore.Rows.
type rows struct{ *sql.Rows }

// Close closes the result set.
func (r rows) Close() { _ = r.Rows.Close() }

func wrapRows(r *sql.Rows, err error) (sqlstore.Rows, error) {
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

// eachRow returns a function that calls fn for each row.
func eachRow(r sqlstore.Rows, err error) func(fn func(sqlstore.Row) error) error {
	return func(fn func(sqlstore.Row) error) error {
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			if err := fn(r); err != nil {
				return err
			}
		}
		return r.Err()
	}
}
