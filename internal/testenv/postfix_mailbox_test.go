package testenv_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
)

const multipartMsg = "From: <sender@example.com>\r\nTo: <%s>\r\nSubject: =?UTF-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"Open https://example.com/register?token=3Dabc&x=3D1 now=\r\n, please.\r\n" +
	"--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"PHA+SGk8L3A+\r\n--b1--\r\n"

// send submits one message with net/smtp: STARTTLS when tlsConf is set,
// AUTH PLAIN when auth is.
func send(addr, to string, tlsConf *tls.Config, auth smtp.Auth) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if tlsConf != nil {
		if err := c.StartTLS(tlsConf); err != nil {
			return err
		}
	}
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.Mail("sender@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(multipartMsg, "%s", to))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestMailboxDeliversAndDecodes(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t, testenv.MailboxRecipientReply("refuse@example.org", "550 5.1.1 no such user here"))
	require.NoError(t, send(mb.SMTPAddr, "anyone@any.example", nil, nil))
	require.NoError(t, send(mb.SMTPAddr, "other@elsewhere.test", nil, nil))
	msg := mb.Wait(t, "other@elsewhere.test", 20*time.Second)
	require.Equal(t, "Grüße", msg.Subject)
	require.Equal(t, "Open https://example.com/register?token=abc&x=1 now, please.", msg.Text)
	require.Equal(t, "<p>Hi</p>", msg.HTML)
	require.Equal(t, []string{"text/plain", "text/html"}, msg.ContentTypes)
	require.Equal(t, "anyone@any.example", mb.Wait(t, "anyone@any.example", 20*time.Second).Header.Get("Delivered-To"))

	err := send(mb.SMTPAddr, "refuse@example.org", nil, nil)
	var te *textproto.Error
	require.True(t, errors.As(err, &te), "%v", err)
	require.Equal(t, 550, te.Code)
	require.Contains(t, te.Msg, "no such user here")
}

func TestMailboxTLSAndAuth(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t, testenv.MailboxAuth("mailer", "s3cret"))
	pem, err := os.ReadFile(mb.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}

	// No AUTH: refused at RCPT.
	err = send(mb.SMTPAddr, "a@example.com", tlsConf, nil)
	require.ErrorContains(t, err, "554")
	// A wrong password, then the right one over PLAIN.
	require.ErrorContains(t, send(mb.SMTPAddr, "a@example.com", tlsConf, smtp.PlainAuth("", "mailer", "wrong", "127.0.0.1")), "535")
	require.NoError(t, send(mb.SMTPAddr, "a@example.com", tlsConf, smtp.PlainAuth("", "mailer", "s3cret", "127.0.0.1")))
	require.Equal(t, "<p>Hi</p>", mb.Wait(t, "a@example.com", 20*time.Second).HTML)

	// Implicit TLS on the submissions listener.
	conn, err := tls.Dial("tcp", mb.SubmissionsAddr, tlsConf)
	require.NoError(t, err)
	c, err := smtp.NewClient(conn, "127.0.0.1")
	require.NoError(t, err)
	require.NoError(t, c.Hello("client.test"))
	ok, mechs := c.Extension("AUTH")
	require.True(t, ok)
	require.Contains(t, mechs, "LOGIN")
	require.NoError(t, c.Quit())
}
