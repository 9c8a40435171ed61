package sqlstore

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

// validText reports whether s can be stored as text in every backend: valid
// UTF-8 without NUL bytes.
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// CreateToken stores t and returns it with ID and Created set.
func (s *Store) CreateToken(ctx context.Context, t store.Token, actor store.Actor) (store.Token, error) {
	switch {
	case strings.TrimSpace(t.Name) == "":
		return store.Token{}, s.errorf("create token: %w: the token name is empty; name the token after its user", store.ErrInvalid)
	case !validText(t.Name):
		return store.Token{}, s.errorf("create token: %w: the token name is not valid UTF-8 text", store.ErrInvalid)
	case t.Hash == "":
		return store.Token{}, s.errorf("create token %q: %w: the hash is empty; store the SHA-256 of a new random token",
			t.Name, store.ErrInvalid)
	}
	for _, sc := range t.Scopes {
		if !slices.Contains(store.Scopes, sc) {
			return store.Token{}, s.errorf("create token %q: %w: unknown scope %q; use one of %s",
				t.Name, store.ErrInvalid, sc, strings.Join(store.Scopes, ", "))
		}
	}
	t.Created, t.LastUsed = s.now(), time.Time{}
	if t.Expires.Year() >= 2200 {
		return store.Token{}, s.errorf("create token %q: %w: the expiry %s is too far ahead; leave it out for a token that never expires",
			t.Name, store.ErrInvalid, t.Expires.UTC().Format(time.RFC3339))
	}
	if !t.Expires.IsZero() && !t.Expires.After(t.Created) {
		return store.Token{}, s.errorf("create token %q: %w: the expiry %s is not in the future; give a later date or none",
			t.Name, store.ErrInvalid, t.Expires.UTC().Format(time.RFC3339))
	}
	if !t.Expires.IsZero() {
		t.Expires = s.dbTime(t.Expires)
	}
	t.Scopes = nilIfEmpty(t.Scopes)
	err := s.inTx(ctx, LockAccount, fmt.Sprintf("create token %q", t.Name), func(tx Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO tokens (name, hash, scopes, created, expires) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING RETURNING id`,
			t.Name, t.Hash, s.d.Array(t.Scopes), s.d.Time(t.Created), s.d.Time(t.Expires)).Scan(&t.ID)
		if errors.Is(err, sql.ErrNoRows) {
			// Which uniqueness failed is told apart here: the constraint's
			// error would not say, and could quote the hash.
			var nameTaken bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE name = $1)`, t.Name).Scan(&nameTaken); err != nil {
				return err
			}
			if nameTaken {
				return fmt.Errorf("%w: a token named %q exists; choose another name or revoke it first", store.ErrConflict, t.Name)
			}
			return fmt.Errorf("%w: another token has the same hash; make a new random token", store.ErrConflict)
		}
		if err != nil {
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
		return s.auditAt(ctx, tx, t.Created, actor, store.ActionCreateToken, t.Name, c, "")
	})
	if err != nil {
		return store.Token{}, err
	}
	return t, nil
}

// TokenByHash finds a token by its hash with one read, outside any
// transaction: a flood of bad tokens writes nothing and never queues behind
// (or in front of) a sync's writes. The use is written only when the recorded
// one is older than store.TokenUseInterval, and never for an expired token.
func (s *Store) TokenByHash(ctx context.Context, hash string, at time.Time) (store.Token, error) {
	t, err := s.scanToken(s.conn.QueryRow(ctx, `SELECT id, name, hash, scopes, created, last_used, expires
		FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, s.errorf("token: no token has this hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, s.errorf("token: %w", err)
	}
	at = s.dbTime(at)
	if t.Expired(at) || at.Sub(t.LastUsed) < store.TokenUseInterval {
		return t, nil
	}
	// The condition keeps concurrent first uses from writing twice.
	if _, err := s.conn.Exec(ctx, `UPDATE tokens SET last_used = $2 WHERE id = $1 AND (last_used IS NULL OR last_used <= $3)`,
		t.ID, s.d.Time(at), s.d.Time(at.Add(-store.TokenUseInterval))); err != nil {
		return store.Token{}, s.errorf("token %q last use: %w", t.Name, err)
	}
	t.LastUsed = at
	return t, nil
}

func (s *Store) scanToken(row Row) (store.Token, error) {
	var t store.Token
	err := row.Scan(&t.ID, &t.Name, &t.Hash, s.d.ListDest(&t.Scopes), scanTime(&t.Created),
		scanTime(&t.LastUsed), scanTime(&t.Expires))
	t.Scopes = nilIfEmpty(t.Scopes)
	return t, err
}

// Tokens lists the tokens by name, without their hashes.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	var out []store.Token
	rows, err := s.conn.Query(ctx, `SELECT id, name, '', scopes, created, last_used, expires FROM tokens ORDER BY name`)
	err = eachRow(rows, err, func(r Row) error {
		t, err := s.scanToken(r)
		out = append(out, t)
		return err
	})
	if err != nil {
		return nil, s.errorf("tokens: %w", err)
	}
	return out, nil
}

// RevokeToken deletes a token by name.
func (s *Store) RevokeToken(ctx context.Context, name string, actor store.Actor) error {
	return s.inTx(ctx, LockAccount, fmt.Sprintf("revoke token %q", name), func(tx Tx) error {
		var scopes []string
		err := tx.QueryRow(ctx, `DELETE FROM tokens WHERE name = $1 RETURNING scopes`, name).Scan(s.d.ListDest(&scopes))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no token named %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		c := changes{
			{Field: store.AuditName, Before: name},
			{Field: store.AuditScopes, Before: listValue(scopes)},
		}
		return s.auditAt(ctx, tx, s.now(), actor, store.ActionRevokeToken, name, c, "")
	})
}

// listValue is a list's audit value: nil when empty, as store.FieldValues
// writes lists, so it reads back the same.
func listValue(xs []string) any {
	if len(xs) == 0 {
		return nil
	}
	return xs
}
