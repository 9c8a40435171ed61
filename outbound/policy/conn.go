package policy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// answer is the only thing the server ever says.
const answer = "action=DUNNO\n\n"

// transport is what a connection needs from net.Conn; the fuzz test supplies
// an in-memory one.
type transport interface {
	io.Reader
	io.Writer
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// conn is the state of one client connection, reused from request to request
// so that a request costs no allocation beyond the sender string handed to
// the Sink.
type conn struct {
	s      *Server
	t      transport
	remote string
	br     *bufio.Reader
	bw     *bufio.Writer
	sender []byte
	// last is the last sender offered: Postfix asks once per recipient, so
	// consecutive requests often share the sender and its string.
	last string

	// Deadlines are refreshed coarsely (see refresh): setting one per request
	// cost a sixth of the server's CPU time.
	now              time.Time // taken once per request
	readDL, writeDL  time.Time // the deadlines set on t
	inRequest, timed bool      // reading a request; its ReadTimeout deadline is set

	warnedMalformed, warnedOversized bool
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer s.conns.Add(-1)
	defer s.untrack(c)
	defer c.Close()
	cn := s.newConn(c, c.RemoteAddr().String())
	cn.serve()
}

func (s *Server) newConn(t transport, remote string) *conn {
	cn := &conn{s: s, t: t, remote: remote, sender: make([]byte, 0, 64)}
	cn.bw = bufio.NewWriterSize(t, 512)
	// The read buffer holds a whole line of MaxLine bytes plus "\r\n", so a
	// line that fills it is known to be oversized.
	cn.br = bufio.NewReaderSize(flushReader{cn}, s.o.MaxLine+2)
	return cn
}

// refresh moves a deadline dl (set at *cur) to at least now+d. It sets it
// d/8 further than needed so that it is set again only after d/8 has passed,
// not on every request: timeouts thus fire between d and 9d/8 after the
// fact.
func refresh(set func(time.Time) error, cur *time.Time, now time.Time, d time.Duration) {
	if now.Add(d).After(*cur) {
		*cur = now.Add(d + d/8)
		// A connection that takes no deadline is closed: its next read or
		// write says so.
		_ = set(*cur)
	}
}

// flushReader is the reader under bufio.Reader, so it runs exactly when the
// server needs more input. It flushes pending answers first: answers are
// thus written once per batch of pipelined requests that arrived together,
// yet always before the server waits for more input, so a client waiting for
// an answer never waits on our buffer. And it bounds a request by
// ReadTimeout only when the request did not arrive whole, Postfix's usual
// case being one write per request.
type flushReader struct{ c *conn }

func (f flushReader) Read(p []byte) (int, error) {
	c := f.c
	if c.bw.Buffered() > 0 {
		refresh(c.t.SetWriteDeadline, &c.writeDL, c.now, c.s.o.ReadTimeout)
		if err := c.bw.Flush(); err != nil {
			return 0, err
		}
	}
	if c.inRequest && !c.timed {
		c.timed = true
		c.readDL = time.Now().Add(c.s.o.ReadTimeout)
		_ = c.t.SetReadDeadline(c.readDL) // as in refresh: the Read below reports a dead connection
	}
	return c.t.Read(p)
}

// serve answers requests until the client leaves, times out or sends a
// request it does not finish.
func (c *conn) serve() {
	defer func() {
		// A bug of ours costs this connection, never the process; Postfix
		// reconnects.
		if r := recover(); r != nil {
			c.s.log.Error("policy connection panicked", zap.String("remote", c.remote),
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	s := c.s
	for {
		c.now = time.Now()
		if c.timed {
			// The last request's ReadTimeout deadline is too near for idling.
			c.readDL, c.timed = time.Time{}, false
		}
		refresh(c.t.SetReadDeadline, &c.readDL, c.now, s.o.IdleTimeout)
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				c.end(err, "between requests")
				return
			}
		}
		c.inRequest = true
		if err := c.request(); err != nil {
			c.end(err, "mid-request")
			return
		}
		c.inRequest = false
		_, _ = c.bw.WriteString(answer) // bufio errors stick: the next Flush reports them
	}
}

// end logs why the connection ends. Clients leaving and idle timeouts are
// routine (debug); a client stalling mid-request is worth a warning.
func (c *conn) end(err error, where string) {
	if where == "mid-request" && errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.warn("policy client stalled mid-request, closing",
			zap.String("remote", c.remote), zap.Duration("read_timeout", c.s.o.ReadTimeout))
	} else if ce := c.s.log.Check(zap.DebugLevel, "policy connection closed"); ce != nil {
		ce.Write(zap.String("remote", c.remote), zap.String("when", where), zap.Error(err))
	}
	// Answers to complete requests read before a client's half-close are
	// still owed.
	if c.bw.Buffered() > 0 {
		// Best effort: the connection is ending and its error is logged above.
		_ = c.t.SetWriteDeadline(time.Now().Add(c.s.o.ReadTimeout))
		_ = c.bw.Flush()
	}
}

// request reads one request up to its empty line, offers its sender and
// counts it. Its error is the read error that cut it short.
func (c *conn) request() error {
	s := c.s
	var (
		size                 int
		hasSender, otherType bool
		hasSASL              bool
		malformed, oversized bool
	)
	c.sender = c.sender[:0]
	for {
		line, err := c.br.ReadSlice('\n')
		size += len(line)
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than MaxLine: skip to its end without keeping it.
			oversized = true
			c.warnOversized("line over max_line", line)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = c.br.ReadSlice('\n')
				size += len(line)
			}
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			break
		}
		if len(line) > s.o.MaxLine {
			// A line that fitted the buffer with its terminator to spare.
			oversized = true
			c.warnOversized("line over max_line", line)
			continue
		}
		if size > s.o.MaxRequest {
			// The rest is read and dropped, up to the empty line, so the
			// connection stays in step with the client.
			oversized = true
			c.warnOversized("request over max_request", line)
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			malformed = true
			c.warnMalformed(line)
			continue
		}
		// string(...) in a switch does not allocate.
		switch string(line[:eq]) {
		case "sender":
			c.sender = append(c.sender[:0], line[eq+1:]...)
			hasSender = true
		case "request":
			otherType = string(line[eq+1:]) != "smtpd_access_policy"
		case "sasl_username":
			hasSASL = eq+1 < len(line)
		}
	}
	s.requests.Add(1)
	if malformed {
		s.malformed.Add(1)
	}
	if oversized {
		s.oversized.Add(1)
	}
	switch {
	case malformed || oversized:
		// Postfix never sends such a request: its sender is not worth
		// trusting, and the answer is DUNNO all the same.
		c.debug("policy request damaged, sender not offered", hasSender)
	case otherType:
		c.debug("policy request of another type, sender not offered", hasSender)
	case s.o.RequireSASLUsername && !hasSASL:
		// Only authenticated submission creates users when so configured.
		c.debug("policy request without sasl_username, sender not offered", hasSender)
	case len(c.sender) == 0:
		// Bounces have the null sender; a missing one is treated alike.
		c.debug("policy request without sender, not offered", hasSender)
	default:
		c.offer()
	}
	return nil
}

