package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dirsync/dirsync/store"
)

// The login half of store.Accounts. Every write locks the user's objects row
// first (FOR UPDATE) and only then touches invitations or roles: Apply's
// delete takes the same locks in the same order (the row, then the cascades),
// so the two cannot deadlock, and two account writes on one user queue rather
// than each auditing a "before" the other has already changed. They do not
// take the writers' advisory lock: none of them checks address uniqueness,
// which is what that lock protects, and a login must not wait for a sync.

// credentialsSQL reads an object's secrets and account; the caller appends the
// WHERE clause (and FOR UPDATE OF o when it writes).
const credentialsSQL = `SELECT o.id, o.address, o.enabled, o.password_hash, o.question, o.answer_hash, ` +
	accountColumns + ` FROM objects o `

// account is a user's login state as loaded for a write: its id and every
// stored value, secrets included, for the audit's before side.
type account struct {
	id int64
	store.Credentials
}

// loadAccount reads the object whose primary address or alias is addr; with
// lock, its row stays locked until tx ends. The error never holds a secret.
func loadAccount(ctx context.Context, q querier, addr string, lock bool) (account, error) {
	key := canonical(addr)
	query := credentialsSQL + `JOIN addresses x ON x.object_id = o.id WHERE x.address = $1`
	if lock {
		query += ` FOR UPDATE OF o`
	}
	return scanAccount(q.QueryRow(ctx, query, key), key)
}

// loadAccountByID is loadAccount for an object id, always locking.
func loadAccountByID(ctx context.Context, q querier, id int64) (account, error) {
	return scanAccount(q.QueryRow(ctx, credentialsSQL+`WHERE o.id = $1 FOR UPDATE OF o`, id), fmt.Sprintf("object %d", id))
}

