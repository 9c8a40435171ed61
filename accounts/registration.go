package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

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

// normalAnswer is the form a security answer is hashed in: Unicode
// compatibility-normalised (NFKC), case-folded, with surrounding spaces
// dropped and every run of spaces made one, so "New  York" and " new york"
// are the same answer.
func normalAnswer(a string) string {
	return strings.Join(strings.Fields(cases.Fold().String(norm.NFKC.String(a))), " ")
}

// legacyAnswer is the form answers stored before normalAnswer were hashed in
// (lower case, surrounding spaces dropped); verification accepts either.
func legacyAnswer(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

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
	// Roles are given to the user when it redeems the invitation.
	Roles []string
	// Email sends the invitation to the user (Options.Mailer must be set).
	Email bool
	// Name is the user's display name, for the email's greeting.
	Name string
	// InvitedBy names the administrator in the email (default: the actor's
	// name).
	InvitedBy string
}

// Invitation is a created invitation. Token is shown this once: the store has
// only its hash.
type Invitation struct {
	Address string // primary address
	Token   string
	Expires time.Time
	Preset  bool
	Roles   []string
	// Email is the state of its email after the first attempt.
	Email store.InvitationEmail
}

// Invite creates a single-use registration invitation (replacing the user's
// earlier unused one) and, with req.Email, sends it. The user must exist and
// not be registered; roles must exist; a preset registration is validated
// (and its secrets hashed) now, not at redemption. A preset password is
// temporary: the user must change it at first login. An email that fails
// leaves the invitation valid, with the failure recorded and, when it may
// pass later, retried with backoff (see Options.MailRetries).
func (s *Service) Invite(ctx context.Context, address string, req InviteRequest, actor store.Actor) (Invitation, error) {
	switch {
	case req.ExpiresIn == 0:
		req.ExpiresIn = DefaultExpiry
	case req.ExpiresIn < time.Minute || req.ExpiresIn > MaxExpiry:
		return Invitation{}, &ValidationError{Problems: []FieldProblem{{"expires_in",
			fmt.Sprintf("%s: use a duration between 1m and %s (default %s)", req.ExpiresIn, fmtHours(MaxExpiry), fmtHours(DefaultExpiry))}}}
	}
	if req.Email && s.mailer == nil {
		return Invitation{}, &ValidationError{Problems: []FieldProblem{{"send_email",
			"no mail server is configured: set mail.smtp in the configuration, or invite without the email and pass the link on yourself"}}}
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
	now := s.now().UTC()
	return s.issue(ctx, store.Invitation{Address: c.Address, Created: now, Expires: now.Add(req.ExpiresIn),
		Preset: preset, Roles: req.Roles}, req.Email, req.Name, req.InvitedBy, actor)
}

// Resend replaces the user's open invitation with a new one (a new link; the
// old one stops working) with the same roles, preset and validity, and sends
// it: for an email that failed or never arrived.
func (s *Service) Resend(ctx context.Context, address, name, invitedBy string, actor store.Actor) (Invitation, error) {
	if s.mailer == nil {
		return Invitation{}, &ValidationError{Problems: []FieldProblem{{"send_email",
			"no mail server is configured: set mail.smtp in the configuration"}}}
	}
	old, err := s.st.OpenInvitation(ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		return Invitation{}, fmt.Errorf("%s has no open invitation to send again: invite the user: %w", address, store.ErrNotFound)
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("invitation of %s: %w", address, err)
	}
	now := s.now().UTC()
	valid := old.Expires.Sub(old.Created)
	if valid <= 0 || valid > MaxExpiry {
		valid = DefaultExpiry
	}
	return s.issue(ctx, store.Invitation{Address: old.Address, Created: now, Expires: now.Add(valid),
		Preset: old.Preset, Roles: old.Roles}, true, name, invitedBy, actor)
}

// issue stores inv under a new token and, with email, sends it.
func (s *Service) issue(ctx context.Context, inv store.Invitation, email bool, name, invitedBy string, actor store.Actor) (Invitation, error) {
	token, err := randomToken()
	if err != nil {
		return Invitation{}, err
	}
	inv.TokenHash = HashToken(token)
	if email {
		inv.Email.Status = store.EmailPending
	}
	if err := s.st.CreateInvitation(ctx, inv, actor); err != nil {
		return Invitation{}, fmt.Errorf("invite %s: %w", inv.Address, err)
	}
	stored, err := s.st.Invitation(ctx, inv.TokenHash)
	if err != nil {
		return Invitation{}, fmt.Errorf("invite %s: %w", inv.Address, err)
	}
	out := Invitation{Address: stored.Address, Token: token, Expires: stored.Expires, Preset: stored.Preset != nil,
		Roles: stored.Roles, Email: stored.Email}
	if email {
		if invitedBy == "" {
			invitedBy = actor.Name
		}
		m := InvitationMail{To: stored.Address, DisplayName: name, Token: token, Expires: stored.Expires,
			Roles: stored.Roles, InvitedBy: invitedBy}
		out.Email = s.mail.first(ctx, inv.TokenHash, m)
	}
	return out, nil
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
	if c, err := s.st.Credentials(ctx, inv.Address); err == nil && c.Account.Registered {
		return LoginResult{}, fmt.Errorf("%s: %w; sign in with its password, or reset it with the security question", inv.Address, ErrAlreadyRegistered)
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
	case errors.Is(err, store.ErrAlreadyRegistered):
		return LoginResult{}, fmt.Errorf("%s: %w; sign in with its password, or reset it with the security question", inv.Address, ErrAlreadyRegistered)
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
	switch err := verifyAnswer(answer, c.AnswerHash); {
	case errors.Is(err, password.ErrMismatch):
		return ErrWrongAnswer
	case err != nil:
		return fmt.Errorf("verify answer of %s: %w", c.Address, err)
	}
	return nil
}

// verifyAnswer checks answer against hash in its normal form, then in the
// legacy form when that differs (one more argon2 run only for such answers).
func verifyAnswer(answer, hash string) error {
	err := password.Verify(normalAnswer(answer), hash)
	if errors.Is(err, password.ErrMismatch) {
		if l := legacyAnswer(answer); l != normalAnswer(answer) {
			return password.Verify(l, hash)
		}
	}
	return err
}
