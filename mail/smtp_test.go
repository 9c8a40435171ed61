package mail_test

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/internal/testenv"
	dsmail "github.com/dirsync/dirsync/mail"
)

const (
	smtpUser = "mailer@example.com"
	// A password distinctive enough to find anywhere it leaks.
	smtpPassword = "Pw-7f3c9e-never-log-me"
	longLink     = "https://dirsync.example.com/register/accept?token=Zm9vYmFyYmF6cXV4cXV1eA-_0123456789abcdefghijklmnopqrstuvwxyz&lang=en&next=%2Fconsole%2F"
)

// smtpConfig is the configuration of a sender to addr (a harness's
// host:port) as config.Load would leave it; password "" means no AUTH.
func smtpConfig(t *testing.T, addr, security, caFile, password string) config.SMTP {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	c := config.SMTP{Host: host, Security: security, CAFile: caFile,
		From: "Example directory <dirsync@example.com>", Timeout: 20 * time.Second}
	c.Port, err = strconv.Atoi(port)
	require.NoError(t, err)
	if password != "" {
		f := filepath.Join(t.TempDir(), "smtp-password")
		require.NoError(t, os.WriteFile(f, []byte(password+"\n"), 0o600))
		c.Username = smtpUser
		c.Password, err = config.ParseSecret("file:" + f)
		require.NoError(t, err)
	}
	return c
}

// newSender builds the sender and the observer of its logs (debug and up).
func newSender(t *testing.T, c config.SMTP) (*dsmail.SMTP, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := dsmail.NewSMTP(c, zap.New(core))
	require.NoError(t, err)
	return s, logs
}

func invitation(t *testing.T, to string) dsmail.Message {
	t.Helper()
	tmpls, err := dsmail.NewTemplates("")
	require.NoError(t, err)
	m, err := tmpls.Invitation(dsmail.InvitationData{
		To: to, DisplayName: "Jane Doe", Link: longLink, InvitedBy: "Ada Admin", Organisation: "Example Ltd",
		Expires: time.Date(2030, 5, 17, 14, 30, 0, 0, time.UTC), Roles: []string{"Helpdesk", "Auditor"},
	})
	require.NoError(t, err)
	return m
}

func sendErr(t *testing.T, err error) *dsmail.SendError {
	t.Helper()
	var se *dsmail.SendError
	require.True(t, errors.As(err, &se), "want a *mail.SendError, got %T: %v", err, err)
	return se
}

// requireNoPassword checks an error and every log line for the password.
func requireNoPassword(t *testing.T, err error, logs *observer.ObservedLogs) {
	t.Helper()
	if err != nil {
		require.NotContains(t, err.Error(), smtpPassword)
	}
	for _, e := range logs.All() {
		require.NotContains(t, e.Message, smtpPassword)
		for k, v := range e.ContextMap() {
			require.NotContains(t, k+"="+strings.TrimSpace(toString(v)), smtpPassword)
		}
	}
}

