package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/store/sqlstore"
)

// Advisory lock class ids (the first key of pg_advisory_xact_lock(int, int)); the
// second key is hashtext(current_schema()), so stores in different schemas of one
// database do not wait for each other.
const (
	lockMigrate = 0x64697231 // "dir1"
	lockWrite   = 0x64697232 // "dir2"
)

// beginLocked begins a transaction and takes an advisory lock held until it
// ends, in one round trip (no parameters: pgx sends it as one simple query).
func beginLocked(class int) string {
	return fmt.Sprintf(`BEGIN; SELECT pg_advisory_xact_lock(%d, hashtext(current_schema()))`, class)
}

// analyzeMinRows is how many bulk-created objects trigger the first
// statistics refresh of a process.
const analyzeMinRows = 1_000

// conn is the sqlstore.Conn of a pgx pool, and a sqlstore.BulkCreator.
type conn struct {
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

var (
	_ sqlstore.Conn        = (*conn)(nil)
	_ sqlstore.BulkCreator = (*conn)(nil)
)

// Exec runs a statement outside a transaction.
func (c *conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.pool.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

// Query reads outside a transaction.
func (c *conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return c.pool.Query(ctx, query, args...)
}

// QueryRow reads one row outside a transaction.
func (c *conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return c.pool.QueryRow(ctx, query, args...)
}

// Begin starts a transaction; writers and migrations take their advisory lock
// with the BEGIN, account writes lock rows (Dialect.RowLocks).
func (c *conn) Begin(ctx context.Context, lock sqlstore.Lock) (sqlstore.Tx, error) {
	var opts pgx.TxOptions
	switch lock {
	case sqlstore.LockWriters:
		opts.BeginQuery = beginLocked(lockWrite)
	case sqlstore.LockMigrate:
		opts.BeginQuery = beginLocked(lockMigrate)
	}
	tx, err := c.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return txn{tx}, nil
}

// Close closes every connection of the pool.
func (c *conn) Close() error {
	c.pool.Close()
	return nil
}

// txn adapts pgx.Tx to sqlstore.Tx.
type txn struct{ tx pgx.Tx }

// Exec runs a statement in the transaction.
func (t txn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

// Query reads in the transaction.
func (t txn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return t.tx.Query(ctx, query, args...)
}

// QueryRow reads one row in the transaction.
func (t txn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return t.tx.QueryRow(ctx, query, args...)
}

// Batch sends the statements in one round trip.
func (t txn) Batch(ctx context.Context, stmts ...sqlstore.Stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, st := range stmts {
		q := b.Queue(st.SQL, st.Args...)
		if scan := st.Scan; scan != nil {
			q.Query(func(rows pgx.Rows) error {
				for rows.Next() {
					if err := scan(rows); err != nil {
						return err
					}
				}
				return rows.Err()
			})
		}
	}
	return t.tx.SendBatch(ctx, b).Close()
}

// Commit commits the transaction.
func (t txn) Commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// Rollback runs even when ctx is cancelled (a cancelled rollback would make
// pgx close the connection instead).
func (t txn) Rollback(ctx context.Context) {
	_ = t.tx.Rollback(context.WithoutCancel(ctx))
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
func (c *conn) maybeAnalyze(ctx context.Context) {
	if c.grown.Load() < max(analyzeMinRows, c.analyzedAt.Load()) || !c.analyzing.CompareAndSwap(false, true) {
		return
	}
	defer c.analyzing.Store(false)
	c.grown.Store(0)
	start := time.Now()
	var rows int64
	_, err := c.pool.Exec(ctx, `ANALYZE objects, addresses`)
	if err == nil {
		err = c.pool.QueryRow(ctx, `SELECT reltuples::bigint FROM pg_class WHERE oid = 'objects'::regclass`).Scan(&rows)
	}
	if err != nil {
		c.log.Warn("refresh planner statistics", zap.Error(err))
		return
	}
	c.analyzedAt.Store(rows)
	c.log.Debug("planner statistics refreshed", zap.Int64("objects", rows), zap.Duration("took", time.Since(start)))
}
