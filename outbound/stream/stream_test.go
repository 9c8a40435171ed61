package stream_test

// Integration tests against the real Redis that scripts/testenv.sh starts
// (DIRSYNC_TEST_REDIS_ADDR). Each test uses its own stream key.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/outbound/stream"
)

const (
	group   = "dirsync"
	waitFor = 10 * time.Second
	tick    = 5 * time.Millisecond
)

type env struct {
	t      *testing.T
	rdb    *goredis.Client
	stream string
	logs   *observer.ObservedLogs
	log    *zap.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	addr := testenv.Addr(t, testenv.EnvRedisAddr)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	key := fmt.Sprintf("dirsync:test:stream:%s:%d", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() { _ = rdb.Del(context.Background(), key).Err() })
	core, logs := observer.New(zap.InfoLevel)
	return &env{t: t, rdb: rdb, stream: key, logs: logs, log: zap.New(core)}
}

// opts are fast test options: small batches, short waits, no claims unless a
// test asks for them.
func (e *env) opts(consumer string) stream.Options {
	return stream.Options{
		Client: e.rdb, Stream: e.stream, Group: group, Consumer: consumer,
		Batch: 10, Block: 50 * time.Millisecond, ClaimIdle: time.Hour,
		RetryWait: 5 * time.Millisecond, Log: e.log,
	}
}

func (e *env) consumer(o stream.Options) *stream.Consumer {
	e.t.Helper()
	c, err := stream.New(o)
	require.NoError(e.t, err)
	return c
}

// add writes one entry per sender, in order, and returns their IDs.
func (e *env) add(senders ...string) []string {
	e.t.Helper()
	ids := make([]string, len(senders))
	for i, s := range senders {
		ids[i] = e.addFields("sender", s)
	}
	return ids
}

func (e *env) addFields(kv ...any) string {
	e.t.Helper()
	id, err := e.rdb.XAdd(context.Background(), &goredis.XAddArgs{Stream: e.stream, Values: kv}).Result()
	require.NoError(e.t, err)
	return id
}

// pending is the group's pending count, or for one consumer when named.
func (e *env) pending(consumer string) int64 {
	e.t.Helper()
	pel, err := e.rdb.XPendingExt(context.Background(), &goredis.XPendingExtArgs{
		Stream: e.stream, Group: group, Start: "-", End: "+", Count: 100_000, Consumer: consumer,
	}).Result()
	require.NoError(e.t, err)
	return int64(len(pel))
}

// start runs c until the test ends or the returned stop is called.
func start(t *testing.T, c *stream.Consumer, h stream.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(waitFor):
				t.Error("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// die runs c until its Handler is first called, and cancels it from inside
// the Handler, which then returns nil: the batch stays pending, as if the
// replica died before acknowledging it.
func die(t *testing.T, c *stream.Consumer) (got []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := c.Run(ctx, func(_ context.Context, senders []string) error {
		got = senders
		cancel()
		return nil
	})
	require.NoError(t, err)
	return got
}

// recorder is a Handler that records its calls; fail decides an error per call.
type recorder struct {
	mu    sync.Mutex
	calls [][]string
	ok    map[string]int // sender → successful calls that held it
	fail  func(call int, senders []string) error
}

func (r *recorder) handle(_ context.Context, senders []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, senders)
	if r.fail != nil {
		if err := r.fail(len(r.calls), senders); err != nil {
			return err
		}
	}
	if r.ok == nil {
		r.ok = map[string]int{}
	}
	for _, s := range senders {
		r.ok[s]++
	}
	return nil
}

func (r *recorder) snapshot() (calls [][]string, ok map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok = make(map[string]int, len(r.ok))
	for k, v := range r.ok {
		ok[k] = v
	}
	return append([][]string(nil), r.calls...), ok
}

func senders(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d@example.com", prefix, i)
	}
	return out
}

func once(t *testing.T, want []string, ok map[string]int) {
	t.Helper()
	require.Len(t, ok, len(want))
	for _, s := range want {
		require.Equal(t, 1, ok[s], "sender %s", s)
	}
}

func TestGroupStartsAtZero(t *testing.T) {
	e := newEnv(t)
	want := senders("early", 5)
	e.add(want...) // before any group exists
	c := e.consumer(e.opts("a"))
	var r recorder
	start(t, c, r.handle)
	require.Eventually(t, func() bool { return c.Stats().Acked == 5 }, waitFor, tick)
	_, ok := r.snapshot()
	once(t, want, ok)

	// A second consumer finds the group there (BUSYGROUP) and runs.
	c2 := e.consumer(e.opts("b"))
	start(t, c2, r.handle)
	e.add("late@example.com")
	require.Eventually(t, func() bool { return c.Stats().Acked+c2.Stats().Acked == 6 }, waitFor, tick)
	require.Zero(t, e.pending(""))
}

