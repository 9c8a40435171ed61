package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// Apply executes the changes in one transaction, each inside its own savepoint
// so a refused change is rolled back alone. A database failure (as opposed to
// a refused change) aborts the whole request: its outcomes would be unknown.
func (s *Store) Apply(ctx context.Context, req store.ApplyRequest) ([]store.Outcome, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite apply: %w", err)
	}
	defer tx.Rollback()
	if req.Fence != nil {
		if err := checkFence(ctx, tx, *req.Fence); err != nil {
			return nil, err
		}
	}
	a := &applier{tx: newCachedTx(tx), actor: req.Actor, now: time.Now().UTC()}
	out := make([]store.Outcome, len(req.Changes))
	var applied, refused int
	for i, ch := range req.Changes {
		ok, err := a.applyInSavepoint(ctx, ch)
		if err != nil && !isRefusal(err) {
			return nil, fmt.Errorf("sqlite apply %s %s: %w", ch.Action, ch.Address, err)
		}
		out[i] = store.Outcome{Applied: ok, Err: err}
		if ok {
			applied++
		}
		if err != nil {
			refused++
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite apply commit: %w", err)
	}
	if ce := s.log.Check(zap.DebugLevel, "apply"); ce != nil {
		ce.Write(zap.String("actor_kind", req.Actor.Kind), zap.String("actor", req.Actor.Name),
			zap.String("run_id", req.Actor.RunID), zap.Int("changes", len(req.Changes)),
			zap.Int("applied", applied), zap.Int("refused", refused))
	}
	return out, nil
}

