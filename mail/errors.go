package mail

import (
	"fmt"
	"strings"
)

// Kind classifies a send failure.
type Kind string

// The kinds of SendError.
const (
	// KindRefused: the server answered with an error reply (4xx or 5xx),
	// kept in Code and Reply.
	KindRefused Kind = "refused"
	// KindTimeout: no answer within mail.smtp.timeout.
	KindTimeout Kind = "timeout"
	// KindTLS: no TLS: the handshake failed, the certificate is not
	// trusted or not for this host, or STARTTLS is not offered.
	KindTLS Kind = "tls"
	// KindAuth: SMTP AUTH failed or is not possible.
	KindAuth Kind = "auth"
	// KindConnect: the server could not be reached, or dropped the
	// connection.
	KindConnect Kind = "connect"
	// KindCanceled: the caller's context was canceled.
	KindCanceled Kind = "canceled"
)

// SendError is a failed send or check. Its message names the server
// (host:port), the step, the problem and the fix.
type SendError struct {
	Kind Kind
	// Addr is the server, host:port.
	Addr string
	// Step is the SMTP step that failed: connect, TLS handshake, greeting,
	// EHLO, STARTTLS, AUTH, MAIL FROM, RCPT TO, DATA, QUIT.
	Step string
	// Code and Reply are the server's reply (KindRefused, and KindAuth when
	// the server answered); 0 and "" otherwise.
	Code  int
	Reply string
	// Fix says what to do about it.
	Fix string
	// Err is the underlying error.
	Err error

	// secrets are scrubbed from Error's text (the password, in every form
	// it crossed the wire in).
	secrets []string
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "smtp %s: %s: ", e.Addr, e.Step)
	switch {
	case e.Code != 0:
		fmt.Fprintf(&b, "%s (%d %s)", e.Kind, e.Code, e.Reply)
	case e.Err != nil:
		fmt.Fprintf(&b, "%s: %v", e.Kind, e.Err)
	default:
		b.WriteString(string(e.Kind))
	}
	if e.Fix != "" {
		b.WriteString(": " + e.Fix)
	}
	s := b.String()
	for _, secret := range e.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Temporary reports whether the same send may succeed later: a 4xx reply, a
// timeout, an unreachable server, a canceled context. A 5xx reply, a TLS or
// an AUTH failure need a change first.
func (e *SendError) Temporary() bool {
	switch e.Kind {
	case KindRefused:
		return e.Code >= 400 && e.Code < 500
	case KindTimeout, KindConnect, KindCanceled:
		return true
	default:
		return false
	}
}