func TestTwoConsumersShareTheStream(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	seen := map[string]int{}
	by := map[string]int{}
	h := func(name string) stream.Handler {
		return func(_ context.Context, senders []string) error {
			mu.Lock()
			for _, s := range senders {
				seen[s]++
			}
			by[name] += len(senders)
			mu.Unlock()
			time.Sleep(time.Millisecond) // a store round trip, so both get turns
			return nil
		}
	}
	a, b := e.consumer(e.opts("a")), e.consumer(e.opts("b"))
	start(t, a, h("a"))
	start(t, b, h("b"))

	want := senders("u", 1000)
	pipe := e.rdb.Pipeline()
	for _, s := range want {
		pipe.XAdd(context.Background(), &goredis.XAddArgs{Stream: e.stream, Values: []any{"sender", s}})
	}
	_, err := pipe.Exec(context.Background())
	require.NoError(t, err)

	require.Eventually(t, func() bool { return a.Stats().Acked+b.Stats().Acked == 1000 }, waitFor, tick)
	mu.Lock()
	defer mu.Unlock()
	once(t, want, seen)
	require.Positive(t, by["a"], "consumer a got nothing")
	require.Positive(t, by["b"], "consumer b got nothing")
	require.Zero(t, e.pending(""))
	require.Equal(t, int64(1000), a.Stats().Read+b.Stats().Read)
}

func TestHandlerErrorLeavesEntriesPending(t *testing.T) {
	e := newEnv(t)
	want := senders("retry", 5)
	e.add(want...)
	var pendingAtRetry int64 = -1
	r := recorder{fail: func(call int, _ []string) error {
		switch call {
		case 1:
			return fmt.Errorf("store unreachable")
		case 2:
			pendingAtRetry = e.pending("a") // the first failure acknowledged nothing
			return fmt.Errorf("store unreachable")
		}
		return nil
	}}
	c := e.consumer(e.opts("a"))
	start(t, c, r.handle)
	require.Eventually(t, func() bool { return c.Stats().Acked == 5 }, waitFor, tick)

	calls, ok := r.snapshot()
	require.Equal(t, want, calls[0])
	require.Equal(t, want[:1], calls[1], "retried one at a time after a failure")
	require.Equal(t, int64(5), pendingAtRetry)
	once(t, want, ok)
	st := c.Stats()
	require.Equal(t, int64(2), st.HandlerErrors)
	require.Zero(t, st.DeadLettered)
	require.Zero(t, e.pending(""))
	require.NotEmpty(t, e.logs.FilterMessage("handler failed; entries stay pending").All())
}

func TestDeadConsumersEntriesAreClaimed(t *testing.T) {
	e := newEnv(t)
	want := senders("orphan", 5)
	e.add(want...)
	dead := e.consumer(e.opts("dead"))
	require.Equal(t, want, die(t, dead))
	require.Equal(t, int64(5), e.pending("dead"))
	require.Zero(t, dead.Stats().Acked)

	o := e.opts("alive")
	o.ClaimIdle = 200 * time.Millisecond
	alive := e.consumer(o)
	var r recorder
	began := time.Now()
	start(t, alive, r.handle)
	require.Eventually(t, func() bool { return alive.Stats().Acked == 5 }, waitFor, tick)
	require.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond, "claimed before ClaimIdle")

	calls, ok := r.snapshot()
	require.Equal(t, [][]string{want}, calls)
	once(t, want, ok)
	require.Equal(t, int64(5), alive.Stats().Claimed)
	require.Zero(t, e.pending(""))
}

func TestClaimAcknowledgesDeletedEntries(t *testing.T) {
	e := newEnv(t)
	ids := e.add("a@example.com", "gone@example.com", "c@example.com")
	die(t, e.consumer(e.opts("dead")))
	require.NoError(t, e.rdb.XDel(context.Background(), e.stream, ids[1]).Err())

	o := e.opts("alive")
	o.ClaimIdle = 50 * time.Millisecond
	alive := e.consumer(o)
	var r recorder
	start(t, alive, r.handle)
	require.Eventually(t, func() bool { return alive.Stats().Acked >= 2 && e.pending("") == 0 }, waitFor, tick)
	calls, _ := r.snapshot()
	require.Equal(t, [][]string{{"a@example.com", "c@example.com"}}, calls)
	require.NotEmpty(t, e.logs.FilterMessage("pending entries deleted from the stream before they were handled").All())
}

