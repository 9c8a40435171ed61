package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
		roles, err := s.roleNames(ctx, tx, inv.Roles)
		if err != nil {
			return err
		}
		rolesJSON, err := json.Marshal(orEmpty(roles))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO invitations (token_hash, object_id, created, expires, preset,
				preset_password_hash, preset_force_change, preset_question, preset_answer_hash, roles, email_status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			inv.TokenHash, a.id, s.d.Time(s.dbTime(created)), s.d.Time(s.dbTime(inv.Expires)), inv.Preset != nil,
			preset.PasswordHash, preset.ForceChange, preset.Question, preset.AnswerHash, string(rolesJSON), inv.Email.Status)
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
		if len(roles) > 0 {
			c = append(c, store.FieldChange{Field: store.AuditRoles, After: listValue(roles)})
		}
		return s.auditAt(ctx, tx, s.now(), actor, store.ActionInvite, a.Address, c, "")
	})
}

// invitationSQL reads an invitation with its user's current primary
// address (the invitation references the object, so a rename in between is
// followed); the caller appends the WHERE clause.
const invitationSQL = `SELECT o.address, i.token_hash, i.created, i.expires, i.used, i.preset,
		i.preset_password_hash, i.preset_force_change, i.preset_question, i.preset_answer_hash, i.roles,
		i.email_status, i.email_attempts, i.email_sent, i.email_error, i.email_next
	FROM invitations i JOIN objects o ON o.id = i.object_id`

func scanInvitation(row Row) (store.Invitation, error) {
	var inv store.Invitation
	var preset bool
	var reg store.Registration
	var roles string
	e := &inv.Email
	err := row.Scan(&inv.Address, &inv.TokenHash, scanTime(&inv.Created), scanTime(&inv.Expires), scanTime(&inv.Used), &preset,
		&reg.PasswordHash, &reg.ForceChange, &reg.Question, &reg.AnswerHash, &roles,
		&e.Status, &e.Attempts, scanTime(&e.Sent), &e.Error, scanTime(&e.Next))
	if err != nil {
		return store.Invitation{}, err
	}
	if err := json.Unmarshal([]byte(roles), &inv.Roles); err != nil {
		return store.Invitation{}, fmt.Errorf("invitation for %s: its roles %q are not a JSON list: %w", inv.Address, roles, err)
	}
	inv.Roles = nilIfEmpty(inv.Roles)
	if preset {
		inv.Preset = &reg
	}
	return inv, nil
}

// Invitation returns the invitation with that token hash, used or not.
func (s *Store) Invitation(ctx context.Context, tokenHash string) (store.Invitation, error) {
	inv, err := scanInvitation(s.conn.QueryRow(ctx, invitationSQL+` WHERE i.token_hash = $1`, tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		err = errNoInvitation
	}
	if err != nil {
		return store.Invitation{}, s.errorf("invitation: %w", err)
	}
	return inv, nil
}

// OpenInvitation returns the user's unredeemed invitation.
func (s *Store) OpenInvitation(ctx context.Context, address string) (store.Invitation, error) {
	inv, err := scanInvitation(s.conn.QueryRow(ctx, invitationSQL+
		` JOIN addresses x ON x.object_id = o.id WHERE x.address = $1 AND i.`+s.d.Unredeemed+
		` ORDER BY i.created DESC LIMIT 1`, canonical(address)))
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%s has no open invitation: %w", address, store.ErrNotFound)
	}
	if err != nil {
		return store.Invitation{}, s.errorf("open invitation: %w", err)
	}
	return inv, nil
}

// SetInvitationEmail records the state of an invitation's email.
func (s *Store) SetInvitationEmail(ctx context.Context, tokenHash string, e store.InvitationEmail) error {
	n, err := s.conn.Exec(ctx, `UPDATE invitations SET email_status = $2, email_attempts = $3, email_sent = $4,
		email_error = $5, email_next = $6 WHERE token_hash = $1`,
		tokenHash, e.Status, e.Attempts, s.d.Time(s.dbTime(e.Sent)), e.Error, s.d.Time(s.dbTime(e.Next)))
	if err == nil && n == 0 {
		err = errNoInvitation
	}
	if err != nil {
		return s.errorf("invitation email: %w", err)
	}
	return nil
}

// roleNames resolves role names case-insensitively to their defined names,
// sorted without duplicates; undefined ones are a *store.UnknownRoleError.
func (s *Store) roleNames(ctx context.Context, q Querier, given []string) ([]string, error) {
	_, names, err := s.resolveRoles(ctx, q, given)
	return sortedSet(names), err
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
		var rolesJSON string
		err = tx.QueryRow(ctx, `SELECT used, expires, roles FROM invitations WHERE token_hash = $1 AND object_id = $2`+s.d.forUpdate(""),
			tokenHash, id).Scan(scanTime(&used), scanTime(&expires), &rolesJSON)
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
		case a.Account.Registered:
			return fmt.Errorf("%s: %w; sign in with its password, or reset it with the security question",
				a.Address, store.ErrAlreadyRegistered)
		}
		var roles []string
		if err := json.Unmarshal([]byte(rolesJSON), &roles); err != nil {
			return fmt.Errorf("invitation for %s: its roles are not a JSON list: %w", a.Address, err)
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
		if err := s.register(ctx, tx, a, reg, actor, store.ActionRedeem, now); err != nil {
			return err
		}
		if len(roles) == 0 || slices.Equal(sortedSet(roles), a.Account.Roles) {
			return nil
		}
		return s.setRoles(ctx, tx, a, roles, actor, now, "given by the invitation")
	})
	if err != nil {
		return "", err
	}
	return primary, nil
}

// orEmpty is xs, or an empty list for nil (a JSON [] rather than null).
func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// Setting returns the named store-wide value, storing make's result first
// when there is none; of replicas racing, the first insert wins and every one
// returns it.
func (s *Store) Setting(ctx context.Context, name string, make func() (string, error)) (string, error) {
	var v string
	err := s.conn.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", s.errorf("setting %s: %w", name, err)
	}
	v, err = make()
	if err != nil {
		return "", s.errorf("setting %s: %w", name, err)
	}
	if _, err := s.conn.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, v); err != nil {
		return "", s.errorf("setting %s: %w", name, err)
	}
	if err := s.conn.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v); err != nil {
		return "", s.errorf("setting %s: %w", name, err)
	}
	return v, nil
}
