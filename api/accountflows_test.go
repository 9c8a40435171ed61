package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// fieldsOf lists the fields of a 422's details.
func fieldsOf(t *testing.T, e api.ErrorInfo) []string {
	t.Helper()
	var out []string
	for _, d := range e.Details.([]any) {
		out = append(out, d.(map[string]any)["field"].(string))
	}
	return out
}

// TestTemporaryPasswordThenForcedChange: a user created with a temporary
// password signs in to the change, which sets the security question and
// registers the login.
func TestTemporaryPasswordThenForcedChange(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.secret("Temporary-Pass-1", "Rex")
	h.createUser(api.CreateUser{Address: "ann@example.com", Password: "Temporary-Pass-1"})
	var u api.User
	h.call("GET", "/v1/users/ann@example.com", h.admin, nil).ok(200, &u)
	require.False(t, u.Registered, "a temporary password alone does not register")

	var res api.LoginResult
	h.login("ann@example.com", "Temporary-Pass-1").ok(200, &res)
	require.Equal(t, api.LoginResult{Address: "ann@example.com", MustChangePassword: true, SecurityQuestionRequired: true}, res)

	e := h.call("POST", "/v1/auth/password", "", api.ChangePassword{Address: "ann@example.com",
		CurrentPassword: "Temporary-Pass-1", NewPassword: otherPass}).apiErr(422, api.CodeValidation)
	require.Equal(t, []string{"security_question", "security_answer"}, fieldsOf(t, e))

	var changed, normal api.LoginResult
	h.call("POST", "/v1/auth/password", "", api.ChangePassword{Address: "ann@example.com",
		CurrentPassword: "Temporary-Pass-1", NewPassword: otherPass, Question: "First pet?", Answer: "Rex"}).ok(200, &changed)
	require.Equal(t, api.LoginResult{Address: "ann@example.com"}, changed)
	h.login("ann@example.com", otherPass).ok(200, &normal)
	require.Equal(t, api.LoginResult{Address: "ann@example.com"}, normal, "a normal sign-in")
	h.call("GET", "/v1/users/ann@example.com", h.admin, nil).ok(200, &u)
	require.True(t, u.Registered)
	var list api.UserList
	h.call("GET", "/v1/users?registration=registered", h.admin, nil).ok(200, &list)
	require.Len(t, list.Users, 1, "the list filter follows it")
}

// TestResetWithTheSecurityAnswer: the question, a reset in another case, and
// refusals that look alike until the account locks.
func TestResetWithTheSecurityAnswer(t *testing.T) {
	h := newHarnessWith(t, api.Options{Login: api.LoginOptions{PerClient: 100, PerClientBurst: 100,
		PerAccount: 100, PerAccountBurst: 100}}, nil)
	h.secret("Rex", "New-Secret-Pass-1")
	h.registerUser("ann@example.com") // "First pet?" / "Rex"

	var q api.SecurityQuestion
	h.call("POST", "/v1/auth/reset/question", "", api.ResetQuestion{Address: "ann@example.com"}).ok(200, &q)
	require.Equal(t, "First pet?", q.Question)
	var q1, q2 api.SecurityQuestion
	h.call("POST", "/v1/auth/reset/question", "", api.ResetQuestion{Address: "nobody@example.com"}).ok(200, &q1)
	h.call("POST", "/v1/auth/reset/question", "", api.ResetQuestion{Address: "nobody@example.com"}).ok(200, &q2)
	require.NotEmpty(t, q1.Question)
	require.Equal(t, q1, q2, "a stand-in, the same each time")

	var res api.LoginResult
	h.call("POST", "/v1/auth/reset", "", api.Reset{Address: "ann@example.com", Answer: "  REX ", NewPassword: "New-Secret-Pass-1"}).ok(200, &res)
	require.Equal(t, "ann@example.com", res.Address)
	h.login("ann@example.com", "New-Secret-Pass-1").ok(200, nil)

	refused := h.call("POST", "/v1/auth/reset", "", api.Reset{Address: "nobody@example.com", Answer: "Rex", NewPassword: otherPass})
	refused.apiErr(401, api.CodeInvalidCredentials)
	for i := range store.LockAfter {
		r := h.call("POST", "/v1/auth/reset", "", api.Reset{Address: "ann@example.com", Answer: "Fido", NewPassword: otherPass})
		r.apiErr(401, api.CodeInvalidCredentials)
		require.Equal(t, string(refused.Body), string(r.Body), "wrong answer %d: the same bytes as an unknown address", i+1)
	}
	var st api.Status
	h.call("GET", "/v1/users/ann@example.com/status", h.admin, nil).ok(200, &st)
	require.True(t, st.Locked, "three wrong answers lock")
	require.Equal(t, "wrong security answer", st.LastLoginError)
	r := h.call("POST", "/v1/auth/reset", "", api.Reset{Address: "ann@example.com", Answer: "rex", NewPassword: otherPass})
	require.Equal(t, string(refused.Body), string(r.Body), "locked: the same bytes")
	h.login("ann@example.com", otherPass).apiErr(401, api.CodeInvalidCredentials)

	e := h.call("POST", "/v1/auth/reset", "", api.Reset{Address: "ann@example.com", Answer: "rex", NewPassword: "short"}).apiErr(422, api.CodeWeakPassword)
	require.NotContains(t, e.Message, "short")
}

