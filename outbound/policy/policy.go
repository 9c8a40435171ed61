// Package policy is a Postfix policy-delegation server
// (https://www.postfix.org/SMTPD_POLICY_README.html) that reports the sender of
// every outbound message to a Sink.
//
// It answers every request with "action=DUNNO": the server only observes mail,
// so whatever arrives (garbage, oversized lines, unknown request types) Postfix
// gets the neutral answer and is never delayed or refused because of us.
package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Sink receives the sender of every policy request. Offer must not block (the
// real one checks an in-memory set and queues unknown senders); it is called on
// the answer path.
type Sink interface{ Offer(sender string) }

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	// Sink receives the senders; nil drops them.
	Sink Sink
	// Log is the logger; nil = zap.NewNop().
	Log *zap.Logger
	// MaxLine bounds one attribute line, its terminator excluded (default 8 KiB);
	// MaxRequest bounds one request's total bytes (default 64 KiB).
	MaxLine, MaxRequest int
	// IdleTimeout closes a connection with no request for this long (default 5
	// min: Postfix keeps connections open and reuses them).
	IdleTimeout time.Duration
	// ReadTimeout bounds reading one request once its first byte arrived
	// (default 10 s), so a stalled client cannot hold a goroutine for ever. It
	// also bounds writing an answer, for a client that sends but never reads.
	ReadTimeout time.Duration
	// MaxConns bounds concurrent connections (default 1024); past it new
	// connections are answered nothing and closed with a warning log
	// (rate-limited).
	MaxConns int
	// AllowedClients are the networks served (default DefaultAllowedClients,
	// loopback only). Anyone who can reach the service can otherwise make
	// dirsync create users, so a client outside them is closed unanswered,
	// offers nothing, and is logged once per address.
	AllowedClients []netip.Prefix
	// RequireSASLUsername offers only the senders of requests that carry a
	// sasl_username (authenticated submission); the rest get DUNNO and create
	// nothing.
	RequireSASLUsername bool
}

// DefaultAllowedClients is loopback: Postfix on the same host.
var DefaultAllowedClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// maxRefusedLogged bounds the addresses remembered as already logged; past it
// refusals are only rate-limited, so a scan of many addresses cannot grow
// memory without bound.
const maxRefusedLogged = 4096

// Defaults of Options.
const (
	DefaultMaxLine     = 8 << 10
	DefaultMaxRequest  = 64 << 10
	DefaultIdleTimeout = 5 * time.Minute
	DefaultReadTimeout = 10 * time.Second
	DefaultMaxConns    = 1024
)

// Stats are the Server's counters since New.
type Stats struct {
	// Requests is the number of complete requests answered.
	Requests uint64
	// Malformed counts requests holding at least one line without '='.
	Malformed uint64
	// Oversized counts requests with a line over MaxLine or more than
	// MaxRequest bytes.
	Oversized uint64
	// Conns is the number of connections open now.
	Conns int
	// Rejected counts connections closed unanswered because MaxConns were open.
	Rejected uint64
	// Refused counts connections closed unanswered because their client is
	// not in AllowedClients.
	Refused uint64
}

// Server answers policy requests. It is safe for concurrent use; Serve may be
// called once.
type Server struct {
	o    Options
	log  *zap.Logger
	sink Sink

	requests, malformed, oversized, rejected, refused atomic.Uint64
	conns                                             atomic.Int64

	// warnings is shared by every connection so that a flood of bad input from
	// many connections still yields a bounded number of log lines.
	warnings rateLimiter

	// refusedLogged holds the refused client addresses already logged.
	refusedMu     sync.Mutex
	refusedLogged map[netip.Addr]struct{}

	mu       sync.Mutex
	open     map[net.Conn]struct{}
	shutdown bool
	wg       sync.WaitGroup
}