// checkFence refuses a token lower than the highest seen for its name and
// records a higher one. It runs in the request's transaction, so the check and
// the writes it guards cannot be separated by another writer.
func checkFence(ctx context.Context, tx *sql.Tx, f store.Fence) error {
	if f.Name == "" || f.Token > math.MaxInt64 {
		return fmt.Errorf("sqlite fence %q token %d: %w", f.Name, f.Token, store.ErrInvalid)
	}
	var seen int64
	err := tx.QueryRowContext(ctx, `SELECT token FROM fences WHERE name = ?`, f.Name).Scan(&seen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("sqlite fence %s: %w", f.Name, err)
	case uint64(seen) > f.Token:
		return fmt.Errorf("fence %s: token %d is older than %d, so another runner took the connector's lock after this one "+
			"(or the state backend was reset to an older copy): %w", f.Name, f.Token, seen, store.ErrStaleFence)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO fences (name, token) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET token = excluded.token WHERE excluded.token > fences.token`,
		f.Name, int64(f.Token))
	if err != nil {
		return fmt.Errorf("sqlite fence %s: %w", f.Name, err)
	}
	return nil
}

// isRefusal tells a change the store refused (reported in its Outcome) from a
// failure of the database itself.
func isRefusal(err error) bool {
	for _, target := range []error{store.ErrNotFound, store.ErrConflict, store.ErrNotInternal, store.ErrInvalid} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// applier executes the changes of one request inside its transaction.
type applier struct {
	tx    *cachedTx
	actor store.Actor
	now   time.Time
}

func (a *applier) applyInSavepoint(ctx context.Context, ch store.Change) (bool, error) {
	if _, err := a.tx.ExecContext(ctx, `SAVEPOINT change`); err != nil {
		return false, err
	}
	applied, err := a.change(ctx, ch)
	if err != nil {
		if _, rbErr := a.tx.ExecContext(ctx, `ROLLBACK TO change`); rbErr != nil {
			return false, rbErr
		}
	}
	if _, relErr := a.tx.ExecContext(ctx, `RELEASE change`); relErr != nil {
		return false, relErr
	}
	if err != nil {
		return false, constraintAsConflict(err)
	}
	return applied, nil
}

// constraintAsConflict reports a uniqueness violation as a conflict. The checks
// before each write should make this unreachable; the schema constraints are the
// backstop, and what they reject is still a refused change, not a broken store.
func constraintAsConflict(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		}
	}
	return err
}

func (a *applier) change(ctx context.Context, ch store.Change) (bool, error) {
	switch ch.Action {
	case store.ActionCreate:
		return a.create(ctx, ch)
	case store.ActionUpdate:
		cur, err := a.target(ctx, ch)
		if err != nil {
			return false, err
		}
		return a.modify(ctx, cur, store.ActionUpdate, ch.Changes, ch.Reason)
	case store.ActionDisable, store.ActionEnable:
		// Other field changes a plan attaches to these are for display only; the
		// action alone says what to do.
		cur, err := a.target(ctx, ch)
		if errors.Is(err, store.ErrNotFound) && ch.Action == store.ActionDisable && ch.Origin != "" && ch.Anchor != "" {
			// Nothing left to disable: already in effect.
			return false, nil
		}
		if err != nil {
			return false, err
		}
		enable := []store.FieldChange{{Field: store.FieldEnabled, After: ch.Action == store.ActionEnable}}
		return a.modify(ctx, cur, ch.Action, enable, ch.Reason)
	case store.ActionDelete:
		return a.delete(ctx, ch)
	default:
		return false, fmt.Errorf("%w: unknown action %q", store.ErrInvalid, ch.Action)
	}
}

// create inserts a new object. Re-applying a create is not an error: when the
// object already exists with the same origin and anchor it is brought to the
// requested values like an update, so a plan replayed after a crash converges.
// An empty Kind means a user.
func (a *applier) create(ctx context.Context, ch store.Change) (bool, error) {
	kind := ch.Kind
	if kind == "" {
		kind = store.KindUser
	}
	if kind != store.KindUser && kind != store.KindGroup {
		return false, fmt.Errorf("%w: unknown kind %q", store.ErrInvalid, ch.Kind)
	}
	if ch.Origin == "" {
		return false, fmt.Errorf("%w: create %s without an origin", store.ErrInvalid, ch.Address)
	}
	addr, err := a.address(ctx, ch.Address)
	if err != nil {
		return false, err
	}
	withAddress := append([]store.FieldChange{{Field: store.FieldAddress, After: addr}}, ch.Changes...)

	cur, err := objectByAddress(ctx, a.tx, addr, true)
	switch {
	case err == nil:
		if cur.Origin != ch.Origin || cur.Anchor != ch.Anchor || cur.Kind != kind {
			return false, &store.ConflictError{Address: addr, Owner: cur.Address, AsAlias: cur.Address != addr}
		}
		return a.modify(ctx, cur, store.ActionUpdate, withAddress, ch.Reason)
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	if ch.Anchor != "" {
		// The source renamed the object before this create reached the store:
		// the anchor, not the address, is its identity.
		cur, err := objectByAnchor(ctx, a.tx, ch.Origin, ch.Anchor)
		switch {
		case err == nil:
			if cur.Kind != kind {
				return false, fmt.Errorf("%w: %s anchor %s is the %s %s", store.ErrConflict,
					ch.Origin, ch.Anchor, cur.Kind, cur.Address)
			}
			return a.modify(ctx, cur, store.ActionUpdate, withAddress, ch.Reason)
		case !errors.Is(err, store.ErrNotFound):
			return false, err
		}
	}

	res, err := a.tx.ExecContext(ctx, `INSERT INTO objects
		(kind, address, origin, anchor, enabled, created, updated) VALUES (?, ?, ?, ?, 1, ?, ?)`,
		kind, addr, ch.Origin, ch.Anchor, a.now.UnixNano(), a.now.UnixNano())
	if err != nil {
		return false, fmt.Errorf("sqlite insert %s: %w", addr, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("sqlite insert %s: %w", addr, err)
	}
	if _, err := a.tx.ExecContext(ctx,
		`INSERT INTO addresses (address, object_id, is_alias) VALUES (?, ?, 0)`, addr, id); err != nil {
		return false, fmt.Errorf("sqlite insert %s: %w", addr, err)
	}
	blank := store.User{ID: id, Kind: kind, Address: addr, Origin: ch.Origin, Anchor: ch.Anchor, Enabled: true}
	if err := a.setFields(ctx, blank, ch.Changes); err != nil {
		return false, err
	}
	after, err := a.load(ctx, id)
	if err != nil {
		return false, err
	}
	return true, a.audit(ctx, store.ActionCreate, addr, store.CreateChanges(after), ch.Reason)
}

// modify applies fields to cur and records what actually changed; nothing
// changed means not applied, which is how re-applied changes stay silent.
func (a *applier) modify(ctx context.Context, cur store.User, action store.Action, fields []store.FieldChange, reason string) (bool, error) {
	if err := a.setFields(ctx, cur, fields); err != nil {
		return false, err
	}
	after, err := a.load(ctx, cur.ID)
	if err != nil {
		return false, err
	}
	diff := store.DiffUsers(cur, after)
	if len(diff) == 0 {
		return false, nil
	}
	if _, err := a.tx.ExecContext(ctx, `UPDATE objects SET updated = ? WHERE id = ?`,
		a.now.UnixNano(), cur.ID); err != nil {
		return false, fmt.Errorf("sqlite update %s: %w", cur.Address, err)
	}
	return true, a.audit(ctx, action, cur.Address, diff, reason)
}

// delete removes an object; the schema's cascades remove its addresses and
// memberships. Deleting what is not there is already in effect, not an error.
func (a *applier) delete(ctx context.Context, ch store.Change) (bool, error) {
	cur, err := a.target(ctx, ch)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := a.tx.ExecContext(ctx, `DELETE FROM objects WHERE id = ?`, cur.ID); err != nil {
		return false, fmt.Errorf("sqlite delete %s: %w", cur.Address, err)
	}
	return true, a.audit(ctx, store.ActionDelete, cur.Address, store.DeleteChanges(cur), ch.Reason)
}

// target finds the object an update, enable, disable or delete is about. A change
// that carries (origin, anchor) means that source object: found by its anchor
// first, so a disable planned from a cached address can never hit another object
// that holds the address now. An update may fall back to the primary address (a
// soft match adopting a manual user, a re-anchor); an enable, disable or delete of
// an anchor that no longer exists has nothing to do. An alias never matches, so a
// change cannot hit an object by accident.
func (a *applier) target(ctx context.Context, ch store.Change) (store.User, error) {
	addr, err := mailaddr.Normalize(ch.Address)
	if err != nil {
		return store.User{}, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	var cur store.User
	err = store.ErrNotFound
	anchored := ch.Origin != "" && ch.Anchor != ""
	if anchored {
		cur, err = objectByAnchor(ctx, a.tx, ch.Origin, ch.Anchor)
		if errors.Is(err, store.ErrNotFound) && ch.Action != store.ActionUpdate {
			return store.User{}, fmt.Errorf("%s/%s: %w", ch.Origin, ch.Anchor, store.ErrNotFound)
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		cur, err = objectByAddress(ctx, a.tx, addr, false)
	}
	if errors.Is(err, store.ErrNotFound) {
		o, ownErr := a.owner(ctx, addr)
		if ownErr != nil {
			return store.User{}, ownErr
		}
		if o.found {
			return store.User{}, fmt.Errorf("%s is an alias of %s, not a primary address: %w",
				addr, o.primary, store.ErrNotFound)
		}
		return store.User{}, fmt.Errorf("%s: %w", addr, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, err
	}
	if ch.Kind != "" && ch.Kind != cur.Kind {
		return store.User{}, fmt.Errorf("%w: %s is a %s, not a %s", store.ErrInvalid, cur.Address, cur.Kind, ch.Kind)
	}
	return cur, nil
}

func (a *applier) load(ctx context.Context, id int64) (store.User, error) {
	return loadOne(ctx, a.tx, fmt.Sprintf("object %d", id),
		`SELECT `+objectColumns+` FROM objects o WHERE o.id = ?`, id)
}

func (a *applier) audit(ctx context.Context, action store.Action, addr string, changes []store.FieldChange, reason string) error {
	return writeAudit(ctx, a.tx, store.AuditEntry{
		Time: a.now, Actor: a.actor, Action: action, Address: addr, Changes: changes, Reason: reason,
	})
}

// address normalises raw and checks that its domain is internal.
func (a *applier) address(ctx context.Context, raw string) (string, error) {
	addr, err := mailaddr.Normalize(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	domain := mailaddr.Domain(addr)
	ok, err := isInternal(ctx, a.tx, domain)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &store.NotInternalError{Domain: domain}
	}
	return addr, nil
}

// addressOwner says which object holds an address, and how.
type addressOwner struct {
	found   bool
	id      int64
	primary string // the owner's primary address
	alias   bool   // held as an alias
}

func (a *applier) owner(ctx context.Context, addr string) (addressOwner, error) {
	o := addressOwner{found: true}
	err := a.tx.QueryRowContext(ctx, `SELECT a.object_id, o.address, a.is_alias
		FROM addresses a JOIN objects o ON o.id = a.object_id WHERE a.address = ?`, addr).
		Scan(&o.id, &o.primary, &o.alias)
	if errors.Is(err, sql.ErrNoRows) {
		return addressOwner{}, nil
	}
	if err != nil {
		return addressOwner{}, fmt.Errorf("sqlite owner of %s: %w", addr, err)
	}
	return o, nil
}
