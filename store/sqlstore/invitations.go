package sqlstore

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

// errTokenTaken is the conflict of a token hash already in use. It is never
// the database's own error, whose detail could quote the hash.
var errTokenTaken = fmt.Errorf("%w: that token hash belongs to another invitation; make a new random token", store.ErrConflict)

// errNoInvitation is a token hash no invitation has.
var errNoInvitation = fmt.Errorf("no invitation has this token: %w", store.ErrNotFound)

// CreateInvitation stores inv for its user's primary address, dropping the
// user's earlier unused invitation.
func (s *Store) CreateInvitation(ctx context.Context, inv store.Invitation, actor store.Actor) error {
	what := "invitation for " + inv.Address
	switch {
	case inv.TokenHash == "":
		return s.errorf("%s: %w: the token hash is empty; store the SHA-256 of a new random token", what, store.ErrInvalid)
	case inv.Expires.IsZero():
		return s.errorf("%s: %w: no expiry; invitations must expire, set Expires", what, store.ErrInvalid)
	}
	created := inv.Created
	if created.IsZero() {
		created = s.now()
	}
	var preset store.Registration
	if inv.Preset != nil {
		preset = *inv.Preset
	}
	return s.inTx(ctx, LockAccount, what, func(tx Tx) error {
		a, err := s.loadAccount(ctx, tx, inv.Address, true)
		if err != nil {
			return err
		}
		var taken bool
		err = tx.Batch(ctx,
			Stmt{SQL: `DELETE FROM invitations WHERE object_id = $1 AND ` + s.d.Unredeemed, Args: []any{a.id}},
			Stmt{SQL: `SELECT 1 FROM invitations WHERE token_hash = $1`, Args: []any{inv.TokenHash},
				Scan: func(Row) error { taken = true; return nil }})
		if err != nil {
			return err
		}
		if taken {
			return errTokenTaken
		}
		_, err = tx.Exec(ctx, `INSERT INTO invitations (token_hash, object_id, created, expires, preset,
				preset_password_hash, preset_force_change, preset_question, preset_answer_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			inv.TokenHash, a.id, s.d.Time(s.dbTime(created)), s.d.Time(s.dbTime(inv.Expires)), inv.Preset != nil,
			preset.PasswordHash, preset.ForceChange, preset.Question, preset.AnswerHash)
		if errors.Is(s.d.Classify(err), store.ErrConflict) {
			// Taken meanwhile by a writer that does not exclude this one.
			return errTokenTaken
		}
		if err != nil {
			return err
		}
		c := changes{
			{Field: store.AuditToken, After: store.Redacted},
			{Field: store.AuditExpires, After: s.dbTime(inv.Expires).Format(time.RFC3339Nano)},
		}
		c.value(store.AuditPreset, false, inv.Preset != nil)
		return s.auditAt(ctx, tx, s.now(), actor, store.ActionInvite, a.Address, c, "")
	})
}

// Invitation returns the invitation with that token hash, used or not. It
// carries its user's current primary address: the invitation references the
// object, so a rename in between is followed.
func (s *Store) Invitation(ctx context.Context, tokenHash string) (store.Invitation, error) {
	var inv store.Invitation
	var preset bool
	var reg store.Registration
	err := s.conn.QueryRow(ctx, `SELECT o.address, i.token_hash, i.created, i.expires, i.used, i.preset,
			i.preset_password_hash, i.preset_force_change, i.preset_question, i.preset_answer_hash
		FROM invitations i JOIN objects o ON o.id = i.object_id WHERE i.token_hash = $1`, tokenHash).
		Scan(&inv.Address, &inv.TokenHash, scanTime(&inv.Created), scanTime(&inv.Expires), scanTime(&inv.Used), &preset,
			&reg.PasswordHash, &reg.ForceChange, &reg.Question, &reg.AnswerHash)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNoInvitation
	}
	if err != nil {
		return store.Invitation{}, s.errorf("invitation: %w", err)
	}
	if preset {
		inv.Preset = &reg
	}
	return inv, nil
}

// RedeemInvitation consumes the invitation and registers its user with reg.
// The user's row is locked first, then the invitation's (Apply's order when
// it deletes the user), so of two concurrent redeemers the second waits and
// then finds the invitation used.
func (s *Store) RedeemInvitation(ctx context.Context, tokenHash string, now time.Time, reg store.Registration, actor store.Actor) (string, error) {
	if now.IsZero() {
		// The zero time is "not redeemed" in the used column.
		now = s.now()
	}
	now = s.dbTime(now)
	var primary string
	err := s.inTx(ctx, LockAccount, "redeem invitation", func(tx Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT object_id FROM invitations WHERE token_hash = $1`, tokenHash).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoInvitation
		}
		if err != nil {
			return err
		}
		a, err := s.loadAccountByID(ctx, tx, id)
		if err != nil {
			return err
		}
		var used, expires time.Time
		err = tx.QueryRow(ctx, `SELECT used, expires FROM invitations WHERE token_hash = $1 AND object_id = $2`+s.d.forUpdate(""),
			tokenHash, id).Scan(scanTime(&used), scanTime(&expires))
		switch {
		case errors.Is(err, sql.ErrNoRows): // replaced or dropped while we waited
			return errNoInvitation
		case err != nil:
			return err
		case !used.IsZero():
			return fmt.Errorf("invitation for %s was redeemed at %s: %w; ask an admin for a new one",
				a.Address, used.Format(time.RFC3339), store.ErrInvitationUsed)
		case now.After(expires):
			return fmt.Errorf("invitation for %s expired at %s: %w; ask an admin for a new one",
				a.Address, expires.Format(time.RFC3339), store.ErrInvitationExpired)
		}
		n, err := tx.Exec(ctx, `UPDATE invitations SET used = $2 WHERE token_hash = $1 AND `+s.d.Unredeemed,
			tokenHash, s.d.Time(now))
		if err != nil {
			return err
		}
		if n != 1 { // unreachable under the locks; never register twice
			return fmt.Errorf("invitation for %s: %w", a.Address, store.ErrInvitationUsed)
		}
		primary = a.Address
		return s.register(ctx, tx, a, reg, actor, store.ActionRedeem, now)
	})
	if err != nil {
		return "", err
	}
	return primary, nil
}
