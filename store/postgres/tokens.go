package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dirsync/dirsync/store"
)

// API tokens. Only the SHA-256 of a token is stored, and no error or audit
// value shows it.

// CreateToken stores t and returns it with ID and Created set.
func (s *Store) CreateToken(ctx context.Context, t store.Token, actor store.Actor) (store.Token, error) {
	switch {
	case strings.TrimSpace(t.Name) == "":
		return store.Token{}, fmt.Errorf("postgres create token: %w: the token name is empty; name the token after its user", store.ErrInvalid)
	case !storable(t.Name):
		return store.Token{}, fmt.Errorf("postgres create token: %w: the token name is not valid UTF-8 text", store.ErrInvalid)
	case t.Hash == "":
		return store.Token{}, fmt.Errorf("postgres create token %q: %w: the hash is empty; store the SHA-256 of a new random token",
			t.Name, store.ErrInvalid)
	}
	for _, sc := range t.Scopes {
		if !slices.Contains(store.Scopes, sc) {
			return store.Token{}, fmt.Errorf("postgres create token %q: %w: unknown scope %q; use one of %s",
				t.Name, store.ErrInvalid, sc, strings.Join(store.Scopes, ", "))
		}
	}
	t.Created, t.LastUsed = timestamp(), time.Time{}
	if t.Expires.Year() >= 2200 {
		return store.Token{}, fmt.Errorf("postgres create token %q: %w: the expiry %s is too far ahead; leave it out for a token that never expires",
			t.Name, store.ErrInvalid, t.Expires.UTC().Format(time.RFC3339))
	}
	if !t.Expires.IsZero() && !t.Expires.After(t.Created) {
		return store.Token{}, fmt.Errorf("postgres create token %q: %w: the expiry %s is not in the future; give a later date or none",
			t.Name, store.ErrInvalid, t.Expires.UTC().Format(time.RFC3339))
	}
	var expires *time.Time
	if !t.Expires.IsZero() {
		t.Expires = dbTime(t.Expires)
		expires = &t.Expires
	}
	err := s.inTx(ctx, fmt.Sprintf("create token %q", t.Name), func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO tokens (name, hash, scopes, created, expires) VALUES ($1, $2, $3::text[], $4, $5)
			ON CONFLICT DO NOTHING RETURNING id`, t.Name, t.Hash, nonNil(t.Scopes), t.Created, expires).Scan(&t.ID)
		if errors.Is(err, pgx.ErrNoRows) {
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
		if expires != nil {
			c = append(c, store.FieldChange{Field: store.AuditExpires, After: t.Expires.Format(time.RFC3339)})
		}
		return auditAt(ctx, tx, t.Created, actor, store.ActionCreateToken, t.Name, c, "")
	})
	if err != nil {
		return store.Token{}, err
	}
	return t, nil
}

// TokenByHash finds a token by its hash with one read: a flood of bad tokens
// writes nothing and takes no row lock a sync could wait on. The use is
// written only when the recorded one is older than store.TokenUseInterval,
// and never for an expired token.
func (s *Store) TokenByHash(ctx context.Context, hash string, at time.Time) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT id, name, hash, scopes, created, last_used, expires
		FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, fmt.Errorf("postgres token: no token has this hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("postgres token: %w", err)
	}
	at = dbTime(at)
	if t.Expired(at) || at.Sub(t.LastUsed) < store.TokenUseInterval {
		return t, nil
	}
	// The condition keeps concurrent first uses from writing twice.
	if _, err := s.pool.Exec(ctx, `UPDATE tokens SET last_used = $2 WHERE id = $1 AND (last_used IS NULL OR last_used <= $3)`,
		t.ID, at, at.Add(-store.TokenUseInterval)); err != nil {
		return store.Token{}, fmt.Errorf("postgres token %q last use: %w", t.Name, err)
	}
	t.LastUsed = at
	return t, nil
}

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	var lastUsed, expires *time.Time
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.Scopes, &t.Created, &lastUsed, &expires); err != nil {
		return store.Token{}, err
	}
	t.Created, t.LastUsed, t.Expires = t.Created.UTC(), utcOrZero(lastUsed), utcOrZero(expires)
	if len(t.Scopes) == 0 {
		t.Scopes = nil
	}
	return t, nil
}

// Tokens lists the tokens by name, without their hashes.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, '', scopes, created, last_used, expires FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Token, error) { return scanToken(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres tokens: %w", err)
	}
	return out, nil
}

// RevokeToken deletes a token by name.
func (s *Store) RevokeToken(ctx context.Context, name string, actor store.Actor) error {
	return s.inTx(ctx, fmt.Sprintf("revoke token %q", name), func(tx pgx.Tx) error {
		var scopes []string
		err := tx.QueryRow(ctx, `DELETE FROM tokens WHERE name = $1 RETURNING scopes`, name).Scan(&scopes)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no token named %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		c := changes{
			{Field: store.AuditName, Before: name},
			{Field: store.AuditScopes, Before: listValue(scopes)},
		}
		return auditAt(ctx, tx, timestamp(), actor, store.ActionRevokeToken, name, c, "")
	})
}
