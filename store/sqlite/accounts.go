package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dirsync/dirsync/store"
)

// The login half of store.Accounts. Every write runs in one BEGIN IMMEDIATE
// transaction under writeMu, like Apply: the account's "before" values, the
// write and its audit entry cannot be separated by another writer, in this
// process or another one on the same file. Values are read fresh each time
// (no cache), so a disable applied by a sync shows in the next Credentials.

// credentialsSQL reads an object's secrets and account; the caller appends the
// FROM/WHERE clause.
const credentialsSQL = `SELECT o.id, o.address, o.enabled, o.password_hash, o.question, o.answer_hash, ` +
	accountColumns

// account is a user's login state as loaded for a write: its id and every
// stored value, secrets included, for the audit's before side.
type account struct {
	id int64
	store.Credentials
}

// loadAccount reads the object whose primary address or alias is addr, with
// its roles. The error never holds a secret.
func loadAccount(ctx context.Context, q querier, addr string) (account, error) {
	key := canonical(addr)
	return scanAccount(ctx, q, key, credentialsSQL+` FROM addresses x JOIN objects o ON o.id = x.object_id
		WHERE x.address = ?`, key)
}

// loadAccountByID is loadAccount for an object id.
func loadAccountByID(ctx context.Context, q querier, id int64) (account, error) {
	return scanAccount(ctx, q, fmt.Sprintf("object %d", id), credentialsSQL+` FROM objects o WHERE o.id = ?`, id)
}

func scanAccount(ctx context.Context, q querier, what, query string, args ...any) (account, error) {
	var a account
	var extra accountScan
	c := &a.Credentials
	err := q.QueryRowContext(ctx, query, args...).Scan(append([]any{&a.id, &c.Address, &c.Enabled,
		&c.PasswordHash, &c.Question, &c.AnswerHash}, extra.dest(&c.Account)...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return account{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return account{}, fmt.Errorf("load %s: %w", what, err)
	}
	extra.finish(&c.Account)
	users := []store.User{{ID: a.id}}
	if err := loadRoles(ctx, q, users); err != nil {
		return account{}, err
	}
	c.Account.Roles = users[0].Account.Roles
	return a, nil
}

// inTx runs fn in a write transaction and commits it; what names the
// operation for errors and must hold no secret.
func (s *Store) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite %s: %w", what, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return fmt.Errorf("sqlite %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite %s: %w", what, err)
	}
	return nil
}

// changes builds an account action's audit values.
type changes []store.FieldChange

// value records a plain field that changed.
func (c *changes) value(field string, before, after any) {
	if before != after {
		*c = append(*c, store.FieldChange{Field: field, Before: before, After: after})
	}
}

// secret records a secret that was set or changed, as store.Redacted: the
// entry shows that it changed and never what it is.
func (c *changes) secret(field, before, after string) {
	if before != after || after != "" {
		*c = append(*c, store.FieldChange{Field: field, Before: redact(before), After: redact(after)})
	}
}

// redact is the audit value of a secret: nil when unset, store.Redacted
// otherwise.
func redact(s string) any {
	if s == "" {
		return nil
	}
	return store.Redacted
}

// auditAt writes an account action's entry in tx.
func auditAt(ctx context.Context, tx *sql.Tx, at time.Time, actor store.Actor, action store.Action, addr string, c changes, reason string) error {
	return writeAudit(ctx, tx, store.AuditEntry{Time: at, Actor: actor, Action: action, Address: addr,
		Changes: c, Reason: reason})
}

// timestamp is the store's clock for entries it dates itself.
func timestamp() time.Time { return time.Now().UTC() }

// Credentials returns the user's secrets for verification.
func (s *Store) Credentials(ctx context.Context, address string) (store.Credentials, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.Credentials{}, fmt.Errorf("sqlite credentials: %w", err)
	}
	defer tx.Rollback()
	a, err := loadAccount(ctx, tx, address)
	if err != nil {
		return store.Credentials{}, fmt.Errorf("sqlite credentials: %w", err)
	}
	return a.Credentials, nil
}

