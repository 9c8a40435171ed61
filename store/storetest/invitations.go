package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func testInvitations(t *testing.T, e *env) {
	e.applyOK(
		create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})),
		create("bob@example.com", "B-1"),
		create("carol@example.com", "C-1"),
	)

	// By alias: the primary is stored.
	inv := store.Invitation{Address: "AL@example.com", TokenHash: tokenHash("alice-1"), Created: t0, Expires: t0.Add(72 * time.Hour)}
	require.NoError(t, e.s.CreateInvitation(e.ctx, inv, adminActor))
	got, err := e.s.Invitation(e.ctx, inv.TokenHash)
	require.NoError(t, err)
	want := inv
	want.Address = "alice@example.com"
	require.Equal(t, want, normInvitation(got))
	invites := e.auditOf("alice@example.com", store.ActionInvite)
	require.Len(t, invites, 1)
	require.Equal(t, adminActor, invites[0].Actor)
	require.Equal(t, "alice@example.com", invites[0].Address)
	require.False(t, e.account("alice@example.com").Registered, "an invitation registers nobody yet")

	// Unknown tokens.
	_, err = e.s.Invitation(e.ctx, tokenHash("unknown"))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = e.s.RedeemInvitation(e.ctx, tokenHash("unknown"), t0, registration("x", false), redeemer)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Redeeming registers the user with the given registration.
	reg := registration("alice", false)
	addr, err := e.s.RedeemInvitation(e.ctx, inv.TokenHash, t0.Add(time.Hour), reg, redeemer)
	require.NoError(t, err)
	require.Equal(t, "alice@example.com", addr)
	c := e.creds("alice@example.com")
	require.Equal(t, store.Credentials{
		Address: "alice@example.com", Enabled: true,
		Account:      store.Account{Registered: true, HasPassword: true},
		PasswordHash: reg.PasswordHash, Question: reg.Question, AnswerHash: reg.AnswerHash,
	}, c)
	used, err := e.s.Invitation(e.ctx, inv.TokenHash)
	require.NoError(t, err, "a used invitation is still found")
	require.False(t, used.Used.IsZero(), "redeemed")
	require.Equal(t, "alice@example.com", used.Address)
	redeemed := e.auditOf("alice@example.com", store.ActionRedeem)
	require.Len(t, redeemed, 1)
	require.Equal(t, redeemer, redeemed[0].Actor, "the end user who redeemed it is the actor")

	// Single use: the second redeem changes nothing.
	_, err = e.s.RedeemInvitation(e.ctx, inv.TokenHash, t0.Add(2*time.Hour), registration("thief", false), redeemer)
	require.ErrorIs(t, err, store.ErrInvitationUsed)
	require.Equal(t, c, e.creds("alice@example.com"))

	// Expiry is checked against the now the caller passes.
	bobInv := store.Invitation{Address: "bob@example.com", TokenHash: tokenHash("bob-1"), Created: t0, Expires: t0.Add(24 * time.Hour)}
	require.NoError(t, e.s.CreateInvitation(e.ctx, bobInv, adminActor))
	_, err = e.s.RedeemInvitation(e.ctx, bobInv.TokenHash, t0.Add(24*time.Hour+time.Second), registration("bob", false), redeemer)
	require.ErrorIs(t, err, store.ErrInvitationExpired)
	require.False(t, e.account("bob@example.com").Registered)
	got, err = e.s.Invitation(e.ctx, bobInv.TokenHash)
	require.NoError(t, err)
	require.True(t, got.Used.IsZero(), "an expired invitation is not consumed")
	addr, err = e.s.RedeemInvitation(e.ctx, bobInv.TokenHash, t0.Add(23*time.Hour), registration("bob", true), redeemer)
	require.NoError(t, err)
	require.Equal(t, "bob@example.com", addr)
	require.Equal(t, store.Account{Registered: true, HasPassword: true, ForceChange: true}, e.account("bob@example.com"))

	// A preset registration round-trips.
	preset := registration("carol-preset", true)
	carolInv := store.Invitation{Address: "carol@example.com", TokenHash: tokenHash("carol-1"), Created: t0, Expires: t0.Add(time.Hour), Preset: &preset}
	require.NoError(t, e.s.CreateInvitation(e.ctx, carolInv, adminActor))
	got, err = e.s.Invitation(e.ctx, carolInv.TokenHash)
	require.NoError(t, err)
	require.Equal(t, carolInv, normInvitation(got))

	e.requireNoSecrets(append(secretsOf(reg, preset, registration("bob", true)),
		inv.TokenHash, bobInv.TokenHash, carolInv.TokenHash)...)
}

