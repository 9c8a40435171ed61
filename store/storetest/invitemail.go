package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// testInvitationRolesAndEmail: an invitation keeps its roles (as defined)
// and its email's state; redeeming gives the roles; a registered login
// cannot redeem.
func testInvitationRolesAndEmail(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1"), create("bob@example.com", "B-1"))

	err := e.s.CreateInvitation(e.ctx, store.Invitation{Address: "alice@example.com", TokenHash: tokenHash("a-0"),
		Created: t0, Expires: t0.Add(time.Hour), Roles: []string{"sales", "Nope", "Other"}}, adminActor)
	var ure *store.UnknownRoleError
	require.ErrorAs(t, err, &ure)
	require.Equal(t, []string{"Nope", "Other"}, ure.Names)
	_, err = e.s.OpenInvitation(e.ctx, "alice@example.com")
	require.ErrorIs(t, err, store.ErrNotFound, "nothing written")

	inv := store.Invitation{Address: "alice@example.com", TokenHash: tokenHash("a-1"), Created: t0, Expires: t0.Add(time.Hour),
		Roles: []string{"training", "sales", "SALES"}, Email: store.InvitationEmail{Status: store.EmailPending}}
	require.NoError(t, e.s.CreateInvitation(e.ctx, inv, adminActor))
	got, err := e.s.OpenInvitation(e.ctx, "ALICE@example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"Sales", "Training"}, got.Roles, "defined names, sorted, once")
	require.Equal(t, store.InvitationEmail{Status: store.EmailPending}, got.Email)
	invites := e.auditOf("alice@example.com", store.ActionInvite)
	require.Len(t, invites, 1)
	require.Contains(t, invites[0].Changes, store.FieldChange{Field: store.AuditRoles, After: []string{"Sales", "Training"}})

	sent := t0.Add(time.Minute)
	e1 := store.InvitationEmail{Status: store.EmailRetrying, Attempts: 1, Error: "421 busy", Next: t0.Add(2 * time.Minute)}
	require.NoError(t, e.s.SetInvitationEmail(e.ctx, inv.TokenHash, e1))
	got, err = e.s.Invitation(e.ctx, inv.TokenHash)
	require.NoError(t, err)
	require.Equal(t, e1, normEmail(got.Email))
	e2 := store.InvitationEmail{Status: store.EmailSent, Attempts: 2, Sent: sent}
	require.NoError(t, e.s.SetInvitationEmail(e.ctx, inv.TokenHash, e2))
	got, err = e.s.Invitation(e.ctx, inv.TokenHash)
	require.NoError(t, err)
	require.Equal(t, e2, normEmail(got.Email), "the error and next attempt cleared")
	err = e.s.SetInvitationEmail(e.ctx, tokenHash("gone"), e2)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NotContains(t, err.Error(), tokenHash("gone"))

	_, err = e.s.RedeemInvitation(e.ctx, inv.TokenHash, t0.Add(time.Minute), registration("alice", false), redeemer)
	require.NoError(t, err)
	require.Equal(t, []string{"Sales", "Training"}, e.account("alice@example.com").Roles)
	roles := e.auditOf("alice@example.com", store.ActionSetRoles)
	require.Len(t, roles, 1)
	require.Equal(t, redeemer, roles[0].Actor)
	_, err = e.s.OpenInvitation(e.ctx, "alice@example.com")
	require.ErrorIs(t, err, store.ErrNotFound, "used")

	// Registered meanwhile: a left-over invitation cannot register again.
	require.NoError(t, e.s.CreateInvitation(e.ctx, store.Invitation{Address: "alice@example.com", TokenHash: tokenHash("a-2"),
		Created: t0, Expires: t0.Add(time.Hour)}, adminActor))
	_, err = e.s.RedeemInvitation(e.ctx, tokenHash("a-2"), t0.Add(time.Minute), registration("again", false), redeemer)
	require.ErrorIs(t, err, store.ErrAlreadyRegistered)
	require.Equal(t, registration("alice", false).PasswordHash, e.creds("alice@example.com").PasswordHash, "unchanged")
}

func normEmail(m store.InvitationEmail) store.InvitationEmail {
	m.Sent, m.Next = m.Sent.UTC(), m.Next.UTC()
	if m.Sent.Equal(time.Time{}) {
		m.Sent = time.Time{}
	}
	if m.Next.Equal(time.Time{}) {
		m.Next = time.Time{}
	}
	return m
}

// testInvitationsVoided: registering or setting a password drops the unused
// invitation.
func testInvitationsVoided(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1"), create("bob@example.com", "B-1"))
	invite := func(addr, id string) {
		require.NoError(t, e.s.CreateInvitation(e.ctx, store.Invitation{Address: addr, TokenHash: tokenHash(id),
			Created: t0, Expires: t0.Add(time.Hour)}, adminActor))
	}
	invite("alice@example.com", "a-1")
	e.register("alice@example.com", registration("alice", false))
	_, err := e.s.Invitation(e.ctx, tokenHash("a-1"))
	require.ErrorIs(t, err, store.ErrNotFound, "registering voids the invitation")

	invite("bob@example.com", "b-1")
	require.NoError(t, e.s.SetPassword(e.ctx, "bob@example.com", registration("bob", true).PasswordHash, true, adminActor))
	_, err = e.s.Invitation(e.ctx, tokenHash("b-1"))
	require.ErrorIs(t, err, store.ErrNotFound, "a password set voids the invitation")
}

// testSetting: one value per name, made once, whoever asks first.
func testSetting(t *testing.T, e *env) {
	calls := 0
	mk := func(v string) func() (string, error) {
		return func() (string, error) { calls++; return v, nil }
	}
	v, err := e.s.Setting(e.ctx, "key", mk("first"))
	require.NoError(t, err)
	require.Equal(t, "first", v)
	v, err = e.s.Setting(e.ctx, "key", mk("second"))
	require.NoError(t, err)
	require.Equal(t, "first", v)
	require.Equal(t, 1, calls)
	_, err = e.s.Setting(e.ctx, "other", func() (string, error) { return "", fmt.Errorf("no randomness") })
	require.ErrorContains(t, err, "no randomness")
	v, err = e.s.Setting(e.ctx, "other", mk("later"))
	require.NoError(t, err)
	require.Equal(t, "later", v, "a failed make stores nothing")
}

// testSessionTouchesUser: a session's activity is its user's: last seen
// moves forward, never back.
func testSessionTouchesUser(t *testing.T, e *env) {
	e.applyOK(create("alice@example.com", "A-1"))
	s := newSession("alice-session", "alice@example.com", t0)
	require.NoError(t, e.s.CreateSession(e.ctx, s))
	require.True(t, e.account("alice@example.com").LastSeen.IsZero())
	require.NoError(t, e.s.TouchSession(e.ctx, s.Hash, t0.Add(10*time.Minute)))
	require.True(t, t0.Add(10*time.Minute).Equal(e.account("alice@example.com").LastSeen))
	require.NoError(t, e.s.TouchSession(e.ctx, s.Hash, t0.Add(5*time.Minute)))
	require.True(t, t0.Add(10*time.Minute).Equal(e.account("alice@example.com").LastSeen), "never back")
	require.NoError(t, e.s.TouchSession(e.ctx, tokenHash("gone"), t0.Add(time.Hour)), "a gone session is no error")
}