func toString(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func TestSendInvitationOverSTARTTLSWithAuth(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t, testenv.MailboxAuth(smtpUser, smtpPassword))
	s, logs := newSender(t, smtpConfig(t, mb.SMTPAddr, config.SMTPStartTLS, mb.CAFile, smtpPassword))
	require.NoError(t, s.Check(context.Background()))

	m := invitation(t, "Jane Doe <jane.doe@customer.example>")
	require.NoError(t, s.Send(context.Background(), m))
	got := mb.Wait(t, "jane.doe@customer.example", 30*time.Second)

	require.Equal(t, "Ada Admin invited you to register with Example Ltd", got.Subject)
	require.Equal(t, []string{"text/plain", "text/html"}, got.ContentTypes)
	media, _, err := mime.ParseMediaType(got.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", media)
	// The link survives the transfer encoding whole, on its own line.
	require.Contains(t, strings.Split(strings.ReplaceAll(got.Text, "\r\n", "\n"), "\n"), longLink)
	require.Contains(t, got.HTML, `href="`+strings.ReplaceAll(longLink, "&", "&amp;")+`"`)
	require.Contains(t, got.Text, "Ada Admin has invited you")
	require.Contains(t, got.Text, "Friday 17 May 2030, 14:30 UTC")
	require.Contains(t, got.Text, "  - Helpdesk\n  - Auditor")
	require.Contains(t, got.HTML, `<html lang="en">`)

	from, err := mail.ParseAddress(got.Header.Get("From"))
	require.NoError(t, err)
	require.Equal(t, mail.Address{Name: "Example directory", Address: "dirsync@example.com"}, *from)
	to, err := mail.ParseAddress(got.Header.Get("To"))
	require.NoError(t, err)
	require.Equal(t, "jane.doe@customer.example", to.Address)
	date, err := got.Header.Date()
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), date, time.Minute)
	require.Regexp(t, `^<[0-9a-f]{32}@example\.com>$`, got.Header.Get("Message-ID"))
	require.Contains(t, got.Header.Get("Received"), "ESMTPSA", "sent over TLS, authenticated")
	require.Equal(t, "dirsync@example.com", strings.Trim(got.Header.Get("Return-Path"), "<>"))

	sent := logs.FilterMessage("mail sent").All()
	require.Len(t, sent, 1)
	require.Equal(t, got.Header.Get("Message-ID"), sent[0].ContextMap()["message_id"])
	requireNoPassword(t, nil, logs)
}

func TestSendImplicitTLS(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t, testenv.MailboxAuth(smtpUser, smtpPassword))
	s, _ := newSender(t, smtpConfig(t, mb.SubmissionsAddr, config.SMTPTLS, mb.CAFile, smtpPassword))
	require.NoError(t, s.Send(context.Background(), invitation(t, "tls@customer.example")))
	got := mb.Wait(t, "tls@customer.example", 30*time.Second)
	require.Contains(t, got.Header.Get("Received"), "ESMTPSA")
}

func TestSTARTTLSWithoutCAFileIsUntrusted(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t, testenv.MailboxTLS())
	for _, security := range []string{config.SMTPStartTLS, config.SMTPTLS} {
		addr := mb.SMTPAddr
		if security == config.SMTPTLS {
			addr = mb.SubmissionsAddr
		}
		s, _ := newSender(t, smtpConfig(t, addr, security, "", ""))
		err := s.Send(context.Background(), invitation(t, "a@customer.example"))
		se := sendErr(t, err)
		require.Equal(t, dsmail.KindTLS, se.Kind, "%v", err)
		require.False(t, se.Temporary())
		require.ErrorContains(t, err, "smtp "+addr+": ")
		require.ErrorContains(t, err, "certificate")
		require.ErrorContains(t, err, "set mail.smtp.ca_file to the CA certificate that signed it, or fix the server's certificate")
	}
}

func TestSTARTTLSRequired(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t) // no TLS: STARTTLS is not offered
	s, _ := newSender(t, smtpConfig(t, mb.SMTPAddr, config.SMTPStartTLS, "", ""))
	err := s.Check(context.Background())
	se := sendErr(t, err)
	require.Equal(t, dsmail.KindTLS, se.Kind)
	require.Equal(t, "STARTTLS", se.Step)
	require.ErrorContains(t, err, "does not offer STARTTLS")
	require.ErrorContains(t, err, "set mail.smtp.security: tls")
}

