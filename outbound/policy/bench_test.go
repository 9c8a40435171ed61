package policy_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/policyload"
	"github.com/dirsync/dirsync/outbound/policy"
)

const (
	benchConns    = 32
	benchRequests = 100_000 // per b.N iteration, so -benchtime 3x means 300k requests
	benchSenders  = 20_000  // half of them known to the sink
)

// knownSink stands in for the outbound service's Offer: a set lookup under a
// read lock, unknown senders queued without blocking and added by a worker.
type knownSink struct {
	mu    sync.RWMutex
	known map[string]struct{}
	queue chan string
}

func newKnownSink(b *testing.B, senders []string) *knownSink {
	s := &knownSink{known: make(map[string]struct{}, len(senders)), queue: make(chan string, 10_000)}
	for _, x := range senders[:len(senders)/2] {
		s.known[x] = struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case x := <-s.queue:
				s.mu.Lock()
				s.known[x] = struct{}{}
				s.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

func (s *knownSink) Offer(sender string) {
	s.mu.RLock()
	_, ok := s.known[sender]
	s.mu.RUnlock()
	if !ok {
		select {
		case s.queue <- sender:
		default:
		}
	}
}

// baselinePerSecond is the answer-only throughput of this run, for the ratio.
var baselinePerSecond float64

func BenchmarkPolicy(b *testing.B) {
	senders := make([]string, benchSenders)
	for i := range senders {
		senders[i] = "user" + strconv.Itoa(i) + "@example.com"
	}
	sender := func(i int) string { return senders[i%len(senders)] }

	b.Run("answer-only", func(b *testing.B) {
		addr := serveBench(b, policyload.AnswerOnly)
		baselinePerSecond = runLoad(b, addr, sender)
	})
	b.Run("known-senders", func(b *testing.B) {
		if baselinePerSecond == 0 {
			// Run alone (-bench Policy/known): measure the baseline here.
			addr := serveBench(b, policyload.AnswerOnly)
			r, err := policyload.Run(context.Background(), policyload.Options{
				Addr: addr, Conns: benchConns, Requests: benchRequests, Sender: sender})
			require.NoError(b, err)
			baselinePerSecond = r.PerSecond()
		}
		srv := policy.New(policy.Options{Sink: newKnownSink(b, senders)})
		addr := serveBench(b, srv.Serve)
		perSec := runLoad(b, addr, sender)
		b.ReportMetric(perSec/baselinePerSecond, "ratio")
	})
	// The target load: at saturation the load generator and the server
	// share the two cores, and every server (answer-only too) shows a
	// scheduling tail of a few ms at p99; paced at 20k req/s the tail is the
	// server's.
	b.Run("known-senders-20k", func(b *testing.B) {
		srv := policy.New(policy.Options{Sink: newKnownSink(b, senders)})
		addr := serveBench(b, srv.Serve)
		runLoadAt(b, addr, sender, 20_000)
	})
}

// serveBench starts serve on a loopback listener for the benchmark's life.
func serveBench(b *testing.B, serve func(context.Context, net.Listener) error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		require.NoError(b, <-done)
	})
	return ln.Addr().String()
}

// runLoad runs benchRequests requests per iteration and reports throughput
// over all of them and the mean of each iteration's percentiles.
func runLoad(b *testing.B, addr string, sender func(int) string) float64 {
	return runLoadAt(b, addr, sender, 0)
}

// runLoadAt is runLoad paced at rate requests per second (0: unpaced).
func runLoadAt(b *testing.B, addr string, sender func(int) string, rate int) float64 {
	var (
		total      time.Duration
		n          int
		p50s, p99s time.Duration
	)
	b.ResetTimer()
	for range b.N {
		r, err := policyload.Run(context.Background(), policyload.Options{
			Addr: addr, Conns: benchConns, Requests: benchRequests, Sender: sender, Rate: rate})
		require.NoError(b, err)
		total += r.Elapsed
		n += r.Requests
		p50s += r.P50
		p99s += r.P99
	}
	perSec := float64(n) / total.Seconds()
	b.ReportMetric(perSec, "req/s")
	b.ReportMetric(float64(p50s.Microseconds())/float64(b.N), "p50-µs")
	b.ReportMetric(float64(p99s.Microseconds())/float64(b.N), "p99-µs")
	b.ReportMetric(0, "ns/op")
	return perSec
}

// BenchmarkPipelined sends batches of 50 requests in one write on one
// connection: answers are flushed once per batch, not once per request (5x
// the throughput of flushing each answer when measured).
func BenchmarkPipelined(b *testing.B) {
	srv := policy.New(policy.Options{})
	addr := serveBench(b, srv.Serve)
	c, err := net.Dial("tcp", addr)
	require.NoError(b, err)
	defer c.Close()
	const batch = 50
	var reqs []byte
	for i := range batch {
		reqs = append(reqs, req("user"+strconv.Itoa(i)+"@example.com")...)
	}
	answers := make([]byte, batch*len(answer))
	b.ResetTimer()
	for range b.N {
		// Written concurrently: a batch may exceed the socket buffers.
		werr := make(chan error, 1)
		go func() { _, err := c.Write(reqs); werr <- err }()
		_, err := io.ReadFull(c, answers)
		require.NoError(b, err)
		require.NoError(b, <-werr)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "req/s")
}
