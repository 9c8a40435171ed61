package outbound_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
)

var admin = store.Actor{Kind: "admin", Name: "alice"}

// countingStore counts the store round trips the rule set makes.
type countingStore struct {
	store.Store
	lookups, applies atomic.Int64
}

func (c *countingStore) Lookup(ctx context.Context, origin string, anchors, addresses []string) ([]store.User, error) {
	c.lookups.Add(1)
	return c.Store.Lookup(ctx, origin, anchors, addresses)
}

func (c *countingStore) Apply(ctx context.Context, req store.ApplyRequest) ([]store.Outcome, error) {
	c.applies.Add(1)
	return c.Store.Apply(ctx, req)
}

// newStore is a SQLite store with the internal domains example.com and
// bücher.example, holding bob (alias robert) and the disabled carol.
func newStore(t *testing.T) *countingStore {
	t.Helper()
	st := testenv.SQLiteStore(t)
	seed(t, st)
	return &countingStore{Store: st}
}

func seed(t *testing.T, st store.Store) {
	t.Helper()
	ctx := t.Context()
	for _, d := range []string{"example.com", "xn--bcher-kva.example"} {
		require.NoError(t, st.AddDomain(ctx, d, admin))
	}
	out, err := st.Apply(ctx, store.ApplyRequest{Actor: admin, Changes: []store.Change{
		{Action: store.ActionCreate, Address: "bob@example.com", Origin: store.OriginManual,
			Changes: []store.FieldChange{{Field: store.FieldAliases, After: []string{"robert@example.com"}}}},
		{Action: store.ActionCreate, Address: "carol@example.com", Origin: store.OriginManual},
		{Action: store.ActionCreate, Address: "dave@example.com", Origin: store.OriginManual},
	}})
	require.NoError(t, err)
	for _, o := range out {
		require.NoError(t, o.Err)
	}
	out, err = st.Apply(ctx, store.ApplyRequest{Actor: admin, Changes: []store.Change{
		{Action: store.ActionDisable, Address: "carol@example.com", Reason: "left"},
		{Action: store.ActionDelete, Address: "dave@example.com", Reason: "spam bot"},
	}})
	require.NoError(t, err)
	for _, o := range out {
		require.NoError(t, o.Err)
	}
}

func newService(t *testing.T, o outbound.Options) *outbound.Service {
	t.Helper()
	if o.Log == nil {
		o.Log = zaptest.NewLogger(t)
	}
	svc, err := outbound.New(o)
	require.NoError(t, err)
	return svc
}