// SetPassword sets the password hash and the force-change flag.
func (s *Store) SetPassword(ctx context.Context, address, hash string, forceChange bool, actor store.Actor) error {
	if hash == "" {
		return fmt.Errorf("sqlite set password of %s: %w: the password hash is empty; hash the password (accounts/password) "+
			"or use Unregister to remove portal access", address, store.ErrInvalid)
	}
	return s.inTx(ctx, "set password of "+address, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, address)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE objects SET password_hash = ?, force_change = ? WHERE id = ?`,
			hash, forceChange, a.id); err != nil {
			return err
		}
		var c changes
		c.secret(store.AuditPassword, a.PasswordHash, hash)
		c.value(store.AuditForceChange, a.Account.ForceChange, forceChange)
		return auditAt(ctx, tx, timestamp(), actor, store.ActionSetPassword, a.Address, c, "")
	})
}

// LoginSucceeded records a successful login at: one statement, not audited.
func (s *Store) LoginSucceeded(ctx context.Context, address string, at time.Time) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.db.ExecContext(ctx, `UPDATE objects
		SET last_login = ?1, last_seen = ?1, failed_logins = 0, last_login_error = ''
		WHERE id = (SELECT object_id FROM addresses WHERE address = ?2)`, toNanos(at), canonical(address))
	if err != nil {
		return fmt.Errorf("sqlite login of %s: %w", address, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite login of %s: %w", address, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite login of %s: %w", address, store.ErrNotFound)
	}
	return nil
}

// LoginFailed records a failed login and audits the lock it causes, in one
// write transaction: concurrent failures each add one, and the lock is audited
// by the one failure that caused it.
func (s *Store) LoginFailed(ctx context.Context, address, reason string, at time.Time) (store.Account, error) {
	var acct store.Account
	err := s.inTx(ctx, "failed login of "+address, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, address)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE objects SET failed_logins = failed_logins + 1,
			last_login_error = ?, locked = (locked OR failed_logins + 1 >= ?) WHERE id = ?`,
			reason, store.LockAfter, a.id); err != nil {
			return err
		}
		after, err := loadAccountByID(ctx, tx, a.id)
		if err != nil {
			return err
		}
		acct = after.Account
		if a.Account.Locked || !acct.Locked {
			return nil
		}
		var c changes
		c.value(store.AuditLocked, false, true)
		return auditAt(ctx, tx, at.UTC(), store.LoginActor, store.ActionLock, a.Address, c,
			fmt.Sprintf("%d consecutive failed logins", acct.FailedLogins))
	})
	if err != nil {
		return store.Account{}, err
	}
	return acct, nil
}

// BeginLogin counts an attempt before its password is verified: one
// UPDATE in a write transaction, so of parallel attempts exactly those that
// find fewer than LockAfter failures are let through, and the next one locks.
func (s *Store) BeginLogin(ctx context.Context, address string, at time.Time) (store.Account, error) {
	var acct store.Account
	err := s.inTx(ctx, "login attempt of "+address, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, address)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE objects SET
			last_login_error = CASE WHEN locked OR failed_logins >= ?1 THEN ?2 ELSE last_login_error END,
			locked = (locked OR failed_logins >= ?1), failed_logins = failed_logins + 1
			WHERE id = ?3`, store.LockAfter, store.ReasonLocked, a.id); err != nil {
			return err
		}
		acct, err = s.lockAudited(ctx, tx, a, at)
		return err
	})
	if err != nil {
		return store.Account{}, err
	}
	return acct, nil
}

// FinishLogin records the outcome of an attempt BeginLogin let through.
func (s *Store) FinishLogin(ctx context.Context, address, reason string, at time.Time) (store.Account, error) {
	var acct store.Account
	err := s.inTx(ctx, "login outcome of "+address, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, address)
		if err != nil {
			return err
		}
		if reason == "" {
			// A lock taken while the password was verified stands: the
			// success changes nothing then.
			_, err = tx.ExecContext(ctx, `UPDATE objects SET last_login = ?1, last_seen = ?1, failed_logins = 0,
				last_login_error = '' WHERE id = ?2 AND NOT locked`, toNanos(at), a.id)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE objects SET last_login_error = ?1,
				locked = (locked OR failed_logins >= ?2) WHERE id = ?3`, reason, store.LockAfter, a.id)
		}
		if err != nil {
			return err
		}
		acct, err = s.lockAudited(ctx, tx, a, at)
		return err
	})
	if err != nil {
		return store.Account{}, err
	}
	return acct, nil
}

