package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// Invite makes an invitation for address (a user); its token is in the
// answer, shown this once.
func (s *Service) Invite(ctx context.Context, actor store.Actor, address string, in Invite) (Invitation, error) {
	var req accounts.InviteRequest
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
	inv, err := s.acct.Invite(ctx, cur.Address, req, actor)
	if err != nil {
		return Invitation{}, err
	}
	return Invitation{Address: inv.Address, Token: inv.Token, Expires: inv.Expires, Preset: inv.Preset}, nil
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
	// The token is high-entropy and looked up by its SHA-256: the client's
	// allowance is the limit that matters.
	if err := s.guard.allow(r, ""); err != nil {
		return err
	}
	res, err := s.acct.Redeem(r.Context(), in.Token,
		accounts.Registration{Password: in.Password, Question: in.Question, Answer: in.Answer})
	if err != nil {
		return s.loginAnswer(err)
	}
	writeJSON(w, http.StatusOK, LoginResult{Address: res.Address, MustChangePassword: res.MustChangePassword})
	return nil
}