func TestRules(t *testing.T) {
	st := newStore(t)
	svc := newService(t, outbound.Options{Store: st, RateLimit: -1})
	senders := []string{
		"new@example.com",               // created
		"bob@example.com",               // a user
		"ROBERT@Example.COM",            // bob's alias, upper case
		"carol@example.com",             // disabled: not re-enabled
		"dave@example.com",              // deleted by an admin: tombstone
		"eve@external.org",              // external
		"",                              // bounce
		"<>",                            // bounce
		"not an address",                // invalid
		`"Frank Q" <Frank@Example.com>`, // display name and case
		"<grace@example.com>",           // angle brackets
		"heidi@bücher.example",          // IDN domain
		"new@example.com",               // twice in one batch
		"ivan@example.com\x00\xff",      // garbage bytes
	}
	res, err := svc.Report(t.Context(), senders, "http")
	require.NoError(t, err)
	require.Len(t, res, len(senders))
	want := []struct {
		status  outbound.Status
		address string
		reason  string // a substring of the reason
	}{
		{outbound.Created, "new@example.com", ""},
		{outbound.Exists, "bob@example.com", ""},
		{outbound.Exists, "robert@example.com", "alias of bob@example.com"},
		{outbound.Exists, "carol@example.com", "disabled"},
		{outbound.Ignored, "dave@example.com", "deleted by admin alice on "},
		{outbound.Ignored, "eve@external.org", "external domain: external.org is not an internal domain"},
		{outbound.Ignored, "", "empty sender"},
		{outbound.Ignored, "", "empty sender"},
		{outbound.Ignored, "", "invalid address"},
		{outbound.Created, "frank@example.com", ""},
		{outbound.Created, "grace@example.com", ""},
		{outbound.Created, "heidi@xn--bcher-kva.example", ""},
		{outbound.Exists, "new@example.com", "earlier entry of this batch"},
		{outbound.Ignored, "", "invalid address"},
	}
	for i, w := range want {
		r := res[i]
		require.Equal(t, senders[i], r.Sender, "result %d", i)
		require.Equal(t, w.status, r.Status, "sender %q: %+v", senders[i], r)
		require.Equal(t, w.address, r.Address, "sender %q", senders[i])
		require.Contains(t, r.Reason, w.reason, "sender %q", senders[i])
	}
	require.Contains(t, res[4].Reason, "(spam bot); not recreated: add the user by hand")

	// The created users: origin outbound, enabled, unregistered, no password, audited.
	for _, addr := range []string{"new@example.com", "frank@example.com", "grace@example.com", "heidi@xn--bcher-kva.example"} {
		u, err := st.User(t.Context(), addr)
		require.NoError(t, err, addr)
		require.Equal(t, store.OriginOutbound, u.Origin)
		require.True(t, u.Enabled)
		require.False(t, u.Account.Registered)
		require.Empty(t, u.Anchor)
		a, err := st.Audit(t.Context(), store.AuditQuery{Address: addr})
		require.NoError(t, err)
		require.Len(t, a, 1)
		require.Equal(t, store.ActionCreate, a[0].Action)
		require.Equal(t, store.Actor{Kind: "outbound", Name: "http"}, a[0].Actor)
		require.Equal(t, "first outbound message (via http)", a[0].Reason)
	}
	c, err := st.User(t.Context(), "carol@example.com")
	require.NoError(t, err)
	require.False(t, c.Enabled, "outbound mail must not re-enable a disabled user")
	_, err = st.User(t.Context(), "dave@example.com")
	require.ErrorIs(t, err, store.ErrNotFound, "a deleted sender must not be recreated")
	_, err = st.User(t.Context(), "eve@external.org")
	require.ErrorIs(t, err, store.ErrNotFound)

	stats := svc.Stats()
	require.EqualValues(t, 4, stats.Created)
	require.EqualValues(t, 4, stats.Exists)
	require.EqualValues(t, 6, stats.Ignored)
}

// TestKnownSendersCostNoStoreRoundTrip: once settled, a sender is answered from
// the seen-set; with Redis, so is every other replica's next report of it.
func TestKnownSendersCostNoStoreRoundTrip(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		st := newStore(t)
		svc := newService(t, outbound.Options{Store: st})
		_, err := svc.Report(t.Context(), []string{"bob@example.com", "new@example.com"}, "http")
		require.NoError(t, err)
		lookups, applies := st.lookups.Load(), st.applies.Load()
		res, err := svc.Report(t.Context(), []string{"bob@example.com", "NEW@example.com"}, "http")
		require.NoError(t, err)
		require.Equal(t, outbound.Exists, res[0].Status)
		require.Equal(t, outbound.Exists, res[1].Status)
		require.Equal(t, lookups, st.lookups.Load(), "a known sender looked up in the store")
		require.Equal(t, applies, st.applies.Load())
	})
	t.Run("redis shared by replicas", func(t *testing.T) {
		rdb, prefix := redisClient(t)
		st := newStore(t)
		one := newService(t, outbound.Options{Store: st, Redis: rdb, Prefix: prefix})
		two := newService(t, outbound.Options{Store: st, Redis: rdb, Prefix: prefix})
		_, err := one.Report(t.Context(), []string{"bob@example.com", "new@example.com"}, "stream")
		require.NoError(t, err)
		lookups := st.lookups.Load()
		res, err := two.Report(t.Context(), []string{"bob@example.com", "new@example.com"}, "stream")
		require.NoError(t, err)
		require.Equal(t, outbound.Exists, res[0].Status)
		require.Equal(t, outbound.Exists, res[1].Status)
		require.Equal(t, lookups, st.lookups.Load(), "replica two went to the store for senders replica one settled")
	})
}

// redisClient connects to the test Redis with a key prefix of the test's own.
func redisClient(t *testing.T) (goredis.UniversalClient, string) {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.Addr(t, testenv.EnvRedisAddr)})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := fmt.Sprintf("test-outbound-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+":*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})
	return rdb, prefix
}

