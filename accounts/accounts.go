// Package accounts is the portal-login business logic over store.Accounts:
// logins with lockout, password changes, temporary passwords, registration,
// invitations and security answers (SPEC §2). The store keeps state and hashes;
// this package decides who may log in, checks password strength and does the
// hashing, so no plaintext secret ever reaches a backend, a log or an error.
//
// Every refused login is one answer, ErrInvalidCredentials, after the same
// argon2 work, whatever the reason: the caller cannot tell an unknown address
// from a wrong password, a locked, disabled or unregistered account. The
// reason goes to the log and to the account's last login error (what the
// status check shows administrators); errors.Is also matches ErrLocked,
// ErrDisabled or ErrNotRegistered, for callers that may know. In the order
// they are checked:
//
//  1. An unknown address, or a user without a password: nothing is recorded.
//  2. Every other attempt is counted as a failure before its password is
//     verified (store BeginLogin, atomic), so parallel guesses cannot each see
//     an unlocked account: at most store.LockAfter are ever verified. A locked
//     account is not verified at all, so it is no oracle for guessing; the
//     attempt is recorded ("account locked"), so the status check shows that
//     someone keeps trying; the store audits the lock only once.
//  3. A wrong password is recorded ("wrong password"); the failure that
//     reaches store.LockAfter locks the account (ErrLocked).
//  4. With the right password, a disabled user (ErrDisabled) is refused too,
//     checked against the store's current state, so a user disabled by a
//     sync or an admin cannot log in from that moment; recorded as "account
//     disabled".
//  5. Otherwise the login succeeds (store FinishLogin) unless a parallel guess
//     locked the account meanwhile, and says whether the password must be
//     changed first. An unregistered login with a password (a temporary one
//     an administrator set, or imported) always must: its first sign-in
//     leads to the change, which registers it (see Registered below).
//
// # Registered
//
// A login is registered when its user has taken it over: it has a password
// and a security question with its answer, and it was registered by an
// administrator with both (Register), by the user redeeming an invitation
// (Redeem), or by the user's first password change after a temporary
// password (ChangePassword, which asks for the question and answer when the
// login has none). A temporary password alone does not register: until the
// change, the credentials do nothing but lead to it. Unregister ends it;
// setting a temporary password on a registered login keeps it registered
// (the password must be changed at the next sign-in); a reset with the
// security answer keeps it registered.
//
// Every argon2 computation runs under a password.Limiter, so its memory is
// bounded whatever the load: public callers get password.ErrBusy when it is
// full, administrators' requests wait their turn.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/store"
)

// Errors of the login and invitation flows. Invitation expiry and reuse are
// store.ErrInvitationExpired and store.ErrInvitationUsed.
var (
	// ErrInvalidCredentials: unknown address, no password or wrong password.
	ErrInvalidCredentials = errors.New("the address or password is wrong")
	// ErrLocked: too many consecutive failed logins; an admin clears the lock.
	ErrLocked = errors.New("the account is locked after too many failed logins; ask an administrator to clear the lock")
	// ErrDisabled: the user is disabled in the directory.
	ErrDisabled = errors.New("the account is disabled")
	// ErrNotRegistered: the user has no registered portal login.
	ErrNotRegistered = errors.New("the portal login is not registered")
	// ErrAlreadyRegistered: registering or inviting a user who is registered.
	ErrAlreadyRegistered = errors.New("the portal login is already registered")
	// ErrInvitationUnknown: no invitation has that token.
	ErrInvitationUnknown = errors.New("no invitation has this token")
	// ErrWrongAnswer: VerifyAnswer with an answer that does not match.
	ErrWrongAnswer = errors.New("the security answer is wrong")
	// ErrResetRefused: a password reset that was refused, whatever the reason
	// (unknown address, wrong answer, locked or disabled account).
	ErrResetRefused = errors.New("the address or security answer is wrong, or the account is locked or disabled " +
		"(after 3 wrong answers or passwords in a row the account locks): check the answer, or ask an administrator")
)

// Invitation expiries.
const (
	DefaultExpiry = 72 * time.Hour
	MaxExpiry     = 720 * time.Hour
)

// Reasons recorded as the last login error.
const (
	reasonWrongPassword = "wrong password"
	reasonWrongAnswer   = "wrong security answer"
	reasonDisabled      = "account disabled"
	reasonCorruptHash   = "stored password hash unreadable"
)

