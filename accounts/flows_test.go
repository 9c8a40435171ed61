package accounts_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/store"
)

// TestTemporaryPasswordFirstSignInRegisters: a temporary password an
// administrator set signs in only to the change, which asks for a security
// question when the login has none, and registers the login.
func TestTemporaryPasswordFirstSignInRegisters(t *testing.T) {
	e := newEnv(t, "ann@example.com")
	ctx := t.Context()
	no := false
	// Even without "force change", a login that is not registered must change.
	require.NoError(t, e.svc.SetTemporaryPassword(ctx, "ann@example.com", "Temporary-Pass-1", &no, admin))
	require.False(t, e.account(t, "ann@example.com").Registered)

	res, err := e.svc.Login(ctx, "ann@example.com", "Temporary-Pass-1")
	require.NoError(t, err)
	require.Equal(t, accounts.LoginResult{Address: "ann@example.com", MustChangePassword: true, NeedsSecurityQuestion: true}, res)

	_, err = e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Temporary-Pass-1", Next: otherPass})
	var ve *accounts.ValidationError
	require.ErrorAs(t, err, &ve, "no question yet: the change must set one")
	require.Equal(t, []string{"security_question", "security_answer"}, fields(ve))
	require.False(t, e.account(t, "ann@example.com").Registered, "nothing written")

	_, err = e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Temporary-Pass-1", Next: otherPass,
		Question: "First pet?"})
	require.ErrorAs(t, err, &ve)
	require.Equal(t, []string{"security_answer"}, fields(ve))

	res, err = e.svc.ChangePassword(ctx, accounts.Change{Address: "ann@example.com", Current: "Temporary-Pass-1", Next: otherPass,
		Question: " First pet? ", Answer: "Rex"})
	require.NoError(t, err)
	require.Equal(t, accounts.LoginResult{Address: "ann@example.com"}, res)
	a := e.account(t, "ann@example.com")
	require.True(t, a.Registered)
	require.False(t, a.ForceChange)

	res, err = e.svc.Login(ctx, "ann@example.com", otherPass)
	require.NoError(t, err)
	require.Equal(t, accounts.LoginResult{Address: "ann@example.com"}, res, "a normal sign-in now")
	_, err = e.svc.Login(ctx, "ann@example.com", "Temporary-Pass-1")
	require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
	q, err := e.svc.SecurityQuestion(ctx, "ann@example.com")
	require.NoError(t, err)
	require.Equal(t, "First pet?", q)

	// The audit says the user registered the login.
	entries, err := e.st.Audit(ctx, store.AuditQuery{Address: "ann@example.com", Action: store.ActionRegister})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, store.Actor{Kind: "user", Name: "ann@example.com"}, entries[0].Actor)
}

func fields(ve *accounts.ValidationError) []string {
	var out []string
	for _, p := range ve.Problems {
		out = append(out, p.Field)
	}
	return out
}

// TestResetWithSecurityAnswer: the answer in another case, with other
// spacing and in another Unicode form resets the password.
func TestResetWithSecurityAnswer(t *testing.T) {
	e := newEnv(t, "ann@example.com", "bob@example.com")
	ctx := t.Context()
	require.NoError(t, e.svc.Register(ctx, "ann@example.com",
		accounts.Registration{Password: goodPass, Question: "Street you grew up on?", Answer: "Große  Straße"}, admin))

	for i, answer := range []string{"  GROSSE strasse ", "große straße", "ＧＲＯＳＳＥ　ＳＴＲＡＳＳＥ"} {
		next := []string{"New-Secret-Pass-1", "New-Secret-Pass-2", "New-Secret-Pass-3"}[i]
		res, err := e.svc.Reset(ctx, "ann@example.com", answer, next)
		require.NoError(t, err, "answer %q", answer)
		require.Equal(t, accounts.LoginResult{Address: "ann@example.com"}, res)
		_, err = e.svc.Login(ctx, "ann@example.com", next)
		require.NoError(t, err, "signs in with the new password")
	}
	// A weak new password costs no attempt and names the problem.
	_, err := e.svc.Reset(ctx, "ann@example.com", "wrong", "short")
	require.Error(t, err)
	require.NotErrorIs(t, err, accounts.ErrResetRefused)
	require.Zero(t, e.account(t, "ann@example.com").FailedLogins)
}

