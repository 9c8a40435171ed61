package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// AdminRole is the role BootstrapAdmin grants: the default role that holds
// every permission, the console's included.
const AdminRole = "Administrator"

// Directory is the part of the store BootstrapAdmin needs besides the
// Service's store.Accounts (a store.Store is both).
type Directory interface {
	Domains(ctx context.Context) ([]string, error)
	User(ctx context.Context, address string) (store.User, error)
	Apply(ctx context.Context, req store.ApplyRequest) ([]store.Outcome, error)
}

// BootstrapRequest is the first administrator to make (or repair).
type BootstrapRequest struct {
	Address  string
	Name     string // the display name of a user it creates ("": none); an existing user's is left alone
	Password string
	Actor    store.Actor
}

// BootstrapResult says what BootstrapAdmin changed; all false but Address
// when the administrator was already exactly as asked.
type BootstrapResult struct {
	Address     string // the user's primary address
	Created     bool   // a new manual user
	Enabled     bool   // an existing disabled user was enabled
	Registered  bool   // the portal login was registered now
	PasswordSet bool   // false: the user already had this password, not a temporary one
	Granted     bool   // AdminRole was added to its roles
	Unlocked    bool   // its lock (or failed-login count) was cleared
}

// BootstrapAdmin makes address a console administrator who can sign in with
// pw at once: the user is created (manual, enabled) unless it exists (an
// existing disabled user is enabled), its portal login is registered with pw
// as its password (checked by the policy; not temporary: no change is forced
// at first sign-in), AdminRole is added to its roles (the others are kept)
// and its lock is cleared. Running it again changes nothing.
//
// The address's domain must be an internal domain (*store.NotInternalError
// otherwise); the password is checked before anything is written (a
// *password.WeakError). A login it registers has no security question: the
// store allows that (the answer check then always fails), and an
// administrator has no self-service reset to protect.
func (s *Service) BootstrapAdmin(ctx context.Context, dir Directory, req BootstrapRequest) (BootstrapResult, error) {
	addr, err := mailaddr.Normalize(req.Address)
	if err != nil {
		return BootstrapResult{}, &ValidationError{Problems: []FieldProblem{{"address", err.Error()}}}
	}
	if req.Password == "" {
		return BootstrapResult{}, &ValidationError{Problems: []FieldProblem{{"password", "required"}}}
	}
	domains, err := dir.Domains(ctx)
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("internal domains: %w", err)
	}
	if d := mailaddr.Domain(addr); !slices.Contains(domains, d) {
		return BootstrapResult{}, &store.NotInternalError{Domain: d}
	}
	u, err := dir.User(ctx, addr)
	exists := err == nil
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return BootstrapResult{}, fmt.Errorf("user %s: %w", addr, err)
	case u.Kind != store.KindUser:
		return BootstrapResult{}, &ValidationError{Problems: []FieldProblem{{"address",
			fmt.Sprintf("%s is a distribution list, which cannot sign in: give a person's address", u.Address)}}}
	default:
		addr = u.Address // an alias names its user
	}
	if err := s.CheckPassword(req.Password, addr); err != nil {
		return BootstrapResult{}, err
	}
	res := BootstrapResult{Address: addr}
	if err := s.bootstrapUser(ctx, dir, req, u, exists, &res); err != nil {
		return res, err
	}
	if err := s.bootstrapLogin(ctx, addr, req, &res); err != nil {
		return res, err
	}
	return res, nil
}

// bootstrapUser creates the user, or enables an existing disabled one.
func (s *Service) bootstrapUser(ctx context.Context, dir Directory, req BootstrapRequest, u store.User, exists bool, res *BootstrapResult) error {
	var ch store.Change
	switch {
	case !exists:
		ch = store.Change{Action: store.ActionCreate, Kind: store.KindUser, Address: res.Address,
			Origin: store.OriginManual, Reason: "first administrator, from the CLI"}
		if name := strings.TrimSpace(req.Name); name != "" {
			ch.Changes = []store.FieldChange{{Field: store.FieldDisplayName, After: name}}
		}
		res.Created = true
	case !u.Enabled:
		ch = store.Change{Action: store.ActionEnable, Kind: u.Kind, Address: u.Address,
			Reason: "enabled to become an administrator, from the CLI"}
		res.Enabled = true
	default:
		return nil
	}
	out, err := dir.Apply(ctx, store.ApplyRequest{Actor: req.Actor, Changes: []store.Change{ch}})
	if err == nil && len(out) == 1 {
		err = out[0].Err
	}
	if err != nil {
		res.Created, res.Enabled = false, false
		return fmt.Errorf("%s %s: %w", ch.Action, res.Address, err)
	}
	return nil
}

// bootstrapLogin registers the login or sets its password, grants AdminRole
// and clears the lock, each only when needed.
func (s *Service) bootstrapLogin(ctx context.Context, addr string, req BootstrapRequest, res *BootstrapResult) error {
	c, err := s.st.Credentials(ctx, addr)
	if err != nil {
		return fmt.Errorf("user %s: %w", addr, err)
	}
	same := false
	if c.Account.Registered && !c.Account.ForceChange {
		if same, err = s.PasswordMatches(ctx, addr, req.Password); err != nil {
			return err
		}
	}
	if !same {
		hash, err := s.lim.Wait(ctx, func() (string, error) { return password.Hash(req.Password, s.params) })
		if err != nil {
			return err
		}
		if c.Account.Registered {
			err = s.st.SetPassword(ctx, addr, hash, false, req.Actor)
		} else {
			// No security question: see BootstrapAdmin.
			err = s.st.Register(ctx, addr, store.Registration{PasswordHash: hash}, req.Actor)
			res.Registered = err == nil
		}
		if err != nil {
			return fmt.Errorf("set password of %s: %w", addr, err)
		}
		res.PasswordSet = true
	}
	if !slices.ContainsFunc(c.Account.Roles, func(r string) bool { return strings.EqualFold(r, AdminRole) }) {
		if err := s.st.SetRoles(ctx, addr, append(slices.Clone(c.Account.Roles), AdminRole), req.Actor); err != nil {
			return fmt.Errorf("grant %s to %s: %w", AdminRole, addr, err)
		}
		res.Granted = true
	}
	if c.Account.Locked || c.Account.FailedLogins > 0 {
		if err := s.Unlock(ctx, addr, req.Actor); err != nil {
			return err
		}
		res.Unlocked = true
	}
	return nil
}
