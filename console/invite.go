package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// The administrator's side of invitations: the invite form's roles, email
// and expiry, the result with the email's state and the link to pass on, the
// user page's open invitation and its "Send again"; and the confirmation a
// change of roles needs while the user is online.

// inviteRoutes are the invitation actions of the user page.
func (c *Console) inviteRoutes() []route {
	return []route{
		{"POST " + Prefix + "users/{address}/invitation/resend", PermWrite, c.resendInvitation},
	}
}

// expiries are the invite form's choices of how long a link works.
var expiries = [][2]string{
	{"", "3 days (the default)"}, {"24h", "1 day"}, {"168h", "7 days"}, {"336h", "14 days"}, {"720h", "30 days"},
}

// inviteForm is what the invite dialog and page offer besides the preset.
type inviteForm struct {
	Roles     []roleChoice // empty when the administrator may not assign roles
	Mail      bool         // a mail server is configured
	SendEmail bool         // the box is ticked
	Expiries  []option
}

// inviteForm prepares the form, with ticked roles, expiry and email choice
// (sendEmail nil: the default, ticked when mail is configured).
func (c *Console) inviteForm(r *http.Request, s *session, ticked []string, expiry string, sendEmail *bool) (inviteForm, error) {
	f := inviteForm{Mail: c.svc.MailConfigured(), Expiries: options(expiry, expiries)}
	f.SendEmail = f.Mail && (sendEmail == nil || *sendEmail)
	if !s.can(PermRoles) {
		return f, nil
	}
	roles, err := c.svc.Roles(r.Context())
	if err != nil {
		return inviteForm{}, err
	}
	for _, ro := range roles.Roles {
		f.Roles = append(f.Roles, roleChoice{Name: ro.Name, SupportContact: ro.SupportContact,
			Held: slices.ContainsFunc(ticked, func(n string) bool { return strings.EqualFold(n, ro.Name) })})
	}
	return f, nil
}

// readInvite reads the invite form. The email box is sent as "true" when
// ticked; unticked (or mail not configured) the invitation is not emailed.
func readInvite(f url.Values) api.Invite {
	send := f.Get("send_email") == "true"
	return api.Invite{Password: f.Get("password"), Question: f.Get("security_question"), Answer: f.Get("security_answer"),
		Roles: f["role"], ExpiresIn: f.Get("expires_in"), SendEmail: &send}
}

// errRolesNotAllowed refuses roles in an invitation from an administrator who
// may not assign roles.
var errRolesNotAllowed = &formError{status: http.StatusForbidden, code: api.CodeForbidden,
	msg:   "Your roles do not allow giving roles (it needs the \"roles.manage\" permission): invite without roles. Nothing was sent.",
	field: "roles", fieldMsg: "needs the roles.manage permission"}

// invitationLink is the link to pass on: the service's (server.public_url),
// or, when that is not set, one on the address the administrator reached the
// console at (fromRequest true).
func (c *Console) invitationLink(r *http.Request, inv api.Invitation) (link string, fromRequest bool) {
	if inv.Link != "" || inv.Token == "" {
		return inv.Link, false
	}
	scheme := "http"
	if c.secure || r.TLS != nil {
		scheme = "https"
	}
	return api.InvitationLink(scheme+"://"+r.Host, inv.Token), true
}

// invitedView fills v (mode invited) with the new invitation.
func (c *Console) invitedView(r *http.Request, v *actionView, inv api.Invitation) {
	v.Mode, v.Invitation = actInvited, &inv
	v.Link, v.LinkFromRequest = c.invitationLink(r, inv)
}

// loadInvitation adds the user's open invitation to its page (none for a
// registered user, a list, or a user never invited).
func (c *Console) loadInvitation(r *http.Request, pg *userDetailPage) error {
	pg.Mail = c.svc.MailConfigured()
	if pg.User.Registered || pg.User.Kind != store.KindUser {
		return nil
	}
	inv, err := c.svc.Invitation(r.Context(), pg.User.Address)
	if err != nil {
		if status, _, _ := api.Classify(err); status == http.StatusNotFound {
			return nil
		}
		return err
	}
	pg.Invitation = &inv
	return nil
}

// resendInvitation replaces the user's open invitation with a new link, sent
// by email; the result page shows the email's state (and the new link when
// the email did not go).
func (c *Console) resendInvitation(w http.ResponseWriter, r *http.Request, s *session) error {
	address := r.PathValue("address")
	inv, err := c.svc.ResendInvitation(r.Context(), s.actor(), address)
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= 500 {
			return err
		}
		return c.done(w, r, s, Prefix+"users/"+url.PathEscape(address), "The invitation was not sent again: "+p.Message)
	}
	u, err := c.svc.User(r.Context(), inv.Address)
	if err != nil {
		return err
	}
	v := actionView{User: u, Back: Prefix + "users/" + url.PathEscape(u.Address), Resent: true}
	c.invitedView(r, &v, inv)
	c.render(w, r, s, http.StatusOK, "user_action", v)
	return nil
}

// OnlineWarning is the roles form's warning when the user is online.
func (p userDetailPage) OnlineWarning() string { return onlineWarning(p.User.Address) }

// onlineConfirmField is the box that confirms a change of roles of a user
// who is online.
const onlineConfirmField = "confirm_online"

// onlineProblem is the refusal of a change of roles of an online user that
// was not confirmed (nil when the user is offline or it was confirmed).
func onlineProblem(u api.User, f url.Values) *problem {
	if !u.Online || f.Get(onlineConfirmField) == "true" {
		return nil
	}
	return &problem{Status: http.StatusConflict, Code: "online_confirmation_required",
		Message: "Nothing was changed: " + u.Address + " is online now, so confirm the change of roles with the box below the roles, then save again.",
		Fields:  map[string]string{onlineConfirmField: "tick to change the roles of a user who is online"}}
}

// onlineWarning is what the roles form says about a user who is online.
func onlineWarning(address string) string {
	return address + " is online now (seen within 5 minutes): a change of roles applies to the session in use. Change anyway?"
}