// recordingMailer records the invitations it is asked to send.
type recordingMailer struct {
	mu   sync.Mutex
	sent []accounts.InvitationMail
}

func (m *recordingMailer) SendInvitation(_ context.Context, im accounts.InvitationMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, im)
	return nil
}

// TestInvitationWithRolesByEmail: the invitation carries its roles and is
// emailed; the link registers the user with exactly those roles, once; a
// re-send replaces the link.
func TestInvitationWithRolesByEmail(t *testing.T) {
	m := &recordingMailer{}
	h := newHarnessWith(t, api.Options{Mailer: m, PublicURL: "https://dirsync.example.com/"}, nil)
	h.createUser(api.CreateUser{Address: "bob@example.com", DisplayName: "Bob Bell"})

	e := h.call("POST", "/v1/users/bob@example.com/invite", h.admin, api.Invite{Roles: []string{"Sales", "Nope"}}).apiErr(422, api.CodeUnknownRole)
	require.Contains(t, e.Message, "Nope")

	var inv api.Invitation
	h.call("POST", "/v1/users/bob@example.com/invite", h.admin, api.Invite{Roles: []string{"sales", "Training"}}).ok(201, &inv)
	h.secret(inv.Token)
	require.Equal(t, []string{"Sales", "Training"}, inv.Roles)
	require.Equal(t, "sent", inv.Email.Status)
	require.Equal(t, 1, inv.Email.Attempts)
	require.NotNil(t, inv.Email.Sent)
	link, err := url.Parse(inv.Link)
	require.NoError(t, err)
	require.Equal(t, "https://dirsync.example.com/console/invitation", link.Scheme+"://"+link.Host+link.Path)
	require.Equal(t, inv.Token, link.Query().Get("token"))
	require.Len(t, m.sent, 1)
	require.Equal(t, accounts.InvitationMail{To: "bob@example.com", DisplayName: "Bob Bell", Token: inv.Token,
		Expires: inv.Expires, Roles: []string{"Sales", "Training"}, InvitedBy: "admin-token"}, m.sent[0])

	var open api.OpenInvitation
	h.call("GET", "/v1/users/bob@example.com/invitation", h.read, nil).ok(200, &open)
	require.Equal(t, []string{"Sales", "Training"}, open.Roles)
	require.Equal(t, "sent", open.Email.Status)
	require.NotContains(t, string(h.call("GET", "/v1/users/bob@example.com/invitation", h.read, nil).Body), inv.Token)

	var again api.Invitation
	h.call("POST", "/v1/users/bob@example.com/invitation/resend", h.admin, nil).ok(201, &again)
	h.secret(again.Token)
	require.NotEqual(t, inv.Token, again.Token)
	require.Equal(t, inv.Roles, again.Roles)
	require.Len(t, m.sent, 2)
	h.call("POST", "/v1/auth/register", "", api.Redeem{Token: inv.Token, Password: goodPass, Question: "City?", Answer: "Oslo"}).
		apiErr(404, api.CodeInvitationInvalid)

	h.call("POST", "/v1/auth/register", "", api.Redeem{Token: again.Token, Password: goodPass, Question: "City?", Answer: "Oslo"}).ok(200, nil)
	var u api.User
	h.call("GET", "/v1/users/bob@example.com", h.admin, nil).ok(200, &u)
	require.True(t, u.Registered)
	require.Equal(t, []string{"Sales", "Training"}, u.Roles)
	h.call("POST", "/v1/auth/register", "", api.Redeem{Token: again.Token, Password: goodPass, Question: "City?", Answer: "Oslo"}).
		apiErr(410, api.CodeInvitationUsed)
	h.call("GET", "/v1/users/bob@example.com/invitation", h.read, nil).apiErr(404, api.CodeNotFound)
	h.call("POST", "/v1/users/bob@example.com/invitation/resend", h.admin, nil).apiErr(404, api.CodeNotFound)
}

// TestInvitationWithoutMail: without a mail server the invitation is made
// and not emailed; asking for the email names the setting.
func TestInvitationWithoutMail(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "bob@example.com"})
	var inv api.Invitation
	h.call("POST", "/v1/users/bob@example.com/invite", h.admin, nil).ok(201, &inv)
	h.secret(inv.Token)
	require.Equal(t, "none", inv.Email.Status)
	require.Empty(t, inv.Link, "no public URL, no link")
	require.Equal(t, []string{}, inv.Roles)
	yes := true
	e := h.call("POST", "/v1/users/bob@example.com/invite", h.admin, api.Invite{SendEmail: &yes}).apiErr(422, api.CodeValidation)
	require.True(t, strings.Contains(e.Message, "mail.smtp"), e.Message)
	h.call("POST", "/v1/users/bob@example.com/invitation/resend", h.admin, nil).apiErr(422, api.CodeValidation)
	require.Equal(t, http.StatusOK, h.call("GET", "/v1/users/bob@example.com/invitation", h.admin, nil).Status,
		"the first invitation is still open")
}
