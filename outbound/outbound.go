// Package outbound creates first-time outbound senders as users (SPEC §7).
//
// The gateway reports the sender of outbound mail in one of three ways: the
// Postfix policy service (outbound/policy), a batch over HTTP (POST
// /v1/senders) or a Redis stream (outbound/stream). All three end in one rule
// set, Service.Report:
//
//   - a sender that is not a valid address, or is empty (a bounce), is ignored;
//   - a sender outside the internal domains is ignored;
//   - a sender that is a user's address or alias already exists (a disabled
//     user stays disabled);
//   - a sender whose address an admin, an import or a sync deleted is not
//     recreated: the audit log's delete entry is the tombstone, and says who
//     deleted it, when and why;
//   - past the per-domain rate limit a sender is ignored for now, logged and
//     counted; the next message it sends reports it again;
//   - any other sender is created: origin outbound, enabled, unregistered, no
//     password, audited and logged like a sync change.
//
// Known senders are answered from a bounded seen-set, in memory and (with a
// Redis state backend) shared in Redis, so they cost no store round trip.
// Creation is idempotent: when replicas race on one new sender, the store's
// unique address lets exactly one create it and the others see it exist.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// Status is what became of one reported sender.
type Status string

// The statuses of a Result.
const (
	Created Status = "created"
	Exists  Status = "exists"
	Ignored Status = "ignored"
)

// Reasons a sender is ignored; Result.Reason starts with one of them.
const (
	ReasonEmpty       = "empty sender"
	ReasonInvalid     = "invalid address"
	ReasonExternal    = "external domain"
	ReasonDeleted     = "deleted"
	ReasonRateLimited = "rate limited"
)

