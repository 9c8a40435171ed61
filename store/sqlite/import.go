package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/dirsync/dirsync/store"
)

// Import executes a CSV import in one transaction: the first refused change
// or password rolls back everything (no savepoints: nothing is kept).
func (s *Store) Import(ctx context.Context, req store.ImportRequest) ([]store.Outcome, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite import: %w", err)
	}
	defer tx.Rollback()
	a := &applier{tx: newCachedTx(tx), actor: req.Actor, now: time.Now().UTC()}
	out := make([]store.Outcome, len(req.Changes))
	for i, ch := range req.Changes {
		applied, err := a.change(ctx, ch)
		if err != nil {
			if err = constraintAsConflict(err); isRefusal(err) {
				return nil, &store.ImportError{Index: i, Err: err}
			}
			return nil, fmt.Errorf("sqlite import %s %s: %w", ch.Action, ch.Address, err)
		}
		out[i] = store.Outcome{Applied: applied}
	}
	for i, p := range req.Passwords {
		if err := importPassword(ctx, tx, p, req.Actor, a.now); err != nil {
			if isRefusal(err) {
				return nil, &store.ImportError{Index: i, Password: true, Err: err}
			}
			return nil, fmt.Errorf("sqlite import password of %s: %w", p.Address, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite import commit: %w", err)
	}
	return out, nil
}

// importPassword is SetPassword inside the import's transaction.
func importPassword(ctx context.Context, tx *sql.Tx, p store.PasswordChange, actor store.Actor, at time.Time) error {
	a, err := loadAccount(ctx, tx, p.Address)
	if err != nil {
		return err
	}
	hash := p.Hash
	if hash == "" {
		if hash = a.PasswordHash; hash == "" {
			return fmt.Errorf("%w: %s has no password to keep; give one", store.ErrInvalid, a.Address)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE objects SET password_hash = ?, force_change = ? WHERE id = ?`,
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
