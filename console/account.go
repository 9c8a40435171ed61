package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/api"
)

// The public account pages: a forgotten password reset with the security
// question, and the registration page an invitation's link opens. They need
// no session: like the sign-in form they are protected against cross-site
// posts by the console's CrossOriginProtection, and every check (rate limits,
// lockout, one answer for every refusal) is the API service's.

// accountRoutes are the public account pages.
func (c *Console) accountRoutes() []route {
	return []route{
		{"GET " + Prefix + "reset", "", c.resetPage},
		{"GET " + Prefix + "reset/question", "", c.resetPage}, // a reload of step 2: start again
		{"POST " + Prefix + "reset/question", "", c.resetQuestion},
		{"POST " + Prefix + "reset", "", c.reset},
		{"GET " + Prefix + "invitation", "", c.invitationPage},
		{"POST " + Prefix + "invitation", "", c.redeem},
	}
}

// noReferrer keeps the page's address (an invitation's token) out of the
// Referer of every request the page leads to, its own assets included.
func noReferrer(w http.ResponseWriter) { w.Header().Set("Referrer-Policy", "no-referrer") }

// accountDone is the data of templates/account_done.html: the end of a
// public flow, with the address to sign in with.
type accountDone struct {
	Title   string
	Message string
	Address string
	Notes   []string
	// NoConsole: the login may not use the console, so the page offers no
	// way into it.
	NoConsole bool
}

func (d accountDone) PageTitle() string { return d.Title }

// refusal turns a service error of a public page into the problem to show,
// with Retry-After for a rate limit or a busy daemon; an unexpected failure
// (5xx but busy) is returned for the error page.
func (c *Console) refusal(w http.ResponseWriter, r *http.Request, err error) (*problem, error) {
	status, info, retry := api.Classify(err)
	if status >= 500 && info.Code != api.CodeBusy {
		return nil, err
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds()+0.999)))
	}
	return c.describe(r, err), nil
}

// --- Forgotten password ---

// resetView is the data of templates/reset.html: step "address" asks for the
// address, step "question" shows its security question with the answer and
// new password fields.
type resetView struct {
	Step     string
	Address  string
	Question string
	Problem  *problem
}

func (resetView) PageTitle() string { return "Reset your password" }

const (
	stepAddress  = "address"
	stepQuestion = "question"
)

func (c *Console) resetPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	noReferrer(w)
	c.render(w, r, nil, http.StatusOK, "reset", resetView{Step: stepAddress})
	return nil
}

// resetQuestion shows the address's security question. The service answers
// a stand-in for an address with none, so the page reveals nothing.
func (c *Console) resetQuestion(w http.ResponseWriter, r *http.Request, _ *session) error {
	noReferrer(w)
	v := resetView{Step: stepAddress}
	if !readForm(w, r) {
		return c.unreadablePublicForm(w, r, "reset", v)
	}
	v.Address = strings.TrimSpace(r.PostForm.Get("address"))
	q, err := c.svc.SecurityQuestion(r, v.Address)
	if err != nil {
		p, ferr := c.refusal(w, r, err)
		if ferr != nil {
			return ferr
		}
		v.Problem = p
		c.render(w, r, nil, p.Status, "reset", v)
		return nil
	}
	v.Step, v.Question = stepQuestion, q.Question
	c.render(w, r, nil, http.StatusOK, "reset", v)
	return nil
}

// reset sets the new password when the answer is right. Every refusal of the
// answer is the service's one message; nothing typed in a password or answer
// field is sent back.
func (c *Console) reset(w http.ResponseWriter, r *http.Request, _ *session) error {
	noReferrer(w)
	v := resetView{Step: stepQuestion}
	if !readForm(w, r) {
		return c.unreadablePublicForm(w, r, "reset", resetView{Step: stepAddress})
	}
	f := r.PostForm
	v.Address, v.Question = strings.TrimSpace(f.Get("address")), f.Get("question")
	if v.Address == "" {
		// The question step was skipped (a form from elsewhere): start again.
		v.Step = stepAddress
		v.Problem = &problem{Status: http.StatusUnprocessableEntity, Code: api.CodeValidation,
			Message: "Type your address first: the next step shows its security question.",
			Fields:  map[string]string{"address": "required"}}
		c.render(w, r, nil, v.Problem.Status, "reset", v)
		return nil
	}
	next := f.Get("new_password")
	if next != f.Get("confirm_password") {
		v.Problem = c.describe(r, mismatch())
		c.render(w, r, nil, v.Problem.Status, "reset", v)
		return nil
	}
	res, err := c.svc.ResetPassword(r, api.Reset{Address: v.Address, Answer: f.Get("security_answer"), NewPassword: next})
	if err != nil {
		p, ferr := c.refusal(w, r, err)
		if ferr != nil {
			return ferr
		}
		if p.Code == api.CodeWeakPassword && p.Fields["new_password"] == "" {
			p.Fields["new_password"] = p.Message
		}
		v.Problem = p
		c.render(w, r, nil, p.Status, "reset", v)
		return nil
	}
	d := accountDone{Title: "Password changed", Address: res.Address,
		Message: "Your password is changed. Sign in with " + res.Address + " and the new password."}
	if res.MustChangePassword {
		d.Notes = append(d.Notes, "You will be asked to choose another password when you sign in.")
	}
	c.render(w, r, nil, http.StatusOK, "account_done", d)
	return nil
}

