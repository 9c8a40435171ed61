package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dirsync/dirsync/store"
)

// writeAudit records e in the caller's transaction, so an entry exists exactly
// when its change was committed.
func writeAudit(ctx context.Context, q querier, e store.AuditEntry) error {
	changes := e.Changes
	if changes == nil {
		changes = []store.FieldChange{}
	}
	body, err := json.Marshal(changes)
	if err != nil {
		return fmt.Errorf("audit encode: %w", err)
	}
	_, err = q.ExecContext(ctx, `INSERT INTO audit
		(time, actor_kind, actor_name, run_id, action, address, changes, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Time.UnixNano(), e.Actor.Kind, e.Actor.Name, e.Actor.RunID, string(e.Action),
		e.Address, string(body), e.Reason)
	if err != nil {
		return fmt.Errorf("audit insert: %w", err)
	}
	return nil
}

// Audit returns audit entries, newest first. The id orders them: it grows with
// every insert, whereas two entries can share a timestamp.
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	var where []string
	var args []any
	if q.Address != "" {
		where = append(where, `address = ?`)
		args = append(args, canonical(q.Address))
	}
	if q.ActorKind != "" {
		where = append(where, `actor_kind = ?`)
		args = append(args, q.ActorKind)
	}
	if q.RunID != "" {
		where = append(where, `run_id = ?`)
		args = append(args, q.RunID)
	}
	query := `SELECT id, time, actor_kind, actor_name, run_id, action, address, changes, reason FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var ts int64
		var action, body string
		if err := rows.Scan(&e.ID, &ts, &e.Actor.Kind, &e.Actor.Name, &e.Actor.RunID,
			&action, &e.Address, &body, &e.Reason); err != nil {
			return nil, fmt.Errorf("sqlite audit: %w", err)
		}
		e.Time = time.Unix(0, ts).UTC()
		e.Action = store.Action(action)
		if e.Changes, err = store.DecodeChanges(body); err != nil {
			return nil, fmt.Errorf("sqlite audit entry %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite audit: %w", err)
	}
	return out, nil
}
