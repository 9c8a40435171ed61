package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
		return fmt.Errorf("postgres %s: %w: the token hash is empty; store the SHA-256 of a new random token", what, store.ErrInvalid)
	case inv.Expires.IsZero():
		return fmt.Errorf("postgres %s: %w: no expiry; invitations must expire, set Expires", what, store.ErrInvalid)
	}
	created := inv.Created
	if created.IsZero() {
		created = timestamp()
	}
	var preset store.Registration
	if inv.Preset != nil {
		preset = *inv.Preset
	}
	return s.inTx(ctx, what, func(tx pgx.Tx) error {
		a, err := loadAccount(ctx, tx, inv.Address, true)
		if err != nil {
			return err
		}
		err = execBatch(ctx, tx,
			stmt{`DELETE FROM invitations WHERE object_id = $1 AND used IS NULL`, []any{a.id}},
			stmt{`INSERT INTO invitations (token_hash, object_id, created, expires, preset,
					preset_password_hash, preset_force_change, preset_question, preset_answer_hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				[]any{inv.TokenHash, a.id, dbTime(created), dbTime(inv.Expires), inv.Preset != nil,
					preset.PasswordHash, preset.ForceChange, preset.Question, preset.AnswerHash}})
		if isUniqueViolation(err) {
			// Not err itself: its detail would quote the hash.
			return fmt.Errorf("%w: that token hash belongs to another invitation; make a new random token", store.ErrConflict)
		}
		if err != nil {
			return err
		}
		c := changes{
			{Field: store.AuditToken, After: store.Redacted},
			{Field: store.AuditExpires, After: dbTime(inv.Expires).Format(time.RFC3339Nano)},
		}
		c.value(store.AuditPreset, false, inv.Preset != nil)
		return auditAt(ctx, tx, timestamp(), actor, store.ActionInvite, a.Address, c, "")
	})
}

// invitationSQL reads an invitation with its user's current primary address.
const invitationSQL = `SELECT o.address, i.token_hash, i.created, i.expires, i.used, i.preset,
	i.preset_password_hash, i.preset_force_change, i.preset_question, i.preset_answer_hash
	FROM invitations i JOIN objects o ON o.id = i.object_id WHERE i.token_hash = $1`

// Invitation returns the invitation with that token hash, used or not.
func (s *Store) Invitation(ctx context.Context, tokenHash string) (store.Invitation, error) {
	inv, err := scanInvitation(s.pool.QueryRow(ctx, invitationSQL, tokenHash))
	if err != nil {
		return store.Invitation{}, fmt.Errorf("postgres invitation: %w", err)
	}
	return inv, nil
}

func scanInvitation(row pgx.Row) (store.Invitation, error) {
	var inv store.Invitation
	var used *time.Time
	var preset bool
	var reg store.Registration
	err := row.Scan(&inv.Address, &inv.TokenHash, &inv.Created, &inv.Expires, &used, &preset,
		&reg.PasswordHash, &reg.ForceChange, &reg.Question, &reg.AnswerHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Invitation{}, fmt.Errorf("no invitation has this token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Invitation{}, err
	}
	inv.Created, inv.Expires, inv.Used = inv.Created.UTC(), inv.Expires.UTC(), utcOrZero(used)
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
	var primary string
	err := s.inTx(ctx, "redeem invitation", func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT object_id FROM invitations WHERE token_hash = $1`, tokenHash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no invitation has this token: %w", store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		a, err := loadAccountByID(ctx, tx, id)
		if err != nil {
			return err
		}
		var used *time.Time
		var expires time.Time
		err = tx.QueryRow(ctx, `SELECT used, expires FROM invitations WHERE token_hash = $1 AND object_id = $2
			FOR UPDATE`, tokenHash, id).Scan(&used, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows): // replaced or dropped while we waited
			return fmt.Errorf("no invitation has this token: %w", store.ErrNotFound)
		case err != nil:
			return err
		case used != nil:
			return fmt.Errorf("invitation for %s was redeemed at %s: %w; ask an admin for a new one",
				a.Address, used.UTC().Format(time.RFC3339), store.ErrInvitationUsed)
		case now.After(expires):
			return fmt.Errorf("invitation for %s expired at %s: %w; ask an admin for a new one",
				a.Address, expires.UTC().Format(time.RFC3339), store.ErrInvitationExpired)
		}
		tag, err := tx.Exec(ctx, `UPDATE invitations SET used = $2 WHERE token_hash = $1 AND used IS NULL`,
			tokenHash, dbTime(now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 { // unreachable under the row lock; never register twice
			return fmt.Errorf("invitation for %s: %w", a.Address, store.ErrInvitationUsed)
		}
		primary = a.Address
		return register(ctx, tx, a, reg, actor, store.ActionRedeem, dbTime(now))
	})
	if err != nil {
		return "", err
	}
	return primary, nil
}