// refusal is a refused login: its words and errors.Is(ErrInvalidCredentials)
// are the same whatever the reason, which errors.Is also matches.
type refusal struct{ reason error }

func (r *refusal) Error() string { return ErrInvalidCredentials.Error() }

// Is matches ErrInvalidCredentials and the real reason.
func (r *refusal) Is(target error) bool { return target == ErrInvalidCredentials || target == r.reason }

func refuse(reason error) error { return &refusal{reason: reason} }

// FieldProblem is one invalid input field.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of a request. It never holds a
// secret's value.
type ValidationError struct{ Problems []FieldProblem }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, msg string) {
	e.Problems = append(e.Problems, FieldProblem{field, msg})
}

func (e *ValidationError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Options configure a Service.
type Options struct {
	Store store.Accounts
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives security events (failed logins, lockouts); never a secret.
	Log *zap.Logger
	// Params are the argon2id costs of new hashes (zero: password.Default).
	// Tests use cheap ones.
	Params password.Params
	// Limiter bounds concurrent argon2 work (nil: DefaultLimiter for Params).
	Limiter *password.Limiter
	// Mailer sends invitations' emails (nil: email is not configured).
	Mailer InvitationMailer
	// MailRetries are the waits before each retry of a temporarily failed
	// email (nil: DefaultMailRetries).
	MailRetries []time.Duration
}

// Defaults of the limiter New builds when Options.Limiter is nil.
const (
	DefaultMaxWaiting = 64
	DefaultMaxWait    = 2 * time.Second
)

// DefaultLimiter is the limiter for argon2 costs p when none is configured.
func DefaultLimiter(p password.Params) *password.Limiter {
	return password.NewLimiter(password.DefaultSlots(p), DefaultMaxWaiting, DefaultMaxWait)
}

// Service is the account logic. It is safe for concurrent use.
type Service struct {
	st     store.Accounts
	now    func() time.Time
	log    *zap.Logger
	params password.Params
	lim    *password.Limiter
	mailer InvitationMailer
	mail   *mailQueue

	dummyOnce sync.Once
	dummy     string // a hash verified for unknown users, so they cost the same time
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{st: o.Store, now: o.Now, log: o.Log, params: o.Params, lim: o.Limiter, mailer: o.Mailer}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.params == (password.Params{}) {
		s.params = password.Default
	}
	if s.lim == nil {
		s.lim = DefaultLimiter(s.params)
	}
	s.log = s.log.Named("accounts")
	if s.mailer != nil {
		s.mail = newMailQueue(s, s.mailer, o.MailRetries)
	}
	return s
}

// LoginResult is a successful login.
type LoginResult struct {
	Address            string // primary address
	MustChangePassword bool
	// NeedsSecurityQuestion: the change must also set a security question
	// and answer (the login has none).
	NeedsSecurityQuestion bool
}

// result is the answer of a login that verified c.
func result(c store.Credentials) LoginResult {
	return LoginResult{Address: c.Address, MustChangePassword: mustChange(c), NeedsSecurityQuestion: c.AnswerHash == ""}
}

// mustChange: a forced change, or an unregistered login's temporary password.
func mustChange(c store.Credentials) bool { return c.Account.ForceChange || !c.Account.Registered }

// Login verifies a user's cloud password (see the package doc for the rules).
func (s *Service) Login(ctx context.Context, address, pw string) (LoginResult, error) {
	c, err := s.verify(ctx, address, pw)
	if err != nil {
		return LoginResult{}, err
	}
	return result(c), nil
}

// verify is the login check shared by Login and ChangePassword; a success is
// recorded. It runs in one limiter slot, store writes included, so a busy
// daemon refuses an attempt (password.ErrBusy) before counting it.
func (s *Service) verify(ctx context.Context, address, pw string) (store.Credentials, error) {
	var c store.Credentials
	var err error
	if lerr := s.lim.Do(ctx, func() { c, err = s.verifySlot(ctx, address, pw) }); lerr != nil {
		return store.Credentials{}, lerr
	}
	return c, err
}

func (s *Service) verifySlot(ctx context.Context, address, pw string) (store.Credentials, error) {
	c, err := s.st.Credentials(ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		s.burn(pw)
		s.refused(address, "unknown address")
		return store.Credentials{}, refuse(ErrInvalidCredentials)
	}
	if err != nil {
		return store.Credentials{}, fmt.Errorf("credentials of %s: %w", address, err)
	}
	if c.PasswordHash == "" {
		s.burn(pw)
		s.refused(c.Address, "no password set")
		return store.Credentials{}, refuse(ErrInvalidCredentials)
	}
	acct, err := s.st.BeginLogin(ctx, c.Address, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) { // deleted meanwhile
		s.burn(pw)
		s.refused(c.Address, "unknown address")
		return store.Credentials{}, refuse(ErrInvalidCredentials)
	}
	if err != nil {
		return store.Credentials{}, fmt.Errorf("record login attempt of %s: %w", c.Address, err)
	}
	if acct.Locked {
		s.burn(pw)
		s.refused(c.Address, store.ReasonLocked)
		return store.Credentials{}, refuse(ErrLocked)
	}
	switch err := password.Verify(pw, c.PasswordHash); {
	case errors.Is(err, password.ErrMismatch):
		acct, ferr := s.finish(ctx, c.Address, reasonWrongPassword)
		if ferr != nil {
			return store.Credentials{}, ferr
		}
		if acct.Locked {
			s.log.Warn("account locked", zap.String("address", c.Address), zap.Int("failed_logins", acct.FailedLogins))
			return store.Credentials{}, refuse(ErrLocked)
		}
		return store.Credentials{}, refuse(ErrInvalidCredentials)
	case err != nil:
		// A corrupt stored hash: the store's problem, not the user's.
		_, _ = s.finish(ctx, c.Address, reasonCorruptHash)
		return store.Credentials{}, fmt.Errorf("verify password of %s: %w", c.Address, err)
	}
	if !c.Enabled {
		if _, err := s.finish(ctx, c.Address, reasonDisabled); err != nil {
			return store.Credentials{}, err
		}
		return store.Credentials{}, refuse(ErrDisabled)
	}
	acct, err = s.st.FinishLogin(ctx, c.Address, "", s.now().UTC())
	if err != nil {
		return store.Credentials{}, fmt.Errorf("record login of %s: %w", c.Address, err)
	}
	if acct.Locked {
		s.refused(c.Address, "right password, but parallel failures locked the account meanwhile")
		return store.Credentials{}, refuse(ErrLocked)
	}
	return c, nil
}

// refused logs why a login was refused; never the password.
func (s *Service) refused(address, reason string) {
	s.log.Info("login refused", zap.String("address", address), zap.String("reason", reason))
}

// finish records why a counted attempt failed.
func (s *Service) finish(ctx context.Context, address, reason string) (store.Account, error) {
	s.refused(address, reason)
	acct, err := s.st.FinishLogin(ctx, address, reason, s.now().UTC())
	if err != nil {
		return acct, fmt.Errorf("record failed login of %s: %w", address, err)
	}
	return acct, nil
}

// burn spends the time (and memory) of one verification, so answers for
// unknown, passwordless or locked accounts do not come back measurably
// faster. The caller holds a limiter slot.
func (s *Service) burn(pw string) {
	s.dummyOnce.Do(func() {
		h, err := password.Hash("dirsync timing equaliser", s.params)
		if err == nil {
			s.dummy = h
		}
	})
	if s.dummy != "" {
		_ = password.Verify(pw, s.dummy)
	}
}

// Change is a user's own password change.
type Change struct {
	Address, Current, Next string
	// Question and Answer are required when the login has no security
	// answer (LoginResult.NeedsSecurityQuestion), and replace the current
	// ones when given otherwise.
	Question, Answer string
}

// ChangePassword is the user's own change: Current is verified exactly like a
// login (failures count towards the lock), then Next must be strong and differ
// from Current. It clears the force-change flag and, for a login that was not
// registered (a temporary password), registers it with the security question
// and answer, which it then requires when the login has none.
func (s *Service) ChangePassword(ctx context.Context, in Change) (LoginResult, error) {
	var v ValidationError
	if in.Next == "" {
		v.add("new_password", "required")
	} else if in.Next == in.Current {
		v.add("new_password", "choose a password different from the current one")
	}
	question := strings.TrimSpace(in.Question)
	if (question == "") != (normalAnswer(in.Answer) == "") {
		if question == "" {
			v.add("security_question", "required with a security answer")
		} else {
			v.add("security_answer", "required with a security question")
		}
	}
	if err := v.orNil(); err != nil {
		return LoginResult{}, err
	}
	c, err := s.verify(ctx, in.Address, in.Current)
	if err != nil {
		return LoginResult{}, err
	}
	if c.AnswerHash == "" && question == "" {
		return LoginResult{}, &ValidationError{Problems: []FieldProblem{
			{"security_question", "required: this login has no security question yet; choose one only you can answer"},
			{"security_answer", "required: the answer to your security question (case and spaces do not matter)"}}}
	}
	if err := password.Check(in.Next, c.Address); err != nil {
		return LoginResult{}, err
	}
	hash, err := s.lim.Hash(ctx, in.Next, s.params)
	if err != nil {
		return LoginResult{}, err
	}
	actor := store.Actor{Kind: "user", Name: c.Address}
	if c.Account.Registered && question == "" {
		if err := s.st.SetPassword(ctx, c.Address, hash, false, actor); err != nil {
			return LoginResult{}, fmt.Errorf("set password of %s: %w", c.Address, err)
		}
		return LoginResult{Address: c.Address}, nil
	}
	reg := store.Registration{PasswordHash: hash, Question: c.Question, AnswerHash: c.AnswerHash}
	if question != "" {
		if reg.AnswerHash, err = s.lim.Hash(ctx, normalAnswer(in.Answer), s.params); err != nil {
			return LoginResult{}, err
		}
		reg.Question = question
	}
	if err := s.st.Register(ctx, c.Address, reg, actor); err != nil {
		return LoginResult{}, fmt.Errorf("register %s: %w", c.Address, err)
	}
	return LoginResult{Address: c.Address}, nil
}

// SetTemporaryPassword is an admin setting a user's password; forceChange nil
// means true (a password someone else chose should not stay).
func (s *Service) SetTemporaryPassword(ctx context.Context, address, pw string, forceChange *bool, actor store.Actor) error {
	c, err := s.st.Credentials(ctx, address)
	if err != nil {
		return fmt.Errorf("user %s: %w", address, err)
	}
	if err := password.Check(pw, c.Address); err != nil {
		return err
	}
	hash, err := s.lim.Wait(ctx, func() (string, error) { return password.Hash(pw, s.params) })
	if err != nil {
		return err
	}
	force := forceChange == nil || *forceChange
	if err := s.st.SetPassword(ctx, c.Address, hash, force, actor); err != nil {
		return fmt.Errorf("set password of %s: %w", c.Address, err)
	}
	return nil
}

// SetForceChange sets or clears "change password at next login" without
// changing the password (a *ValidationError when the user has none).
func (s *Service) SetForceChange(ctx context.Context, address string, force bool, actor store.Actor) error {
	c, err := s.st.Credentials(ctx, address)
	if err != nil {
		return fmt.Errorf("user %s: %w", address, err)
	}
	if c.PasswordHash == "" {
		return &ValidationError{Problems: []FieldProblem{{"force_change_password", "the user has no password; set one with password"}}}
	}
	if c.Account.ForceChange == force {
		return nil
	}
	if err := s.st.SetPassword(ctx, c.Address, c.PasswordHash, force, actor); err != nil {
		return fmt.Errorf("set force change of %s: %w", c.Address, err)
	}
	return nil
}

// CheckPassword says whether pw may become address's password (nil: yes); a
// refusal is a *password.WeakError.
func (s *Service) CheckPassword(pw, address string) error { return password.Check(pw, address) }

// PasswordMatches says whether pw is address's current password (false when it
// has none), for an import that leaves an unchanged password alone.
func (s *Service) PasswordMatches(ctx context.Context, address, pw string) (bool, error) {
	c, err := s.st.Credentials(ctx, address)
	if err != nil {
		return false, fmt.Errorf("user %s: %w", address, err)
	}
	if c.PasswordHash == "" {
		return false, nil
	}
	_, err = s.lim.Wait(ctx, func() (string, error) { return "", password.Verify(pw, c.PasswordHash) })
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, password.ErrMismatch):
		return false, nil
	default:
		return false, fmt.Errorf("verify password of %s: %w", c.Address, err)
	}
}

// Unlock clears the lock and the failure count ("Clear Lock").
func (s *Service) Unlock(ctx context.Context, address string, actor store.Actor) error {
	if err := s.st.Unlock(ctx, address, actor); err != nil {
		return fmt.Errorf("unlock %s: %w", address, err)
	}
	return nil
}

// HashToken is the hex SHA-256 under which a high-entropy token is stored.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// randomToken is 32 random bytes, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