// unreadablePublicForm answers a form too large or malformed to parse with
// the page it came from.
func (c *Console) unreadablePublicForm(w http.ResponseWriter, r *http.Request, name string, v any) error {
	p := &problem{Status: http.StatusBadRequest, Fields: map[string]string{},
		Message: "The form could not be read (too large or malformed), so nothing was changed. Reload the page and try again."}
	switch x := v.(type) {
	case resetView:
		x.Problem = p
		v = x
	case invitationView:
		x.Problem = p
		v = x
	}
	c.render(w, r, nil, p.Status, name, v)
	return nil
}

// --- The invitation's page ---

// invitationView is the data of templates/invitation.html: the registration
// form of an invitation's link, or why the link no longer works.
type invitationView struct {
	Token    string
	Question string // the security question typed (never the password or answer)
	Problem  *problem
	// Dead: the link cannot register (unknown, used, expired, or the login is
	// already registered); Problem says why and Advice what to do.
	Dead   bool
	Advice string
}

func (v invitationView) PageTitle() string {
	if v.Dead {
		return "Invitation not usable"
	}
	return "Complete your registration"
}

// invitationPage is where an invitation's link leads. The service has no
// look-up of a token that does not use it, so the page cannot know whether
// the administrator preset the password: it shows the full form and says to
// leave it empty in that case.
func (c *Console) invitationPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	noReferrer(w)
	v := invitationView{Token: r.URL.Query().Get("token")}
	if v.Token == "" {
		v.Dead = true
		v.Problem = &problem{Status: http.StatusNotFound, Code: api.CodeInvitationInvalid,
			Message: "This invitation link is incomplete: it carries no token."}
		v.Advice = "Open the link from the invitation email again, or copy all of it into the address bar. " +
			"If it still does not work, ask your administrator for a new invitation."
		c.render(w, r, nil, http.StatusNotFound, "invitation", v)
		return nil
	}
	c.render(w, r, nil, http.StatusOK, "invitation", v)
	return nil
}

// redeem registers the invited login. With every field empty it sends the
// token alone, which is how a preset invitation registers.
func (c *Console) redeem(w http.ResponseWriter, r *http.Request, _ *session) error {
	noReferrer(w)
	if !readForm(w, r) {
		return c.unreadablePublicForm(w, r, "invitation", invitationView{})
	}
	f := r.PostForm
	v := invitationView{Token: f.Get("token"), Question: strings.TrimSpace(f.Get("security_question"))}
	pw := f.Get("password")
	if pw != f.Get("confirm_password") {
		v.Problem = c.describe(r, mismatch())
		c.render(w, r, nil, v.Problem.Status, "invitation", v)
		return nil
	}
	res, err := c.svc.Redeem(r, api.Redeem{Token: v.Token, Password: pw, Question: v.Question, Answer: f.Get("security_answer")})
	if err != nil {
		p, ferr := c.refusal(w, r, err)
		if ferr != nil {
			return ferr
		}
		v.Problem = p
		switch p.Code {
		case api.CodeInvitationInvalid:
			v.Dead, v.Advice = true, "Check that the whole link was opened (an email program may split a long link), "+
				"or ask your administrator for a new invitation."
		case api.CodeInvitationUsed:
			v.Dead, v.Advice = true, "If you registered with it, sign in with your address and password. "+
				"If you forgot the password, reset it with your security question."
		case api.CodeInvitationExpired:
			v.Dead, v.Advice = true, "Ask your administrator to send the invitation again: the new link works for a few days."
		case api.CodeAlreadyRegistered:
			v.Dead, v.Advice = true, "Sign in with your address and password, or reset a forgotten password with your security question."
		case api.CodeWeakPassword:
			if p.Fields["password"] == "" {
				p.Fields["password"] = p.Message
			}
		}
		if v.Dead {
			v.Token = "" // nothing more to send
		}
		c.render(w, r, nil, p.Status, "invitation", v)
		return nil
	}
	d := accountDone{Title: "Registered", Address: res.Address, Message: "Registered. Sign in with " + res.Address + "."}
	if res.MustChangePassword {
		d.Notes = append(d.Notes, "Your administrator set your password: sign in with it once, "+
			"and you will be asked to choose a password of your own.")
	}
	if res.SecurityQuestionRequired {
		d.Notes = append(d.Notes, "You will also be asked for a security question and answer, which let you reset a forgotten password.")
	}
	c.render(w, r, nil, http.StatusOK, "account_done", d)
	return nil
}