// TestResetWrongAnswersLock: wrong answers count with wrong passwords; the
// third locks, and a locked account cannot be reset even with the answer.
func TestResetWrongAnswersLock(t *testing.T) {
	e := newEnv(t, "ann@example.com")
	ctx := t.Context()
	e.register(t, "ann@example.com") // answer "Rex"
	_, err := e.svc.Login(ctx, "ann@example.com", "Wrong-Password-1")
	require.ErrorIs(t, err, accounts.ErrInvalidCredentials)
	_, err = e.svc.Reset(ctx, "ann@example.com", "Fido", otherPass)
	require.ErrorIs(t, err, accounts.ErrResetRefused)
	require.Equal(t, "wrong security answer", e.account(t, "ann@example.com").LastLoginError)
	_, err = e.svc.Reset(ctx, "ann@example.com", "Spot", otherPass)
	require.ErrorIs(t, err, accounts.ErrResetRefused)
	require.ErrorIs(t, err, accounts.ErrLocked, "the third failure locks")
	require.True(t, e.account(t, "ann@example.com").Locked)

	_, err = e.svc.Reset(ctx, "ann@example.com", "rex", otherPass)
	require.ErrorIs(t, err, accounts.ErrLocked, "locked: the right answer does not help")
	require.Equal(t, accounts.ErrResetRefused.Error(), err.Error(), "in the same words")
	_, err = e.svc.Login(ctx, "ann@example.com", goodPass)
	require.ErrorIs(t, err, accounts.ErrLocked, "the password was not changed")

	require.NoError(t, e.svc.Unlock(ctx, "ann@example.com", admin))
	_, err = e.svc.Reset(ctx, "ann@example.com", "REX", otherPass)
	require.NoError(t, err)
}

// TestResetRevealsNothing: unknown and unregistered addresses get a stand-in
// question, the same each time, and the same refusal as a wrong answer.
func TestResetRevealsNothing(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	e := newEnv(t, "ann@example.com", "bob@example.com")
	svc := accounts.New(accounts.Options{Store: e.st, Now: e.clk.Now, Log: zap.New(core), Params: fast})
	ctx := t.Context()
	e.register(t, "ann@example.com")

	for _, addr := range []string{"nobody@example.com", "bob@example.com"} {
		q1, err := svc.SecurityQuestion(ctx, addr)
		require.NoError(t, err)
		require.NotEmpty(t, q1)
		q2, err := svc.SecurityQuestion(ctx, addr)
		require.NoError(t, err)
		require.Equal(t, q1, q2, "%s: the same stand-in every time", addr)
		q3, err := accounts.New(accounts.Options{Store: e.st, Params: fast}).SecurityQuestion(ctx, addr)
		require.NoError(t, err)
		require.Equal(t, q1, q3, "%s: and from every service on the store", addr)

		_, err = svc.Reset(ctx, addr, "Rex", otherPass)
		require.ErrorIs(t, err, accounts.ErrResetRefused)
		require.Equal(t, accounts.ErrResetRefused.Error(), err.Error())
	}
	_, err := svc.Reset(ctx, "ann@example.com", "Fido", otherPass)
	require.Equal(t, accounts.ErrResetRefused.Error(), err.Error(), "a wrong answer: the same words")
	for _, en := range logs.All() {
		for _, v := range en.ContextMap() {
			require.NotEqual(t, "Fido", v, "an answer is never logged")
			require.NotEqual(t, otherPass, v, "a password is never logged")
		}
	}
}

// TestInvitationRoles: redeeming gives exactly the invitation's roles.
func TestInvitationRoles(t *testing.T) {
	e := newEnv(t, "bob@example.com", "cat@example.com")
	ctx := t.Context()
	_, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{Roles: []string{"Sales", "Nope"}}, admin)
	var ure *store.UnknownRoleError
	require.ErrorAs(t, err, &ure)
	require.Equal(t, []string{"Nope"}, ure.Names)

	inv, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{Roles: []string{"sales", "Training"}}, admin)
	require.NoError(t, err)
	require.Equal(t, []string{"Sales", "Training"}, inv.Roles, "stored as defined")
	_, err = e.svc.Redeem(ctx, inv.Token, accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.NoError(t, err)
	u, err := e.st.User(ctx, "bob@example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"Sales", "Training"}, u.Account.Roles)
	_, err = e.svc.Redeem(ctx, inv.Token, accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.ErrorIs(t, err, store.ErrInvitationUsed, "single use")

	// Registered: an invitation that still exists cannot register it again.
	next := e.clk.Now().Add(time.Hour)
	require.NoError(t, e.st.CreateInvitation(ctx, store.Invitation{Address: "bob@example.com", TokenHash: accounts.HashToken("left-over"),
		Expires: next}, admin))
	_, err = e.svc.Redeem(ctx, "left-over", accounts.Registration{Password: otherPass, Question: "City?", Answer: "Rome"})
	require.ErrorIs(t, err, accounts.ErrAlreadyRegistered)
}

// TestInvitationsVoided: a new invitation, a direct registration or a
// password set each void the unused invitation.
func TestInvitationsVoided(t *testing.T) {
	e := newEnv(t, "bob@example.com")
	ctx := t.Context()
	first, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{}, admin)
	require.NoError(t, err)
	second, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{}, admin)
	require.NoError(t, err)
	reg := accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"}
	_, err = e.svc.Redeem(ctx, first.Token, reg)
	require.ErrorIs(t, err, accounts.ErrInvitationUnknown, "replaced by the second")

	require.NoError(t, e.svc.SetTemporaryPassword(ctx, "bob@example.com", "Temporary-Pass-1", nil, admin))
	_, err = e.svc.Redeem(ctx, second.Token, reg)
	require.ErrorIs(t, err, accounts.ErrInvitationUnknown, "a password set voids it")

	third, err := e.svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{}, admin)
	require.NoError(t, err)
	require.NoError(t, e.svc.Register(ctx, "bob@example.com", reg, admin))
	_, err = e.svc.Redeem(ctx, third.Token, reg)
	require.ErrorIs(t, err, accounts.ErrInvitationUnknown, "a direct registration voids it")
}