// offer hands the sender to the Sink. A panicking Sink must not cost Postfix
// its answer, hence the recover here rather than only per connection.
func (c *conn) offer() {
	defer func() {
		if r := recover(); r != nil {
			c.s.log.Error("policy sink panicked", zap.String("remote", c.remote),
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	sender := c.last
	if string(c.sender) != sender {
		sender = string(c.sender)
		c.last = sender
	}
	if ce := c.s.log.Check(zap.DebugLevel, "policy request"); ce != nil {
		ce.Write(zap.String("remote", c.remote), zap.String("sender", sender))
	}
	c.s.sink.Offer(sender)
}

func (c *conn) debug(msg string, hasSender bool) {
	if ce := c.s.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(zap.String("remote", c.remote), zap.Bool("has_sender", hasSender),
			zap.ByteString("sender", c.sender))
	}
}

// warnMalformed and warnOversized log once per connection: a client sending
// garbage would otherwise log a line per request.
func (c *conn) warnMalformed(line []byte) {
	if c.warnedMalformed {
		return
	}
	c.warnedMalformed = true
	c.s.warn("policy request line without '=', answering DUNNO (further ones on this connection not logged)",
		zap.String("remote", c.remote), zap.String("line", quote(line)))
}

func (c *conn) warnOversized(what string, line []byte) {
	if c.warnedOversized {
		return
	}
	c.warnedOversized = true
	c.s.warn("policy "+what+", rest dropped, answering DUNNO (further ones on this connection not logged)",
		zap.String("remote", c.remote), zap.Int("max_line", c.s.o.MaxLine),
		zap.Int("max_request", c.s.o.MaxRequest), zap.String("start", quote(line)))
}

// quote renders the first 64 bytes of a bad line like %q, so binary bytes
// stay readable and cannot forge log lines.
func quote(line []byte) string {
	return strconv.Quote(string(line[:min(len(line), 64)]))
}