// testInvitationReplaced: a user has at most one unused invitation.
func testInvitationReplaced(t *testing.T, e *env) {
	e.applyOK(
		create("alice@example.com", "A-1", set(store.FieldAliases, []string{"al@example.com"})),
		create("bob@example.com", "B-1"),
	)
	newInv := func(addr, token string) store.Invitation {
		inv := store.Invitation{Address: addr, TokenHash: tokenHash(token), Created: t0, Expires: t0.Add(time.Hour)}
		require.NoError(t, e.s.CreateInvitation(e.ctx, inv, adminActor))
		return inv
	}
	first := newInv("alice@example.com", "alice-1")
	bob := newInv("bob@example.com", "bob-1")
	second := newInv("al@example.com", "alice-2") // the same user by alias

	_, err := e.s.Invitation(e.ctx, first.TokenHash)
	require.ErrorIs(t, err, store.ErrNotFound, "the older unused invitation is dropped")
	_, err = e.s.RedeemInvitation(e.ctx, first.TokenHash, t0, registration("alice", false), redeemer)
	require.ErrorIs(t, err, store.ErrNotFound)
	for _, inv := range []store.Invitation{second, bob} {
		got, err := e.s.Invitation(e.ctx, inv.TokenHash)
		require.NoError(t, err, "another user's invitation and the new one stay")
		require.True(t, got.Used.IsZero())
	}

	// Only unused invitations are dropped: a redeemed one stays on record
	// (Invitation returns it "used or not").
	_, err = e.s.RedeemInvitation(e.ctx, second.TokenHash, t0, registration("alice", false), redeemer)
	require.NoError(t, err)
	third := newInv("alice@example.com", "alice-3")
	got, err := e.s.Invitation(e.ctx, second.TokenHash)
	require.NoError(t, err)
	require.False(t, got.Used.IsZero())
	_, err = e.s.Invitation(e.ctx, third.TokenHash)
	require.NoError(t, err)
}

// testRedeemConcurrent: of N simultaneous redeems of one token exactly one wins.
func testRedeemConcurrent(t *testing.T, e *env) {
	e.applyOK(create("dave@example.com", "D-1"))
	inv := store.Invitation{Address: "dave@example.com", TokenHash: tokenHash("race"), Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, e.s.CreateInvitation(e.ctx, inv, adminActor))

	const n = 10
	regs := make([]store.Registration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		regs[i] = registration(fmt.Sprintf("racer-%d", i), false)
		wg.Go(func() {
			_, errs[i] = e.s.RedeemInvitation(e.ctx, inv.TokenHash, t0.Add(time.Minute), regs[i], redeemer)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "redeems %d and %d both succeeded", winner, i)
			winner = i
			continue
		}
		require.ErrorIs(t, err, store.ErrInvitationUsed, "redeem %d", i)
	}
	require.NotEqual(t, -1, winner, "no redeem succeeded")
	c := e.creds("dave@example.com")
	require.True(t, c.Account.Registered)
	require.Equal(t, regs[winner].PasswordHash, c.PasswordHash, "the winner's registration is stored")
	require.Len(t, e.auditOf("dave@example.com", store.ActionRedeem), 1)
}
