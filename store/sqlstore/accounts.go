package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dirsync/dirsync/store"
)

// The login half of store.Accounts. Every write runs in a LockAccount
// transaction that first locks the user's objects row (FOR UPDATE where Dialect.RowLocks; in
// SQLite the transaction excludes every other writer) and only then touches
// invitations or roles: Apply's delete takes the same locks in the same order
// (the row, then the cascades), so the two cannot deadlock, and two account
// writes on one user queue rather than each auditing a "before" the other has
// already changed. None of them checks address uniqueness, which is what
// LockWriters protects, so a login need not wait for a sync. Values are read
// fresh each time (no cache), so a disable applied by a sync shows in the next
// Credentials.

// account is a user's login state as loaded for a write: its id and every
// stored value, secrets included, for the audit's before side.
type account struct {
	id int64
	store.Credentials
}

// loadAccount reads the object whose primary address or alias is addr; with
// lock, its row stays locked until the transaction ends. The error never
// holds a secret.
func (s *Store) loadAccount(ctx context.Context, q Querier, addr string, lock bool) (account, error) {
	key := canonical(addr)
	query := s.credentialsSQL() + ` JOIN addresses x ON x.object_id = o.id WHERE x.address = $1`
	if lock {
		query += s.d.forUpdate("o")
	}
	return s.scanAccount(q.QueryRow(ctx, query, key), key)
}

// loadAccountByID is loadAccount for an object id, always locking.
func (s *Store) loadAccountByID(ctx context.Context, q Querier, id int64) (account, error) {
	return s.scanAccount(q.QueryRow(ctx, s.credentialsSQL()+` WHERE o.id = $1`+s.d.forUpdate("o"), id), fmt.Sprintf("object %d", id))
}

// credentialsSQL reads an object's secrets and account; the caller appends
// the WHERE clause.
func (s *Store) credentialsSQL() string {
	return `SELECT o.id, o.address, o.enabled, o.password_hash, o.question, o.answer_hash, ` +
		s.accountColumns + ` FROM objects o`
}

