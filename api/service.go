package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/store"
)

// Service is the admin API's logic without HTTP. The API's handlers and the
// console both call it: typed input and an explicit actor in, API types or an
// error out. Classify turns the error into the API's answer.
type Service struct {
	st        store.Store
	syncer    Syncer
	senders   Senders
	holds     Holds
	explainer Explainer
	checker   ConfigChecker
	log       *zap.Logger
	now       func() time.Time
	acct      *accounts.Service
	guard     *loginGuard
	mailer    accounts.InvitationMailer
	publicURL string
}

// NewService builds the API's service from o (Observe is the handler's: see
// NewHandler). One Service per process: its sign-in rate limits are shared by
// everything that calls it.
func NewService(o Options) *Service {
	s := &Service{st: o.Store, syncer: o.Syncer, senders: o.Senders, holds: o.Holds, explainer: o.Explainer, checker: o.Checker,
		log: o.Log, now: o.Now, mailer: o.Mailer, publicURL: strings.TrimRight(o.PublicURL, "/")}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("api")
	if s.now == nil {
		s.now = time.Now
	}
	lo := o.Login.withDefaults(o.PasswordParams)
	s.guard = newLoginGuard(lo)
	s.acct = accounts.New(accounts.Options{Store: o.Store, Now: s.now, Log: s.log, Params: o.PasswordParams,
		Limiter: password.NewLimiter(lo.MaxConcurrentVerifications, lo.MaxWaiting, lo.MaxWait), Mailer: o.Mailer})
	return s
}

// Close stops the background work of the service (invitation emails'
// retries; those still waiting are recorded as failed).
func (s *Service) Close(ctx context.Context) { s.acct.Close(ctx) }

// MailConfigured says whether invitations can be emailed.
func (s *Service) MailConfigured() bool { return s.mailer != nil }

// Now is the service's clock (Options.Now).
func (s *Service) Now() time.Time { return s.now() }

// Classify is the one mapping from an error to the API's answer, for callers
// that render it elsewhere (the console): the status, the JSON error (Details
// []FieldProblem, []ImportProblem or []string), and how long to wait before
// retrying (>0 for 429 and 503 busy). For an unexpected failure (500) the
// message is the generic internal one: the caller logs err.
func Classify(err error) (status int, info ErrorInfo, retryAfter time.Duration) {
	e := classify(err)
	return e.Status, ErrorInfo{Code: e.Code, Message: e.Message, Details: e.Details}, e.RetryAfter
}

// lookup finds the object whose primary address or alias is address.
func (s *Service) lookup(ctx context.Context, address string) (store.User, error) {
	u, err := s.st.User(ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, notFound("no user, group or alias %s", address)
	}
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// apply runs changes as one request by actor and returns the first refusal.
func (s *Service) apply(ctx context.Context, actor store.Actor, changes ...store.Change) error {
	if len(changes) == 0 {
		return nil
	}
	out, err := s.st.Apply(ctx, store.ApplyRequest{Actor: actor, Changes: changes})
	if err != nil {
		return err
	}
	for _, o := range out {
		if o.Err != nil {
			return o.Err
		}
	}
	return nil
}
