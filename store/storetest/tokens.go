package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func (e *env) tokens() []store.Token {
	e.t.Helper()
	list, err := e.s.Tokens(e.ctx)
	require.NoError(e.t, err)
	return list
}

func testTokens(t *testing.T, e *env) {
	require.Empty(t, e.tokens())

	start := time.Now().Add(-time.Minute) // tolerate a little clock skew
	ciHash, gwHash := tokenHash("ci-secret"), tokenHash("gateway-secret")
	ci, err := e.s.CreateToken(e.ctx, store.Token{Name: "ci", Hash: ciHash, Scopes: []string{store.ScopeRead, store.ScopeSync}}, adminActor)
	require.NoError(t, err)
	require.NotZero(t, ci.ID)
	require.Equal(t, "ci", ci.Name)
	require.Equal(t, []string{store.ScopeRead, store.ScopeSync}, ci.Scopes)
	require.True(t, ci.Created.After(start) && ci.Created.Before(time.Now().Add(time.Minute)), "created %s", ci.Created)
	require.True(t, ci.LastUsed.IsZero())
	gw, err := e.s.CreateToken(e.ctx, store.Token{Name: "gateway", Hash: gwHash, Scopes: []string{store.ScopeSenders}}, adminActor)
	require.NoError(t, err)
	require.NotEqual(t, ci.ID, gw.ID)

	// Names are unique; the refused token's hash is not stored.
	dupHash := tokenHash("duplicate-secret")
	_, err = e.s.CreateToken(e.ctx, store.Token{Name: "ci", Hash: dupHash, Scopes: []string{store.ScopeAdmin}}, adminActor)
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = e.s.TokenByHash(e.ctx, dupHash, t0)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Look-up by hash records the use.
	got, err := e.s.TokenByHash(e.ctx, ciHash, t0)
	require.NoError(t, err)
	require.Equal(t, ci.ID, got.ID)
	require.Equal(t, "ci", got.Name)
	require.Equal(t, ci.Scopes, got.Scopes)
	_, err = e.s.TokenByHash(e.ctx, tokenHash("unknown"), t0)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Listed by name, without hashes. Created is compared loosely: CreateToken
	// may return the clock's value before the backend rounds it.
	list := e.tokens()
	require.Len(t, list, 2)
	for i, want := range []store.Token{
		{ID: ci.ID, Name: "ci", Scopes: ci.Scopes, Created: ci.Created, LastUsed: t0},
		{ID: gw.ID, Name: "gateway", Scopes: []string{store.ScopeSenders}, Created: gw.Created},
	} {
		got := list[i]
		require.WithinDuration(t, want.Created, got.Created, time.Second, want.Name)
		require.Equal(t, want.LastUsed, got.LastUsed.UTC(), want.Name)
		want.Created, want.LastUsed = time.Time{}, time.Time{}
		got.Created, got.LastUsed = time.Time{}, time.Time{}
		require.Equal(t, want, got, "hash not listed")
	}

	// A later use moves LastUsed.
	_, err = e.s.TokenByHash(e.ctx, ciHash, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, t0.Add(time.Hour), e.tokens()[0].LastUsed.UTC())

	// Revoking.
	require.NoError(t, e.s.RevokeToken(e.ctx, "gateway", adminActor))
	list = e.tokens()
	require.Len(t, list, 1)
	require.Equal(t, "ci", list[0].Name)
	_, err = e.s.TokenByHash(e.ctx, gwHash, t0)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, e.s.RevokeToken(e.ctx, "gateway", adminActor), store.ErrNotFound)

	// Audited by token name (revoke_token too: the contract names only
	// add_role and create_token, but a token has no user address), never
	// with the hash.
	created := e.auditAction(store.ActionCreateToken)
	require.Len(t, created, 2)
	require.Equal(t, "gateway", created[0].Address)
	require.Equal(t, "ci", created[1].Address)
	revoked := e.auditAction(store.ActionRevokeToken)
	require.Len(t, revoked, 1)
	require.Equal(t, "gateway", revoked[0].Address)
	for _, en := range append(created, revoked...) {
		require.Equal(t, adminActor, en.Actor)
	}
	e.requireNoSecrets(ciHash, gwHash, dupHash)
}