func TestRateLimitPerDomain(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis=%v", shared), func(t *testing.T) {
			st := newStore(t)
			o := outbound.Options{Store: st, RateLimit: 2, RatePeriod: time.Hour}
			if shared {
				o.Redis, o.Prefix = redisClient(t)
			}
			one, two := newService(t, o), newService(t, o)
			res, err := one.Report(t.Context(), []string{"a@example.com", "b@example.com", "heidi@bücher.example"}, "http")
			require.NoError(t, err)
			for _, r := range res {
				require.Equal(t, outbound.Created, r.Status, r.Sender)
			}
			res, err = one.Report(t.Context(), []string{"c@example.com"}, "http")
			require.NoError(t, err)
			require.Equal(t, outbound.Ignored, res[0].Status)
			require.Contains(t, res[0].Reason, "rate limited: more than 2 new senders of example.com in 1h0m0s")
			require.EqualValues(t, 1, one.Stats().RateLimited)
			_, err = st.User(t.Context(), "c@example.com")
			require.ErrorIs(t, err, store.ErrNotFound)

			// Another replica shares the limit only through Redis.
			res, err = two.Report(t.Context(), []string{"d@example.com"}, "http")
			require.NoError(t, err)
			if shared {
				require.Equal(t, outbound.Ignored, res[0].Status)
			} else {
				require.Equal(t, outbound.Created, res[0].Status)
			}
		})
	}
}

// TestReplicasRaceOnOneNewSender: replicas that see the same new sender at
// once make exactly one user, against PostgreSQL where they truly run in parallel.
func TestReplicasRaceOnOneNewSender(t *testing.T) {
	st, err := postgres.OpenConfig(t.Context(), testenv.PostgresSchema(t), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	seed(t, st)
	const replicas = 8
	var wg sync.WaitGroup
	results := make([][]outbound.Result, replicas)
	errs := make([]error, replicas)
	senders := []string{"race1@example.com", "race2@example.com", "Race3@example.com"}
	for i := range replicas {
		svc := newService(t, outbound.Options{Store: st, RateLimit: -1})
		wg.Go(func() { results[i], errs[i] = svc.Report(context.Background(), senders, "stream") })
	}
	wg.Wait()
	created := map[string]int{}
	for i := range replicas {
		require.NoError(t, errs[i])
		for _, r := range results[i] {
			require.Contains(t, []outbound.Status{outbound.Created, outbound.Exists}, r.Status, "%+v", r)
			if r.Status == outbound.Created {
				created[r.Address]++
			}
		}
	}
	for _, s := range senders {
		addr := strings.ToLower(s)
		require.Equal(t, 1, created[addr], "%s created by %d replicas", addr, created[addr])
		a, err := st.Audit(t.Context(), store.AuditQuery{Address: addr})
		require.NoError(t, err)
		require.Len(t, a, 1, "one create in the audit log")
	}
	all, _, err := st.Users(t.Context(), store.ListQuery{Origin: store.OriginOutbound})
	require.NoError(t, err)
	require.Len(t, all, 3)
}

// TestOffer: the policy path queues unknown senders for the workers and
// answers known ones from memory.
func TestOffer(t *testing.T) {
	st := newStore(t)
	svc := newService(t, outbound.Options{Store: st, Workers: 2})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	svc.Offer("<Olivia@Example.com>")
	svc.Offer("bob@example.com")
	svc.Offer("")
	svc.Offer("x@external.org")
	require.Eventually(t, func() bool {
		_, err := st.User(t.Context(), "olivia@example.com")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return svc.Stats().Exists == 1 && svc.Stats().Ignored == 1 }, 10*time.Second, 10*time.Millisecond)

	// Settled senders are now answered from memory without queueing.
	lookups := st.lookups.Load()
	svc.Offer("<Olivia@Example.com>")
	svc.Offer("bob@example.com")
	require.EqualValues(t, 2, svc.Stats().Known)
	require.Equal(t, lookups, st.lookups.Load())
	// An external sender is not remembered: its domain may become internal.
	svc.Offer("x@external.org")
	require.Eventually(t, func() bool { return svc.Stats().Ignored == 2 }, 10*time.Second, 10*time.Millisecond)
}