// fakeMailer fails with its errors in turn, then succeeds.
type fakeMailer struct {
	mu   sync.Mutex
	errs []error
	sent []accounts.InvitationMail
	done chan struct{}
}

func (f *fakeMailer) SendInvitation(_ context.Context, m accounts.InvitationMail) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return err
	}
	f.sent = append(f.sent, m)
	if f.done != nil {
		close(f.done)
		f.done = nil
	}
	return nil
}

// first is the first message sent.
func (f *fakeMailer) first() accounts.InvitationMail {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent[0]
}

// fail makes the next sends fail with errs.
func (f *fakeMailer) fail(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = errs
}

type tempErr struct{ msg string }

func (e tempErr) Error() string   { return e.msg }
func (e tempErr) Temporary() bool { return true }

// TestInvitationEmailRetried: a temporary failure is recorded and retried
// until it passes; a permanent one is recorded as failed and re-sent by the
// administrator with a new link; the token is in no log line.
func TestInvitationEmailRetried(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	e := newEnv(t, "bob@example.com", "cat@example.com")
	ctx := t.Context()
	done := make(chan struct{})
	m := &fakeMailer{errs: []error{tempErr{"421 try later"}, tempErr{"connection refused"}}, done: done}
	svc := accounts.New(accounts.Options{Store: e.st, Log: zap.New(core), Params: fast, Mailer: m,
		MailRetries: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}})
	defer svc.Close(context.Background())

	inv, err := svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{Email: true, Roles: []string{"Sales"}, Name: "Bob"}, admin)
	require.NoError(t, err)
	require.Equal(t, store.EmailRetrying, inv.Email.Status)
	require.Equal(t, "421 try later", inv.Email.Error)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the email was not retried")
	}
	require.Eventually(t, func() bool {
		got, err := e.st.OpenInvitation(ctx, "bob@example.com")
		return err == nil && got.Email.Status == store.EmailSent && got.Email.Attempts == 3
	}, 5*time.Second, 10*time.Millisecond)
	first := m.first()
	require.Equal(t, inv.Token, first.Token)
	require.Equal(t, []string{"Sales"}, first.Roles)
	require.Equal(t, "Bob", first.DisplayName)

	// Permanent: failed at once, valid, and re-sent with a new link.
	m.fail(errors.New("550 no such user"))
	inv, err = svc.Invite(ctx, "cat@example.com", accounts.InviteRequest{Email: true}, admin)
	require.NoError(t, err)
	require.Equal(t, store.EmailFailed, inv.Email.Status)
	got, err := e.st.Invitation(ctx, accounts.HashToken(inv.Token))
	require.NoError(t, err, "an invitation whose email failed stays valid")
	require.Equal(t, "550 no such user", got.Email.Error)
	again, err := svc.Resend(ctx, "cat@example.com", "Cat", "", admin)
	require.NoError(t, err)
	require.Equal(t, store.EmailSent, again.Email.Status)
	require.NotEqual(t, inv.Token, again.Token)
	_, err = svc.Redeem(ctx, inv.Token, accounts.Registration{Password: goodPass, Question: "City?", Answer: "Oslo"})
	require.ErrorIs(t, err, accounts.ErrInvitationUnknown, "the old link stops working")

	for _, en := range logs.All() {
		require.NotContains(t, en.Message, inv.Token)
		for _, v := range en.ContextMap() {
			s, _ := v.(string)
			require.False(t, s != "" && slices.Contains([]string{inv.Token, again.Token, first.Token}, s), "a token in a log line")
		}
	}

	// Without a mailer, asking for the email names the setting.
	_, err = e.svc.Invite(ctx, "cat@example.com", accounts.InviteRequest{Email: true}, admin)
	var ve *accounts.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Error(), "mail.smtp")
}

// TestInvitationEmailWaitingAtClose: Close records a waiting retry as
// failed, for the administrator to re-send.
func TestInvitationEmailWaitingAtClose(t *testing.T) {
	e := newEnv(t, "bob@example.com")
	ctx := t.Context()
	m := &fakeMailer{errs: []error{tempErr{"connection refused"}}}
	svc := accounts.New(accounts.Options{Store: e.st, Params: fast, Mailer: m, MailRetries: []time.Duration{time.Hour}})
	inv, err := svc.Invite(ctx, "bob@example.com", accounts.InviteRequest{Email: true}, admin)
	require.NoError(t, err)
	require.Equal(t, store.EmailRetrying, inv.Email.Status)
	svc.Close(ctx)
	got, err := e.st.OpenInvitation(ctx, "bob@example.com")
	require.NoError(t, err)
	require.Equal(t, store.EmailFailed, got.Email.Status)
	require.Contains(t, got.Email.Error, "re-send")
}
