package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dirsync/dirsync/store"
)

// API tokens. Only the SHA-256 of a token is stored, and no error or audit
// value shows it.

// CreateToken stores t and returns it with ID and Created set.
func (s *Store) CreateToken(ctx context.Context, t store.Token, actor store.Actor) (store.Token, error) {
	switch {
	case strings.TrimSpace(t.Name) == "":
		return store.Token{}, fmt.Errorf("sqlite create token: %w: the token name is empty; name the token after its user", store.ErrInvalid)
	case !utf8.ValidString(t.Name):
		return store.Token{}, fmt.Errorf("sqlite create token: %w: the token name is not valid UTF-8 text", store.ErrInvalid)
	case t.Hash == "":
		return store.Token{}, fmt.Errorf("sqlite create token %q: %w: the hash is empty; store the SHA-256 of a new random token",
			t.Name, store.ErrInvalid)
	}
	for _, sc := range t.Scopes {
		if !slices.Contains(store.Scopes, sc) {
			return store.Token{}, fmt.Errorf("sqlite create token %q: %w: unknown scope %q; use one of %s",
				t.Name, store.ErrInvalid, sc, strings.Join(store.Scopes, ", "))
		}
	}
	t.Created, t.LastUsed = timestamp(), time.Time{}
	if t.Expires.Year() >= 2200 {
		return store.Token{}, fmt.Errorf("sqlite create token %q: %w: the expiry %s is too far ahead; leave it out for a token that never expires",
			t.Name, store.ErrInvalid, t.Expires.UTC().Format(time.RFC3339))
	}
	if !t.Expires.IsZero() && !t.Expires.After(t.Created) {
		return store.Token{}, fmt.Errorf("sqlite create token %q: %w: the expiry %s is not in the future; give a later date or none",
			t.Name, store.ErrInvalid, t.Expires.UTC().Format(time.RFC3339))
	}
	t.Expires = t.Expires.UTC()
	if len(t.Scopes) == 0 {
		t.Scopes = nil
	}
	err := s.inTx(ctx, fmt.Sprintf("create token %q", t.Name), func(tx *sql.Tx) error {
		// Both uniqueness checks come before the insert: the constraint's
		// error would not say which one failed.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE name = ?`, t.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: a token named %q exists; choose another name or revoke it first", store.ErrConflict, t.Name)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE hash = ?`, t.Hash).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: another token has the same hash; make a new random token", store.ErrConflict)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (name, hash, scopes, created, expires) VALUES (?, ?, ?, ?, ?)`,
			t.Name, t.Hash, encodeList(t.Scopes), toNanos(t.Created), toNanos(t.Expires))
		if err != nil {
			return err
		}
		if t.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		c := changes{
			{Field: store.AuditName, After: t.Name},
			{Field: store.AuditScopes, After: listValue(t.Scopes)},
			{Field: store.AuditToken, After: store.Redacted},
		}
		if !t.Expires.IsZero() {
			c = append(c, store.FieldChange{Field: store.AuditExpires, After: t.Expires.Format(time.RFC3339)})
		}
		return auditAt(ctx, tx, t.Created, actor, store.ActionCreateToken, t.Name, c, "")
	})
	if err != nil {
		return store.Token{}, err
	}
	return t, nil
}

// TokenByHash finds a token by its hash with one read, outside the write
// lock: a flood of bad tokens never queues behind (or in front of) a sync's
// writes. The use is written only when the recorded one is older than
// store.TokenUseInterval, and never for an expired token.
func (s *Store) TokenByHash(ctx context.Context, hash string, at time.Time) (store.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT id, name, hash, scopes, created, last_used, expires
		FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("sqlite token: no token has this hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("sqlite token: %w", err)
	}
	if t.Expired(at) || at.Sub(t.LastUsed) < store.TokenUseInterval {
		return t, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// The condition keeps concurrent first uses from writing twice.
	if _, err := s.db.ExecContext(ctx, `UPDATE tokens SET last_used = ? WHERE id = ? AND last_used <= ?`,
		toNanos(at), t.ID, toNanos(at.Add(-store.TokenUseInterval))); err != nil {
		return store.Token{}, fmt.Errorf("sqlite token %q last use: %w", t.Name, err)
	}
	t.LastUsed = at.UTC()
	return t, nil
}

func scanToken(sc scanner) (store.Token, error) {
	var t store.Token
	var scopes string
	var created, lastUsed, expires int64
	if err := sc.Scan(&t.ID, &t.Name, &t.Hash, &scopes, &created, &lastUsed, &expires); err != nil {
		return store.Token{}, err
	}
	var err error
	if t.Scopes, err = decodeList(scopes); err != nil {
		return store.Token{}, fmt.Errorf("token %q scopes: %w", t.Name, err)
	}
	t.Created, t.LastUsed, t.Expires = fromNanos(created), fromNanos(lastUsed), fromNanos(expires)
	return t, nil
}

// Tokens lists the tokens by name, without their hashes.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, '', scopes, created, last_used, expires FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite tokens: %w", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite tokens: %w", err)
	}
	return out, nil
}

// RevokeToken deletes a token by name.
func (s *Store) RevokeToken(ctx context.Context, name string, actor store.Actor) error {
	return s.inTx(ctx, fmt.Sprintf("revoke token %q", name), func(tx *sql.Tx) error {
		var scopes string
		err := tx.QueryRowContext(ctx, `DELETE FROM tokens WHERE name = ? RETURNING scopes`, name).Scan(&scopes)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no token named %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		list, err := decodeList(scopes)
		if err != nil {
			return err
		}
		c := changes{
			{Field: store.AuditName, Before: name},
			{Field: store.AuditScopes, Before: listValue(list)},
		}
		return auditAt(ctx, tx, timestamp(), actor, store.ActionRevokeToken, name, c, "")
	})
}
