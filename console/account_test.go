package console_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/console"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
)

// The account flows' pages: the forced change at a first sign-in with a
// temporary password (which also sets the security question), the forgotten
// password reset, the invitation's registration page, the invite form's
// roles, email and link, the open invitation's "Send again", and the
// confirmation a change of roles needs while the user is online.

// tempPass is the temporary password an administrator sets.
const tempPass = "Temporary-Pass-77"

// newPassword is the password users choose in these tests.
const newPassword = "Brand-New-Secret-58"

// tempLogin creates address with a temporary password and no security
// question: not registered yet, so its first sign-in must change it.
func (h *harness) tempLogin(address string, roles ...string) {
	h.t.Helper()
	ctx := context.Background()
	on := true
	if _, err := h.svc.CreateUser(ctx, system, api.CreateUser{Address: address, DisplayName: strings.Split(address, "@")[0],
		Password: tempPass, ForceChangePassword: &on}); err != nil {
		h.t.Fatalf("create %s: %v", address, err)
	}
	if len(roles) > 0 {
		if _, err := h.svc.SetRoles(ctx, system, address, roles); err != nil {
			h.t.Fatalf("roles of %s: %v", address, err)
		}
	}
}

func wantHeader(t *testing.T, p page, name, want string) {
	t.Helper()
	if got := p.res.Header.Get(name); got != want {
		t.Errorf("%s: %s = %q, want %q", p.res.Request.URL.Path, name, got, want)
	}
}