func TestRefusedRecipient(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t,
		testenv.MailboxRecipientReply("refuse@customer.example", "550 5.1.1 no such user here"),
		testenv.MailboxRecipientReply("busy@customer.example", "450 4.2.1 mailbox busy, try later"))
	// security none to a loopback relay, which the configuration allows.
	s, _ := newSender(t, smtpConfig(t, mb.SMTPAddr, config.SMTPNone, "", ""))

	err := s.Send(context.Background(), invitation(t, "refuse@customer.example"))
	se := sendErr(t, err)
	require.Equal(t, dsmail.KindRefused, se.Kind)
	require.Equal(t, "RCPT TO", se.Step)
	require.Equal(t, 550, se.Code)
	require.Contains(t, se.Reply, "no such user here")
	require.False(t, se.Temporary(), "a 5xx is final")
	require.ErrorContains(t, err, "smtp "+mb.SMTPAddr+": RCPT TO: refused (550 ")
	require.ErrorContains(t, err, "check the address")

	se = sendErr(t, s.Send(context.Background(), invitation(t, "busy@customer.example")))
	require.Equal(t, dsmail.KindRefused, se.Kind)
	require.Equal(t, 450, se.Code)
	require.True(t, se.Temporary(), "a 4xx may pass later")

	// Everyone else gets through, in clear.
	require.NoError(t, s.Send(context.Background(), invitation(t, "ok@customer.example")))
	require.NotContains(t, mb.Wait(t, "ok@customer.example", 30*time.Second).Header.Get("Received"), "ESMTPS")
}

func TestWrongPasswordNeverShown(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t, testenv.MailboxAuth(smtpUser, "the-right-one"))
	s, logs := newSender(t, smtpConfig(t, mb.SMTPAddr, config.SMTPStartTLS, mb.CAFile, smtpPassword))
	for _, err := range []error{s.Check(context.Background()), s.Send(context.Background(), invitation(t, "a@customer.example"))} {
		se := sendErr(t, err)
		require.Equal(t, dsmail.KindAuth, se.Kind, "%v", err)
		require.Equal(t, 535, se.Code)
		require.False(t, se.Temporary())
		require.ErrorContains(t, err, "check mail.smtp.username and the secret that mail.smtp.password refers to")
		requireNoPassword(t, err, logs)
	}
}

// TestSilentServerTimesOut: a server that accepts the connection and never
// greets ends the send after the timeout, as a temporary failure.
func TestSilentServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c // held open, never written to
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		close(conns)
		for c := range conns {
			_ = c.Close()
		}
	})
	c := smtpConfig(t, ln.Addr().String(), config.SMTPNone, "", "")
	c.Timeout = 700 * time.Millisecond
	s, _ := newSender(t, c)
	start := time.Now()
	err = s.Send(context.Background(), invitation(t, "a@customer.example"))
	elapsed := time.Since(start)
	se := sendErr(t, err)
	require.Equal(t, dsmail.KindTimeout, se.Kind, "%v", err)
	require.Equal(t, "greeting", se.Step)
	require.True(t, se.Temporary())
	require.GreaterOrEqual(t, elapsed, 600*time.Millisecond)
	require.Less(t, elapsed, 3*time.Second)
	require.ErrorContains(t, err, "no answer within 700ms")
	require.ErrorContains(t, err, "raise mail.smtp.timeout")

	// The caller's context ends a send too, and says so.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c.Timeout = time.Minute
	s, _ = newSender(t, c)
	start = time.Now()
	se = sendErr(t, s.Send(ctx, invitation(t, "a@customer.example")))
	require.Less(t, time.Since(start), 3*time.Second)
	require.Equal(t, dsmail.KindCanceled, se.Kind)
	require.ErrorIs(t, se, context.DeadlineExceeded)
}

func TestConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	s, _ := newSender(t, smtpConfig(t, addr, config.SMTPStartTLS, "", ""))
	err = s.Check(context.Background())
	se := sendErr(t, err)
	require.Equal(t, dsmail.KindConnect, se.Kind)
	require.True(t, se.Temporary())
	require.ErrorContains(t, err, "smtp "+addr+": connect: ")
	require.ErrorContains(t, err, "check mail.smtp.host and mail.smtp.port")
}

func TestNewSMTPPasswordSecretMissing(t *testing.T) {
	c := smtpConfig(t, "127.0.0.1:587", config.SMTPStartTLS, "", smtpPassword)
	var err error
	c.Password, err = config.ParseSecret("${DIRSYNC_TEST_UNSET_SMTP_PASSWORD}")
	require.NoError(t, err)
	_, err = dsmail.NewSMTP(c, zap.NewNop())
	require.ErrorContains(t, err, "mail.smtp.password: secret ${DIRSYNC_TEST_UNSET_SMTP_PASSWORD}: environment variable is not set")
}
