package policy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/outbound/policy"
)

const answer = "action=DUNNO\n\n"

// recSink records the senders offered.
type recSink struct {
	mu      sync.Mutex
	senders []string
}

func (s *recSink) Offer(sender string) {
	s.mu.Lock()
	s.senders = append(s.senders, sender)
	s.mu.Unlock()
}

func (s *recSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.senders...)
}

// server is a policy server on a loopback listener, stopped with the test.
type server struct {
	*policy.Server
	addr   string
	sink   *recSink
	logs   *observer.ObservedLogs
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, o policy.Options) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	core, logs := observer.New(zap.DebugLevel)
	sink := &recSink{}
	if o.Sink == nil {
		o.Sink = sink
	}
	o.Log = zap.New(core)
	s := &server{Server: policy.New(o), addr: ln.Addr().String(), sink: sink, logs: logs, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return s
}

// client is one connection to a server.
type client struct {
	net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return &client{Conn: c, br: bufio.NewReader(c)}
}

func (c *client) send(t *testing.T, s string) {
	t.Helper()
	_, err := io.WriteString(c, s)
	require.NoError(t, err)
}

// answers reads n answers, each of which must be exactly DUNNO.
func (c *client) answers(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, len(answer))
	for i := range n {
		_, err := io.ReadFull(c.br, buf)
		require.NoError(t, err, "answer %d", i)
		require.Equal(t, answer, string(buf), "answer %d", i)
	}
}

// closed requires the server to close the connection without saying more.
func (c *client) closed(t *testing.T) {
	t.Helper()
	b, err := io.ReadAll(c.br)
	require.NoError(t, err)
	require.Empty(t, string(b))
}

// req builds a request like Postfix's with the given sender line value.
func req(sender string) string {
	return "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n" +
		"client_address=192.0.2.1\nhelo_name=mx.example.net\nsender=" + sender +
		"\nrecipient=bob@example.org\nqueue_id=\ninstance=1.2.3\nsize=0\n\n"
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		name                 string
		maxLine, maxRequest  int
		send                 string
		answers              int
		offered              []string
		malformed, oversized uint64
	}{
		{name: "normal", send: req("alice@example.com"), answers: 1, offered: []string{"alice@example.com"}},
		{name: "request attribute missing", send: "sender=a@example.com\n\n", answers: 1, offered: []string{"a@example.com"}},
		{name: "other request type", send: "request=smtpd_other\nsender=a@example.com\n\n", answers: 1},
		{name: "pipelined", send: req("a@example.com") + req("b@example.com") + req("c@example.com"), answers: 3,
			offered: []string{"a@example.com", "b@example.com", "c@example.com"}},
		{name: "CRLF", send: strings.ReplaceAll(req("crlf@example.com"), "\n", "\r\n"), answers: 1, offered: []string{"crlf@example.com"}},
		{name: "line without =", send: "request=smtpd_access_policy\nno equals here\nsender=a@example.com\n\n", answers: 1, malformed: 1},
		{name: "oversized line", send: req("big@" + strings.Repeat("x", 1<<20)), answers: 1, oversized: 1},
		{name: "line of exactly max_line", maxLine: 64, send: req("x@" + strings.Repeat("y", 64-len("sender=x@"))), answers: 1,
			offered: []string{"x@" + strings.Repeat("y", 64-len("sender=x@"))}},
		{name: "line one over max_line", maxLine: 64, send: req("x@" + strings.Repeat("y", 65-len("sender=x@"))), answers: 1, oversized: 1},
		{name: "oversized request", maxRequest: 1024, send: strings.Repeat("x_attr="+strings.Repeat("v", 90)+"\n", 20) + req("a@example.com"),
			answers: 1, oversized: 1},
		{name: "garbage bytes", send: "\x00\xff\xfe\x01gar\x1bbage\x00\n\x80\x81=\x00\r\n\n" + req("after@example.com"), answers: 2,
			offered: []string{"after@example.com"}, malformed: 1},
		{name: "garbage without newline over max_line", maxLine: 32, send: strings.Repeat("\x00\xff", 1000) + "\n\n" + req("a@example.com"),
			answers: 2, offered: []string{"a@example.com"}, oversized: 1},
		{name: "display name passed raw", send: req(`"Doe, John" <John.Doe@Example.COM>`), answers: 1,
			offered: []string{`"Doe, John" <John.Doe@Example.COM>`}},
		{name: "upper case passed raw", send: req("ALICE@EXAMPLE.COM"), answers: 1, offered: []string{"ALICE@EXAMPLE.COM"}},
		{name: "IDN passed raw", send: req("jörg@bücher.example"), answers: 1, offered: []string{"jörg@bücher.example"}},
		{name: "value with = and spaces", send: req(" a=b@example.com "), answers: 1, offered: []string{" a=b@example.com "}},
		{name: "empty sender not offered", send: req(""), answers: 1},
		{name: "no sender attribute", send: "request=smtpd_access_policy\nrecipient=a@example.com\n\n", answers: 1},
		{name: "empty request", send: "\n", answers: 1},
		{name: "last sender wins", send: "sender=a@example.com\nsender=b@example.com\n\n", answers: 1, offered: []string{"b@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, policy.Options{MaxLine: tt.maxLine, MaxRequest: tt.maxRequest})
			c := dial(t, s.addr)
			c.send(t, tt.send)
			c.answers(t, tt.answers)
			// The connection stays in step: the next request is answered.
			c.send(t, req("next@example.com"))
			c.answers(t, 1)
			require.Equal(t, append(tt.offered, "next@example.com"), s.sink.got())
			st := s.Stats()
			require.EqualValues(t, tt.answers+1, st.Requests)
			require.Equal(t, tt.malformed, st.Malformed)
			require.Equal(t, tt.oversized, st.Oversized)
			require.Equal(t, 1, st.Conns)
		})
	}
}

