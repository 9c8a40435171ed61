package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/store"
)

// Registration is what an admin (Register, a preset Invite) or an invited user
// (Redeem) provides to register a portal login.
type Registration struct {
	Password    string
	ForceChange bool
	Question    string
	Answer      string // compared case-insensitively, spaces around ignored
}

// normalAnswer is the form a security answer is hashed in.
func normalAnswer(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// prepare validates r for address and hashes its secrets. Every missing field
// is reported at once; a weak password is a *password.WeakError. A public
// caller's hashing is refused with password.ErrBusy when the limiter is full;
// an administrator's waits.
func (s *Service) prepare(ctx context.Context, r Registration, address string, public bool) (store.Registration, error) {
	var v ValidationError
	if r.Password == "" {
		v.add("password", "required")
	}
	if strings.TrimSpace(r.Question) == "" {
		v.add("security_question", "required")
	}
	if normalAnswer(r.Answer) == "" {
		v.add("security_answer", "required")
	}
	if err := v.orNil(); err != nil {
		return store.Registration{}, err
	}
	if err := password.Check(r.Password, address); err != nil {
		return store.Registration{}, err
	}
	hash := func(secret string) (string, error) {
		if public {
			return s.lim.Hash(ctx, secret, s.params)
		}
		return s.lim.Wait(ctx, func() (string, error) { return password.Hash(secret, s.params) })
	}
	pwHash, err := hash(r.Password)
	if err != nil {
		return store.Registration{}, err
	}
	ansHash, err := hash(normalAnswer(r.Answer))
	if err != nil {
		return store.Registration{}, err
	}
	return store.Registration{PasswordHash: pwHash, ForceChange: r.ForceChange,
		Question: strings.TrimSpace(r.Question), AnswerHash: ansHash}, nil
}

// Register makes the user a registered portal login (an admin registering it
// directly). A registered user is ErrAlreadyRegistered: unregister it first, or
// set a temporary password.
func (s *Service) Register(ctx context.Context, address string, r Registration, actor store.Actor) error {
	c, err := s.st.Credentials(ctx, address)
	if err != nil {
		return fmt.Errorf("user %s: %w", address, err)
	}
	if c.Account.Registered {
		return fmt.Errorf("%s: %w", c.Address, ErrAlreadyRegistered)
	}
	reg, err := s.prepare(ctx, r, c.Address, false)
	if err != nil {
		return err
	}
	if err := s.st.Register(ctx, c.Address, reg, actor); err != nil {
		return fmt.Errorf("register %s: %w", c.Address, err)
	}
	return nil
}

// Unregister removes the portal login (password, question, answer, lock and
// open invitations); the user is kept. Unregistering an unregistered user is
// not an error.
func (s *Service) Unregister(ctx context.Context, address string, actor store.Actor) error {
	if err := s.st.Unregister(ctx, address, actor); err != nil {
		return fmt.Errorf("unregister %s: %w", address, err)
	}
	return nil
}

// InviteRequest is an admin's invitation. With Preset, the user only confirms
// the registration the admin prepared.
type InviteRequest struct {
	ExpiresIn time.Duration // 0: DefaultExpiry; at most MaxExpiry
	Preset    *Registration
}

// Invitation is a created invitation. Token is shown this once: the store has
// only its hash.
type Invitation struct {
	Address string // primary address
	Token   string
	Expires time.Time
	Preset  bool
}

// Invite creates a single-use registration invitation (replacing the user's
// earlier unused one). The user must exist and not be registered; a preset
// registration is validated (and its secrets hashed) now, not at redemption.
// A preset password is temporary: the user must change it at first login.
func (s *Service) Invite(ctx context.Context, address string, req InviteRequest, actor store.Actor) (Invitation, error) {
	switch {
	case req.ExpiresIn == 0:
		req.ExpiresIn = DefaultExpiry
	case req.ExpiresIn < time.Minute || req.ExpiresIn > MaxExpiry:
		return Invitation{}, &ValidationError{Problems: []FieldProblem{{"expires_in",
			fmt.Sprintf("%s: use a duration between 1m and %s (default %s)", req.ExpiresIn, fmtHours(MaxExpiry), fmtHours(DefaultExpiry))}}}
	}
	c, err := s.st.Credentials(ctx, address)
	if err != nil {
		return Invitation{}, fmt.Errorf("user %s: %w", address, err)
	}
	if c.Account.Registered {
		return Invitation{}, fmt.Errorf("%s: %w; unregister it first to invite it again", c.Address, ErrAlreadyRegistered)
	}
	var preset *store.Registration
	if req.Preset != nil {
		r := *req.Preset
		r.ForceChange = true
		reg, err := s.prepare(ctx, r, c.Address, false)
		if err != nil {
			return Invitation{}, err
		}
		preset = &reg
	}
	token, err := randomToken()
	if err != nil {
		return Invitation{}, err
	}
	now := s.now().UTC()
	inv := store.Invitation{Address: c.Address, TokenHash: HashToken(token), Created: now,
		Expires: now.Add(req.ExpiresIn), Preset: preset}
	if err := s.st.CreateInvitation(ctx, inv, actor); err != nil {
		return Invitation{}, fmt.Errorf("invite %s: %w", c.Address, err)
	}
	return Invitation{Address: c.Address, Token: token, Expires: inv.Expires, Preset: preset != nil}, nil
}

func fmtHours(d time.Duration) string { return fmt.Sprintf("%dh", int(d.Hours())) }

// Redeem registers the invited user: r is required unless the invitation is
// preset, in which case r must be empty (the admin's choice stands). Unknown,
// used and expired tokens are ErrInvitationUnknown, store.ErrInvitationUsed and
// store.ErrInvitationExpired. It returns the user's primary address and whether
// the password must be changed at first login.
func (s *Service) Redeem(ctx context.Context, token string, r Registration) (LoginResult, error) {
	if token == "" {
		return LoginResult{}, &ValidationError{Problems: []FieldProblem{{"token", "required"}}}
	}
	hash := HashToken(token)
	inv, err := s.st.Invitation(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return LoginResult{}, ErrInvitationUnknown
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("invitation: %w", err)
	}
	now := s.now().UTC()
	switch {
	case !inv.Used.IsZero():
		return LoginResult{}, store.ErrInvitationUsed
	case !now.Before(inv.Expires):
		return LoginResult{}, store.ErrInvitationExpired
	}
	var reg store.Registration
	if inv.Preset != nil {
		if r != (Registration{}) {
			return LoginResult{}, &ValidationError{Problems: []FieldProblem{{"token",
				"this invitation's password and security question were set by the administrator: send the token alone"}}}
		}
		reg = *inv.Preset
	} else if reg, err = s.prepare(ctx, Registration{Password: r.Password, Question: r.Question, Answer: r.Answer}, inv.Address, true); err != nil {
		return LoginResult{}, err
	}
	addr, err := s.st.RedeemInvitation(ctx, hash, now, reg, store.Actor{Kind: "user", Name: inv.Address})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return LoginResult{}, ErrInvitationUnknown
	case errors.Is(err, store.ErrInvitationUsed):
		return LoginResult{}, store.ErrInvitationUsed
	case errors.Is(err, store.ErrInvitationExpired):
		return LoginResult{}, store.ErrInvitationExpired
	case err != nil:
		return LoginResult{}, fmt.Errorf("redeem invitation: %w", err)
	}
	return LoginResult{Address: addr, MustChangePassword: reg.ForceChange}, nil
}

// VerifyAnswer checks a user's security answer (case-insensitive, surrounding
// spaces ignored): nil when it matches, ErrWrongAnswer otherwise (also when the
// user has none or does not exist, so the answer reveals nothing).
func (s *Service) VerifyAnswer(ctx context.Context, address, answer string) error {
	var err error
	if lerr := s.lim.Do(ctx, func() { err = s.verifyAnswerSlot(ctx, address, answer) }); lerr != nil {
		return lerr
	}
	return err
}

func (s *Service) verifyAnswerSlot(ctx context.Context, address, answer string) error {
	c, err := s.st.Credentials(ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		s.burn(answer)
		return ErrWrongAnswer
	}
	if err != nil {
		return fmt.Errorf("credentials of %s: %w", address, err)
	}
	if c.AnswerHash == "" {
		s.burn(answer)
		return ErrWrongAnswer
	}
	switch err := password.Verify(normalAnswer(answer), c.AnswerHash); {
	case errors.Is(err, password.ErrMismatch):
		return ErrWrongAnswer
	case err != nil:
		return fmt.Errorf("verify answer of %s: %w", c.Address, err)
	}
	return nil
}