func TestRestartRereadsOwnPendingFirst(t *testing.T) {
	e := newEnv(t)
	ids := e.add("p0@example.com", "p1@example.com", "p2@example.com")
	require.Len(t, die(t, e.consumer(e.opts("r"))), 3)
	e.add("n0@example.com", "n1@example.com")
	// Deleted while pending: the re-read returns its ID without fields.
	require.NoError(t, e.rdb.XDel(context.Background(), e.stream, ids[1]).Err())

	restarted := e.consumer(e.opts("r"))
	var r recorder
	start(t, restarted, r.handle)
	require.Eventually(t, func() bool { return restarted.Stats().Acked == 5 }, waitFor, tick)
	calls, _ := r.snapshot()
	require.Equal(t, [][]string{
		{"p0@example.com", "p2@example.com"},
		{"n0@example.com", "n1@example.com"},
	}, calls)
	require.Zero(t, restarted.Stats().Claimed)
	require.Zero(t, e.pending(""))
}

func TestMalformedEntryIsAcknowledged(t *testing.T) {
	e := newEnv(t)
	e.add("a@example.com")
	bad := e.addFields("via", strings.Repeat("x", 300), "from", "gateway-1")
	e.add("", "b@example.com") // an empty sender (a bounce) is the Handler's call

	c := e.consumer(e.opts("a"))
	var r recorder
	start(t, c, r.handle)
	require.Eventually(t, func() bool { return c.Stats().Acked == 4 }, waitFor, tick)
	calls, _ := r.snapshot()
	require.Equal(t, [][]string{{"a@example.com", "", "b@example.com"}}, calls)
	require.Equal(t, int64(1), c.Stats().Malformed)
	require.Zero(t, e.pending(""))

	warn := e.logs.FilterMessage("malformed entry: no sender field").All()
	require.Len(t, warn, 1)
	ctx := warn[0].ContextMap()
	require.Equal(t, bad, ctx["id"])
	fields := ctx["fields"].(map[string]string)
	require.Equal(t, strings.Repeat("x", 100)+"…", fields["via"])
	require.Equal(t, "gateway-1", fields["from"])
}

func TestPoisonEntryIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	ids := e.add("g1@example.com", "poison", "g2@example.com", "g3@example.com")
	var poisoned int
	r := recorder{fail: func(_ int, senders []string) error {
		for _, s := range senders {
			if s == "poison" {
				poisoned++
				return fmt.Errorf("store rejects %q", s)
			}
		}
		return nil
	}}
	o := e.opts("a")
	o.MaxDeliveries = 3
	c := e.consumer(o)
	start(t, c, r.handle)
	require.Eventually(t, func() bool { return c.Stats().Acked == 4 }, waitFor, tick)

	_, ok := r.snapshot()
	once(t, []string{"g1@example.com", "g2@example.com", "g3@example.com"}, ok)
	require.Equal(t, 3, poisoned, "the Handler sees a poison entry MaxDeliveries times")
	st := c.Stats()
	require.Equal(t, int64(1), st.DeadLettered)
	require.Equal(t, int64(3), st.HandlerErrors)
	require.Zero(t, e.pending(""))

	dead := e.logs.FilterMessage("giving up on entry: delivered too many times without being settled").All()
	require.Len(t, dead, 1)
	require.Equal(t, zap.ErrorLevel, dead[0].Level)
	require.Equal(t, ids[1], dead[0].ContextMap()["id"])
	require.Equal(t, map[string]string{"sender": "poison"}, dead[0].ContextMap()["fields"])
}

func TestMissingGroupIsCreatedAgain(t *testing.T) {
	e := newEnv(t)
	c := e.consumer(e.opts("a"))
	var r recorder
	start(t, c, r.handle)
	e.add("before@example.com")
	require.Eventually(t, func() bool { return c.Stats().Acked == 1 }, waitFor, tick)

	require.NoError(t, e.rdb.XGroupDestroy(context.Background(), e.stream, group).Err())
	e.add("after@example.com")
	// The group comes back from "0": the whole stream is read again.
	require.Eventually(t, func() bool { return c.Stats().Acked == 3 }, waitFor, tick)
	_, ok := r.snapshot()
	require.Equal(t, map[string]int{"before@example.com": 2, "after@example.com": 1}, ok)
	require.NotEmpty(t, e.logs.FilterMessage("consumer group missing; creating it again from the start of the stream").All())
}

func TestRunStopsPromptly(t *testing.T) {
	e := newEnv(t)
	o := e.opts("a")
	o.Block = 200 * time.Millisecond
	c := e.consumer(o)
	stop := start(t, c, func(context.Context, []string) error { return nil })
	time.Sleep(100 * time.Millisecond) // inside a blocking read
	began := time.Now()
	stop()
	require.Less(t, time.Since(began), time.Second)
}