func TestFirstSignInChangesPasswordWithQuestion(t *testing.T) {
	h := newHarness(t)
	h.tempLogin("root@example.com", "Administrator")
	h.tempLogin("pat@example.com")
	if h.apiUser("root@example.com").Registered {
		t.Fatal("a login with a temporary password is registered before its first sign-in")
	}
	b := h.browser()
	p := b.postPage("/console/signin", url.Values{"address": {"root@example.com"}, "password": {tempPass}})
	wantStatus(t, p, http.StatusOK)
	for _, sel := range []string{"#new_password", "#confirm_password", "#security_question", "#security_answer", `input[name="question_required"]`} {
		if p.Find(sel).Length() != 1 {
			t.Errorf("the change form lacks %s: %q", sel, text(p.Find("main")))
		}
	}
	if !strings.Contains(text(p.Find(".notice")), "security question") {
		t.Errorf("notice = %q", text(p.Find(".notice")))
	}

	// Without the question: refused next to the fields, which stay, with the
	// typed question kept and the answer not sent back.
	form := url.Values{"address": {"root@example.com"}, "password": {tempPass}, "new_password": {newPassword},
		"confirm_password": {newPassword}, "question_required": {"true"}, "security_question": {"Favourite tree?"}}
	p = b.postPage("/console/signin", form)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if text(p.Find("#security_answer-error")) == "" {
		t.Errorf("no error next to the answer: %q", text(p.Find("main")))
	}
	if v, _ := p.Find("#security_question").Attr("value"); v != "Favourite tree?" {
		t.Errorf("the typed question was not kept: %q", v)
	}
	if d, _ := p.Find("#security_answer").Attr("aria-describedby"); !strings.Contains(d, "security_answer-error") {
		t.Errorf("answer aria-describedby = %q", d)
	}
	if h.apiUser("root@example.com").Registered {
		t.Fatal("a refused change registered the login")
	}

	// With them: changed, registered, signed in to the console.
	form.Set("security_answer", "Oak")
	res := b.post("/console/signin", form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("change with question: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if u := h.apiUser("root@example.com"); !u.Registered || u.ForceChangePassword {
		t.Errorf("after the change: registered %v, must change %v", u.Registered, u.ForceChangePassword)
	}
	wantStatus(t, b.get("/console/roles"), http.StatusOK)

	// A login without the console permission: a page that says where to sign in.
	b2 := h.browser()
	p = b2.postPage("/console/signin", url.Values{"address": {"pat@example.com"}, "password": {tempPass},
		"new_password": {newPassword}, "confirm_password": {newPassword}, "question_required": {"true"},
		"security_question": {"Favourite tree?"}, "security_answer": {"Oak"}})
	wantStatus(t, p, http.StatusOK)
	want := "Your password is changed and your login is registered. Sign in to the portal with pat@example.com."
	if got := text(p.Find("#done-message")); got != want {
		t.Errorf("non-admin after the change: %q, want %q", got, want)
	}
	if p.Find("#done-signin").Length() != 0 {
		t.Error("the page offers the console to a login that may not use it")
	}
	if !h.apiUser("pat@example.com").Registered {
		t.Error("pat's change did not register the login")
	}
}

func TestResetForgottenPassword(t *testing.T) {
	h := newHarness(t)
	h.user("root@example.com", "Administrator") // question "First pet?", answer "Rex"
	b := h.browser()

	p := b.get("/console/signin")
	if href, _ := p.Find("#forgot").Attr("href"); href != "/console/reset" {
		t.Fatalf("sign-in page's forgot link = %q", href)
	}
	p = b.get("/console/reset")
	wantStatus(t, p, http.StatusOK)
	wantHeader(t, p, "Referrer-Policy", "no-referrer")
	if a, _ := p.Find("#address").Attr("autocomplete"); a != "username" {
		t.Errorf("address autocomplete = %q", a)
	}

	p = b.postPage("/console/reset/question", url.Values{"address": {"root@example.com"}})
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find(`label[for="security_answer"]`)); !strings.Contains(got, "First pet?") {
		t.Fatalf("question step: label %q", got)
	}
	// An address nobody has: a question all the same (it reveals nothing).
	p2 := b.postPage("/console/reset/question", url.Values{"address": {"nobody@example.com"}})
	wantStatus(t, p2, http.StatusOK)
	if text(p2.Find(`label[for="security_answer"]`)) == "" {
		t.Error("no stand-in question for an unknown address")
	}
	// No address: the field says so.
	p2 = b.postPage("/console/reset/question", url.Values{"address": {" "}})
	wantStatus(t, p2, http.StatusUnprocessableEntity)
	if text(p2.Find("#address-error")) == "" {
		t.Errorf("empty address: %q", text(p2.Find("main")))
	}

	form := url.Values{"address": {"root@example.com"}, "question": {"First pet?"}, "security_answer": {"Fido"},
		"new_password": {newPassword}, "confirm_password": {newPassword + "x"}}
	p = b.postPage("/console/reset", form)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if text(p.Find("#confirm_password-error")) == "" {
		t.Error("a mismatched confirmation is not shown next to its field")
	}
	form.Set("confirm_password", newPassword)
	p = b.postPage("/console/reset", form)
	wantStatus(t, p, http.StatusUnauthorized)
	if msg := text(p.Find(".problem")); !strings.Contains(msg, "security answer is wrong") {
		t.Errorf("wrong answer: %q", msg)
	}
	form.Set("security_answer", "  rEX ")
	form.Set("new_password", "weak")
	form.Set("confirm_password", "weak")
	p = b.postPage("/console/reset", form)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if text(p.Find("#new_password-error")) == "" {
		t.Errorf("weak password: %q", text(p.Find("main")))
	}
	form.Set("new_password", newPassword)
	form.Set("confirm_password", newPassword)
	p = b.postPage("/console/reset", form)
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#done-message")); !strings.Contains(got, "Sign in with root@example.com") {
		t.Errorf("done page: %q", got)
	}
	// The new password signs in; the old one does not.
	if res := b.post("/console/signin", url.Values{"address": {"root@example.com"}, "password": {adminPassword}}); res.StatusCode == http.StatusSeeOther {
		t.Error("the old password still signs in")
	}
	b.signIn("root@example.com", newPassword)
}

func TestResetRateLimitSaysWhenToRetry(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	var p page
	for range 40 {
		p = b.postPage("/console/reset/question", url.Values{"address": {"x@example.com"}})
		if p.res.StatusCode != http.StatusOK {
			break
		}
	}
	wantStatus(t, p, http.StatusTooManyRequests)
	if p.res.Header.Get("Retry-After") == "" || !strings.Contains(text(p.Find(".problem")), "try again in") {
		t.Errorf("429: Retry-After %q, message %q", p.res.Header.Get("Retry-After"), text(p.Find(".problem")))
	}
}

