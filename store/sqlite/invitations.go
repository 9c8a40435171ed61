package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dirsync/dirsync/store"
)

// Invitations: single-use, expiring registration tokens, of which only the
// hash is stored. No error or audit value ever holds a token hash.

// CreateInvitation stores inv for its user's primary address, dropping the
// user's earlier unused invitation.
func (s *Store) CreateInvitation(ctx context.Context, inv store.Invitation, actor store.Actor) error {
	what := "invitation for " + inv.Address
	switch {
	case inv.TokenHash == "":
		return fmt.Errorf("sqlite %s: %w: the token hash is empty; store the SHA-256 of a new random token", what, store.ErrInvalid)
	case inv.Expires.IsZero():
		return fmt.Errorf("sqlite %s: %w: no expiry; invitations must expire, set Expires", what, store.ErrInvalid)
	}
	created := inv.Created
	if created.IsZero() {
		created = timestamp()
	}
	var preset store.Registration
	if inv.Preset != nil {
		preset = *inv.Preset
	}
	return s.inTx(ctx, what, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, inv.Address)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM invitations WHERE object_id = ? AND used = 0`, a.id); err != nil {
			return err
		}
		var taken int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM invitations WHERE token_hash = ?`, inv.TokenHash).Scan(&taken)
		if err == nil {
			// Checked first rather than read from the constraint error, whose
			// text would quote the hash.
			return fmt.Errorf("%w: that token hash belongs to another invitation; make a new random token", store.ErrConflict)
		}
		if !isNoRows(err) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO invitations (token_hash, object_id, created, expires, preset,
				preset_password_hash, preset_force_change, preset_question, preset_answer_hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inv.TokenHash, a.id, toNanos(created), toNanos(inv.Expires), inv.Preset != nil,
			preset.PasswordHash, preset.ForceChange, preset.Question, preset.AnswerHash); err != nil {
			return err
		}
		c := changes{
			{Field: store.AuditToken, After: store.Redacted},
			{Field: store.AuditExpires, After: inv.Expires.UTC().Format(time.RFC3339Nano)},
		}
		c.value(store.AuditPreset, false, inv.Preset != nil)
		return auditAt(ctx, tx, timestamp(), actor, store.ActionInvite, a.Address, c, "")
	})
}

// invitationSQL reads an invitation with its user's current primary address:
// the invitation references the object, so a rename in between is followed.
const invitationSQL = `SELECT i.object_id, o.address, i.token_hash, i.created, i.expires, i.used, i.preset,
	i.preset_password_hash, i.preset_force_change, i.preset_question, i.preset_answer_hash
	FROM invitations i JOIN objects o ON o.id = i.object_id WHERE i.token_hash = ?`

// Invitation returns the invitation with that token hash, used or not.
func (s *Store) Invitation(ctx context.Context, tokenHash string) (store.Invitation, error) {
	_, inv, err := scanInvitation(s.db.QueryRowContext(ctx, invitationSQL, tokenHash))
	if err != nil {
		return store.Invitation{}, fmt.Errorf("sqlite invitation: %w", err)
	}
	return inv, nil
}

// scanInvitation reads a row of invitationSQL and returns the user's id too.
func scanInvitation(row *sql.Row) (int64, store.Invitation, error) {
	var inv store.Invitation
	var id, created, expires, used int64
	var preset bool
	var reg store.Registration
	err := row.Scan(&id, &inv.Address, &inv.TokenHash, &created, &expires, &used, &preset,
		&reg.PasswordHash, &reg.ForceChange, &reg.Question, &reg.AnswerHash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.Invitation{}, fmt.Errorf("no invitation has this token: %w", store.ErrNotFound)
	}
	if err != nil {
		return 0, store.Invitation{}, err
	}
	inv.Created, inv.Expires, inv.Used = fromNanos(created), fromNanos(expires), fromNanos(used)
	if preset {
		inv.Preset = &reg
	}
	return id, inv, nil
}

// RedeemInvitation consumes the invitation and registers its user with reg.
// The check and the consumption run in one write transaction, which SQLite
// serialises with every other writer, so of two concurrent redeemers the
// second finds the invitation used.
func (s *Store) RedeemInvitation(ctx context.Context, tokenHash string, now time.Time, reg store.Registration, actor store.Actor) (string, error) {
	if now.IsZero() {
		// 0 is "not redeemed" in the used column.
		now = timestamp()
	}
	var primary string
	err := s.inTx(ctx, "redeem invitation", func(tx *sql.Tx) error {
		id, inv, err := scanInvitation(tx.QueryRowContext(ctx, invitationSQL, tokenHash))
		if err != nil {
			return err
		}
		switch {
		case !inv.Used.IsZero():
			return fmt.Errorf("invitation for %s was redeemed at %s: %w; ask an admin for a new one",
				inv.Address, inv.Used.Format(time.RFC3339), store.ErrInvitationUsed)
		case now.After(inv.Expires):
			return fmt.Errorf("invitation for %s expired at %s: %w; ask an admin for a new one",
				inv.Address, inv.Expires.Format(time.RFC3339), store.ErrInvitationExpired)
		}
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET used = ? WHERE token_hash = ? AND used = 0`,
			toNanos(now), tokenHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 { // unreachable in the write transaction; never register twice
			return fmt.Errorf("invitation for %s: %w", inv.Address, store.ErrInvitationUsed)
		}
		a, err := loadAccountByID(ctx, tx, id)
		if err != nil {
			return err
		}
		primary = a.Address
		return register(ctx, tx, a, reg, actor, store.ActionRedeem, now.UTC())
	})
	if err != nil {
		return "", err
	}
	return primary, nil
}
