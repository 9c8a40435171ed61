package clitext_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/clitext"
)

func TestEmailStatus(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 5, 0, 0, time.Local)
	for _, tc := range []struct {
		in   api.InvitationEmail
		want string
	}{
		{api.InvitationEmail{Status: "none"}, "not emailed"},
		{api.InvitationEmail{}, "not emailed"},
		{api.InvitationEmail{Status: "sent", Attempts: 1, Sent: &at}, "sent at 2025-03-01 09:05:00"},
		{api.InvitationEmail{Status: "pending"}, "pending: the first attempt has not finished"},
		{api.InvitationEmail{Status: "retrying", Attempts: 1, Next: &at, LastError: "dial tcp: connection refused"},
			"retrying at 2025-03-01 09:05:00 (1 attempt so far): dial tcp: connection refused"},
		{api.InvitationEmail{Status: "failed", Attempts: 5, LastError: "550 no such mailbox"},
			"failed after 5 attempts: 550 no such mailbox"},
	} {
		require.Equal(t, tc.want, clitext.EmailStatus(tc.in), "%+v", tc.in)
	}
}

func TestExpiry(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.Local)
	require.Equal(t, "2025-03-04 09:00:00 (in 72h)", clitext.Expiry(now.Add(72*time.Hour), now))
	require.Equal(t, "2025-03-01 10:30:00 (in 1h30m)", clitext.Expiry(now.Add(90*time.Minute), now))
	require.Equal(t, "2025-03-01 09:05:00 (in 5m)", clitext.Expiry(now.Add(5*time.Minute), now))
	require.Equal(t, "2025-03-01 08:00:00 (expired)", clitext.Expiry(now.Add(-time.Hour), now))
}

func TestInvitationSaysWhatToDoWithTheToken(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.Local)
	inv := api.Invitation{Address: "ann@example.com", Token: "tok-123", Expires: now.Add(72 * time.Hour),
		Roles: []string{"Sales", "Training"}, Email: api.InvitationEmail{Status: "none"}}
	render := func(inv api.Invitation) string {
		var b bytes.Buffer
		require.NoError(t, clitext.Invitation(&b, inv, now))
		return b.String()
	}
	out := render(inv)
	require.Contains(t, out, "Invitation for ann@example.com\n  Roles:    Sales, Training\n")
	require.Contains(t, out, "  Token:    tok-123\n")
	require.Contains(t, out, "Not emailed: pass on the token to the user now")

	inv.Link = "https://dirsync.example.com/console/invitation?token=tok-123"
	require.Contains(t, render(inv), "pass on the link (or the token) to the user now")

	next := now.Add(time.Minute)
	inv.Email = api.InvitationEmail{Status: "retrying", Attempts: 1, Next: &next, LastError: "connection refused"}
	out = render(inv)
	require.Contains(t, out, "Email:    retrying at 2025-03-01 09:01:00 (1 attempt so far): connection refused\n")
	require.Contains(t, out, "dirsync users invitation ann@example.com\n")

	inv.Email = api.InvitationEmail{Status: "failed", Attempts: 1, LastError: "550 rejected"}
	out = render(inv)
	require.Contains(t, out, "Email:    failed after 1 attempt: 550 rejected\n")
	require.Contains(t, out, "dirsync users invitation ann@example.com --resend\n")

	inv.Roles = nil
	require.Contains(t, render(inv), "Roles:    none\n")
}

func TestOpenInvitation(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.Local)
	var b bytes.Buffer
	require.NoError(t, clitext.OpenInvitation(&b, api.OpenInvitation{Address: "ann@example.com", Created: now.Add(-80 * time.Hour),
		Expires: now.Add(-8 * time.Hour), Expired: true, Roles: []string{"Sales"}, Email: api.InvitationEmail{Status: "failed",
			Attempts: 5, LastError: "timeout"}}, now))
	require.Contains(t, b.String(), "Expires:  2025-03-01 01:00:00 (expired)\n")
	require.Contains(t, b.String(), "Email:    failed after 5 attempts: timeout\n")
	require.Contains(t, b.String(), "invite the user again with: dirsync users invite ann@example.com\n")
}

func TestSignedIn(t *testing.T) {
	var b bytes.Buffer
	clitext.SignedIn(&b, api.LoginResult{Address: "ann@example.com"})
	require.Equal(t, "Signed in as ann@example.com.\n", b.String())
	b.Reset()
	clitext.SignedIn(&b, api.LoginResult{Address: "ann@example.com", MustChangePassword: true, SecurityQuestionRequired: true})
	require.Contains(t, b.String(), "temporary password: change it now with\n  dirsync account change-password --address ann@example.com\n")
	require.Contains(t, b.String(), "security question")
}

func TestInputReadsLinesInOrderWithoutPrompts(t *testing.T) {
	var prompts bytes.Buffer
	in := clitext.NewInput(strings.NewReader("old-pass\r\nnew-pass\nlast"), &prompts)
	require.False(t, in.Interactive())
	for _, want := range []string{"old-pass", "new-pass", "last"} {
		got, err := in.NewSecret("Password")
		require.NoError(t, err)
		require.Equal(t, want, got, "a pipe gives one line per secret, asked once")
	}
	_, err := in.Line("Security question")
	require.EqualError(t, err, "standard input ended before the security question")
	require.Empty(t, prompts.String(), "no prompt without a terminal")
}