// New builds a Server from o, filling in defaults.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Sink == nil {
		o.Sink = nopSink{}
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.MaxRequest <= 0 {
		o.MaxRequest = DefaultMaxRequest
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if len(o.AllowedClients) == 0 {
		o.AllowedClients = DefaultAllowedClients
	}
	return &Server{
		o:             o,
		log:           o.Log.Named("policy"),
		sink:          o.Sink,
		open:          make(map[net.Conn]struct{}),
		warnings:      rateLimiter{burst: 10, every: time.Second},
		refusedLogged: make(map[netip.Addr]struct{}),
	}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:  s.requests.Load(),
		Malformed: s.malformed.Load(),
		Oversized: s.oversized.Load(),
		Conns:     int(s.conns.Load()),
		Rejected:  s.rejected.Load(),
		Refused:   s.refused.Load(),
	}
}

// Serve accepts on ln until ctx is cancelled or ln fails; it then closes ln and
// every open connection and returns after all connection goroutines ended.
// Returns nil on ctx cancellation.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := make(chan struct{})
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		select {
		case <-ctx.Done():
			// Closing the listener is the only way to interrupt Accept.
			ln.Close()
		case <-stop:
		}
	}()
	err := s.acceptLoop(ctx, ln)
	close(stop)
	<-watcher
	ln.Close()
	s.closeAll()
	s.wg.Wait()
	return err
}

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil //nolint:nilerr // Accept failed because cancelling closed the listener: a clean stop
			}
			if temporary(err) {
				// Out of file descriptors and the like pass; returning would
				// stop answering Postfix for good.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.warn("policy accept failed, retrying", zap.Error(err), zap.Duration("in", backoff))
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("policy accept: %w", err)
		}
		backoff = 0
		if remote := c.RemoteAddr().String(); !s.Allowed(remote) {
			s.refuse(remote)
			c.Close()
			continue
		}
		if s.conns.Load() >= int64(s.o.MaxConns) {
			s.rejected.Add(1)
			s.warn("policy connection rejected: too many connections",
				zap.Stringer("remote", c.RemoteAddr()), zap.Int("max_conns", s.o.MaxConns))
			c.Close()
			continue
		}
		if !s.track(c) {
			c.Close()
			return nil
		}
		s.conns.Add(1)
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// Allowed says whether a client at remote (host:port, as net.Conn's
// RemoteAddr renders it) may use the service. An IPv4-mapped IPv6 address
// counts as its IPv4 address; anything unparsable is refused.
func (s *Server) Allowed(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.o.AllowedClients {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// refuse counts a refused client and logs it the first time its address
// shows up (and within the warning rate limit).
func (s *Server) refuse(remote string) {
	s.refused.Add(1)
	ap, _ := netip.ParseAddrPort(remote)
	addr := ap.Addr().Unmap()
	s.refusedMu.Lock()
	_, seen := s.refusedLogged[addr]
	if !seen && len(s.refusedLogged) < maxRefusedLogged {
		s.refusedLogged[addr] = struct{}{}
	}
	s.refusedMu.Unlock()
	if seen {
		return
	}
	s.warn("policy client not in allowed_clients, connection closed (further ones from this address not logged)",
		zap.String("client", addr.String()), zap.String("fix", "add its network to outbound.policy.allowed_clients if it is your Postfix"))
}

// track registers c so that shutdown can close it; false when shutdown began.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
}

// closeAll closes every open connection, which ends their blocked reads and
// so their goroutines; idle Postfix connections would otherwise keep Serve
// waiting for IdleTimeout.
func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = true
	for c := range s.open {
		c.Close()
	}
}

// temporary reports whether an Accept error is worth retrying.
func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// warn logs a warning unless too many were logged lately; the next warning
// that passes says how many were suppressed.
func (s *Server) warn(msg string, fields ...zap.Field) {
	ok, suppressed := s.warnings.allow(time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed_warnings", suppressed))
	}
	s.log.Warn(msg, fields...)
}

// rateLimiter is a token bucket: burst warnings at once, then one per every.
// A mutex is enough: it is only reached on bad input.
type rateLimiter struct {
	burst int
	every time.Duration

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

func (l *rateLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.tokens = float64(l.burst)
	} else {
		l.tokens = min(float64(l.burst), l.tokens+float64(now.Sub(l.last))/float64(l.every))
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

type nopSink struct{}

func (nopSink) Offer(string) {}
