package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// Apply executes the changes in one writer transaction, each inside its own
// savepoint so a refused change is rolled back alone; a Conn that is a
// BulkCreator with Bulk on inserts runs of creates set-based. A database failure (as opposed to
// a refused change) aborts the whole request: its outcomes would be unknown.
func (s *Store) Apply(ctx context.Context, req store.ApplyRequest) ([]store.Outcome, error) {
	if f := req.Fence; f != nil && (f.Name == "" || f.Token > math.MaxInt64) {
		return nil, s.errorf("fence %q token %d: %w", f.Name, f.Token, store.ErrInvalid)
	}
	tx, a, err := s.startWrite(ctx, req.Actor, req.Fence)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	out := make([]store.Outcome, len(req.Changes))
	if bc, ok := s.conn.(BulkCreator); ok && bc.Bulk() {
		err = ApplyBatched(ctx, a, bc, req.Changes, out)
	} else {
		for i, ch := range req.Changes {
			if out[i], err = a.ApplyOne(ctx, ch); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.errorf("apply commit: %w", err)
	}
	if ce := s.log.Check(zap.DebugLevel, "apply"); ce != nil {
		var applied, refused int
		for _, o := range out {
			if o.Applied {
				applied++
			}
			if o.Err != nil {
				refused++
			}
		}
		ce.Write(zap.String("actor_kind", req.Actor.Kind), zap.String("actor", req.Actor.Name),
			zap.String("run_id", req.Actor.RunID), zap.Int("changes", len(req.Changes)),
			zap.Int("applied", applied), zap.Int("refused", refused))
	}
	return out, nil
}

// Import executes a CSV import in one writer transaction: the first refused
// change or password rolls back everything.
func (s *Store) Import(ctx context.Context, req store.ImportRequest) ([]store.Outcome, error) {
	tx, a, err := s.startWrite(ctx, req.Actor, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	out := make([]store.Outcome, len(req.Changes))
	for i, ch := range req.Changes {
		o, err := a.ApplyOne(ctx, ch)
		if err != nil {
			return nil, err
		}
		if o.Err != nil {
			return nil, &store.ImportError{Index: i, Err: o.Err}
		}
		out[i] = o
	}
	for i, p := range req.Passwords {
		if err := s.importPassword(ctx, tx, p, req.Actor, a.now); err != nil {
			if err = s.d.Classify(err); IsRefusal(err) {
				return nil, &store.ImportError{Index: i, Password: true, Err: err}
			}
			return nil, s.errorf("import password of %s: %w", p.Address, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.errorf("import commit: %w", err)
	}
	return out, nil
}

// startWrite begins a writer transaction, checks and records the fence and
// reads the internal domains, in one round trip where the backend batches.
// The fence check runs in the request's transaction, among the writers, so the
// check and the writes it guards cannot be separated by another writer; the
// upsert only ever raises the token, so running it before the check is known
// is harmless when the token turns out stale (the transaction is rolled back).
func (s *Store) startWrite(ctx context.Context, actor store.Actor, f *store.Fence) (Tx, *Applier, error) {
	tx, err := s.conn.Begin(ctx, LockWriters)
	if err != nil {
		return nil, nil, s.errorf("write: %w", err)
	}
	var seen int64
	found := false
	domains := map[string]bool{}
	var stmts []Stmt
	if f != nil {
		stmts = append(stmts,
			Stmt{SQL: `SELECT token FROM fences WHERE name = $1`, Args: []any{f.Name},
				Scan: func(r Row) error { found = true; return r.Scan(&seen) }},
			Stmt{SQL: `INSERT INTO fences (name, token) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET token = excluded.token WHERE excluded.token > fences.token`,
				Args: []any{f.Name, int64(f.Token)}})
	}
	stmts = append(stmts, Stmt{SQL: `SELECT name FROM domains`, Scan: func(r Row) error {
		var name string
		err := r.Scan(&name)
		domains[name] = true
		return err
	}})
	if err := tx.Batch(ctx, stmts...); err != nil {
		tx.Rollback(ctx)
		return nil, nil, s.errorf("write start: %w", err)
	}
	if f != nil && found && uint64(seen) > f.Token {
		tx.Rollback(ctx)
		return nil, nil, fmt.Errorf("fence %s: token %d is older than %d, so another runner took the connector's lock after this one "+
			"(or the state backend was reset to an older copy): %w", f.Name, f.Token, seen, store.ErrStaleFence)
	}
	return tx, &Applier{s: s, tx: tx, actor: actor, now: s.now(), domains: domains}, nil
}

// Applier executes the changes of one request inside its transaction.
type Applier struct {
	s       *Store
	tx      Tx
	actor   store.Actor
	now     time.Time
	domains map[string]bool // internal domains, read among the writers
}

// Tx is the request's transaction.
func (a *Applier) Tx() Tx { return a.tx }

// Actor is who makes the request.
func (a *Applier) Actor() store.Actor { return a.actor }

// Now is the request's time, which every row it writes carries.
func (a *Applier) Now() time.Time { return a.now }

// Dialect is the backend's dialect.
func (a *Applier) Dialect() *Dialect { return a.s.d }

// ApplyOne runs one change in its own savepoint. The error is for the
// request: a refusal is returned in the Outcome.
func (a *Applier) ApplyOne(ctx context.Context, ch store.Change) (store.Outcome, error) {
	fail := func(err error) (store.Outcome, error) {
		return store.Outcome{}, a.s.errorf("apply %s %s: %w", ch.Action, ch.Address, err)
	}
	if _, err := a.tx.Exec(ctx, `SAVEPOINT change`); err != nil {
		return fail(err)
	}
	applied, err := a.change(ctx, ch)
	if err != nil {
		err = a.s.d.Classify(err)
		if !IsRefusal(err) {
			return fail(err)
		}
		if _, rbErr := a.tx.Exec(ctx, `ROLLBACK TO SAVEPOINT change`); rbErr != nil {
			return fail(rbErr)
		}
	}
	if _, relErr := a.tx.Exec(ctx, `RELEASE SAVEPOINT change`); relErr != nil {
		return fail(relErr)
	}
	return store.Outcome{Applied: applied, Err: err}, nil
}

func (a *Applier) change(ctx context.Context, ch store.Change) (bool, error) {
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

// CreateKind is the kind a create makes (an empty Kind means a user), or
// ErrInvalid for a create that names no known kind or no origin.
func CreateKind(ch store.Change) (string, error) {
	kind := ch.Kind
	if kind == "" {
		kind = store.KindUser
	}
	if kind != store.KindUser && kind != store.KindGroup {
		return "", fmt.Errorf("%w: unknown kind %q", store.ErrInvalid, ch.Kind)
	}
	if ch.Origin == "" {
		return "", fmt.Errorf("%w: create %s without an origin", store.ErrInvalid, ch.Address)
	}
	return kind, nil
}

// create inserts a new object. Re-applying a create is not an error: when the
// object already exists with the same origin and anchor it is brought to the
// requested values like an update, so a plan replayed after a crash converges.
func (a *Applier) create(ctx context.Context, ch store.Change) (bool, error) {
	kind, err := CreateKind(ch)
	if err != nil {
		return false, err
	}
	addr, err := a.Address(ch.Address)
	if err != nil {
		return false, err
	}
	withAddress := append([]store.FieldChange{{Field: store.FieldAddress, After: addr}}, ch.Changes...)

	cur, err := a.s.objectByAddress(ctx, a.tx, addr, true)
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
		cur, err := a.s.objectByAnchor(ctx, a.tx, ch.Origin, ch.Anchor)
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

	var id int64
	err = a.tx.Batch(ctx,
		Stmt{SQL: `INSERT INTO objects (kind, address, origin, anchor, enabled, created, updated)
			VALUES ($1, $2, $3, $4, true, $5, $5)`, Args: []any{kind, addr, ch.Origin, ch.Anchor, a.s.d.Time(a.now)}},
		Stmt{SQL: `INSERT INTO addresses (address, object_id, is_alias)
			SELECT address, id, false FROM objects WHERE address = $1 RETURNING object_id`, Args: []any{addr},
			Scan: func(r Row) error { return r.Scan(&id) }})
	if err != nil {
		return false, a.s.errorf("insert %s: %w", addr, err)
	}
	blank := store.User{ID: id, Kind: kind, Address: addr, Origin: ch.Origin, Anchor: ch.Anchor, Enabled: true}
	if err := a.setFields(ctx, blank, ch.Changes); err != nil {
		return false, err
	}
	after, err := a.s.objectByID(ctx, a.tx, id)
	if err != nil {
		return false, err
	}
	return true, a.audit(ctx, store.ActionCreate, addr, store.CreateChanges(after), ch.Reason)
}

// modify applies fields to cur and records what actually changed; nothing
// changed means not applied, which is how re-applied changes stay silent.
func (a *Applier) modify(ctx context.Context, cur store.User, action store.Action, fields []store.FieldChange, reason string) (bool, error) {
	if err := a.setFields(ctx, cur, fields); err != nil {
		return false, err
	}
	after, err := a.s.objectByID(ctx, a.tx, cur.ID)
	if err != nil {
		return false, err
	}
	diff := store.DiffUsers(cur, after)
	if len(diff) == 0 {
		return false, nil
	}
	if _, err := a.tx.Exec(ctx, `UPDATE objects SET updated = $1 WHERE id = $2`, a.s.d.Time(a.now), cur.ID); err != nil {
		return false, a.s.errorf("update %s: %w", cur.Address, err)
	}
	return true, a.audit(ctx, action, cur.Address, diff, reason)
}

// delete removes an object; the schema's cascades remove its addresses and
// memberships. Deleting what is not there is already in effect, not an error.
func (a *Applier) delete(ctx context.Context, ch store.Change) (bool, error) {
	cur, err := a.target(ctx, ch)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := a.tx.Exec(ctx, `DELETE FROM objects WHERE id = $1`, cur.ID); err != nil {
		return false, a.s.errorf("delete %s: %w", cur.Address, err)
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
func (a *Applier) target(ctx context.Context, ch store.Change) (store.User, error) {
	addr, err := mailaddr.Normalize(ch.Address)
	if err != nil {
		return store.User{}, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	var cur store.User
	err = store.ErrNotFound
	if ch.Origin != "" && ch.Anchor != "" {
		cur, err = a.s.objectByAnchor(ctx, a.tx, ch.Origin, ch.Anchor)
		if errors.Is(err, store.ErrNotFound) && ch.Action != store.ActionUpdate {
			return store.User{}, fmt.Errorf("%s/%s: %w", ch.Origin, ch.Anchor, store.ErrNotFound)
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		cur, err = a.s.objectByAddress(ctx, a.tx, addr, false)
	}
	if errors.Is(err, store.ErrNotFound) {
		o, ownErr := a.owner(ctx, addr)
		if ownErr != nil {
			return store.User{}, ownErr
		}
		if o.Found {
			return store.User{}, fmt.Errorf("%s is an alias of %s, not a primary address: %w",
				addr, o.Primary, store.ErrNotFound)
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

func (a *Applier) audit(ctx context.Context, action store.Action, addr string, changes []store.FieldChange, reason string) error {
	return a.s.writeAudit(ctx, a.tx, store.AuditEntry{
		Time: a.now, Actor: a.actor, Action: action, Address: addr, Changes: changes, Reason: reason,
	})
}

// Address normalises raw and checks that its domain is internal.
func (a *Applier) Address(raw string) (string, error) {
	addr, err := mailaddr.Normalize(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	if domain := mailaddr.Domain(addr); !a.domains[domain] {
		return "", &store.NotInternalError{Domain: domain}
	}
	return addr, nil
}

// Owner says which object holds an address, and how.
type Owner struct {
	Found   bool
	ID      int64
	Primary string // the owner's primary address
	Alias   bool   // held as an alias
}

func (a *Applier) owner(ctx context.Context, addr string) (Owner, error) {
	owners := map[string]Owner{}
	if err := a.tx.Batch(ctx, a.OwnersStmt([]string{addr}, owners)); err != nil {
		return Owner{}, a.s.errorf("owners: %w", err)
	}
	return owners[addr], nil
}

// OwnersStmt is the statement that reads who holds each of addrs into into.
func (a *Applier) OwnersStmt(addrs []string, into map[string]Owner) Stmt {
	return Stmt{
		SQL: `SELECT x.address, x.object_id, o.address, x.is_alias
			FROM addresses x JOIN objects o ON o.id = x.object_id WHERE ` + a.s.d.In("x.address", "$1", "text"),
		Args: []any{a.s.d.Array(addrs)},
		Scan: func(r Row) error {
			var addr string
			o := Owner{Found: true}
			err := r.Scan(&addr, &o.ID, &o.Primary, &o.Alias)
			into[addr] = o
			return err
		},
	}
}
