package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dirsync/dirsync/store"
)

// Import executes a CSV import in one transaction: the first refused change
// or password rolls back everything. It takes the writers' lock like Apply,
// so it cannot interleave with a sync.
func (s *Store) Import(ctx context.Context, req store.ImportRequest) ([]store.Outcome, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres import: %w", err)
	}
	defer rollback(ctx, tx)
	domains, err := startWrite(ctx, tx, nil)
	if err != nil {
		return nil, err
	}
	a := &applier{tx: tx, actor: req.Actor, now: timestamp(), domains: domains}
	out := make([]store.Outcome, len(req.Changes))
	for i, ch := range req.Changes {
		o, err := a.applyOne(ctx, ch)
		if err != nil {
			return nil, err
		}
		if o.Err != nil {
			return nil, &store.ImportError{Index: i, Err: o.Err}
		}
		out[i] = o
	}
	for i, p := range req.Passwords {
		if err := importPassword(ctx, tx, p, req.Actor, a.now); err != nil {
			if err = classify(err); isRefusal(err) {
				return nil, &store.ImportError{Index: i, Password: true, Err: err}
			}
			return nil, fmt.Errorf("postgres import password of %s: %w", p.Address, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres import commit: %w", err)
	}
	return out, nil
}

// importPassword is SetPassword inside the import's transaction.
func importPassword(ctx context.Context, tx pgx.Tx, p store.PasswordChange, actor store.Actor, at time.Time) error {
	a, err := loadAccount(ctx, tx, p.Address, true)
	if err != nil {
		return err
	}
	hash := p.Hash
	if hash == "" {
		if hash = a.PasswordHash; hash == "" {
			return fmt.Errorf("%w: %s has no password to keep; give one", store.ErrInvalid, a.Address)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE objects SET password_hash = $1, force_change = $2 WHERE id = $3`,
		hash, p.ForceChange, a.id); err != nil {
		return err
	}
	var c changes
	if p.Hash != "" {
		c.secret(store.AuditPassword, a.PasswordHash, hash)
	}
	c.value(store.AuditForceChange, a.Account.ForceChange, p.ForceChange)
	return auditAt(ctx, tx, at, actor, store.ActionSetPassword, a.Address, c, "CSV import")
}