// lockAudited reloads a after a login write in tx and audits the lock when
// that write took it.
func (s *Store) lockAudited(ctx context.Context, tx *sql.Tx, a account, at time.Time) (store.Account, error) {
	after, err := loadAccountByID(ctx, tx, a.id)
	if err != nil {
		return store.Account{}, err
	}
	if a.Account.Locked || !after.Account.Locked {
		return after.Account, nil
	}
	var c changes
	c.value(store.AuditLocked, false, true)
	return after.Account, auditAt(ctx, tx, at.UTC(), store.LoginActor, store.ActionLock, a.Address, c,
		fmt.Sprintf("%d consecutive failed logins", after.Account.FailedLogins))
}

// Unlock clears the lock and the failure count.
func (s *Store) Unlock(ctx context.Context, address string, actor store.Actor) error {
	return s.inTx(ctx, "unlock "+address, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, address)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE objects SET locked = 0, failed_logins = 0 WHERE id = ?`, a.id); err != nil {
			return err
		}
		var c changes
		c.value(store.AuditLocked, a.Account.Locked, false)
		return auditAt(ctx, tx, timestamp(), actor, store.ActionUnlock, a.Address, c, "")
	})
}

// Register makes the user a registered portal login with reg.
func (s *Store) Register(ctx context.Context, address string, reg store.Registration, actor store.Actor) error {
	return s.inTx(ctx, "register "+address, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, address)
		if err != nil {
			return err
		}
		return register(ctx, tx, a, reg, actor, store.ActionRegister, timestamp())
	})
}

// register stores reg for a and audits it as action.
func register(ctx context.Context, tx *sql.Tx, a account, reg store.Registration, actor store.Actor, action store.Action, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE objects SET registered = 1, password_hash = ?, force_change = ?,
		question = ?, answer_hash = ? WHERE id = ?`,
		reg.PasswordHash, reg.ForceChange, reg.Question, reg.AnswerHash, a.id); err != nil {
		return err
	}
	var c changes
	c.value(store.AuditRegistered, a.Account.Registered, true)
	c.secret(store.AuditPassword, a.PasswordHash, reg.PasswordHash)
	c.value(store.AuditForceChange, a.Account.ForceChange, reg.ForceChange)
	// The question is not a secret, but only its user is shown it.
	c.secret(store.AuditQuestion, a.Question, reg.Question)
	c.secret(store.AuditAnswer, a.AnswerHash, reg.AnswerHash)
	return auditAt(ctx, tx, at, actor, action, a.Address, c, "")
}

// Unregister removes portal access and drops outstanding invitations; the
// user, its roles and its login history stay.
func (s *Store) Unregister(ctx context.Context, address string, actor store.Actor) error {
	return s.inTx(ctx, "unregister "+address, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, address)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE objects SET registered = 0, password_hash = '', force_change = 0,
			question = '', answer_hash = '', locked = 0, failed_logins = 0 WHERE id = ?`, a.id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM invitations WHERE object_id = ? AND used = 0`, a.id); err != nil {
			return err
		}
		var c changes
		c.value(store.AuditRegistered, a.Account.Registered, false)
		c.secret(store.AuditPassword, a.PasswordHash, "")
		c.value(store.AuditForceChange, a.Account.ForceChange, false)
		c.secret(store.AuditQuestion, a.Question, "")
		c.secret(store.AuditAnswer, a.AnswerHash, "")
		c.value(store.AuditLocked, a.Account.Locked, false)
		return auditAt(ctx, tx, timestamp(), actor, store.ActionUnregister, a.Address, c, "")
	})
}
