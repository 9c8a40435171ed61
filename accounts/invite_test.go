package accounts_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/store"
)

func TestInviteAndRedeem(t *testing.T) {
	e := newEnv(t, "bob@example.com")
	ctx := t.Context()

	inv, err := e.svc.Invite(ctx, "BOB@example.com", accounts.InviteRequest{}, admin)
	require.NoError(t, err)
	require.Equal(t, "bob@example.com", inv.Address)
	require.Equal(t, e.clk.Now().Add(accounts.DefaultExpiry), inv.Expires)
	require.False(t, inv.Preset)
	raw, err := base64.RawURLEncoding.DecodeString(inv.Token)
	require.NoError(t, err)
	require.Len(t, raw, 32)
	stored, err := e.st.Invitation(ctx, accounts.HashToken(inv.Token))
	require.NoError(t, err, "the store knows the token by its SHA-256 only")
	require.Equal(t, "bob@example.com", stored.Address)

	_, err = e.svc.Redeem(ctx, inv.Token, accounts.Registration{Password: goodPass})
	var ve *accounts.ValidationError
	require.ErrorAs(t, err, &ve, "a plain invitation needs password, question and answer")
	require.Len(t, ve.Problems, 2)

	res, err := e.svc.Redeem(ctx, inv.Token, accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.NoError(t, err)
	require.Equal(t, accounts.LoginResult{Address: "bob@example.com"}, res)
	_, err = e.svc.Login(ctx, "bob@example.com", goodPass)
	require.NoError(t, err)
	require.NoError(t, e.svc.VerifyAnswer(ctx, "bob@example.com", "OSLO"))

	_, err = e.svc.Redeem(ctx, inv.Token, accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.ErrorIs(t, err, store.ErrInvitationUsed)
	_, err = e.svc.Redeem(ctx, "no-such-token", accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.ErrorIs(t, err, accounts.ErrInvitationUnknown)

	_, err = e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{}, admin)
	require.ErrorIs(t, err, accounts.ErrAlreadyRegistered)
	_, err = e.svc.Invite(ctx, "nobody@example.com", accounts.InviteRequest{}, admin)
	require.ErrorIs(t, err, store.ErrNotFound, "a portal login needs a user in the directory")
}

func TestInvitationExpiry(t *testing.T) {
	e := newEnv(t, "bob@example.com")
	ctx := t.Context()

	for _, d := range []time.Duration{-time.Hour, time.Second, accounts.MaxExpiry + time.Hour} {
		_, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{ExpiresIn: d}, admin)
		var ve *accounts.ValidationError
		require.ErrorAs(t, err, &ve, d)
		require.Equal(t, "expires_in", ve.Problems[0].Field)
	}
	inv, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{ExpiresIn: accounts.MaxExpiry}, admin)
	require.NoError(t, err)
	require.Equal(t, e.clk.Now().Add(accounts.MaxExpiry), inv.Expires)

	inv, err = e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{ExpiresIn: time.Hour}, admin)
	require.NoError(t, err)
	e.clk.Advance(time.Hour)
	_, err = e.svc.Redeem(ctx, inv.Token, accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.ErrorIs(t, err, store.ErrInvitationExpired)
}

func TestNewInvitationReplacesTheOldOne(t *testing.T) {
	e := newEnv(t, "bob@example.com")
	ctx := t.Context()
	first, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{}, admin)
	require.NoError(t, err)
	second, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{}, admin)
	require.NoError(t, err)
	_, err = e.svc.Redeem(ctx, first.Token, accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.ErrorIs(t, err, accounts.ErrInvitationUnknown)
	_, err = e.svc.Redeem(ctx, second.Token, accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.NoError(t, err)
}

func TestPresetInvitationNeedsOnlyTheToken(t *testing.T) {
	e := newEnv(t, "bob@example.com")
	ctx := t.Context()

	_, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{
		Preset: &accounts.Registration{Password: goodPass, Question: "City?"}}, admin)
	var ve *accounts.ValidationError
	require.ErrorAs(t, err, &ve, "a preset is validated up front")
	_, err = e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{
		Preset: &accounts.Registration{Password: "weak", Question: "City?", Answer: "Oslo"}}, admin)
	require.ErrorContains(t, err, "weak password")

	inv, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{
		Preset: &accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"}}, admin)
	require.NoError(t, err)
	require.True(t, inv.Preset)

	_, err = e.svc.Redeem(ctx, inv.Token, accounts.Registration{Password: otherPass})
	require.ErrorAs(t, err, &ve, "the admin's choice stands")
	res, err := e.svc.Redeem(ctx, inv.Token, accounts.Registration{})
	require.NoError(t, err)
	require.True(t, res.MustChangePassword, "a password the admin knows is temporary")
	res2, err := e.svc.Login(ctx, "bob@example.com", goodPass)
	require.NoError(t, err)
	require.True(t, res2.MustChangePassword)
	require.NoError(t, e.svc.VerifyAnswer(ctx, "bob@example.com", "oslo"))
}