func TestInvitationPage(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h) // bob and zed are not registered
	ctx := context.Background()
	inv, err := h.svc.Invite(ctx, system, "bob@example.com", api.Invite{Roles: []string{"Accounts", "Marketing"}})
	if err != nil {
		t.Fatal(err)
	}
	b := h.browser()
	path := "/console/invitation?token=" + url.QueryEscape(inv.Token)
	p := b.get(path)
	wantStatus(t, p, http.StatusOK)
	wantHeader(t, p, "Referrer-Policy", "no-referrer")
	wantHeader(t, p, "Cache-Control", "no-store")
	if v, _ := p.Find(`input[name="token"]`).Attr("value"); v != inv.Token {
		t.Fatal("the form does not carry the token")
	}
	if act, _ := p.Find("form").Attr("action"); act != "/console/invitation" {
		t.Errorf("form action %q: the token must not travel in it", act)
	}
	if p.Find("#preset-note").Length() != 1 {
		t.Error("no note for a preset invitation")
	}

	form := url.Values{"token": {inv.Token}, "password": {newPassword}, "confirm_password": {newPassword + "!"},
		"security_question": {"Favourite tree?"}, "security_answer": {"Oak"}}
	p = b.postPage("/console/invitation", form)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if text(p.Find("#confirm_password-error")) == "" || p.Find(`input[name="token"]`).Length() != 1 {
		t.Errorf("mismatch: %q", text(p.Find("main")))
	}
	if v, _ := p.Find("#security_question").Attr("value"); v != "Favourite tree?" {
		t.Errorf("question not kept: %q", v)
	}
	form.Set("password", "weak")
	form.Set("confirm_password", "weak")
	p = b.postPage("/console/invitation", form)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if text(p.Find("#password-error")) == "" {
		t.Errorf("weak password not next to its field: %q", text(p.Find("main")))
	}
	form.Set("password", newPassword)
	form.Set("confirm_password", newPassword)
	p = b.postPage("/console/invitation", form)
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#done-message")); got != "Registered. Sign in with bob@example.com." {
		t.Errorf("done: %q", got)
	}
	if u := h.apiUser("bob@example.com"); !u.Registered || strings.Join(u.Roles, ",") != "Accounts,Marketing" {
		t.Errorf("bob after registering: registered %v, roles %v", u.Registered, u.Roles)
	}
	// Used: the page explains, with no form.
	p = b.postPage("/console/invitation", form)
	wantStatus(t, p, http.StatusGone)
	if !strings.Contains(text(p.Find("#invitation-problem")), "already used") || p.Find("form").Length() != 0 {
		t.Errorf("second use: %q", text(p.Find("main")))
	}
	// Unknown and missing tokens.
	p = b.postPage("/console/invitation", url.Values{"token": {"not-a-token"}})
	wantStatus(t, p, http.StatusNotFound)
	if text(p.Find("#invitation-advice")) == "" {
		t.Error("an unknown token has no advice")
	}
	wantStatus(t, b.get("/console/invitation"), http.StatusNotFound)

	// A preset invitation: the token alone registers; fields are refused.
	pre, err := h.svc.Invite(ctx, system, "zed@example.com", api.Invite{Password: tempPass, Question: "Q?", Answer: "A", ExpiresIn: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	p = b.postPage("/console/invitation", url.Values{"token": {pre.Token}, "password": {newPassword}, "confirm_password": {newPassword}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if !strings.Contains(text(p.Find(".problem")), "send the token alone") {
		t.Errorf("preset with fields: %q", text(p.Find(".problem")))
	}
	p = b.postPage("/console/invitation", url.Values{"token": {pre.Token}})
	wantStatus(t, p, http.StatusOK)
	if !strings.Contains(text(p.Find("main")), "choose a password of your own") {
		t.Errorf("preset done page lacks the must-change note: %q", text(p.Find("main")))
	}

	// An expired one.
	h.mkUser(api.CreateUser{Address: "eve@example.com"}, false)
	old, err := h.svc.Invite(ctx, system, "eve@example.com", api.Invite{ExpiresIn: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(2 * time.Hour)
	p = b.postPage("/console/invitation", url.Values{"token": {old.Token}})
	wantStatus(t, p, http.StatusGone)
	if !strings.Contains(text(p.Find("#invitation-problem")), "expired") {
		t.Errorf("expired: %q", text(p.Find("main")))
	}

	// No token in any log line.
	for _, e := range h.logs.All() {
		for _, tok := range []string{inv.Token, pre.Token, old.Token} {
			if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), tok) {
				t.Fatalf("a token is in the log: %v %v", e.Message, e.ContextMap())
			}
		}
	}
}

// fakeMailer records invitations' emails, or fails them.
type fakeMailer struct {
	mu   sync.Mutex
	sent []accounts.InvitationMail
	err  error
}

func (m *fakeMailer) SendInvitation(_ context.Context, im accounts.InvitationMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.sent = append(m.sent, im)
	return nil
}

// newHarnessMail is newHarness with a mail server (m).
func newHarnessMail(t *testing.T, m accounts.InvitationMailer) *harness {
	t.Helper()
	h := &harness{t: t, st: testenv.SQLiteStore(t, "example.com", "example.net"),
		clk: testenv.NewClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	h.svc = api.NewService(api.Options{Store: h.st, Log: zap.New(core), Now: h.clk.Now, PasswordParams: fast, Mailer: m})
	t.Cleanup(func() { h.svc.Close(context.Background()) })
	var err error
	h.con, err = console.New(console.Options{Service: h.svc, Store: h.st, Log: zap.New(core), Now: h.clk.Now})
	if err != nil {
		t.Fatalf("console.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, h.con)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func TestInviteWithRolesWithoutMail(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")

	// The dialog and the page offer the roles, the expiry, and an email box
	// that is off and says why.
	p := b.get("/console/users?registration=unregistered")
	if n := p.Find(`#invite-dialog input[name="role"]`).Length(); n < 2 {
		t.Errorf("the invite dialog offers %d roles", n)
	}
	if _, dis := p.Find("#invite-send-email").Attr("disabled"); !dis {
		t.Error("the email box is usable without a mail server")
	}
	p = b.get("/console/users/bob@example.com/invite")
	if _, dis := p.Find("#send_email").Attr("disabled"); !dis || !strings.Contains(text(p.Find("#send_email-help")), "No mail server") {
		t.Errorf("invite page's email box: %q", text(p.Find("#send_email-help")))
	}

	p = b.action("bob@example.com", "invite", url.Values{"role": {"Accounts", "Marketing"}, "expires_in": {"168h"}})
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#invite-email-status")); !strings.Contains(got, "Not sent by email") {
		t.Errorf("email status %q", got)
	}
	link, _ := p.Find("#invite-link").Attr("value")
	tok, _ := p.Find("#invite-token").Attr("value")
	if tok == "" || link != h.srv.URL+"/console/invitation?token="+url.QueryEscape(tok) {
		t.Fatalf("link %q for token %q", link, tok)
	}
	if !strings.Contains(text(p.Find(".invitation-facts")), "Accounts, Marketing") {
		t.Errorf("roles not shown: %q", text(p.Find(".invitation-facts")))
	}
	// The user page shows it, and offers a new invitation (no mail: no "Send again").
	p = b.get("/console/users/bob@example.com")
	if got := text(p.Find("#open-invitation")); !strings.Contains(got, "Accounts, Marketing") || !strings.Contains(got, "2026-12-14 09:00 UTC") {
		t.Errorf("open invitation: %q", got)
	}
	if p.Find(`form[action$="/invitation/resend"]`).Length() != 0 {
		t.Error("Send again offered without a mail server")
	}
	// Asking for the email anyway: the service's refusal next to the box.
	p = b.action("zed@example.com", "invite", url.Values{"send_email": {"true"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if text(p.Find("#send_email-error")) == "" {
		t.Errorf("send_email without mail: %q", text(p.Find("main")))
	}
	// The link registers with the roles.
	res, err := h.svc.Redeem(httptest.NewRequest(http.MethodPost, "/", nil), api.Redeem{Token: tok, Password: newPassword,
		Question: "Q?", Answer: "A"})
	if err != nil || res.Address != "bob@example.com" {
		t.Fatalf("redeem: %v %v", res, err)
	}
	if got := h.apiUser("bob@example.com").Roles; strings.Join(got, ",") != "Accounts,Marketing" {
		t.Errorf("roles after registering %v", got)
	}
}

func TestInviteRolesNeedTheRolesPermission(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	ctx := context.Background()
	if _, err := h.svc.AddRole(ctx, system, api.Role{Name: "Helpdesk", Permissions: []string{store.PermissionConsole, "users.read", "users.write"}}); err != nil {
		t.Fatal(err)
	}
	h.user("help@example.com", "Helpdesk")
	b := h.browser()
	b.signIn("help@example.com", adminPassword)
	p := b.get("/console/users/bob@example.com/invite")
	if p.Find(`input[name="role"]`).Length() != 0 {
		t.Error("roles offered to an administrator who may not assign them")
	}
	p = b.action("bob@example.com", "invite", url.Values{"role": {"Administrator"}})
	wantStatus(t, p, http.StatusForbidden)
	if _, err := h.svc.Invitation(ctx, "bob@example.com"); err == nil {
		t.Error("an invitation was made with a role the administrator may not give")
	}
}

func TestInviteAdministratorFromEntraNeedsLicenceAndRole(t *testing.T) {
	sy := upSyncer{owned: map[string]bool{store.FieldLicensed: true, store.FieldDirectoryAdmin: true}}
	h := newHarnessWith(t, sy)
	b := h.admin("root@example.com")
	_, err := h.st.Apply(context.Background(), store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "hr", RunID: "run-1"},
		Changes: []store.Change{{Action: store.ActionCreate, Kind: store.KindUser, Address: "dana@example.com", Origin: "hr", Anchor: "E1",
			Changes: []store.FieldChange{{Field: store.FieldLicensed, After: true}, {Field: store.FieldDirectoryAdmin, After: false}}}}})
	if err != nil {
		t.Fatal(err)
	}
	b.get("/console/users/dana@example.com/invite")
	p := b.action("dana@example.com", "invite", url.Values{"role": {"Administrator"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if got := text(p.Find("#roles-error")); !strings.Contains(got, "administrator role in Microsoft 365") {
		t.Errorf("roles error %q", got)
	}
	if _, ok := p.Find(`input[name="role"][value="Administrator"]`).Attr("checked"); !ok {
		t.Error("the ticked role was not kept")
	}
}

// tempErr is a mail failure that may pass.
type tempErr struct{}

func (tempErr) Error() string   { return "421 try later" }
func (tempErr) Temporary() bool { return true }

func TestInviteByEmailAndSendAgain(t *testing.T) {
	m := &fakeMailer{}
	h := newHarnessMail(t, m)
	seedDirectory(h)
	b := h.admin("root@example.com")
	p := b.get("/console/users/bob@example.com/invite")
	if _, on := p.Find("#send_email").Attr("checked"); !on {
		t.Error("the email box is not ticked by default with a mail server")
	}
	p = b.action("bob@example.com", "invite", url.Values{"send_email": {"true"}, "role": {"Marketing"}})
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#invite-email-status")); !strings.HasPrefix(got, "Sent to bob@example.com") {
		t.Errorf("email status %q", got)
	}
	if p.Find("#invite-link").Length() != 0 || p.Find("#invite-token").Length() != 0 {
		t.Error("an emailed invitation's link is shown to the administrator")
	}
	if len(m.sent) != 1 {
		t.Fatalf("%d emails sent", len(m.sent))
	}
	first := m.sent[0].Token

	// The mail server fails for good: the user page shows it and the error.
	m.err = errors.New("550 mailbox unavailable")
	p = b.action("zed@example.com", "invite", url.Values{"send_email": {"true"}})
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#invite-email-status")); !strings.Contains(got, "Could not be sent") || !strings.Contains(got, "550 mailbox unavailable") {
		t.Errorf("failed email status %q", got)
	}
	if p.Find("#invite-link").Length() != 1 {
		t.Error("a failed email's link is not shown to pass on")
	}
	p = b.get("/console/users/zed@example.com")
	if !strings.Contains(text(p.Find("#invitation-email")), "failed") || !strings.Contains(text(p.Find("#invitation-error")), "550") {
		t.Errorf("user page: %q", text(p.Find("#open-invitation")))
	}

	// A temporary failure: retrying, with the next attempt's time.
	m.err = tempErr{}
	p = b.postPage("/console/users/zed@example.com/invitation/resend", nil)
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#invite-email-status")); !strings.Contains(got, "tries again at") || !strings.Contains(got, "421 try later") {
		t.Errorf("retrying email status %q", got)
	}

	// Send bob's again: a new link, the old one stops working.
	m.err = nil
	p = b.get("/console/users/bob@example.com")
	if p.Find(`form[action="/console/users/bob@example.com/invitation/resend"]`).Length() != 1 {
		t.Fatalf("no Send again on bob's page: %q", text(p.Find("main")))
	}
	p = b.postPage("/console/users/bob@example.com/invitation/resend", nil)
	wantStatus(t, p, http.StatusOK)
	if !strings.Contains(text(p.Find("main")), "the link sent before no longer works") {
		t.Errorf("resend page: %q", text(p.Find("main")))
	}
	if len(m.sent) != 2 || m.sent[1].Token == first {
		t.Fatalf("resend: %d emails", len(m.sent))
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if _, err := h.svc.Redeem(r, api.Redeem{Token: first, Password: newPassword, Question: "Q?", Answer: "A"}); err == nil {
		t.Error("the old link still registers")
	}
	if res, err := h.svc.Redeem(r, api.Redeem{Token: m.sent[1].Token, Password: newPassword, Question: "Q?", Answer: "A"}); err != nil {
		t.Errorf("the new link: %v %v", res, err)
	}
	// No token in any log line.
	for _, e := range h.logs.All() {
		for _, tok := range []string{first, m.sent[1].Token} {
			if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), tok) {
				t.Fatalf("a token is in the log: %v", e.Message)
			}
		}
	}
}

func TestRolesOfAnOnlineUserNeedConfirmation(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	h.user("alice@example.com")
	// alice signs in (to the portal): she is online.
	if _, err := h.svc.SignIn(httptest.NewRequest(http.MethodPost, "/", nil), "alice@example.com", adminPassword); err != nil {
		t.Fatal(err)
	}
	p := b.get("/console/users/alice@example.com")
	if got := text(p.Find("#online-warning-text")); !strings.Contains(got, "alice@example.com is online now (seen within 5 minutes)") {
		t.Fatalf("online warning %q", got)
	}
	p = b.postPage("/console/users/alice@example.com/roles", url.Values{"role": {"Marketing"}})
	wantStatus(t, p, http.StatusConflict)
	if len(h.apiUser("alice@example.com").Roles) != 0 {
		t.Fatal("the roles of an online user changed without confirmation")
	}
	if text(p.Find("#confirm_online-error")) == "" {
		t.Errorf("no error next to the confirmation: %q", text(p.Find("main")))
	}
	if _, on := p.Find(`input[name="role"][value="Marketing"]`).Attr("checked"); !on {
		t.Error("the ticked role was not kept")
	}
	res := b.post("/console/users/alice@example.com/roles", url.Values{"role": {"Marketing"}, "confirm_online": {"true"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirmed: %d", res.StatusCode)
	}
	if got := h.apiUser("alice@example.com").Roles; strings.Join(got, ",") != "Marketing" {
		t.Errorf("roles %v", got)
	}
	// Ten minutes later she is offline: no confirmation needed.
	h.clk.Advance(10 * time.Minute)
	p = b.get("/console/users/alice@example.com")
	if p.Find("#online-warning").Length() != 0 {
		t.Error("an offline user's page warns")
	}
	if res := b.post("/console/users/alice@example.com/roles", url.Values{"role": {"Accounts"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("offline change: %d", res.StatusCode)
	}
}

// TestResetWrongAnswersLock: through the console, three wrong answers lock
// the login; the right answer then changes nothing, in the same words.
func TestResetWrongAnswersLock(t *testing.T) {
	h := newHarness(t)
	h.user("root@example.com", "Administrator") // question "First pet?", answer "Rex"
	b := h.browser()
	form := url.Values{"address": {"root@example.com"}, "question": {"First pet?"}, "security_answer": {"Fido"},
		"new_password": {newPassword}, "confirm_password": {newPassword}}
	var refused string
	for i := range store.LockAfter {
		p := b.postPage("/console/reset", form)
		wantStatus(t, p, http.StatusUnauthorized)
		refused = text(p.Find(".problem"))
		if i < store.LockAfter-1 && h.apiUser("root@example.com").Locked {
			t.Fatalf("locked after %d wrong answers", i+1)
		}
	}
	if !h.apiUser("root@example.com").Locked {
		t.Fatal("three wrong answers did not lock the login")
	}
	form.Set("security_answer", "rex")
	p := b.postPage("/console/reset", form)
	wantStatus(t, p, http.StatusUnauthorized)
	if got := text(p.Find(".problem")); got != refused {
		t.Errorf("locked: %q, a wrong answer: %q (the same words expected)", got, refused)
	}
	if res := b.post("/console/signin", url.Values{"address": {"root@example.com"}, "password": {newPassword}}); res.StatusCode == http.StatusSeeOther {
		t.Error("the reset of a locked login changed its password")
	}
}
