package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
)

// SMTP sends mail through one SMTP server. It holds no connection: each Send
// and Check dials, talks and quits, which suits the rare mail dirsync sends.
// It is safe for concurrent use.
type SMTP struct {
	addr     string // host:port
	host     string
	security string
	tls      *tls.Config
	user     string
	pass     string
	from     *mail.Address
	domain   string // from's domain, for Message-IDs
	helo     string
	timeout  time.Duration
	secrets  []string
	log      *zap.Logger
}

var _ Sender = (*SMTP)(nil)

// NewSMTP builds the sender of c, a validated config.SMTP (config.Load
// validated and defaulted it): it reads the password's secret and the CA
// file, so a missing secret or an unreadable CA is reported now rather than
// at the first send.
func NewSMTP(c config.SMTP, log *zap.Logger) (*SMTP, error) {
	if !c.Enabled() {
		return nil, errors.New("mail.smtp.host is not set: email is disabled")
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("mail.smtp.from %q: %w", c.From, err)
	}
	s := &SMTP{
		addr: c.Addr(), host: c.Host, security: c.Security, user: c.Username, from: from,
		domain: from.Address[strings.LastIndexByte(from.Address, '@')+1:], timeout: c.Timeout,
		log: log.Named("mail").With(zap.String("smtp", c.Addr())),
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	switch c.Security {
	case config.SMTPStartTLS, config.SMTPTLS, config.SMTPNone:
	default:
		return nil, fmt.Errorf("mail.smtp.security %q: use starttls, tls or none", c.Security)
	}
	if c.Username != "" {
		if c.Security == config.SMTPNone {
			return nil, errors.New("mail.smtp.username: SMTP AUTH needs security starttls or tls")
		}
		if s.pass, err = c.Password.Value(); err != nil {
			return nil, fmt.Errorf("mail.smtp.password: %w", err)
		}
		// The password as typed, and as AUTH PLAIN and LOGIN encode it.
		s.secrets = []string{s.pass, base64.StdEncoding.EncodeToString([]byte(s.pass)),
			base64.StdEncoding.EncodeToString([]byte("\x00" + s.user + "\x00" + s.pass))}
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mail.smtp.ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mail.smtp.ca_file %s: no PEM certificate in it", c.CAFile)
		}
	}
	serverName := c.ServerName
	if serverName == "" {
		serverName = c.Host
	}
	s.tls = &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	// EHLO names this machine; a bare "localhost" makes some servers
	// suspicious.
	if s.helo, err = os.Hostname(); err != nil || s.helo == "" {
		s.helo = "localhost"
	}
	return s, nil
}

// Send submits m: MAIL FROM the configured sender, RCPT TO m.To, and a
// multipart/alternative message (text, then HTML) with Date, Message-ID,
// From, To and Subject. The whole send, connect included, is bounded by
// mail.smtp.timeout and by ctx.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail to %q: %w", m.To, err)
	}
	if m.Text == "" {
		return fmt.Errorf("mail to %s: the message has no text", to.Address)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return fmt.Errorf("mail to %s: the subject holds a line break", to.Address)
	}
	msg, id, err := s.compose(to, m)
	if err != nil {
		return fmt.Errorf("mail to %s: %w", to.Address, err)
	}
	err = s.session(ctx, func(ss *session) error {
		// SMTPUTF8 only when an address needs it: a server may refuse it.
		ss.c.SkipSMTPUTF8(isASCII(s.from.Address) && isASCII(to.Address))
		ss.step = "MAIL FROM"
		if err := ss.c.Mail(s.from.Address); err != nil {
			return err
		}
		ss.step = "RCPT TO"
		if err := ss.c.Rcpt(to.Address); err != nil {
			return err
		}
		ss.step = "DATA"
		w, err := ss.c.Data()
		if err != nil {
			return err
		}
		if _, err := msg.WriteTo(w); err != nil {
			return err
		}
		return w.Close()
	})
	if err != nil {
		return err
	}
	s.log.Info("mail sent", zap.String("to", to.Address), zap.String("message_id", id))
	return nil
}

// compose builds the message with go-mail and returns it with its
// Message-ID.
func (s *SMTP) compose(to *mail.Address, m Message) (*gomail.Msg, string, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetDateWithValue(time.Now())
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, "", err
	}
	id := hex.EncodeToString(rnd[:]) + "@" + s.domain
	msg.SetMessageIDWithValue(id)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, "<" + id + ">", nil
}

// Check connects, greets, sets up TLS and authenticates as a send would,
// then quits without sending: `dirsync config check` proves with it that the
// settings work.
func (s *SMTP) Check(ctx context.Context) error {
	return s.session(ctx, nil)
}

// session is one SMTP conversation in progress; step names what it is
// doing, for the error.
type session struct {
	c    *smtp.Client
	step string
}

// session dials, upgrades to TLS, authenticates, runs fn (if any) and quits,
// all within the timeout. Any failure is returned as a *SendError.
func (s *SMTP) session(parent context.Context, fn func(*session) error) error {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	ss := &session{step: "connect"}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return s.fail(ctx, parent, ss.step, err)
	}
	defer func() { _ = raw.Close() }()
	// The deadline bounds every read and write; closing the connection when
	// ctx ends also covers a caller's cancel.
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()

	conn := raw
	if s.security == config.SMTPTLS {
		ss.step = "TLS handshake"
		tc := tls.Client(raw, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return s.fail(ctx, parent, ss.step, err)
		}
		conn = tc
	}
	ss.step = "greeting"
	if ss.c, err = smtp.NewClient(conn, s.host); err != nil {
		return s.fail(ctx, parent, ss.step, err)
	}
	if err := s.open(ss); err != nil {
		return s.fail(ctx, parent, ss.step, err)
	}
	if fn != nil {
		if err := fn(ss); err != nil {
			return s.fail(ctx, parent, ss.step, err)
		}
	}
	ss.step = "QUIT"
	if err := ss.c.Quit(); err != nil {
		if fn != nil {
			// The message was accepted at the end of DATA: it is sent.
			s.log.Debug("QUIT after a sent message", zap.Error(s.fail(ctx, parent, ss.step, err)))
			return nil
		}
		return s.fail(ctx, parent, ss.step, err)
	}
	return nil
}

