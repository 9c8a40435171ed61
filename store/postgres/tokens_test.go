package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// tokenWrites counts the UPDATE statements on tokens a pool sends.
type tokenWrites struct{ n atomic.Int64 }

func (w *tokenWrites) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(strings.TrimSpace(d.SQL), "UPDATE tokens") {
		w.n.Add(1)
	}
	return ctx
}
func (w *tokenWrites) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func hashOf(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// 1,000 uses of one token within a minute write last_used once, and 1,000
// bad tokens write nothing.
func TestTokenUseWrites(t *testing.T) {
	cfg := testSchema(t)
	writes := &tokenWrites{}
	cfg.ConnConfig.Tracer = writes
	s := openTest(t, cfg)
	ctx := t.Context()
	_, err := s.CreateToken(ctx, store.Token{Name: "busy", Hash: hashOf("busy"), Scopes: []string{store.ScopeRead}}, store.Actor{Kind: "admin", Name: "root"})
	require.NoError(t, err)
	at := time.Now().UTC().Truncate(time.Second)
	for i := range 1000 {
		_, err := s.TokenByHash(ctx, hashOf("busy"), at.Add(time.Duration(i)*50*time.Millisecond))
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, writes.n.Load(), "1,000 uses in 50 s")
	for i := range 1000 {
		_, err := s.TokenByHash(ctx, hashOf("bad"+string(rune('a'+i%26))), at)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	require.EqualValues(t, 1, writes.n.Load(), "bad tokens write nothing")
	_, err = s.TokenByHash(ctx, hashOf("busy"), at.Add(time.Minute))
	require.NoError(t, err)
	require.EqualValues(t, 2, writes.n.Load(), "a minute later, the use is written again")
}

// A check of a token used lately takes no row lock, so it does not wait for a
// transaction holding the token's row (a revoke or another check in flight).
func TestTokenCheckTakesNoLock(t *testing.T) {
	s := openTest(t, testSchema(t))
	ctx := t.Context()
	_, err := s.CreateToken(ctx, store.Token{Name: "busy", Hash: hashOf("busy")}, store.Actor{Kind: "admin", Name: "root"})
	require.NoError(t, err)
	at := time.Now().UTC()
	_, err = s.TokenByHash(ctx, hashOf("busy"), at)
	require.NoError(t, err)
	tx, err := s.c.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() {
		if err := tx.Rollback(ctx); err != nil {
			t.Errorf("roll back the transaction holding the lock: %v", err)
		}
	}()
	_, err = tx.Exec(ctx, `SELECT 1 FROM tokens WHERE name = 'busy' FOR UPDATE`)
	require.NoError(t, err)
	quick, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = s.TokenByHash(quick, hashOf("busy"), at.Add(time.Second))
	require.NoError(t, err)
}