func TestMalformedWarning(t *testing.T) {
	s := start(t, policy.Options{})
	c := dial(t, s.addr)
	bad := "\x00bad line " + strings.Repeat("z", 100)
	for range 5 {
		c.send(t, bad+"\n\n")
	}
	c.answers(t, 5)
	warns := s.logs.FilterLevelExact(zap.WarnLevel).All()
	require.Len(t, warns, 1, "one warning per connection")
	fields := warns[0].ContextMap()
	require.Equal(t, c.LocalAddr().String(), fields["remote"])
	require.Equal(t, `"\x00bad line `+strings.Repeat("z", 54)+`"`, fields["line"])
	require.EqualValues(t, 5, s.Stats().Malformed)
}

func TestClientClosesMidRequest(t *testing.T) {
	s := start(t, policy.Options{})
	c := dial(t, s.addr)
	c.send(t, "request=smtpd_access_policy\nsender=a@example.com\n")
	require.NoError(t, c.Conn.(*net.TCPConn).CloseWrite())
	c.closed(t)
	require.Empty(t, s.sink.got())
	require.Zero(t, s.Stats().Requests)
	require.Empty(t, s.logs.FilterLevelExact(zap.WarnLevel).All())
	require.Empty(t, s.logs.FilterLevelExact(zap.ErrorLevel).All())
}

func TestHalfCloseAfterRequests(t *testing.T) {
	s := start(t, policy.Options{})
	c := dial(t, s.addr)
	c.send(t, req("a@example.com")+req("b@example.com"))
	require.NoError(t, c.Conn.(*net.TCPConn).CloseWrite())
	c.answers(t, 2)
	c.closed(t)
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name string
		send string
		warn bool
	}{
		{name: "idle", send: ""},
		{name: "idle after a request", send: req("a@example.com")},
		{name: "stalled mid-request", send: "request=smtpd_access_policy\nsend", warn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, policy.Options{IdleTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
			c := dial(t, s.addr)
			t0 := time.Now()
			c.send(t, tt.send)
			c.answers(t, strings.Count(tt.send, "\n\n"))
			c.closed(t)
			require.Less(t, time.Since(t0), 3*time.Second)
			require.Eventually(t, func() bool { return s.Stats().Conns == 0 }, 3*time.Second, 10*time.Millisecond)
			require.Equal(t, tt.warn, len(s.logs.FilterLevelExact(zap.WarnLevel).All()) > 0)
		})
	}
}

func TestMaxConns(t *testing.T) {
	s := start(t, policy.Options{MaxConns: 2})
	var cs []*client
	for range 2 {
		c := dial(t, s.addr)
		c.send(t, req("a@example.com"))
		c.answers(t, 1)
		cs = append(cs, c)
	}
	extra := dial(t, s.addr)
	extra.closed(t)
	st := s.Stats()
	require.EqualValues(t, 1, st.Rejected)
	require.Equal(t, 2, st.Conns)
	require.Len(t, s.logs.FilterMessageSnippet("too many connections").All(), 1)

	// A slot freed is a slot usable again.
	cs[0].Close()
	require.Eventually(t, func() bool { return s.Stats().Conns == 1 }, 3*time.Second, 10*time.Millisecond)
	c := dial(t, s.addr)
	c.send(t, req("b@example.com"))
	c.answers(t, 1)
}

// A connection stalled mid-request does not hold up the others.
func TestStalledClientBlocksNoOne(t *testing.T) {
	s := start(t, policy.Options{})
	stalled := dial(t, s.addr)
	stalled.send(t, "request=smtpd_access_policy\nsender=half")
	c := dial(t, s.addr)
	for range 10 {
		c.send(t, req("a@example.com"))
		c.answers(t, 1)
	}
}

func TestShutdownWithOpenConnections(t *testing.T) {
	s := start(t, policy.Options{})
	var cs []*client
	for range 5 {
		c := dial(t, s.addr)
		c.send(t, req("a@example.com"))
		c.answers(t, 1)
		cs = append(cs, c)
	}
	// One more mid-request.
	cs[0].send(t, "request=smtpd_access_policy\n")
	t0 := time.Now()
	s.cancel()
	select {
	case err := <-s.done:
		require.NoError(t, err)
		s.done <- nil // for the cleanup
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return")
	}
	require.Less(t, time.Since(t0), time.Second)
	require.Zero(t, s.Stats().Conns)
	for _, c := range cs {
		// Closing with unread input may reset rather than end the stream.
		b, err := io.ReadAll(c.br)
		require.Empty(t, string(b))
		require.True(t, err == nil || isReset(err), "read: %v", err)
	}
}

func TestListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := policy.New(policy.Options{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return srv.Stats().Conns == 1 }, 3*time.Second, 10*time.Millisecond)
	ln.Close()
	select {
	case err := <-done:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return")
	}
	// Its connections went with it.
	require.Zero(t, srv.Stats().Conns)
	_, err = c.Read(make([]byte, 1))
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err), "read: %v", err)
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

type panicSink struct{}

func (panicSink) Offer(string) { panic("sink bug") }

// A Sink bug costs neither the answer nor the connection.
func TestSinkPanic(t *testing.T) {
	s := start(t, policy.Options{Sink: panicSink{}})
	c := dial(t, s.addr)
	c.send(t, req("a@example.com"))
	c.answers(t, 1)
	c.send(t, req("b@example.com"))
	c.answers(t, 1)
	require.Len(t, s.logs.FilterMessageSnippet("sink panicked").All(), 2)
}
