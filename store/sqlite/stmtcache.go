package sqlite

import (
	"context"
	"database/sql"
)

// cachedTx is a transaction that prepares each distinct statement once. An Apply
// request runs the same dozen statements for each of up to hundreds of changes, and
// preparing them anew every time was a third of the cost of an initial sync.
type cachedTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

var _ querier = (*cachedTx)(nil)

func newCachedTx(tx *sql.Tx) *cachedTx {
	return &cachedTx{tx: tx, stmts: map[string]*sql.Stmt{}}
}

func (c *cachedTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	s, err := c.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

// ExecContext implements querier.
func (c *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// QueryContext implements querier.
func (c *cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// QueryRowContext implements querier. A statement that does not prepare is run
// unprepared, so its error reaches the caller through the returned Row.
func (c *cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return c.tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}
