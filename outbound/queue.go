package outbound

import (
	"context"
	"net/mail"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// batchSize is how many queued senders one worker settles at once.
const batchSize = 100

// counters are the service's running totals (metrics are issue 8's; these feed
// Stats and the logs until then).
type counters struct {
	created, exists, ignored, rateLimited atomic.Int64
	offered, known, dropped, failed       atomic.Int64
}

// Stats are the service's totals since it started.
type Stats struct {
	Created, Exists, Ignored int64
	// RateLimited counts senders ignored for the per-domain limit (also in Ignored).
	RateLimited int64
	// Offered counts the senders the policy service passed on; Known those of
	// them answered from the in-memory seen-set; Dropped those not queued because
	// the queue was full; Failed those whose batch failed (store unreachable).
	// A dropped or failed sender is reported again by its next message.
	Offered, Known, Dropped, Failed int64
}

// Stats returns the totals so far.
func (s *Service) Stats() Stats {
	c := &s.stats
	return Stats{Created: c.created.Load(), Exists: c.exists.Load(), Ignored: c.ignored.Load(),
		RateLimited: c.rateLimited.Load(), Offered: c.offered.Load(), Known: c.known.Load(),
		Dropped: c.dropped.Load(), Failed: c.failed.Load()}
}

func (s *Service) count(res []Result, via string) {
	for _, r := range res {
		switch r.Status {
		case Created:
			s.stats.created.Add(1)
		case Exists:
			s.stats.exists.Add(1)
		case Ignored:
			s.stats.ignored.Add(1)
			if ce := s.log.Check(zap.DebugLevel, "outbound sender ignored"); ce != nil {
				ce.Write(zap.String("sender", r.Sender), zap.String("reason", r.Reason), zap.String("via", via))
			}
		}
	}
}

// Offer takes the sender of one policy request. It never blocks: a sender the
// in-memory seen-set knows costs one map lookup, and any other is queued for
// the workers (Run). When the queue is full the sender is dropped and
// counted; its next message offers it again.
func (s *Service) Offer(sender string) {
	s.stats.offered.Add(1)
	key := fastKey(sender)
	if key == "" {
		return
	}
	if s.seen.knows(key) {
		s.stats.known.Add(1)
		return
	}
	if _, dup := s.pending.LoadOrStore(key, struct{}{}); dup {
		return // already queued: one message's worth of work is enough
	}
	select {
	case s.queue <- sender:
	default:
		s.pending.Delete(key)
		s.stats.dropped.Add(1)
		if now := time.Now().Unix(); s.warned.Swap(now) != now {
			s.log.Warn("outbound queue full: sender dropped; it is offered again by its next message",
				zap.String("sender", sender), zap.Int("queue", cap(s.queue)), zap.Int64("dropped_total", s.stats.dropped.Load()))
		}
	}
}

// Run settles the offered senders with Options.Workers workers until ctx is
// cancelled; it returns when they have stopped.
func (s *Service) Run(ctx context.Context) {
	done := make(chan struct{})
	for range s.o.Workers {
		go func() { s.work(ctx); done <- struct{}{} }()
	}
	for range s.o.Workers {
		<-done
	}
}

func (s *Service) work(ctx context.Context) {
	batch := make([]string, 0, batchSize)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case sender := <-s.queue:
			batch = append(batch, sender)
		}
	fill:
		for len(batch) < batchSize {
			select {
			case sender := <-s.queue:
				batch = append(batch, sender)
			default:
				break fill
			}
		}
		res, err := s.Report(ctx, batch, "policy")
		for i, sender := range batch {
			key := fastKey(sender)
			if err == nil && settledFor(res[i]) {
				s.seen.remember(key)
			}
			s.pending.Delete(key)
		}
		if err != nil {
			s.stats.failed.Add(int64(len(batch)))
			if ctx.Err() == nil {
				s.log.Error("outbound senders not settled; their next message reports them again",
					zap.Int("senders", len(batch)), zap.Error(err))
			}
		}
	}
}

// settledFor says whether a result holds for the sender's next messages too,
// so the answer path may skip them. An external domain may become internal,
// and a rate-limited sender must be reported again, so neither is remembered.
func settledFor(r Result) bool {
	switch {
	case r.Status == Created, r.Status == Exists:
		return true
	case strings.HasPrefix(r.Reason, ReasonExternal), strings.HasPrefix(r.Reason, ReasonRateLimited):
		return false
	}
	return true
}

// fastKey is the seen-set key of a raw sender on the answer path: trimmed,
// without a pair of angle brackets, lower-case. It is cheap rather than
// canonical; a sender whose key misses is normalised properly by a worker. Only
// a matched pair is removed: "<a@example.com" is garbage that settles as
// invalid, and sharing the key of a@example.com would then hide that address.
func fastKey(sender string) string {
	s := strings.TrimSpace(sender)
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return ""
	}
	return strings.ToLower(s)
}

// parseDisplay takes the address out of `Name <addr>`, `<addr>` or a quoted form.
func parseDisplay(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}