// errNoSTARTTLS and errNoAuth are the steps' own refusals.
var (
	errNoSTARTTLS = errors.New("the server does not offer STARTTLS")
	errNoAuth     = errors.New("the server offers no AUTH mechanism dirsync speaks (PLAIN or LOGIN)")
	errAuthClear  = errors.New("not sending the password over a connection without TLS")
)

// open runs EHLO, STARTTLS and AUTH as configured.
func (s *SMTP) open(ss *session) error {
	ss.step = "EHLO"
	if err := ss.c.Hello(s.helo); err != nil {
		return err
	}
	if s.security == config.SMTPStartTLS {
		ss.step = "STARTTLS"
		if ok, _ := ss.c.Extension("STARTTLS"); !ok {
			return errNoSTARTTLS
		}
		if err := ss.c.StartTLS(s.tls); err != nil {
			return err
		}
	}
	if s.user == "" {
		return nil
	}
	ss.step = "AUTH"
	if _, ok := ss.c.TLSConnectionState(); !ok {
		return errAuthClear
	}
	ok, list := ss.c.Extension("AUTH")
	mechs := strings.Fields(strings.ToUpper(list))
	switch {
	case ok && slices.Contains(mechs, "PLAIN"):
		return ss.c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host, false))
	case ok && slices.Contains(mechs, "LOGIN"):
		return ss.c.Auth(smtp.LoginAuth(s.user, s.pass, s.host, false))
	default:
		return fmt.Errorf("%w; it offers %q", errNoAuth, list)
	}
}

// fail turns err, met at step, into a *SendError with its kind and fix.
func (s *SMTP) fail(ctx, parent context.Context, step string, err error) *SendError {
	e := &SendError{Addr: s.addr, Step: step, Err: err, secrets: s.secrets}
	var reply *textproto.Error
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	// The connection's deadline may fire a moment before the caller's
	// context reports its own, equal, deadline as passed.
	callerErr := parent.Err()
	if d, ok := parent.Deadline(); ok && callerErr == nil && !time.Now().Before(d) {
		callerErr = context.DeadlineExceeded
	}
	switch {
	case callerErr != nil:
		e.Kind, e.Err = KindCanceled, callerErr
		e.Fix = "the caller gave up (shutdown, or its own deadline passed)"
	case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		e.Kind, e.Err = KindTimeout, fmt.Errorf("no answer within %s", s.timeout)
		e.Fix = "check that " + s.addr + " is an SMTP server reachable from here, and that mail.smtp.security matches the port " +
			"(tls on a STARTTLS port, or starttls on an implicit-TLS port, waits for ever), or raise mail.smtp.timeout"
	case errors.As(err, &reply):
		e.Code, e.Reply = reply.Code, reply.Msg
		switch step {
		case "AUTH":
			e.Kind, e.Fix = KindAuth, "check mail.smtp.username and the secret that mail.smtp.password refers to"
		case "STARTTLS":
			e.Kind, e.Fix = KindTLS, "the server refused STARTTLS: fix its TLS setup, or set mail.smtp.security: tls if the port expects TLS from the start"
		default:
			e.Kind = KindRefused
			e.Fix = refusedFix(step, reply.Code)
		}
	case errors.Is(err, errNoSTARTTLS):
		e.Kind = KindTLS
		e.Fix = "set mail.smtp.security: tls if " + s.addr + " expects TLS from the start (port 465), or enable STARTTLS on the server; dirsync never falls back to clear text"
	case step == "AUTH":
		e.Kind = KindAuth
		e.Fix = "remove mail.smtp.username if the server needs no AUTH, or enable AUTH PLAIN or LOGIN over TLS on the server"
	case errors.As(err, &hostErr):
		e.Kind = KindTLS
		e.Fix = "set mail.smtp.server_name to a name the server's certificate holds, or fix the server's certificate"
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &invalid):
		e.Kind = KindTLS
		e.Fix = "the server's certificate is not trusted: set mail.smtp.ca_file to the CA certificate that signed it, or fix the server's certificate"
	case step == "TLS handshake" || step == "STARTTLS":
		e.Kind = KindTLS
		e.Fix = "check that " + s.addr + " speaks TLS (mail.smtp.security: tls on an implicit-TLS port such as 465, starttls on 587), or set mail.smtp.ca_file to the CA that signed its certificate"
	case step == "connect":
		e.Kind = KindConnect
		e.Fix = "check mail.smtp.host and mail.smtp.port, and that the server is up and reachable from here"
	default:
		e.Kind = KindConnect
		e.Fix = "the server closed the connection: check its log, and that mail.smtp.security matches the port"
	}
	return e
}

// refusedFix says what to do about an error reply at step.
func refusedFix(step string, code int) string {
	if code >= 400 && code < 500 {
		return "a temporary refusal: the send may be retried later"
	}
	switch step {
	case "RCPT TO":
		return "the server refused the recipient: check the address, or that the server relays to its domain for this sender"
	case "MAIL FROM":
		return "the server refused the sender: set mail.smtp.from to an address this server (and account) may send as"
	case "DATA":
		return "the server refused the message: check its log for the reason (size, content or policy)"
	default:
		return "the server refused the connection: check its log, and that this machine may submit mail to it"
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