func scanAccount(row pgx.Row, what string) (account, error) {
	var a account
	var extra accountScan
	c := &a.Credentials
	err := row.Scan(append([]any{&a.id, &c.Address, &c.Enabled, &c.PasswordHash, &c.Question, &c.AnswerHash},
		extra.dest(&c.Account)...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return account{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return account{}, fmt.Errorf("load %s: %w", what, err)
	}
	extra.finish(&c.Account)
	return a, nil
}

// inTx runs fn in a transaction and commits it; what names the operation for
// errors and must hold no secret.
func (s *Store) inTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres %s: %w", what, err)
	}
	defer rollback(ctx, tx)
	if err := fn(tx); err != nil {
		return fmt.Errorf("postgres %s: %w", what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres %s: %w", what, err)
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
func auditAt(ctx context.Context, tx pgx.Tx, at time.Time, actor store.Actor, action store.Action, addr string, c changes, reason string) error {
	return writeAudit(ctx, tx, store.AuditEntry{Time: at, Actor: actor, Action: action, Address: addr,
		Changes: c, Reason: reason})
}

// dbTime is t as PostgreSQL keeps it (UTC, microseconds), so a value written
// and read back compares equal.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Credentials returns the user's secrets for verification.
func (s *Store) Credentials(ctx context.Context, address string) (store.Credentials, error) {
	a, err := loadAccount(ctx, s.pool, address, false)
	if err != nil {
		return store.Credentials{}, fmt.Errorf("postgres credentials: %w", err)
	}
	return a.Credentials, nil
}

// SetPassword sets the password hash and the force-change flag.
func (s *Store) SetPassword(ctx context.Context, address, hash string, forceChange bool, actor store.Actor) error {
	if hash == "" {
		return fmt.Errorf("postgres set password of %s: %w: the password hash is empty; hash the password (accounts/password) "+
			"or use Unregister to remove portal access", address, store.ErrInvalid)
	}
	return s.inTx(ctx, "set password of "+address, func(tx pgx.Tx) error {
		a, err := loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE objects SET password_hash = $1, force_change = $2 WHERE id = $3`,
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
	tag, err := s.pool.Exec(ctx, `UPDATE objects o
		SET last_login = $2, last_seen = $2, failed_logins = 0, last_login_error = ''
		FROM addresses x WHERE x.address = $1 AND o.id = x.object_id`, canonical(address), dbTime(at))
	if err != nil {
		return fmt.Errorf("postgres login of %s: %w", address, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres login of %s: %w", address, store.ErrNotFound)
	}
	return nil
}

// The login writes each run one statement whose CTE locks the user's row
// before the update reads it, so concurrent attempts each see the one
// before; cur.locked is the state just before this write, so the lock is
// audited by the one write that took it, however many race. $1 is the
// address; each statement RETURNING cur.locked, o.address, accountColumns.
const (
	loginCur = `WITH cur AS (
		SELECT o.id, o.locked FROM addresses x JOIN objects o ON o.id = x.object_id
		WHERE x.address = $1 FOR UPDATE OF o)
	UPDATE objects o SET `
	loginReturning = ` FROM cur WHERE o.id = cur.id
	RETURNING cur.locked, o.address, ` + accountColumns

	// loginFailedSQL counts a failure and locks at $3 failures.
	loginFailedSQL = loginCur + `failed_logins = o.failed_logins + 1, last_login_error = $2,
		locked = o.locked OR o.failed_logins + 1 >= $3` + loginReturning
	// beginLoginSQL counts an attempt; with $2 failures already counted, or
	// locked, it locks and records $3 instead.
	beginLoginSQL = loginCur + `failed_logins = o.failed_logins + 1,
		last_login_error = CASE WHEN o.locked OR o.failed_logins >= $2 THEN $3 ELSE o.last_login_error END,
		locked = o.locked OR o.failed_logins >= $2` + loginReturning
	// loginRefusedSQL records why a counted attempt failed, locking at $3.
	loginRefusedSQL = loginCur + `last_login_error = $2, locked = o.locked OR o.failed_logins >= $3` + loginReturning
	// loginSucceededSQL resets the count unless a lock was taken meanwhile.
	loginSucceededSQL = loginCur + `
		last_login = CASE WHEN o.locked THEN o.last_login ELSE $2 END,
		last_seen = CASE WHEN o.locked THEN o.last_seen ELSE $2 END,
		failed_logins = CASE WHEN o.locked THEN o.failed_logins ELSE 0 END,
		last_login_error = CASE WHEN o.locked THEN o.last_login_error ELSE '' END` + loginReturning
)

// LoginFailed records a failed login atomically and audits the lock it
// causes, in the same transaction.
func (s *Store) LoginFailed(ctx context.Context, address, reason string, at time.Time) (store.Account, error) {
	return s.loginWrite(ctx, "failed login of "+address, address, at, loginFailedSQL, reason, store.LockAfter)
}

// BeginLogin counts an attempt before its password is verified.
func (s *Store) BeginLogin(ctx context.Context, address string, at time.Time) (store.Account, error) {
	return s.loginWrite(ctx, "login attempt of "+address, address, at, beginLoginSQL, store.LockAfter, store.ReasonLocked)
}

// FinishLogin records the outcome of an attempt BeginLogin let through.
func (s *Store) FinishLogin(ctx context.Context, address, reason string, at time.Time) (store.Account, error) {
	if reason == "" {
		return s.loginWrite(ctx, "login of "+address, address, at, loginSucceededSQL, dbTime(at))
	}
	return s.loginWrite(ctx, "login outcome of "+address, address, at, loginRefusedSQL, reason, store.LockAfter)
}

// loginWrite runs one of the login statements for address with args after
// $1, and audits the lock it took.
func (s *Store) loginWrite(ctx context.Context, what, address string, at time.Time, query string, args ...any) (store.Account, error) {
	var acct store.Account
	err := s.inTx(ctx, what, func(tx pgx.Tx) error {
		var wasLocked bool
		var primary string
		var extra accountScan
		err := tx.QueryRow(ctx, query, append([]any{canonical(address)}, args...)...).
			Scan(append([]any{&wasLocked, &primary}, extra.dest(&acct)...)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s: %w", address, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		extra.finish(&acct)
		if wasLocked || !acct.Locked {
			return nil
		}
		var c changes
		c.value(store.AuditLocked, false, true)
		return auditAt(ctx, tx, dbTime(at), store.LoginActor, store.ActionLock, primary, c,
			fmt.Sprintf("%d consecutive failed logins", acct.FailedLogins))
	})
	if err != nil {
		return store.Account{}, err
	}
	return acct, nil
}

// Unlock clears the lock and the failure count.
func (s *Store) Unlock(ctx context.Context, address string, actor store.Actor) error {
	return s.inTx(ctx, "unlock "+address, func(tx pgx.Tx) error {
		a, err := loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE objects SET locked = false, failed_logins = 0 WHERE id = $1`, a.id); err != nil {
			return err
		}
		var c changes
		c.value(store.AuditLocked, a.Account.Locked, false)
		return auditAt(ctx, tx, timestamp(), actor, store.ActionUnlock, a.Address, c, "")
	})
}

// Register makes the user a registered portal login with reg.
func (s *Store) Register(ctx context.Context, address string, reg store.Registration, actor store.Actor) error {
	return s.inTx(ctx, "register "+address, func(tx pgx.Tx) error {
		a, err := loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		return register(ctx, tx, a, reg, actor, store.ActionRegister, timestamp())
	})
}

// register stores reg for a (locked) and audits it as action.
func register(ctx context.Context, tx pgx.Tx, a account, reg store.Registration, actor store.Actor, action store.Action, at time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE objects SET registered = true, password_hash = $1, force_change = $2,
		question = $3, answer_hash = $4 WHERE id = $5`,
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
	return s.inTx(ctx, "unregister "+address, func(tx pgx.Tx) error {
		a, err := loadAccount(ctx, tx, address, true)
		if err != nil {
			return err
		}
		err = execBatch(ctx, tx,
			stmt{`UPDATE objects SET registered = false, password_hash = '', force_change = false,
				question = '', answer_hash = '', locked = false, failed_logins = 0 WHERE id = $1`, []any{a.id}},
			stmt{`DELETE FROM invitations WHERE object_id = $1 AND used IS NULL`, []any{a.id}})
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
		return auditAt(ctx, tx, timestamp(), actor, store.ActionUnregister, a.Address, c, "")
	})
}
