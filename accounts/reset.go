package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/store"
)

// The password reset with the security question (SPEC §2; seed 002: the
// question and answer "will be used to identify the user, should they need
// to change their password"). Two public steps, neither of which tells a
// known address from an unknown one:
//
//  1. SecurityQuestion: the question of a registered login; for any other
//     address a stand-in question, the same every time for that address and
//     on every replica (chosen with a key the store generates once), so
//     asking twice reveals nothing either.
//  2. Reset: the answer is checked like a password at sign-in — counted
//     before it is verified, so wrong answers and wrong passwords together
//     lock the account after store.LockAfter — and every refusal is the one
//     ErrResetRefused after the same argon2 work.

// decoyKeySetting names the store-wide key of the stand-in questions.
const decoyKeySetting = "reset_decoy_key"

// decoyQuestions are the stand-in questions, in the words people choose.
var decoyQuestions = []string{
	"What was the name of your first pet?",
	"In what city were you born?",
	"What was the name of your first school?",
	"What is your mother's maiden name?",
	"What was the make of your first car?",
	"What is the name of the street you grew up on?",
	"What was your childhood nickname?",
	"What is your favourite book?",
}

// SecurityQuestion returns the security question to ask for address: its
// own when it is a registered login with one, a stand-in otherwise.
func (s *Service) SecurityQuestion(ctx context.Context, address string) (string, error) {
	c, err := s.st.Credentials(ctx, address)
	switch {
	case err == nil && c.Account.Registered && c.AnswerHash != "" && c.Question != "":
		return c.Question, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("security question of %s: %w", address, err)
	}
	key, err := s.st.Setting(ctx, decoyKeySetting, func() (string, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("random key: %w", err)
		}
		return hex.EncodeToString(b), nil
	})
	if err != nil {
		return "", fmt.Errorf("security question: %w", err)
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(strings.ToLower(strings.TrimSpace(address))))
	n := binary.BigEndian.Uint64(m.Sum(nil))
	return decoyQuestions[n%uint64(len(decoyQuestions))], nil
}

// Reset sets a new password for a user who forgot it, given the answer to
// the security question. The new password is checked first (a refusal there
// costs no attempt); then any refusal is ErrResetRefused, whose errors.Is
// also matches ErrLocked or ErrDisabled where that was the reason. A
// successful reset clears the failures and counts as a sign-in; the login
// stays registered and needs no further change.
func (s *Service) Reset(ctx context.Context, address, answer, next string) (LoginResult, error) {
	var v ValidationError
	if strings.TrimSpace(address) == "" {
		v.add("address", "required")
	}
	if normalAnswer(answer) == "" {
		v.add("security_answer", "required")
	}
	if next == "" {
		v.add("new_password", "required")
	}
	if err := v.orNil(); err != nil {
		return LoginResult{}, err
	}
	if err := password.Check(next, address); err != nil {
		return LoginResult{}, err
	}
	var res LoginResult
	var err error
	if lerr := s.lim.Do(ctx, func() { res, err = s.resetSlot(ctx, address, answer, next) }); lerr != nil {
		return LoginResult{}, lerr
	}
	return res, err
}

// resetRefusal is a refused reset: always ErrResetRefused's words.
type resetRefusal struct{ reason error }

func (r *resetRefusal) Error() string { return ErrResetRefused.Error() }

// Is matches ErrResetRefused and the real reason.
func (r *resetRefusal) Is(target error) bool { return target == ErrResetRefused || target == r.reason }

func (s *Service) resetRefused(address, why string, reason error) error {
	s.log.Info("password reset refused", zap.String("address", address), zap.String("reason", why))
	return &resetRefusal{reason: reason}
}

// resetSlot runs in one limiter slot: the answer's verification and the new
// password's hash.
func (s *Service) resetSlot(ctx context.Context, address, answer, next string) (LoginResult, error) {
	c, err := s.st.Credentials(ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		s.burn(answer)
		return LoginResult{}, s.resetRefused(address, "unknown address", ErrResetRefused)
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("credentials of %s: %w", address, err)
	}
	if !c.Account.Registered || c.AnswerHash == "" {
		s.burn(answer)
		return LoginResult{}, s.resetRefused(c.Address, "no registered login with a security answer", ErrResetRefused)
	}
	acct, err := s.st.BeginLogin(ctx, c.Address, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		s.burn(answer)
		return LoginResult{}, s.resetRefused(c.Address, "unknown address", ErrResetRefused)
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("record reset attempt of %s: %w", c.Address, err)
	}
	if acct.Locked {
		s.burn(answer)
		return LoginResult{}, s.resetRefused(c.Address, store.ReasonLocked, ErrLocked)
	}
	switch err := verifyAnswer(answer, c.AnswerHash); {
	case errors.Is(err, password.ErrMismatch):
		acct, ferr := s.st.FinishLogin(ctx, c.Address, reasonWrongAnswer, s.now().UTC())
		if ferr != nil {
			return LoginResult{}, fmt.Errorf("record failed reset of %s: %w", c.Address, ferr)
		}
		if acct.Locked {
			s.log.Warn("account locked", zap.String("address", c.Address), zap.Int("failed_logins", acct.FailedLogins))
			return LoginResult{}, s.resetRefused(c.Address, reasonWrongAnswer, ErrLocked)
		}
		return LoginResult{}, s.resetRefused(c.Address, reasonWrongAnswer, ErrResetRefused)
	case err != nil:
		_, _ = s.st.FinishLogin(ctx, c.Address, reasonCorruptHash, s.now().UTC())
		return LoginResult{}, fmt.Errorf("verify security answer of %s: %w", c.Address, err)
	}
	if !c.Enabled {
		if _, err := s.st.FinishLogin(ctx, c.Address, reasonDisabled, s.now().UTC()); err != nil {
			return LoginResult{}, fmt.Errorf("record failed reset of %s: %w", c.Address, err)
		}
		return LoginResult{}, s.resetRefused(c.Address, reasonDisabled, ErrDisabled)
	}
	hash, err := password.Hash(next, s.params)
	if err != nil {
		return LoginResult{}, fmt.Errorf("hash new password of %s: %w", c.Address, err)
	}
	actor := store.Actor{Kind: "user", Name: c.Address}
	if err := s.st.SetPassword(ctx, c.Address, hash, false, actor); err != nil {
		return LoginResult{}, fmt.Errorf("set password of %s: %w", c.Address, err)
	}
	acct, err = s.st.FinishLogin(ctx, c.Address, "", s.now().UTC())
	if err != nil {
		return LoginResult{}, fmt.Errorf("record reset of %s: %w", c.Address, err)
	}
	if acct.Locked {
		// Locked by parallel failures while this one was verified: the new
		// password stands, but the lock does too.
		return LoginResult{}, s.resetRefused(c.Address, "locked meanwhile by parallel failures", ErrLocked)
	}
	s.log.Info("password reset with the security answer", zap.String("address", c.Address))
	return LoginResult{Address: c.Address}, nil
}
