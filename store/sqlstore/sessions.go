package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/dirsync/dirsync/store"
)

// Console sessions: one statement each, outside any transaction, like a
// token's use. Only the hash of a session's id is stored, and no error shows
// it. Sessions are not audited.

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	switch {
	case strings.TrimSpace(sess.Hash) == "" || !validText(sess.Hash):
		return s.errorf("create session: %w: the hash is empty or not text; store the SHA-256 of a new random id", store.ErrInvalid)
	case strings.TrimSpace(sess.Address) == "" || !validText(sess.Address):
		return s.errorf("create session: %w: the address is empty or not text; give the administrator's primary address", store.ErrInvalid)
	case sess.Expires.IsZero():
		return s.errorf("create session of %s: %w: no expiry; a session must expire", sess.Address, store.ErrInvalid)
	}
	if sess.Created.IsZero() {
		sess.Created = s.now()
	}
	if sess.LastSeen.IsZero() {
		sess.LastSeen = sess.Created
	}
	n, err := s.conn.Exec(ctx, `INSERT INTO sessions (hash, address, created, last_seen, expires)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		sess.Hash, sess.Address, s.d.Time(sess.Created), s.d.Time(sess.LastSeen), s.d.Time(sess.Expires))
	if err != nil {
		return s.errorf("create session of %s: %w", sess.Address, err)
	}
	if n == 0 {
		return s.errorf("create session of %s: %w: another session has the same hash; make a new random id",
			sess.Address, store.ErrConflict)
	}
	return nil
}

// Session returns the session with that hash, expired or not.
func (s *Store) Session(ctx context.Context, hash string) (store.Session, error) {
	sess := store.Session{Hash: hash}
	err := s.conn.QueryRow(ctx, `SELECT address, created, last_seen, expires FROM sessions WHERE hash = $1`, hash).
		Scan(&sess.Address, scanTime(&sess.Created), scanTime(&sess.LastSeen), scanTime(&sess.Expires))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, s.errorf("session: no session has this hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, s.errorf("session: %w", err)
	}
	return sess, nil
}

// TouchSession moves the session's LastSeen, and its user's, forward to at:
// a signed-in user's activity keeps the user online.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	t := s.d.Time(s.dbTime(at))
	if _, err := s.conn.Exec(ctx, `UPDATE sessions SET last_seen = $2 WHERE hash = $1 AND last_seen < $2`,
		hash, t); err != nil {
		return s.errorf("touch session: %w", err)
	}
	var addr string
	err := s.conn.QueryRow(ctx, `SELECT address FROM sessions WHERE hash = $1`, hash).Scan(&addr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err == nil {
		_, err = s.conn.Exec(ctx, `UPDATE objects SET last_seen = $2
			WHERE id = (SELECT object_id FROM addresses WHERE address = $1) AND (last_seen IS NULL OR last_seen < $2)`,
			canonical(addr), t)
	}
	if err != nil {
		return s.errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes one session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.conn.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
		return s.errorf("delete session: %w", err)
	}
	return nil
}

// PurgeSessions removes the sessions idle since before idleBefore or expired
// at now.
func (s *Store) PurgeSessions(ctx context.Context, idleBefore, now time.Time) (int, error) {
	n, err := s.conn.Exec(ctx, `DELETE FROM sessions WHERE last_seen < $1 OR expires <= $2`,
		s.d.Time(idleBefore), s.d.Time(now))
	if err != nil {
		return 0, s.errorf("purge sessions: %w", err)
	}
	return int(n), nil
}

// DomainCounts counts the objects whose primary address is in each internal
// domain, in one scan of the objects grouped by domain.
func (s *Store) DomainCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	rows, err := s.conn.Query(ctx, `SELECT d.name, COALESCE(c.n, 0) FROM domains d LEFT JOIN (
			SELECT `+s.d.Domain("o.address")+` AS domain, COUNT(*) AS n FROM objects o GROUP BY 1
		) c ON c.domain = d.name`)
	err = eachRow(rows, err, func(r Row) error {
		var name string
		var n int64
		err := r.Scan(&name, &n)
		out[name] = int(n)
		return err
	})
	if err != nil {
		return nil, s.errorf("domain counts: %w", err)
	}
	return out, nil
}
