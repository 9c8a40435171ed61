// Package policyload drives a Postfix policy server the way Postfix does —
// persistent connections, one request at a time on each, waiting for its
// answer — and measures throughput and answer latency. AnswerOnly is the
// baseline to compare a real server with.
package policyload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// answer is the one answer a policy server under test may give.
const answer = "action=DUNNO\n\n"

// Options of a run.
type Options struct {
	// Addr of the policy server (host:port on TCP).
	Addr string
	// Conns concurrent connections, each a persistent connection sending one
	// request and waiting for its answer, like Postfix's smtpd processes.
	Conns int
	// Requests in total, spread over the connections.
	Requests int
	// Sender(i) is the sender of request i; nil uses "sender<i>@example.com".
	// It is called from several goroutines.
	Sender func(i int) string
	// Rate, when positive, paces the run: request i is sent no earlier than
	// i/Rate seconds after the start, the way a gateway's steady traffic
	// arrives; 0 sends as fast as the connections allow (saturation, where the
	// load generator and the server share the cores and both show in the tail).
	Rate int
}

// Result of a run.
type Result struct {
	// Requests answered.
	Requests int
	// Elapsed from the first request to the last answer (connection set-up
	// excluded).
	Elapsed time.Duration
	// P50, P99 and Max are answer latencies: from writing a request to
	// reading its whole answer.
	P50, P99, Max time.Duration
}

// PerSecond is the throughput of the run in requests per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Run sends o.Requests requests over o.Conns connections and checks that
// every answer is exactly "action=DUNNO\n\n"; the first that is not ends the
// run with an error naming the request and what came back.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Conns < 1 || o.Requests < 0 {
		return Result{}, fmt.Errorf("policyload: need Conns >= 1 and Requests >= 0, got %d and %d", o.Conns, o.Requests)
	}
	if o.Sender == nil {
		o.Sender = func(i int) string { return "sender" + strconv.Itoa(i) + "@example.com" }
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	conns := make([]net.Conn, 0, o.Conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var d net.Dialer
	for range o.Conns {
		c, err := d.DialContext(ctx, "tcp", o.Addr)
		if err != nil {
			return Result{}, fmt.Errorf("policyload dial %s: %w", o.Addr, err)
		}
		conns = append(conns, c)
	}
	// Closing the connections is what interrupts blocked reads on cancel.
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			for _, c := range conns {
				c.Close()
			}
		case <-stopped:
		}
	}()

	lat := make([]time.Duration, o.Requests)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(c, o, start, &next, lat); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := parent.Err(); err != nil {
		// The clients' errors are then only the closed connections.
		return Result{}, fmt.Errorf("policyload: %w", err)
	}
	if firstErr != nil {
		return Result{}, firstErr
	}
	return summarize(lat, elapsed), nil
}

// client runs requests taken from next on c until none are left.
func client(c net.Conn, o Options, start time.Time, next *atomic.Int64, lat []time.Duration) error {
	br := bufio.NewReaderSize(c, 4096)
	req := make([]byte, 0, 1024)
	got := make([]byte, 0, 64)
	for {
		i := int(next.Add(1) - 1)
		if i >= o.Requests {
			return nil
		}
		req = appendRequest(req[:0], i, o.Sender(i))
		if o.Rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(o.Rate))))
		}
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			return fmt.Errorf("policyload request %d: write: %w", i, err)
		}
		got = got[:0]
		long := false // inside a line longer than br's buffer
		for {
			line, err := br.ReadSlice('\n')
			if len(got) < 1024 {
				got = append(got, line...)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				long = true
				continue
			}
			if err != nil {
				return fmt.Errorf("policyload request %d: read answer after %q: %w", i, got, err)
			}
			if !long && blank(line) {
				break
			}
			long = false
		}
		lat[i] = time.Since(t0)
		if string(got) != answer {
			return fmt.Errorf("policyload request %d: answer %q, want %q", i, got, answer)
		}
	}
}

// appendRequest appends request i as Postfix 3.x sends it at RCPT TO: every
// attribute of SMTPD_POLICY_README, most of them empty as on a plain
// unauthenticated connection.
func appendRequest(b []byte, i int, sender string) []byte {
	b = append(b, "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"...)
	b = append(b, "client_address=192.0.2."...)
	b = strconv.AppendInt(b, int64(i%250+1), 10)
	b = append(b, "\nclient_name=mail"...)
	b = strconv.AppendInt(b, int64(i%250+1), 10)
	b = append(b, ".example.net\nclient_port="...)
	b = strconv.AppendInt(b, int64(1024+i%60000), 10)
	b = append(b, "\nreverse_client_name=mail"...)
	b = strconv.AppendInt(b, int64(i%250+1), 10)
	b = append(b, ".example.net\nserver_address=198.51.100.25\nserver_port=25\nhelo_name=mail.example.net\nsender="...)
	b = append(b, sender...)
	b = append(b, "\nrecipient=rcpt"...)
	b = strconv.AppendInt(b, int64(i%1000), 10)
	b = append(b, "@example.org\nrecipient_count=0\nqueue_id=\ninstance="...)
	b = strconv.AppendInt(b, int64(i), 16)
	b = append(b, ".6740a0d2.8f3c1.0\nsize=0\netrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\n"...)
	b = append(b, "ccert_subject=\nccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n"...)
	b = append(b, "encryption_protocol=TLSv1.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\n"...)
	b = append(b, "policy_context=\ncompatibility_level=3.6\nmail_version=3.7.11\n\n"...)
	return b
}

func summarize(lat []time.Duration, elapsed time.Duration) Result {
	r := Result{Requests: len(lat), Elapsed: elapsed}
	if len(lat) == 0 {
		return r
	}
	slices.Sort(lat)
	at := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	r.P50, r.P99, r.Max = at(0.50), at(0.99), lat[len(lat)-1]
	return r
}

// AnswerOnly starts the baseline: a minimal policy server that reads a
// request up to the blank line and answers action=DUNNO with no parsing
// beyond that. It serves on ln until ctx is done (then returns nil, having
// closed ln and its connections) or ln fails.
func AnswerOnly(ctx context.Context, ln net.Listener) error {
	var (
		mu    sync.Mutex
		open  = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
		done  bool
		errCh = make(chan error, 1)
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				errCh <- err
				return
			}
			mu.Lock()
			if done {
				mu.Unlock()
				c.Close()
				continue
			}
			open[c] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				answerOnly(c)
				mu.Lock()
				delete(open, c)
				mu.Unlock()
			}()
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errCh:
		err = fmt.Errorf("policyload accept: %w", err)
	}
	ln.Close()
	mu.Lock()
	done = true
	for c := range open {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return err
}

// answerOnly answers each blank line on c, until c fails.
func answerOnly(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8192)
	long := false // inside a line longer than the buffer
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = true
			continue
		}
		if err != nil {
			return
		}
		if long || !blank(line) {
			long = false
			continue
		}
		if _, err := c.Write([]byte(answer)); err != nil {
			return
		}
	}
}

// blank reports whether line, terminator included, is an empty line.
func blank(line []byte) bool {
	return len(line) == 1 || (len(line) == 2 && line[0] == '\r')
}
