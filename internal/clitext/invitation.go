package clitext

// Invitations and end-user sign-in answers, as dirsync users invite,
// users invitation and dirsync account print them.

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dirsync/dirsync/api"
)

// EmailStatus says what became of an invitation's email: "sent at T",
// "pending", "retrying at T (N attempts so far): error", "failed after N
// attempts: error", or "not emailed".
func EmailStatus(e api.InvitationEmail) string {
	switch e.Status {
	case "sent":
		if e.Sent != nil {
			return "sent at " + Time(*e.Sent)
		}
		return "sent"
	case "pending":
		return "pending: the first attempt has not finished"
	case "retrying":
		s := "retrying"
		if e.Next != nil {
			s += " at " + Time(*e.Next)
		}
		return fmt.Sprintf("%s (%s so far): %s", s, attempts(e.Attempts), orUnknown(e.LastError))
	case "failed":
		return fmt.Sprintf("failed after %s: %s", attempts(e.Attempts), orUnknown(e.LastError))
	case "", "none":
		return "not emailed"
	default:
		return e.Status
	}
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

func orUnknown(s string) string {
	if s == "" {
		return "no error recorded"
	}
	return s
}

// Expiry is t, and how long from now until then ("expired" once past).
func Expiry(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	left := t.Sub(now)
	if left <= 0 {
		return Time(t) + " (expired)"
	}
	return fmt.Sprintf("%s (in %s)", Time(t), roundDuration(left))
}

// roundDuration is d to the minute, as "72h", "71h59m" or "5m".
func roundDuration(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	default:
		return fmt.Sprintf("%dh%dm", h, m)
	}
}

// Roles lists role names, or "none".
func Roles(roles []string) string {
	if len(roles) == 0 {
		return "none"
	}
	return strings.Join(roles, ", ")
}

// Invitation writes a new invitation (the answer to an invite or a
// re-send): its roles, expiry and email, then the token, which the API
// shows this once, and what the administrator does with it.
func Invitation(w io.Writer, inv api.Invitation, now time.Time) error {
	fmt.Fprintf(w, "Invitation for %s\n", inv.Address)
	f := NewFields(w)
	f.Add("  Roles", Roles(inv.Roles))
	f.Add("  Expires", Expiry(inv.Expires, now))
	f.Add("  Email", EmailStatus(inv.Email))
	if inv.Link != "" {
		f.Add("  Link", inv.Link)
	}
	f.Add("  Token", inv.Token)
	if err := f.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if inv.Preset {
		fmt.Fprintln(w, "The password and security question are preset: the user only confirms them.")
	}
	switch inv.Email.Status {
	case "sent":
		fmt.Fprintln(w, "The user has the invitation by email. The token is shown only this once.")
	case "pending", "retrying":
		fmt.Fprintf(w, "The email is being retried while the daemon runs; check with: dirsync users invitation %s\n"+
			"The token is shown only this once: keep it if you may need to pass it on yourself.\n", inv.Address)
	case "failed":
		fmt.Fprintf(w, "The email failed; the invitation is still valid. Pass on the %s yourself, or send a new one with:\n"+
			"  dirsync users invitation %s --resend\n", linkOrToken(inv), inv.Address)
	default:
		fmt.Fprintf(w, "Not emailed: pass on the %s to the user now; it is shown only this once.\n", linkOrToken(inv))
		fmt.Fprintf(w, "The user registers in the console, or with: dirsync account register --token-file FILE\n")
	}
	return nil
}

func linkOrToken(inv api.Invitation) string {
	if inv.Link != "" {
		return "link (or the token)"
	}
	return "token"
}

// OpenInvitation writes a user's open invitation (without its token).
func OpenInvitation(w io.Writer, inv api.OpenInvitation, now time.Time) error {
	f := NewFields(w)
	f.Add("Address", inv.Address)
	f.Add("Roles", Roles(inv.Roles))
	f.Add("Created", Time(inv.Created))
	f.Add("Expires", Expiry(inv.Expires, now))
	f.Add("Preset", YesNo(inv.Preset))
	f.Add("Email", EmailStatus(inv.Email))
	if err := f.Flush(); err != nil {
		return err
	}
	switch {
	case inv.Expired:
		fmt.Fprintf(w, "\nThe invitation has expired: invite the user again with: dirsync users invite %s\n", inv.Address)
	case inv.Email.Status == "failed":
		fmt.Fprintf(w, "\nTo email a new link (the old one stops working): dirsync users invitation %s --resend\n", inv.Address)
	case inv.Email.Status == "none" || inv.Email.Status == "":
		fmt.Fprintf(w, "\nNot emailed: its token was shown once, when it was made. A new invitation replaces it:\n"+
			"dirsync users invite %s (or --resend, to email a new link, when the daemon has a mail server)\n", inv.Address)
	}
	return nil
}

// SignedIn writes the answer to a sign-in: done, or the change of a
// temporary password still to make.
func SignedIn(w io.Writer, res api.LoginResult) {
	if !res.MustChangePassword {
		fmt.Fprintf(w, "Signed in as %s.\n", res.Address)
		return
	}
	fmt.Fprintf(w, "Signed in as %s with a temporary password: change it now with\n"+
		"  dirsync account change-password --address %s\n", res.Address, res.Address)
	if res.SecurityQuestionRequired {
		fmt.Fprintln(w, "It will also ask you to choose a security question and its answer, which reset a forgotten password.")
	}
}
