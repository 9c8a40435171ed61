package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// testTokenExpiryAndUse pins down expiry and the throttled LastUsed: a token
// used all the time is written at most once per store.TokenUseInterval, an
// expired one is still found (so the API can say it expired) but its use is
// not recorded.
func testTokenExpiryAndUse(t *testing.T, e *env) {
	expires := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Second)
	hash := tokenHash("expiring-secret")
	tok, err := e.s.CreateToken(e.ctx, store.Token{Name: "temp", Hash: hash, Scopes: []string{store.ScopeRead}, Expires: expires}, adminActor)
	require.NoError(t, err)
	require.True(t, tok.Expires.Equal(expires), "created %s", tok.Expires)
	forever, err := e.s.CreateToken(e.ctx, store.Token{Name: "forever", Hash: tokenHash("forever-secret")}, adminActor)
	require.NoError(t, err)
	require.True(t, forever.Expires.IsZero())

	listed := e.tokens()
	require.Len(t, listed, 2)
	require.True(t, listed[0].Expires.IsZero(), "forever")
	require.True(t, listed[1].Expires.Equal(expires), "temp expires %s", listed[1].Expires)

	// An already expired token is refused at creation.
	_, err = e.s.CreateToken(e.ctx, store.Token{Name: "stale", Hash: tokenHash("stale-secret"), Expires: time.Now().Add(-time.Hour)}, adminActor)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "expiry")
	_, err = e.s.CreateToken(e.ctx, store.Token{Name: "far", Hash: tokenHash("far-secret"), Expires: time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)}, adminActor)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "too far ahead")

	lastUsed := func() time.Time {
		for _, tk := range e.tokens() {
			if tk.Name == "temp" {
				return tk.LastUsed.UTC()
			}
		}
		t.Fatal("token temp not listed")
		return time.Time{}
	}
	// The first use is recorded; uses within the interval are not.
	now := expires.Add(-24 * time.Hour)
	got, err := e.s.TokenByHash(e.ctx, hash, now)
	require.NoError(t, err)
	require.True(t, got.Expires.Equal(expires))
	require.Equal(t, now, got.LastUsed.UTC())
	require.Equal(t, now, lastUsed())
	for i := range 59 {
		got, err = e.s.TokenByHash(e.ctx, hash, now.Add(time.Duration(i+1)*time.Second))
		require.NoError(t, err)
		require.Equal(t, now, got.LastUsed.UTC(), "use %d within the interval", i)
	}
	require.Equal(t, now, lastUsed(), "not written within %s", store.TokenUseInterval)
	later := now.Add(store.TokenUseInterval)
	_, err = e.s.TokenByHash(e.ctx, hash, later)
	require.NoError(t, err)
	require.Equal(t, later, lastUsed(), "written once the interval passed")

	// Expired: found, flagged by Expired, use not recorded.
	got, err = e.s.TokenByHash(e.ctx, hash, expires)
	require.NoError(t, err)
	require.True(t, got.Expired(expires))
	require.False(t, got.Expired(expires.Add(-time.Second)))
	require.Equal(t, later, lastUsed(), "an expired token's use is not recorded")

	// An unknown hash is not found and changes nothing.
	before := e.tokens()
	_, err = e.s.TokenByHash(e.ctx, tokenHash("nobody"), later.Add(time.Hour))
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, before, e.tokens())
}
