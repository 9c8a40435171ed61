package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/store"
)

// AuditJSON encodes an entry's changes as the audit table keeps them; a nil
// list is stored as [] so the column always holds an array.
func AuditJSON(changes []store.FieldChange) (string, error) {
	if changes == nil {
		changes = []store.FieldChange{}
	}
	body, err := json.Marshal(changes)
	if err != nil {
		return "", fmt.Errorf("audit encode: %w", err)
	}
	return string(body), nil
}

// writeAudit records e in the caller's transaction, so an entry exists exactly
// when its change was committed. It records field values as the change carried
// them: a Change carries no secrets, and the account methods put
// store.Redacted in place of every hash and answer they write.
func (s *Store) writeAudit(ctx context.Context, q Querier, e store.AuditEntry) error {
	body, err := AuditJSON(e.Changes)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO audit (time, actor_kind, actor_name, run_id, action, address, changes, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		s.d.Time(e.Time), e.Actor.Kind, e.Actor.Name, e.Actor.RunID, string(e.Action), e.Address, body, e.Reason)
	if err != nil {
		return fmt.Errorf("audit insert: %w", err)
	}
	return nil
}

// Audit returns audit entries, newest first. The id orders them: it grows with
// every insert, writers are serialised, and two entries can share a timestamp;
// so BeforeID pages without gaps or overlaps while entries are being added.
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Address != "" {
		// Entries about a role or a token carry its name, which is not an
		// address and keeps its case; a user's carry the canonical address.
		where = append(where, `address IN (`+arg(canonical(q.Address))+`, `+arg(q.Address)+`)`)
	}
	if q.ActorKind != "" {
		where = append(where, `actor_kind = `+arg(q.ActorKind))
	}
	if q.ActorName != "" {
		where = append(where, `actor_name = `+arg(q.ActorName))
	}
	if q.RunID != "" {
		where = append(where, `run_id = `+arg(q.RunID))
	}
	if q.Action != "" {
		where = append(where, `action = `+arg(string(q.Action)))
	}
	if !q.Since.IsZero() {
		// Truncated as times are stored, so an entry made at Since is in.
		where = append(where, `time >= `+arg(s.d.Time(s.dbTime(q.Since))))
	}
	if !q.Until.IsZero() {
		where = append(where, `time < `+arg(s.d.Time(q.Until)))
	}
	if q.BeforeID > 0 {
		where = append(where, `id < `+arg(q.BeforeID))
	}
	query := `SELECT id, time, actor_kind, actor_name, run_id, action, address, changes, reason FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id DESC LIMIT ` + arg(limit)
	var out []store.AuditEntry
	rows, err := s.conn.Query(ctx, query, args...)
	err = eachRow(rows, err, func(r Row) error {
		var e store.AuditEntry
		var action, body string
		if err := r.Scan(&e.ID, scanTime(&e.Time), &e.Actor.Kind, &e.Actor.Name, &e.Actor.RunID,
			&action, &e.Address, &body, &e.Reason); err != nil {
			return err
		}
		e.Action = store.Action(action)
		changes, err := store.DecodeChanges(body)
		if err != nil {
			return fmt.Errorf("entry %d: %w", e.ID, err)
		}
		e.Changes = changes
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, s.errorf("audit: %w", err)
	}
	return out, nil
}
