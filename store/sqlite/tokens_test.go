package sqlite

import (
	"crypto/sha256"
	"encoding/hex"
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

	s.writeMu.Lock()
	done := make(chan error, 1)
	go func() {
		for i := range 1000 {
			if _, err := s.TokenByHash(ctx, hashOf("busy"), at.Add(time.Duration(i)*50*time.Millisecond)); err != nil {
				done <- err
				return
			}
			if _, err := s.TokenByHash(ctx, hashOf("bad"), at); err == nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		s.writeMu.Unlock()
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		s.writeMu.Unlock()
		<-done
		t.Fatal("token checks waited for the write lock")
	}
	list, err := s.Tokens(ctx)
	require.NoError(t, err)
	require.Equal(t, at, list[0].LastUsed, "not written within the minute")
}
