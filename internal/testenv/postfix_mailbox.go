package testenv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mailbox is a throwaway Postfix (isolated like StartPostfix's, without a
// policy service) that accepts mail from loopback for any recipient at any
// domain and delivers every message to one Maildir, MaildirPath, which Wait
// reads. Options add STARTTLS (and an implicit-TLS listener) with a
// certificate the harness makes, SMTP AUTH, and recipients the server
// refuses.
//
// AUTH: no Cyrus saslauthd or Dovecot is needed. Postfix speaks Dovecot's
// SASL protocol (smtpd_sasl_type = dovecot) to an inet: address; the harness
// answers it itself on a loopback port, for PLAIN and LOGIN and the one
// account given to MailboxAuth, so the test machine needs nothing beyond
// Debian's postfix package.
type Mailbox struct {
	*Postfix
	// SubmissionsAddr is the implicit-TLS ("submissions", port 465 style)
	// listener, 127.0.0.1:PORT; empty without MailboxTLS.
	SubmissionsAddr string
	// CAFile is the PEM certificate of the CA that signed the server's
	// certificate (SANs 127.0.0.1 and localhost); empty without MailboxTLS.
	CAFile string
	// MaildirPath is the Maildir every message is delivered to.
	MaildirPath string
	// Username and Password are the one SMTP AUTH account (MailboxAuth).
	Username, Password string

	mu   sync.Mutex
	seen map[string]bool // Maildir files already returned by Wait
}

// MailboxOption configures StartPostfixMailbox.
type MailboxOption func(*mailboxConfig)

type mailboxConfig struct {
	tls        bool
	user, pass string
	replies    map[string]string
}

// MailboxTLS offers STARTTLS on SMTPAddr and serves implicit TLS on
// SubmissionsAddr, with a server certificate for 127.0.0.1 and localhost
// signed by a CA made for the test (CAFile).
func MailboxTLS() MailboxOption { return func(c *mailboxConfig) { c.tls = true } }

// MailboxAuth requires SMTP AUTH (PLAIN or LOGIN, offered only over TLS) as
// username with password before any recipient is accepted. It implies
// MailboxTLS.
func MailboxAuth(username, password string) MailboxOption {
	return func(c *mailboxConfig) { c.tls, c.user, c.pass = true, username, password }
}

// MailboxRecipientReply makes the server answer RCPT TO:<address> with reply,
// an SMTP code and text such as "550 5.1.1 no such user here" or
// "450 4.2.1 mailbox busy, try later".
func MailboxRecipientReply(address, reply string) MailboxOption {
	return func(c *mailboxConfig) { c.replies[strings.ToLower(address)] = reply }
}

// The mailbox instance: everything in a virtual domain that matches every
// domain (static:all), every recipient mapped to the one Maildir inbox/
// (a trailing slash means Maildir), delivered by the virtual agent as the
// postfix user (it refuses root). Restrictions: recipient replies first, then
// {{PERMIT}} (permit_mynetworks, or permit_sasl_authenticated with AUTH).
const mailboxMainCF = `# Written by internal/testenv.StartPostfixMailbox: a throwaway test instance.
` + baseMainCF + `virtual_mailbox_domains = static:all
virtual_mailbox_base = {{DIR}}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:{{UID}}
virtual_gid_maps = static:{{GID}}
virtual_minimum_uid = 1
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access texthash:{{DIR}}/etc/recipients, {{PERMIT}}, reject
`

const mailboxTLSMainCF = `smtpd_tls_cert_file = {{DIR}}/tls/server.pem
smtpd_tls_key_file = {{DIR}}/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
`

const mailboxAuthMainCF = `smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:{{SASL}}
smtpd_tls_auth_only = yes
smtpd_sasl_security_options = noanonymous
`

// The policy instance's services plus the virtual delivery agent, and with
// TLS tlsmgr and an implicit-TLS listener.
const mailboxMasterCF = `virtual   unix  -       n       n       -       -       virtual
`

const mailboxTLSMasterCF = `127.0.0.1:{{TLSPORT}} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
`

// StartPostfixMailbox starts a mailbox instance for the test and stops it
// in t.Cleanup. It skips or fails the test like StartPostfix when Postfix is
// not available (EnvPostfix unset, or not root).
func StartPostfixMailbox(t testing.TB, opts ...MailboxOption) *Mailbox {
	t.Helper()
	cfg := mailboxConfig{replies: map[string]string{}}
	for _, o := range opts {
		o(&cfg)
	}
	p := newPostfix(t, "StartPostfixMailbox")
	m := &Mailbox{Postfix: p, MaildirPath: filepath.Join(p.Dir, "mail", "inbox"), seen: map[string]bool{}}
	fail := func(err error) {
		t.Helper()
		t.Fatalf("postfix mailbox: %v", err)
	}

	// The virtual agent delivers as the postfix user, which must own the
	// mailbox base.
	uid, gid, err := postfixIDs()
	if err != nil {
		fail(err)
	}
	base := filepath.Join(p.Dir, "mail")
	if err := os.Mkdir(base, 0o755); err != nil {
		fail(err)
	}
	if err := os.Chown(base, uid, gid); err != nil {
		fail(err)
	}
	var recipients strings.Builder
	for addr, reply := range cfg.replies {
		fmt.Fprintf(&recipients, "%s %s\n", addr, reply)
	}
	if err := os.WriteFile(filepath.Join(p.Dir, "etc", "recipients"), []byte(recipients.String()), 0o644); err != nil {
		fail(err)
	}

	mainCF := mailboxMainCF
	permit := "permit_mynetworks"
	if cfg.tls {
		mainCF += mailboxTLSMainCF
		if m.CAFile, err = writeTestCertificates(filepath.Join(p.Dir, "tls")); err != nil {
			fail(err)
		}
	}
	sasl := ""
	if cfg.user != "" {
		m.Username, m.Password = cfg.user, cfg.pass
		srv, err := startDovecotAuth(cfg.user, cfg.pass)
		if err != nil {
			fail(err)
		}
		t.Cleanup(srv.close) // after Postfix's own cleanup, registered later
		sasl = srv.addr()
		mainCF += mailboxAuthMainCF
		permit = "permit_sasl_authenticated"
	}
	mainCF = strings.NewReplacer("{{DIR}}", p.Dir, "{{UID}}", strconv.Itoa(uid), "{{GID}}", strconv.Itoa(gid),
		"{{PERMIT}}", permit, "{{SASL}}", sasl).Replace(mainCF)

	p.masterCF = func(port int) (string, error) {
		master := strings.ReplaceAll(postfixMasterCF, "{{PORT}}", strconv.Itoa(port)) + mailboxMasterCF
		if !cfg.tls {
			return master, nil
		}
		tlsPort, err := freePort()
		if err != nil {
			return "", err
		}
		m.SubmissionsAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
		return master + strings.ReplaceAll(mailboxTLSMasterCF, "{{TLSPORT}}", strconv.Itoa(tlsPort)), nil
	}
	p.startWith(t, mainCF)
	return m
}

// postfixIDs returns the uid and gid of the postfix user.
func postfixIDs() (uid, gid int, err error) {
	u, err := user.Lookup("postfix")
	if err != nil {
		return 0, 0, fmt.Errorf("the postfix user: %w", err)
	}
	if uid, err = strconv.Atoi(u.Uid); err == nil {
		gid, err = strconv.Atoi(u.Gid)
	}
	return uid, gid, err
}

// writeTestCertificates makes a CA and a server certificate for 127.0.0.1
// and localhost in dir (ca.pem, server.pem, server.key) and returns ca.pem's
// path.
func writeTestCertificates(dir string) (string, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dirsync test mail CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	files := []struct {
		name string
		mode os.FileMode
		pem  []byte
	}{
		{"ca.pem", 0o644, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{"server.pem", 0o644, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
		{"server.key", 0o600, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.pem, f.mode); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "ca.pem"), nil
}

// ParsedMessage is one delivered message, decoded.
type ParsedMessage struct {
	// Header holds the message's headers (Postfix's Received,
	// Delivered-To and Return-Path included).
	Header mail.Header
	// Subject is the decoded Subject header.
	Subject string
	// Text and HTML are the decoded text/plain and text/html parts (or
	// the body, when it is not multipart); ContentTypes lists the media
	// types of the leaf parts in order.
	Text, HTML   string
	ContentTypes []string
	// Raw is the message as delivered; File is its Maildir file.
	Raw  []byte
	File string
}

// Wait returns the first message not returned before that was delivered for
// to (its Delivered-To, or an address of its To header), waiting up to
// timeout. It fails the test, with the end of Postfix's log, if none arrives.
func (m *Mailbox) Wait(t testing.TB, to string, timeout time.Duration) *ParsedMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg, err := m.find(to)
		if err != nil {
			t.Fatalf("mailbox %s: %v", m.MaildirPath, err)
		}
		if msg != nil {
			return msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message for %s in %s after %v\n----- %s (end) -----\n%s",
				to, m.MaildirPath, timeout, filepath.Join(m.Dir, "postfix.log"), tail(m.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *Mailbox) find(to string) (*ParsedMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var files []string
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(m.MaildirPath, sub))
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, e := range entries {
			files = append(files, filepath.Join(m.MaildirPath, sub, e.Name()))
		}
	}
	sort.Strings(files) // Maildir names start with the delivery time
	for _, f := range files {
		if m.seen[f] {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		msg, err := ParseMessage(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if msg.deliveredTo(to) {
			m.seen[f] = true
			msg.File = f
			return msg, nil
		}
	}
	return nil, nil
}

func (p *ParsedMessage) deliveredTo(to string) bool {
	if strings.EqualFold(p.Header.Get("Delivered-To"), to) {
		return true
	}
	list, _ := p.Header.AddressList("To")
	for _, a := range list {
		if strings.EqualFold(a.Address, to) {
			return true
		}
	}
	return false
}

// ParseMessage decodes a message with net/mail and mime/multipart: the
// Subject's encoded words, and the text/plain and text/html parts whatever
// their transfer encoding (quoted-printable, base64, 7bit, 8bit).
func ParseMessage(raw []byte) (*ParsedMessage, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	p := &ParsedMessage{Header: msg.Header, Raw: raw}
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	err = p.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return p, err
}

// walk decodes one entity: multipart ones part by part, leaves into Text
// or HTML.
func (p *ParsedMessage) walk(contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			part, err := r.NextPart() // undoes quoted-printable itself
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := p.walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part); err != nil {
				return err
			}
		}
	}
	p.ContentTypes = append(p.ContentTypes, media)
	switch strings.ToLower(encoding) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // skips line breaks
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s part: %w", media, err)
	}
	switch media {
	case "text/plain":
		p.Text += string(b)
	case "text/html":
		p.HTML += string(b)
	}
	return nil
}
