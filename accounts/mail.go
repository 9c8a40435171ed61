package accounts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/store"
)

// InvitationMailer sends an invitation's email (the daemon's is the mail
// package's SMTP sender with its templates). An error whose Temporary()
// reports true is retried; any other is final.
type InvitationMailer interface {
	SendInvitation(ctx context.Context, m InvitationMail) error
}

// InvitationMail is what an invitation's email says. Token is the secret of
// the link: a mailer puts it in the message and nowhere else (no log line,
// no error).
type InvitationMail struct {
	To, DisplayName string
	Token           string
	Expires         time.Time
	Roles           []string
	InvitedBy       string
}

// DefaultMailRetries are the waits before each retry of an email that failed
// for a reason that may pass (a refused connection, a timeout, a 4xx reply).
var DefaultMailRetries = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}

// maxRetrying bounds the emails waiting for a retry; beyond it a temporary
// failure is final (the administrator re-sends).
const maxRetrying = 1000

// mailQueue sends invitations' emails and retries temporary failures in the
// background, holding each waiting token in memory only: the store keeps the
// token's hash, so a retry cannot outlive the process. Close marks what is
// still waiting as failed, for the administrator to re-send.
type mailQueue struct {
	svc     *Service
	mailer  InvitationMailer
	retries []time.Duration

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	waiting map[string]bool // token hashes with a retry scheduled
	wg      sync.WaitGroup
}

func newMailQueue(s *Service, m InvitationMailer, retries []time.Duration) *mailQueue {
	if retries == nil {
		retries = DefaultMailRetries
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &mailQueue{svc: s, mailer: m, retries: retries, ctx: ctx, cancel: cancel, waiting: map[string]bool{}}
}

// temporary says whether err may pass on a later attempt.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// first sends m now (the administrator waits for it) and returns the
// recorded state; a temporary failure is scheduled for retry.
func (q *mailQueue) first(ctx context.Context, hash string, m InvitationMail) store.InvitationEmail {
	return q.attempt(ctx, hash, m, 1)
}

// attempt sends m as attempt n and records the outcome.
func (q *mailQueue) attempt(ctx context.Context, hash string, m InvitationMail, n int) store.InvitationEmail {
	s := q.svc
	err := q.mailer.SendInvitation(ctx, m)
	now := s.now().UTC()
	e := store.InvitationEmail{Status: store.EmailSent, Attempts: n, Sent: now}
	switch {
	case err == nil:
		s.log.Info("invitation email sent", zap.String("address", m.To), zap.Int("attempt", n))
	case temporary(err) && n <= len(q.retries) && q.schedule(hash, m, n+1, q.retries[n-1]):
		e = store.InvitationEmail{Status: store.EmailRetrying, Attempts: n, Error: err.Error(), Next: now.Add(q.retries[n-1])}
		s.log.Warn("invitation email failed; will retry", zap.String("address", m.To), zap.Int("attempt", n),
			zap.Time("next", e.Next), zap.Error(err))
	default:
		e = store.InvitationEmail{Status: store.EmailFailed, Attempts: n, Error: err.Error()}
		s.log.Warn("invitation email failed; re-send it", zap.String("address", m.To), zap.Int("attempt", n), zap.Error(err))
	}
	// Recorded even when the caller's context ended: the send happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.st.SetInvitationEmail(rctx, hash, e); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("recording an invitation email's state", zap.String("address", m.To), zap.Error(err))
	}
	return e
}

// schedule retries m as attempt n after wait; false when the queue is full
// or closed.
func (q *mailQueue) schedule(hash string, m InvitationMail, n int, wait time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ctx.Err() != nil || len(q.waiting) >= maxRetrying {
		return false
	}
	q.waiting[hash] = true
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-q.ctx.Done():
			return // Close records it as failed
		case <-t.C:
		}
		q.mu.Lock()
		delete(q.waiting, hash)
		q.mu.Unlock()
		if !q.stillOpen(hash) {
			return
		}
		q.attempt(q.ctx, hash, m, n)
	}()
	return true
}

// stillOpen says whether the invitation still waits for its user: a newer
// invitation, a registration or the expiry make its email pointless.
func (q *mailQueue) stillOpen(hash string) bool {
	inv, err := q.svc.st.Invitation(q.ctx, hash)
	return err == nil && inv.Used.IsZero() && q.svc.now().Before(inv.Expires)
}

// close stops the retries and records those still waiting as failed.
func (q *mailQueue) close(ctx context.Context) {
	q.mu.Lock()
	q.cancel()
	waiting := make([]string, 0, len(q.waiting))
	for h := range q.waiting {
		waiting = append(waiting, h)
	}
	q.waiting = map[string]bool{}
	q.mu.Unlock()
	q.wg.Wait()
	for _, h := range waiting {
		inv, err := q.svc.st.Invitation(ctx, h)
		if err != nil || !inv.Used.IsZero() {
			continue
		}
		e := inv.Email
		e.Status, e.Next = store.EmailFailed, time.Time{}
		e.Error = fmt.Sprintf("%s; not retried: the daemon stopped before the next attempt, re-send the invitation", e.Error)
		if err := q.svc.st.SetInvitationEmail(ctx, h, e); err != nil && !errors.Is(err, store.ErrNotFound) {
			q.svc.log.Error("recording an invitation email's state", zap.String("address", inv.Address), zap.Error(err))
		}
	}
}

// Close stops the invitation emails' retries; those still waiting are
// recorded as failed, for an administrator to re-send. The Service sends no
// more email afterwards.
func (s *Service) Close(ctx context.Context) {
	if s.mail != nil {
		s.mail.close(ctx)
	}
}
