package sqlite

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/store"
)

func hashOf(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// While a writer (a sync's Apply) holds the write lock, token checks still
// answer: bad tokens and a token used within the last minute need no write.
func TestTokenChecksDoNotWaitForWriters(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "dirsync.db"), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	_, err = s.CreateToken(ctx, store.Token{Name: "busy", Hash: hashOf("busy")}, store.Actor{Kind: "admin", Name: "root"})
	require.NoError(t, err)
	at := time.Now().UTC()
	_, err = s.TokenByHash(ctx, hashOf("busy"), at)
	require.NoError(t, err)

	s.c.writeMu.Lock()
	done := make(chan error, 1)
	go func() {
		for i := range 1000 {
			if _, err := s.TokenByHash(ctx, hashOf("busy"), at.Add(time.Duration(i)*50*time.Millisecond)); err != nil {
				done <- err
				return
			}
			if _, err := s.TokenByHash(ctx, hashOf("bad"), at); err == nil {
				done <- errors.New("an unknown token was accepted")
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		s.c.writeMu.Unlock()
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		s.c.writeMu.Unlock()
		t.Fatalf("token checks waited for the write lock (then ended with %v)", <-done)
	}
	list, err := s.Tokens(ctx)
	require.NoError(t, err)
	require.Equal(t, at, list[0].LastUsed, "not written within the minute")
}
