package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/store"
)

// Portal logins: what admins do to a user's login (unlock, register,
// unregister, invite, roles, status) and what end users do themselves
// (/v1/auth/*: login, password change, invitation redemption).

// Unlock clears the lockout of address's login.
func (s *Service) Unlock(ctx context.Context, actor store.Actor, address string) (User, error) {
	cur, err := s.lookup(ctx, address)
	if err != nil {
		return User{}, err
	}
	if err := s.acct.Unlock(ctx, cur.Address, actor); err != nil {
		return User{}, err
	}
	return s.User(ctx, cur.Address)
}

func (s *server) unlockUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Unlock(r.Context(), adminActor(r), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// Register gives address (a user) a portal login.
func (s *Service) Register(ctx context.Context, actor store.Actor, address string, in Register) (User, error) {
	cur, err := s.lookup(ctx, address)
	if err != nil {
		return User{}, err
	}
	if cur.Kind != store.KindUser {
		return User{}, invalid("address", cur.Address+" is a distribution list: only users have portal logins")
	}
	reg := accounts.Registration{Password: in.Password, ForceChange: in.ForceChangePassword,
		Question: in.Question, Answer: in.Answer}
	if err := s.acct.Register(ctx, cur.Address, reg, actor); err != nil {
		return User{}, err
	}
	return s.User(ctx, cur.Address)
}

func (s *server) registerUser(w http.ResponseWriter, r *http.Request) error {
	var in Register
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	u, err := s.Register(r.Context(), adminActor(r), r.PathValue("address"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// Unregister removes address's portal login.
func (s *Service) Unregister(ctx context.Context, actor store.Actor, address string) (User, error) {
	cur, err := s.lookup(ctx, address)
	if err != nil {
		return User{}, err
	}
	if err := s.acct.Unregister(ctx, cur.Address, actor); err != nil {
		return User{}, err
	}
	return s.User(ctx, cur.Address)
}

func (s *server) unregisterUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Unregister(r.Context(), adminActor(r), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// Invite makes an invitation for address (a user) with the roles it will
// get, and emails it when asked (by default when a mail server is
// configured); its token is in the answer, shown this once. An
// administrator role for a user from Microsoft 365 needs a licensed mailbox
// and the directory's administrator role there (AdminInviteProblem).
func (s *Service) Invite(ctx context.Context, actor store.Actor, address string, in Invite) (Invitation, error) {
	req := accounts.InviteRequest{Roles: in.Roles, Email: s.mailer != nil}
	if in.SendEmail != nil {
		req.Email = *in.SendEmail
	}
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil {
			return Invitation{}, invalid("expires_in", fmt.Sprintf("%q is not a duration: write it like 72h or 30m", in.ExpiresIn))
		}
		if d <= 0 {
			return Invitation{}, invalid("expires_in", "must be positive")
		}
		req.ExpiresIn = d
	}
	if in.Password != "" || in.Question != "" || in.Answer != "" {
		req.Preset = &accounts.Registration{Password: in.Password, Question: in.Question, Answer: in.Answer}
	}
	cur, err := s.lookup(ctx, address)
	if err != nil {
		return Invitation{}, err
	}
	if cur.Kind != store.KindUser {
		return Invitation{}, invalid("address", cur.Address+" is a distribution list: only users have portal logins")
	}
	if err := s.adminInviteProblem(ctx, cur, in.Roles); err != nil {
		return Invitation{}, err
	}
	req.Name, req.InvitedBy = cur.DisplayName, inviter(actor)
	inv, err := s.acct.Invite(ctx, cur.Address, req, actor)
	if err != nil {
		return Invitation{}, err
	}
	return s.invitation(inv), nil
}

// adminInviteProblem applies accounts.AdminInviteProblem with the defined
// roles; a user's Microsoft 365 facts come from the connector that owns them.
func (s *Service) adminInviteProblem(ctx context.Context, u store.User, names []string) error {
	if len(names) == 0 {
		return nil
	}
	all, err := s.st.Roles(ctx)
	if err != nil {
		return fmt.Errorf("roles: %w", err)
	}
	var roles []store.Role
	for _, n := range names {
		for _, r := range all {
			if strings.EqualFold(r.Name, n) {
				roles = append(roles, r)
			}
		}
	}
	return accounts.AdminInviteProblem(u, roles, s.EntraOrigin)
}

// inviter is how an invitation email names the administrator: the console's
// actors are "console:ADDRESS", an API token's its name.
func inviter(a store.Actor) string { return strings.TrimPrefix(a.Name, "console:") }

// invitation is the API's form of a new invitation.
func (s *Service) invitation(inv accounts.Invitation) Invitation {
	return Invitation{Address: inv.Address, Token: inv.Token, Expires: inv.Expires, Preset: inv.Preset,
		Roles: nonNil(inv.Roles), Link: InvitationLink(s.publicURL, inv.Token), Email: invitationEmail(inv.Email)}
}

// InvitationLink is the registration page's address for token under the
// console's public URL ("" when there is none). The token travels in the
// query, which no request log records.
func InvitationLink(publicURL, token string) string {
	if publicURL == "" || token == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/console/invitation?token=" + url.QueryEscape(token)
}

func invitationEmail(e store.InvitationEmail) InvitationEmail {
	out := InvitationEmail{Status: e.Status, Attempts: e.Attempts, Sent: timePtr(e.Sent), LastError: e.Error, Next: timePtr(e.Next)}
	if out.Status == store.EmailNone {
		out.Status = "none"
	}
	return out
}

// inviteUser answers with the invitation's token, shown this once.
func (s *server) inviteUser(w http.ResponseWriter, r *http.Request) error {
	var in Invite
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	inv, err := s.Invite(r.Context(), adminActor(r), r.PathValue("address"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inv)
	return nil
}

// Invitation is address's open (unused) invitation, without its token.
func (s *Service) Invitation(ctx context.Context, address string) (OpenInvitation, error) {
	cur, err := s.lookup(ctx, address)
	if err != nil {
		return OpenInvitation{}, err
	}
	inv, err := s.st.OpenInvitation(ctx, cur.Address)
	if errors.Is(err, store.ErrNotFound) {
		return OpenInvitation{}, &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Err: err,
			Message: fmt.Sprintf("%s has no open invitation: invite the user (POST /v1/users/%s/invite)", cur.Address, cur.Address)}
	}
	if err != nil {
		return OpenInvitation{}, err
	}
	return OpenInvitation{Address: inv.Address, Created: inv.Created, Expires: inv.Expires,
		Expired: !s.now().Before(inv.Expires), Preset: inv.Preset != nil, Roles: nonNil(inv.Roles),
		Email: invitationEmail(inv.Email)}, nil
}

func (s *server) getInvitation(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.Invitation(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}

// ResendInvitation replaces address's open invitation with a new link (the
// old one stops working) and emails it.
func (s *Service) ResendInvitation(ctx context.Context, actor store.Actor, address string) (Invitation, error) {
	cur, err := s.lookup(ctx, address)
	if err != nil {
		return Invitation{}, err
	}
	inv, err := s.acct.Resend(ctx, cur.Address, cur.DisplayName, inviter(actor), actor)
	if errors.Is(err, store.ErrNotFound) {
		return Invitation{}, &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Err: err,
			Message: fmt.Sprintf("%s has no open invitation to send again: invite the user (POST /v1/users/%s/invite)", cur.Address, cur.Address)}
	}
	if err != nil {
		return Invitation{}, err
	}
	return s.invitation(inv), nil
}

func (s *server) resendInvitation(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.ResendInvitation(r.Context(), adminActor(r), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inv)
	return nil
}

// localFields are owned by the store's admins whatever the user's origin:
// sync never writes them (SPEC §4, ownership).
var localFields = []string{"password", "registration", "lock", "roles", store.FieldDefaultLead}

// syncedFields are the fields a connector may own.
var syncedFields = []string{
	store.FieldAddress, store.FieldAliases, store.FieldDisplayName, store.FieldGivenName, store.FieldSurname,
	store.FieldPhone, store.FieldDepartment, store.FieldTitle, store.FieldEnabled,
}

// UserStatus is address's login state, last sync and field owners.
func (s *Service) UserStatus(ctx context.Context, address string) (Status, error) {
	u, err := s.lookup(ctx, address)
	if err != nil {
		return Status{}, err
	}
	a := u.Account
	st := Status{
		Address: u.Address, Kind: u.Kind, Enabled: u.Enabled, Registered: a.Registered, Locked: a.Locked,
		FailedLogins: a.FailedLogins, CanLogIn: u.Enabled && a.Registered && a.HasPassword && !a.Locked,
		Origin: u.Origin, Anchor: u.Anchor, LastLogin: timePtr(a.LastLogin), LastLoginError: a.LastLoginError,
		Roles: nonNil(a.Roles), SupportContact: a.SupportContact(), FieldOwners: map[string]string{},
		Licensed: u.Licensed, DirectoryAdmin: u.DirectoryAdmin,
	}
	entries, err := s.st.Audit(ctx, store.AuditQuery{Address: u.Address, ActorKind: "sync", Limit: 1})
	if err != nil {
		return Status{}, fmt.Errorf("last sync of %s: %w", u.Address, err)
	}
	if len(entries) > 0 {
		e := entries[0]
		st.LastSync = &SyncTouch{RunID: e.Actor.RunID, Connector: e.Actor.Name, Action: string(e.Action), Time: e.Time}
	}
	fields := syncedFields
	if u.Kind == store.KindGroup {
		fields = append(slices.Clone(fields), store.FieldMembers)
	}
	connector := ""
	switch u.Origin {
	case store.OriginManual, store.OriginCSV, store.OriginOutbound, "":
	default:
		connector = u.Origin
	}
	for _, f := range fields {
		st.FieldOwners[f] = "admin"
		if connector != "" && s.syncer != nil && s.syncer.FieldOwner(connector, f) {
			st.FieldOwners[f] = connector
		}
	}
	for _, f := range localFields {
		st.FieldOwners[f] = "admin"
	}
	if s.EntraOrigin(connector) {
		// Microsoft 365's facts: only an Entra connector supplies them.
		st.FieldOwners[store.FieldLicensed] = connector
		st.FieldOwners[store.FieldDirectoryAdmin] = connector
	}
	st.Quarantined = []QuarantinedRecord{}
	if qf, ok := s.syncer.(QuarantineFinder); ok {
		q, err := qf.Quarantined(ctx, QuarantineQuery{Names: append([]string{u.Address}, u.Aliases...),
			Origin: connector, Anchor: u.Anchor})
		if err != nil {
			return Status{}, fmt.Errorf("quarantined records of %s: %w", u.Address, err)
		}
		st.Quarantined = append(st.Quarantined, q...)
	}
	return st, nil
}

func (s *server) userStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.UserStatus(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// SetRoles replaces address's roles with roles (nil or empty: none).
func (s *Service) SetRoles(ctx context.Context, actor store.Actor, address string, roles []string) (User, error) {
	if roles == nil {
		roles = []string{}
	}
	err := s.st.SetRoles(ctx, address, roles, actor)
	var ure *store.UnknownRoleError
	if errors.Is(err, store.ErrNotFound) && !errors.As(err, &ure) {
		return User{}, &apiError{Status: http.StatusUnprocessableEntity, Code: CodeUserNotSaved, Err: err,
			Message: fmt.Sprintf("no user %s has been saved: a role can only be assigned to a saved user, so create it first (POST /v1/users)", address)}
	}
	if err != nil {
		return User{}, err
	}
	return s.User(ctx, address)
}

func (s *server) setRoles(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Roles *[]string `json:"roles"`
	}
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	if in.Roles == nil {
		return invalid("roles", `required: the complete list of the user's roles ([] removes them all)`)
	}
	u, err := s.SetRoles(r.Context(), adminActor(r), r.PathValue("address"), *in.Roles)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// login verifies an end user's cloud password. It opens no session: the
// portal that calls it does that.
func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	var in Login
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	res, err := s.SignIn(r, in.Address, in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var in ChangePassword
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	res, err := s.ChangePassword(r, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// redeem registers an invited user; a preset invitation needs the token only.
func (s *server) redeem(w http.ResponseWriter, r *http.Request) error {
	var in Redeem
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	res, err := s.Redeem(r, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// Redeem is POST /v1/auth/register for any caller (the console's page too).
func (s *Service) Redeem(r *http.Request, in Redeem) (LoginResult, error) {
	// The token is high-entropy and looked up by its SHA-256: the client's
	// allowance is the limit that matters.
	if err := s.guard.allow(r, ""); err != nil {
		return LoginResult{}, err
	}
	res, err := s.acct.Redeem(r.Context(), in.Token,
		accounts.Registration{Password: in.Password, Question: in.Question, Answer: in.Answer})
	if err != nil {
		return LoginResult{}, s.loginAnswer(err)
	}
	return loginResult(res), nil
}

func loginResult(res accounts.LoginResult) LoginResult {
	return LoginResult{Address: res.Address, MustChangePassword: res.MustChangePassword,
		SecurityQuestionRequired: res.MustChangePassword && res.NeedsSecurityQuestion}
}

// SecurityQuestion is POST /v1/auth/reset/question: the question to answer
// for address, or a stand-in that is the same every time for an address that
// has none, so the answer reveals nothing. Rate-limited like sign-in.
func (s *Service) SecurityQuestion(r *http.Request, address string) (SecurityQuestion, error) {
	if strings.TrimSpace(address) == "" {
		return SecurityQuestion{}, invalid("address", "required")
	}
	if err := s.guard.allow(r, address); err != nil {
		return SecurityQuestion{}, err
	}
	q, err := s.acct.SecurityQuestion(r.Context(), address)
	if err != nil {
		return SecurityQuestion{}, err
	}
	return SecurityQuestion{Question: q}, nil
}

func (s *server) resetQuestion(w http.ResponseWriter, r *http.Request) error {
	var in ResetQuestion
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	q, err := s.SecurityQuestion(r, in.Address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}

// ResetPassword is POST /v1/auth/reset: sign-in's limits, then the answer
// checked like a password and the new password set.
func (s *Service) ResetPassword(r *http.Request, in Reset) (LoginResult, error) {
	if err := s.guard.allow(r, in.Address); err != nil {
		return LoginResult{}, err
	}
	res, err := s.acct.Reset(r.Context(), in.Address, in.Answer, in.NewPassword)
	if err != nil {
		return LoginResult{}, s.loginAnswer(err)
	}
	return loginResult(res), nil
}

func (s *server) reset(w http.ResponseWriter, r *http.Request) error {
	var in Reset
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	res, err := s.ResetPassword(r, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
