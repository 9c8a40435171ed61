package outbound

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// trimEvery is how many Redis additions pass between two trims of the shared
// seen-set to its size and age.
const trimEvery = 1000

// seenSet remembers settled senders so that their next messages cost no store
// round trip: a bounded LRU in memory (entries expire after ttl, so a change
// made in the store by other means is seen within it), and, with Redis, a
// sorted set shared by every replica (member = address, score = when it was
// settled), trimmed to the same size and age.
type seenSet struct {
	mem  *expirable.LRU[string, struct{}]
	rdb  goredis.UniversalClient
	key  string
	size int
	ttl  time.Duration
	adds atomic.Int64
}

func newSeenSet(rdb goredis.UniversalClient, prefix string, size int, ttl time.Duration) *seenSet {
	return &seenSet{mem: expirable.NewLRU[string, struct{}](size, nil, ttl), rdb: rdb,
		key: prefix + ":outbound:seen", size: size, ttl: ttl}
}

// knows answers from memory only: it is on the policy answer path.
func (s *seenSet) knows(key string) bool {
	_, ok := s.mem.Get(key)
	return ok
}

// remember adds one key to memory.
func (s *seenSet) remember(key string) { s.mem.Add(key, struct{}{}) }

// contains says which addresses are known, from memory and then, for the
// rest, from Redis in one round trip.
func (s *seenSet) contains(ctx context.Context, addrs []string) ([]bool, error) {
	out := make([]bool, len(addrs))
	var miss []string
	var missIdx []int
	for i, a := range addrs {
		if s.knows(a) {
			out[i] = true
			continue
		}
		miss, missIdx = append(miss, a), append(missIdx, i)
	}
	if s.rdb == nil || len(miss) == 0 {
		return out, nil
	}
	scores, err := s.rdb.ZMScore(ctx, s.key, miss...).Result()
	if err != nil {
		return nil, err
	}
	oldest := float64(time.Now().Add(-s.ttl).Unix())
	for k, sc := range scores {
		// ZMSCORE answers 0 for a missing member; real scores are Unix times.
		if sc > 0 && sc >= oldest {
			out[missIdx[k]] = true
			s.remember(miss[k])
		}
	}
	return out, nil
}

// add records settled addresses in memory and in Redis.
func (s *seenSet) add(ctx context.Context, addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	for _, a := range addrs {
		s.remember(a)
	}
	if s.rdb == nil {
		return nil
	}
	now := float64(time.Now().Unix())
	members := make([]goredis.Z, len(addrs))
	for i, a := range addrs {
		members[i] = goredis.Z{Score: now, Member: a}
	}
	n := s.adds.Add(int64(len(addrs)))
	trim := n/trimEvery != (n-int64(len(addrs)))/trimEvery
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZAdd(ctx, s.key, members...)
		if trim {
			p.ZRemRangeByScore(ctx, s.key, "-inf", "("+strconv.FormatInt(int64(now)-int64(s.ttl.Seconds()), 10))
			p.ZRemRangeByRank(ctx, s.key, 0, int64(-s.size-1))
		}
		return nil
	})
	return err
}

// limiter bounds creations per domain.
type limiter interface {
	allow(ctx context.Context, domain string) (bool, error)
}

func newLimiter(rdb goredis.UniversalClient, prefix string, limit int, period time.Duration) limiter {
	switch {
	case limit < 0:
		return unlimited{}
	case rdb != nil:
		return &redisLimiter{rdb: rdb, prefix: prefix + ":outbound:rate:", limit: int64(limit), period: period}
	default:
		return &memLimiter{limit: limit, period: period, buckets: map[string]*rate.Limiter{}}
	}
}

type unlimited struct{}

func (unlimited) allow(context.Context, string) (bool, error) { return true, nil }

// memLimiter is a token bucket per domain: a burst of limit, refilled at
// limit per period. One replica alone, so memory is enough.
type memLimiter struct {
	limit   int
	period  time.Duration
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func (l *memLimiter) allow(_ context.Context, domain string) (bool, error) {
	l.mu.Lock()
	b, ok := l.buckets[domain]
	if !ok {
		b = rate.NewLimiter(rate.Every(l.period/time.Duration(l.limit)), l.limit)
		l.buckets[domain] = b
	}
	l.mu.Unlock()
	return b.Allow(), nil
}

// redisLimiter counts creations per domain in fixed windows of one period,
// in Redis, so the limit holds for all replicas together.
type redisLimiter struct {
	rdb    goredis.UniversalClient
	prefix string
	limit  int64
	period time.Duration
}

func (l *redisLimiter) allow(ctx context.Context, domain string) (bool, error) {
	window := time.Now().UnixNano() / int64(l.period)
	key := l.prefix + domain + ":" + strconv.FormatInt(window, 10)
	var incr *goredis.IntCmd
	_, err := l.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.Expire(ctx, key, 2*l.period)
		return nil
	})
	if err != nil {
		return false, err
	}
	return incr.Val() <= l.limit, nil
}