// Result is the answer for one reported sender.
type Result struct {
	// Sender is the sender as reported; Address its normalised form (empty when
	// it is not a valid address).
	Sender  string `json:"sender"`
	Address string `json:"address,omitempty"`
	Status  Status `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// Options configures a Service.
type Options struct {
	Store store.Store
	// Redis, when set, shares the seen-set and the rate limits between replicas.
	Redis goredis.UniversalClient
	// Prefix starts the Redis keys (default "dirsync").
	Prefix string
	Log    *zap.Logger
	// RateLimit creations per domain: at most RateLimit in any RatePeriod
	// (defaults 100 per hour). A negative RateLimit turns the limit off.
	RateLimit  int
	RatePeriod time.Duration
	// SeenSize bounds the in-memory seen-set and the Redis one (default 100,000);
	// SeenTTL is how long an entry counts (default 24 h).
	SeenSize int
	SeenTTL  time.Duration
	// Workers settle the senders offered by the policy service, from a queue of
	// Queue entries (defaults 4 and 10,000).
	Workers, Queue int
	// DomainRefresh is how often the internal domains are read again (default 30 s).
	DomainRefresh time.Duration
}

// Service applies the rule set. It is safe for concurrent use.
type Service struct {
	o     Options
	st    store.Store
	log   *zap.Logger
	seen  *seenSet
	limit limiter

	domains     atomic.Pointer[map[string]bool]
	domainsRead atomic.Int64 // unix nanoseconds of the last read

	queue   chan string
	pending sync.Map // fast keys queued and not settled yet
	stats   counters
	warned  atomic.Int64 // unix seconds of the last "queue full" warning
}

// New builds a Service; call Run to start the workers behind Offer.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("outbound: no store")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Prefix == "" {
		o.Prefix = "dirsync"
	}
	if o.RateLimit == 0 {
		o.RateLimit = 100
	}
	if o.RatePeriod <= 0 {
		o.RatePeriod = time.Hour
	}
	if o.SeenSize <= 0 {
		o.SeenSize = 100_000
	}
	if o.SeenTTL <= 0 {
		o.SeenTTL = 24 * time.Hour
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Queue <= 0 {
		o.Queue = 10_000
	}
	if o.DomainRefresh <= 0 {
		o.DomainRefresh = 30 * time.Second
	}
	s := &Service{o: o, st: o.Store, log: o.Log.Named("outbound"), queue: make(chan string, o.Queue)}
	s.seen = newSeenSet(o.Redis, o.Prefix, o.SeenSize, o.SeenTTL)
	s.limit = newLimiter(o.Redis, o.Prefix, o.RateLimit, o.RatePeriod)
	return s, nil
}

// Report settles a batch of senders, reported through via ("http", "stream",
// "policy"), and returns one Result per sender in the same order. The error is
// for the batch as a whole: the store or Redis could not be reached, and
// nothing is known to be settled, so the caller should report them again.
func (s *Service) Report(ctx context.Context, senders []string, via string) ([]Result, error) {
	res := make([]Result, len(senders))
	domains, err := s.internalDomains(ctx)
	if err != nil {
		return nil, err
	}
	// Normalise and sort out what needs no lookup.
	var todo []int
	for i, raw := range senders {
		res[i] = Result{Sender: raw}
		addr, reason := normalize(raw)
		if reason != "" {
			res[i].Status, res[i].Reason = Ignored, reason
			continue
		}
		res[i].Address = addr
		if !domains[mailaddr.Domain(addr)] {
			res[i].Status, res[i].Reason = Ignored, ReasonExternal+": "+mailaddr.Domain(addr)+" is not an internal domain"
			continue
		}
		todo = append(todo, i)
	}
	// Known senders: the seen-set first, then one store lookup for the rest.
	addrs := make([]string, len(todo))
	for k, i := range todo {
		addrs[k] = res[i].Address
	}
	known, err := s.seen.contains(ctx, addrs)
	if err != nil {
		return nil, fmt.Errorf("outbound seen-set: %w", err)
	}
	var lookup []string
	for k, i := range todo {
		if known[k] {
			res[i].Status = Exists
			continue
		}
		lookup = append(lookup, res[i].Address)
	}
	if len(lookup) > 0 {
		if err := s.settleUnknown(ctx, res, lookup, via); err != nil {
			return nil, err
		}
	}
	s.count(res, via)
	return res, nil
}

// settleUnknown settles the senders not in the seen-set: one store lookup,
// then the tombstone and rate-limit checks and one batch of creates.
func (s *Service) settleUnknown(ctx context.Context, res []Result, lookup []string, via string) error {
	users, err := s.st.Lookup(ctx, "", nil, lookup)
	if err != nil {
		return fmt.Errorf("outbound lookup of %d senders: %w", len(lookup), err)
	}
	owner := map[string]store.User{}
	for _, u := range users {
		owner[u.Address] = u
		for _, a := range u.Aliases {
			owner[a] = u
		}
	}
	var settled []string
	var creates []store.Change
	var createIdx []int
	first := map[string]int{} // a sender twice in one batch is settled once
	var dups []int
	for i := range res {
		r := &res[i]
		if r.Status != "" || r.Address == "" {
			continue
		}
		if _, ok := first[r.Address]; ok {
			dups = append(dups, i)
			continue
		}
		first[r.Address] = i
		if u, ok := owner[r.Address]; ok {
			r.Status, r.Reason = Exists, existsReason(u, r.Address)
			settled = append(settled, r.Address)
			continue
		}
		tomb, err := s.tombstone(ctx, r.Address)
		if err != nil {
			return err
		}
		if tomb != "" {
			r.Status, r.Reason = Ignored, tomb
			settled = append(settled, r.Address)
			continue
		}
		domain := mailaddr.Domain(r.Address)
		ok, err := s.limit.allow(ctx, domain)
		if err != nil {
			return fmt.Errorf("outbound rate limit of %s: %w", domain, err)
		}
		if !ok {
			r.Status = Ignored
			r.Reason = fmt.Sprintf("%s: more than %d new senders of %s in %s; it is created when it sends again after that",
				ReasonRateLimited, s.o.RateLimit, domain, s.o.RatePeriod)
			s.stats.rateLimited.Add(1)
			s.log.Warn("outbound sender not created: rate limit reached", zap.String("address", r.Address),
				zap.String("domain", domain), zap.Int("limit", s.o.RateLimit), zap.Duration("period", s.o.RatePeriod),
				zap.String("via", via))
			continue
		}
		createIdx = append(createIdx, i)
		creates = append(creates, store.Change{Action: store.ActionCreate, Kind: store.KindUser,
			Address: r.Address, Origin: store.OriginOutbound, Reason: "first outbound message (via " + via + ")"})
	}
	if len(creates) > 0 {
		out, err := s.st.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "outbound", Name: via}, Changes: creates})
		if err != nil {
			return fmt.Errorf("outbound create of %d senders: %w", len(creates), err)
		}
		for k, i := range createIdx {
			s.created(&res[i], out[k], via)
			if res[i].Status != Ignored {
				settled = append(settled, res[i].Address)
			}
		}
	}
	for _, i := range dups {
		r, f := &res[i], res[first[res[i].Address]]
		r.Status, r.Reason = f.Status, f.Reason
		if f.Status == Created {
			r.Status, r.Reason = Exists, "created for an earlier entry of this batch"
		}
	}
	if err := s.seen.add(ctx, settled); err != nil {
		// The seen-set only saves work: the senders are settled all the same.
		s.log.Warn("outbound seen-set not updated", zap.Error(err))
	}
	return nil
}

// created records the outcome of one create.
func (s *Service) created(r *Result, o store.Outcome, via string) {
	var conflict *store.ConflictError
	var notInternal *store.NotInternalError
	switch {
	case o.Err == nil && o.Applied:
		r.Status = Created
		s.log.Info("outbound sender created", zap.String("action", string(store.ActionCreate)),
			zap.String("address", r.Address), zap.String("origin", store.OriginOutbound), zap.String("via", via))
	case o.Err == nil:
		// Another replica created it between our lookup and our create.
		r.Status = Exists
	case errors.As(o.Err, &conflict):
		r.Status, r.Reason = Exists, conflict.Error()
	case errors.As(o.Err, &notInternal):
		// The domain was removed since the domain list was read.
		r.Status, r.Reason = Ignored, ReasonExternal+": "+notInternal.Error()
	default:
		r.Status, r.Reason = Ignored, ReasonInvalid+": "+o.Err.Error()
		s.log.Warn("outbound sender refused by the store", zap.String("address", r.Address), zap.Error(o.Err))
	}
}

func existsReason(u store.User, addr string) string {
	var parts []string
	if u.Address != addr {
		parts = append(parts, "alias of "+u.Address)
	}
	if !u.Enabled {
		parts = append(parts, "disabled; not re-enabled by outbound mail")
	}
	return strings.Join(parts, "; ")
}

// tombstone says why a deleted address is not recreated, or "" when it was
// never deleted. The newest audit entry of the address is its tombstone.
func (s *Service) tombstone(ctx context.Context, addr string) (string, error) {
	entries, err := s.st.Audit(ctx, store.AuditQuery{Address: addr, Limit: 1})
	if err != nil {
		return "", fmt.Errorf("outbound tombstone of %s: %w", addr, err)
	}
	if len(entries) == 0 || entries[0].Action != store.ActionDelete {
		return "", nil
	}
	e := entries[0]
	who := e.Actor.Kind
	if e.Actor.Name != "" {
		who += " " + e.Actor.Name
	}
	msg := fmt.Sprintf("%s by %s on %s", ReasonDeleted, who, e.Time.UTC().Format(time.RFC3339))
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg + "; not recreated: add the user by hand to bring it back", nil
}

// internalDomains returns the store's domains, read again every DomainRefresh.
func (s *Service) internalDomains(ctx context.Context) (map[string]bool, error) {
	if d := s.domains.Load(); d != nil && time.Since(time.Unix(0, s.domainsRead.Load())) < s.o.DomainRefresh {
		return *d, nil
	}
	list, err := s.st.Domains(ctx)
	if err != nil {
		if d := s.domains.Load(); d != nil {
			s.log.Warn("outbound: internal domains not refreshed; using the last list", zap.Error(err))
			return *d, nil
		}
		return nil, fmt.Errorf("outbound: read internal domains: %w", err)
	}
	m := make(map[string]bool, len(list))
	for _, d := range list {
		m[d] = true
	}
	s.domains.Store(&m)
	s.domainsRead.Store(time.Now().UnixNano())
	return m, nil
}

// normalize turns a reported sender into an address, or says why it cannot be
// one. It accepts what MTAs and scripts write: a bare address, <address>, or
// a display name with the address in angle brackets.
func normalize(raw string) (addr, reason string) {
	s := strings.TrimSpace(raw)
	if s == "" || s == "<>" {
		return "", ReasonEmpty + " (a bounce): nothing to create"
	}
	if strings.ContainsAny(s, "<\"") {
		a, err := parseDisplay(s)
		if err != nil {
			return "", fmt.Sprintf("%s: %q: %v", ReasonInvalid, truncate(raw), err)
		}
		s = a
	}
	a, err := mailaddr.Normalize(s)
	if err != nil {
		return "", fmt.Sprintf("%s: %v", ReasonInvalid, err)
	}
	return a, ""
}

// truncate keeps an error message about garbage input readable.
func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
