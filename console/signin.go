package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/api"
)

// signInForm is the data of templates/signin.html.
type signInForm struct {
	Next    string
	Notice  string // why the administrator is here (session expired, signed out)
	Address string
	Problem *problem
	// Change: the password was right but must be changed first; the form asks
	// for a new one.
	Change bool
	// NeedQuestion: that change also sets the login's security question and
	// answer (a first sign-in with a temporary password: the change registers
	// the login). Question is the one typed (the answer is never sent back).
	NeedQuestion bool
	Question     string
}

func (signInForm) PageTitle() string { return "Sign in" }

var notices = map[string]string{
	whyExpired:   "Your session has ended. Sign in again to continue where you were.",
	whyNoSession: "Sign in to use the dirsync console.",
	whyRevoked:   "Your session was ended because this login can no longer use the console.",
	"out":        "You have signed out.",
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	q := r.URL.Query()
	c.render(w, r, nil, http.StatusOK, "signin", signInForm{Next: safeNext(q.Get("next")), Notice: notices[q.Get("why")]})
	return nil
}

// signIn checks the password through the API's sign-in path (rate limits,
// the argon2 limiter, lockout, one answer for every refusal), then opens a
// session for an administrator whose roles include the console permission.
// With new_password set it is the change of a password that must be changed.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request, _ *session) error {
	if !readForm(w, r) {
		c.render(w, r, nil, http.StatusBadRequest, "signin", signInForm{Problem: &problem{Status: http.StatusBadRequest,
			Message: "The form could not be read (too large or malformed). Reload the page and try again."}})
		return nil
	}
	f := signInForm{Next: safeNext(r.PostForm.Get("next")), Address: r.PostForm.Get("address")}
	pw := r.PostForm.Get("password")
	var (
		res api.LoginResult
		err error
	)
	if next := r.PostForm.Get("new_password"); r.PostForm.Has("new_password") {
		f.Change = true
		f.NeedQuestion = r.PostForm.Get("question_required") == "true"
		f.Question = strings.TrimSpace(r.PostForm.Get("security_question"))
		if next != r.PostForm.Get("confirm_password") {
			f.Problem = &problem{Status: http.StatusUnprocessableEntity, Message: "The new passwords do not match.",
				Fields: map[string]string{"confirm_password": "does not match the new password: type the same password twice"}}
			c.render(w, r, nil, http.StatusUnprocessableEntity, "signin", f)
			return nil
		}
		res, err = c.svc.ChangePassword(r, api.ChangePassword{Address: f.Address, CurrentPassword: pw, NewPassword: next,
			Question: f.Question, Answer: r.PostForm.Get("security_answer")})
	} else {
		res, err = c.svc.SignIn(r, f.Address, pw)
	}
	if err != nil {
		status, _, retry := api.Classify(err)
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds()+0.999)))
		}
		f.Problem = c.describe(r, err)
		if status == http.StatusUnprocessableEntity && f.Change {
			// a refused new password: the message belongs next to that field
			if f.Problem.Fields["security_question"] != "" || f.Problem.Fields["security_answer"] != "" {
				f.NeedQuestion = true // the service asks for them: show them
			} else if f.Problem.Fields["new_password"] == "" {
				f.Problem.Fields["new_password"] = f.Problem.Message
			}
		}
		c.render(w, r, nil, status, "signin", f)
		return nil
	}
	if res.MustChangePassword {
		f.Change, f.NeedQuestion = true, res.SecurityQuestionRequired
		f.Notice = "Your password was set by an administrator and must be changed before you continue. " +
			"Type it again with a new one."
		if f.NeedQuestion {
			f.Notice += " Also choose a security question and answer: they let you reset a forgotten password."
		}
		c.render(w, r, nil, http.StatusOK, "signin", f)
		return nil
	}
	s := &session{}
	s.Address = res.Address
	if ok, err := c.loadAdmin(r, s); err != nil {
		return err
	} else if !ok && f.Change {
		// The change succeeded; only the console is closed to this login.
		d := accountDone{Title: "Password changed", Address: res.Address, NoConsole: true,
			Message: "Your password is changed. Sign in to the portal with " + res.Address + "."}
		if f.NeedQuestion {
			d.Message = "Your password is changed and your login is registered. Sign in to the portal with " + res.Address + "."
		}
		c.render(w, r, nil, http.StatusOK, "account_done", d)
		return nil
	} else if !ok {
		f.Problem = &problem{Status: http.StatusForbidden, Message: "This login may not use the console: " +
			"none of its roles grants the console permission. An administrator can give it the Administrator role, " +
			"or a role with the console permission."}
		c.render(w, r, nil, http.StatusForbidden, "signin", f)
		return nil
	}
	if err := c.startSession(w, r, res.Address); err != nil {
		return err
	}
	to := f.Next
	if to == "" {
		to = Prefix
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// readForm parses a small form body (at most maxFormBody); false when it is
// too large or malformed, which the page says (there is nothing to log).
func readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	return r.ParseForm() == nil
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := c.endSession(w, r, s.Hash); err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"signin?why=out", http.StatusSeeOther)
	return nil
}