func (s *Store) scanAccount(row Row, what string) (account, error) {
	var a account
	c := &a.Credentials
	err := row.Scan(append([]any{&a.id, &c.Address, &c.Enabled, &c.PasswordHash, &c.Question, &c.AnswerHash},
		s.accountDest(&c.Account)...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return account{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return account{}, fmt.Errorf("load %s: %w", what, err)
	}
	c.Account.Roles = nilIfEmpty(c.Account.Roles)
	return a, nil
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
func (s *Store) auditAt(ctx context.Context, tx Tx, at time.Time, actor store.Actor, action store.Action, addr string, c changes, reason string) error {
	return s.writeAudit(ctx, tx, store.AuditEntry{Time: at, Actor: actor, Action: action, Address: addr,
		Changes: c, Reason: reason})
}

// Credentials returns the user's secrets for verification.
func (s *Store) Credentials(ctx context.Context, address string) (store.Credentials, error) {
	a, err := s.loadAccount(ctx, s.conn, address, false)
	if err != nil {
		return store.Credentials{}, s.errorf("credentials: %w", err)
	}
	return a.Credentials, nil
}

// SetPassword sets the password hash and the force-change flag.
func (s *Store) SetPassword(ctx context.Context, address, hash string, forceChange bool, actor store.Actor) error {
	if hash == "" {
		return s.errorf("set password of %s: %w: the password hash is empty; hash the password (accounts/password) "+
			"or use Unregister to remove portal access", address, store.ErrInvalid)
	}
	return s.inTx(ctx, LockAccount, "set password of "+address, func(tx Tx) error {
		return s.setPassword(ctx, tx, store.PasswordChange{Address: address, Hash: hash, ForceChange: forceChange},
			actor, s.now(), "")
	})
}

// importPassword is SetPassword inside an import's transaction; an empty hash
// keeps the current password.
func (s *Store) importPassword(ctx context.Context, tx Tx, p store.PasswordChange, actor store.Actor, at time.Time) error {
	return s.setPassword(ctx, tx, p, actor, at, "CSV import")
}

func (s *Store) setPassword(ctx context.Context, tx Tx, p store.PasswordChange, actor store.Actor, at time.Time, reason string) error {
	a, err := s.loadAccount(ctx, tx, p.Address, true)
	if err != nil {
		return err
	}
	hash := p.Hash
	if hash == "" {
		if hash = a.PasswordHash; hash == "" {
			return fmt.Errorf("%w: %s has no password to keep; give one", store.ErrInvalid, a.Address)
		}
	}
	stmts := []Stmt{{SQL: `UPDATE objects SET password_hash = $1, force_change = $2 WHERE id = $3`,
		Args: []any{hash, p.ForceChange, a.id}}}
	if p.Hash != "" {
		// A password set voids the invitations nobody used.
		stmts = append(stmts, Stmt{SQL: `DELETE FROM invitations WHERE object_id = $1 AND ` + s.d.Unredeemed, Args: []any{a.id}})
	}
	if err := tx.Batch(ctx, stmts...); err != nil {
		return err
	}
	var c changes
	if p.Hash != "" {
		c.secret(store.AuditPassword, a.PasswordHash, hash)
	}
	c.value(store.AuditForceChange, a.Account.ForceChange, p.ForceChange)
	return s.auditAt(ctx, tx, at, actor, store.ActionSetPassword, a.Address, c, reason)
}

// LoginSucceeded records a successful login at: one statement, not audited.
func (s *Store) LoginSucceeded(ctx context.Context, address string, at time.Time) error {
	n, err := s.conn.Exec(ctx, `UPDATE objects SET last_login = $1, last_seen = $1, failed_logins = 0, last_login_error = ''
		WHERE id = (SELECT object_id FROM addresses WHERE address = $2)`, s.d.Time(s.dbTime(at)), canonical(address))
	if err != nil {
		return s.errorf("login of %s: %w", address, err)
	}
	if n == 0 {
		return s.errorf("login of %s: %w", address, store.ErrNotFound)
	}
	return nil
}

// LoginFailed records a failed login and audits the lock it causes, in one
// transaction holding the user's row: concurrent failures each add one, and
// the lock is audited by the one failure that caused it.
func (s *Store) LoginFailed(ctx context.Context, address, reason string, at time.Time) (store.Account, error) {
	return s.loginWrite(ctx, "failed login of "+address, address, at, `UPDATE objects SET failed_logins = failed_logins + 1,
		last_login_error = $2, locked = (locked OR failed_logins + 1 >= $3) WHERE id = $1`, reason, store.LockAfter)
}

// BeginLogin counts an attempt before its password is verified: of parallel
// attempts exactly those that find fewer than LockAfter failures are let
// through, and the next one locks.
func (s *Store) BeginLogin(ctx context.Context, address string, at time.Time) (store.Account, error) {
	return s.loginWrite(ctx, "login attempt of "+address, address, at, `UPDATE objects SET
		last_login_error = CASE WHEN locked OR failed_logins >= $2 THEN $3 ELSE last_login_error END,
		locked = (locked OR failed_logins >= $2), failed_logins = failed_logins + 1
		WHERE id = $1`, store.LockAfter, store.ReasonLocked)
}

// FinishLogin records the outcome of an attempt BeginLogin let through.
func (s *Store) FinishLogin(ctx context.Context, address, reason string, at time.Time) (store.Account, error) {
	if reason == "" {
		// A lock taken while the password was verified stands: the success
		// changes nothing then.
		return s.loginWrite(ctx, "login of "+address, address, at, `UPDATE objects SET last_login = $2, last_seen = $2,
			failed_logins = 0, last_login_error = '' WHERE id = $1 AND NOT locked`, s.d.Time(s.dbTime(at)))
	}
	return s.loginWrite(ctx, "login outcome of "+address, address, at, `UPDATE objects SET last_login_error = $2,
		locked = (locked OR failed_logins >= $3) WHERE id = $1`, reason, store.LockAfter)
}

// loginWrite runs one of the login statements ($1 the user's id, args after
// it) on the locked row and audits the lock when that write took it.
func (s *Store) loginWrite(ctx context.Context, what, address string, at time.Time, update string, args ...any) (store.Account, error) {
	var acct store.Account
	err := s.inTx(ctx, LockAccount, what, func(tx Tx) error {
		a, err := s.loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, update, append([]any{a.id}, args...)...); err != nil {
			return err
		}
		after, err := s.loadAccountByID(ctx, tx, a.id)
		if err != nil {
			return err
		}
		acct = after.Account
		if a.Account.Locked || !acct.Locked {
			return nil
		}
		var c changes
		c.value(store.AuditLocked, false, true)
		return s.auditAt(ctx, tx, s.dbTime(at), store.LoginActor, store.ActionLock, a.Address, c,
			fmt.Sprintf("%d consecutive failed logins", acct.FailedLogins))
	})
	if err != nil {
		return store.Account{}, err
	}
	return acct, nil
}

// Unlock clears the lock and the failure count.
func (s *Store) Unlock(ctx context.Context, address string, actor store.Actor) error {
	return s.inTx(ctx, LockAccount, "unlock "+address, func(tx Tx) error {
		a, err := s.loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE objects SET locked = false, failed_logins = 0 WHERE id = $1`, a.id); err != nil {
			return err
		}
		var c changes
		c.value(store.AuditLocked, a.Account.Locked, false)
		return s.auditAt(ctx, tx, s.now(), actor, store.ActionUnlock, a.Address, c, "")
	})
}

// Register makes the user a registered portal login with reg.
func (s *Store) Register(ctx context.Context, address string, reg store.Registration, actor store.Actor) error {
	return s.inTx(ctx, LockAccount, "register "+address, func(tx Tx) error {
		a, err := s.loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		return s.register(ctx, tx, a, reg, actor, store.ActionRegister, s.now())
	})
}

// register stores reg for a (locked) and audits it as action.
func (s *Store) register(ctx context.Context, tx Tx, a account, reg store.Registration, actor store.Actor, action store.Action, at time.Time) error {
	err := tx.Batch(ctx,
		Stmt{SQL: `UPDATE objects SET registered = true, password_hash = $1, force_change = $2,
			question = $3, answer_hash = $4 WHERE id = $5`,
			Args: []any{reg.PasswordHash, reg.ForceChange, reg.Question, reg.AnswerHash, a.id}},
		// Registered, the user needs no invitation (a redeemed one is
		// marked used before this).
		Stmt{SQL: `DELETE FROM invitations WHERE object_id = $1 AND ` + s.d.Unredeemed, Args: []any{a.id}})
	if err != nil {
		return err
	}
	var c changes
	c.value(store.AuditRegistered, a.Account.Registered, true)
	c.secret(store.AuditPassword, a.PasswordHash, reg.PasswordHash)
	c.value(store.AuditForceChange, a.Account.ForceChange, reg.ForceChange)
	// The question is not a secret, but only its user is shown it.
	c.secret(store.AuditQuestion, a.Question, reg.Question)
	c.secret(store.AuditAnswer, a.AnswerHash, reg.AnswerHash)
	return s.auditAt(ctx, tx, at, actor, action, a.Address, c, "")
}

// Unregister removes portal access and drops outstanding invitations; the
// user, its roles and its login history stay.
func (s *Store) Unregister(ctx context.Context, address string, actor store.Actor) error {
	return s.inTx(ctx, LockAccount, "unregister "+address, func(tx Tx) error {
		a, err := s.loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		err = tx.Batch(ctx,
			Stmt{SQL: `UPDATE objects SET registered = false, password_hash = '', force_change = false,
				question = '', answer_hash = '', locked = false, failed_logins = 0 WHERE id = $1`, Args: []any{a.id}},
			Stmt{SQL: `DELETE FROM invitations WHERE object_id = $1 AND ` + s.d.Unredeemed, Args: []any{a.id}})
		if err != nil {
			return err
		}
		var c changes
		c.value(store.AuditRegistered, a.Account.Registered, false)
		c.secret(store.AuditPassword, a.PasswordHash, "")
		c.value(store.AuditForceChange, a.Account.ForceChange, false)
		c.secret(store.AuditQuestion, a.Question, "")
		c.secret(store.AuditAnswer, a.AnswerHash, "")
		c.value(store.AuditLocked, a.Account.Locked, false)
		return s.auditAt(ctx, tx, s.now(), actor, store.ActionUnregister, a.Address, c, "")
	})
}
