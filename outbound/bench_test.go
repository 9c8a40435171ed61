package outbound_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/policyload"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/outbound/policy"
)

const (
	svcBenchConns    = 32
	svcBenchRequests = 100_000 // per b.N iteration
	svcBenchKnown    = 5_000   // users in the store, reported once before timing
)

// BenchmarkPolicyService is the policy service with the real rule set behind
// it (SQLite store, in-memory seen-set) under 32 Postfix-like connections,
// beside a minimal answer-only policy server measured in the same run:
//
//	go test -run '^$' -bench PolicyService -benchtime 3x ./outbound/
//
// known: every sender is a user already. new-10pct: one request in ten comes
// from a sender never seen before, created by the workers off the answer path.
// Unpaced, the load generator and the server share the two cores and every
// server (answer-only too) shows a scheduling tail of a few ms at p99; the
// -at-20k runs send the target load, 20,000 requests/s, and show the server's.
func BenchmarkPolicyService(b *testing.B) {
	known := make([]string, svcBenchKnown)
	for i := range known {
		known[i] = "user" + strconv.Itoa(i) + "@example.com"
	}
	var baseline float64
	b.Run("answer-only", func(b *testing.B) {
		addr := listen(b, func(ctx context.Context, ln net.Listener) { _ = policyload.AnswerOnly(ctx, ln) })
		for b.Loop() {
			baseline = loadRun(b, addr, 0, func(i int) string { return known[i%len(known)] })
		}
	})
	for _, mix := range []struct {
		name     string
		newEvery int // 0: none
		rate     int // requests/s; 0: as fast as possible
	}{{"known", 0, 0}, {"new-10pct", 10, 0}, {"known-at-20k", 0, 20_000}, {"new-10pct-at-20k", 10, 20_000}} {
		b.Run(mix.name, func(b *testing.B) {
			svc := benchService(b, known)
			addr := listen(b, func(ctx context.Context, ln net.Listener) {
				_ = policy.New(policy.Options{Sink: svc, Log: zap.NewNop()}).Serve(ctx, ln)
			})
			before := svc.Stats()
			round := 0
			var ours float64
			for b.Loop() {
				round++
				r := round
				ours = loadRun(b, addr, mix.rate, func(i int) string {
					if mix.newEvery > 0 && i%mix.newEvery == 0 {
						return "new" + strconv.Itoa(r) + "-" + strconv.Itoa(i) + "@example.com"
					}
					return known[i%len(known)]
				})
			}
			if baseline > 0 && mix.rate == 0 {
				b.ReportMetric(ours/baseline, "ratio")
			}
			// What the workers made of the new senders while the load ran.
			time.Sleep(time.Second)
			s := svc.Stats()
			b.ReportMetric(float64(s.Created-before.Created), "created")
			b.ReportMetric(float64(s.Dropped-before.Dropped), "dropped")
		})
	}
}

// loadRun runs svcBenchRequests requests per b.N and reports req/s and latency.
func loadRun(b *testing.B, addr string, rate int, sender func(int) string) float64 {
	b.Helper()
	res, err := policyload.Run(context.Background(), policyload.Options{Addr: addr, Conns: svcBenchConns,
		Requests: svcBenchRequests, Sender: sender, Rate: rate})
	require.NoError(b, err)
	b.ReportMetric(res.PerSecond(), "req/s")
	b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
	return res.PerSecond()
}

func listen(b *testing.B, serve func(context.Context, net.Listener)) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serve(ctx, ln); close(done) }()
	b.Cleanup(func() { cancel(); _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// benchService is the rule set on a SQLite store holding the known senders,
// all reported once so the seen-set is warm, with its workers running.
func benchService(b *testing.B, known []string) *outbound.Service {
	b.Helper()
	st := testenv.SQLiteStore(b, "example.com")
	svc, err := outbound.New(outbound.Options{Store: st, RateLimit: -1, Log: zap.NewNop()})
	require.NoError(b, err)
	for i := 0; i < len(known); i += 1000 {
		_, err := svc.Report(context.Background(), known[i:min(i+1000, len(known))], "http")
		require.NoError(b, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return svc
}
