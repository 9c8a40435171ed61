package policyload_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/policyload"
)

// serve runs serve on a loopback listener until the test ends.
func serve(t *testing.T, serve func(context.Context, net.Listener) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return ln.Addr().String()
}

// answering is a policy server answering request number bad with got, and
// DUNNO otherwise; it also checks every request has a sender.
func answering(t *testing.T, bad int, got string) func(context.Context, net.Listener) error {
	return func(ctx context.Context, ln net.Listener) error {
		go func() { <-ctx.Done(); ln.Close() }()
		var n atomic.Int64
		for {
			c, err := ln.Accept()
			if err != nil {
				return nil //nolint:nilerr // Accept fails once cancelling closed the listener: a clean stop
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				sender := false
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(line, "sender=") {
						sender = true
					}
					if line != "\n" {
						continue
					}
					if !sender {
						t.Error("request without sender")
					}
					a := "action=DUNNO\n\n"
					if n.Add(1) == int64(bad) {
						a = got
					}
					_, _ = io.WriteString(c, a) // a client that left sees no answer, as with Postfix
				}
			}()
		}
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		conns     int
		requests  int
		answer    string // the one bad answer; "" for none
		wantError string
	}{
		{name: "one connection", conns: 1, requests: 50},
		{name: "more connections than requests", conns: 8, requests: 3},
		{name: "no requests", conns: 2, requests: 0},
		{name: "wrong action", conns: 1, requests: 10, answer: "action=REJECT\n\n", wantError: `answer "action=REJECT\n\n"`},
		{name: "extra line", conns: 1, requests: 10, answer: "action=DUNNO\nx=y\n\n", wantError: `answer "action=DUNNO\nx=y\n\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := -1
			if tt.answer != "" {
				bad = 5
			}
			addr := serve(t, answering(t, bad, tt.answer))
			r, err := policyload.Run(context.Background(), policyload.Options{Addr: addr, Conns: tt.conns, Requests: tt.requests})
			if tt.wantError != "" {
				require.ErrorContains(t, err, "request 4:")
				require.ErrorContains(t, err, tt.wantError)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.requests, r.Requests)
			if tt.requests > 0 {
				require.Positive(t, r.PerSecond())
				require.LessOrEqual(t, r.P50, r.P99)
				require.LessOrEqual(t, r.P99, r.Max)
			}
		})
	}
}

func TestRunAnswerOnly(t *testing.T) {
	addr := serve(t, policyload.AnswerOnly)
	r, err := policyload.Run(context.Background(), policyload.Options{
		Addr: addr, Conns: 4, Requests: 2000, Sender: func(i int) string { return "s@example.com" }})
	require.NoError(t, err)
	require.Equal(t, 2000, r.Requests)
}

func TestRunBadOptions(t *testing.T) {
	_, err := policyload.Run(context.Background(), policyload.Options{Addr: "127.0.0.1:1", Conns: 0, Requests: 1})
	require.ErrorContains(t, err, "Conns")
}

// A server that never answers holds Run only until ctx is done.
func TestRunCancelled(t *testing.T) {
	addr := serve(t, func(ctx context.Context, ln net.Listener) error {
		go func() { <-ctx.Done(); ln.Close() }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return nil //nolint:nilerr // Accept fails once cancelling closed the listener: a clean stop
			}
			go func() { <-ctx.Done(); c.Close() }()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := policyload.Run(ctx, policyload.Options{Addr: addr, Conns: 2, Requests: 10})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
