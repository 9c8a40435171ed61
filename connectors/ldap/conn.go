package ldap

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// tlsConfig builds the client TLS settings: the CA file when set (else the system
// roots) and the server name from server_name or the URL.
func (c *Config) tlsConfig() (*tls.Config, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // an explicit, logged choice
	if c.ServerName != "" {
		tc.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// connect dials, secures and binds one connection: to the run's pinned address
// when there is one (see pinned), else to the URL's host.
func (c *Config) connect(ctx context.Context) (*goldap.Conn, error) {
	return c.connectTap(ctx, nil)
}

// connectTapped is connect with an entryTap under go-ldap (see entrytap.go):
// for the searches of a full read.
func (c *Config) connectTapped(ctx context.Context) (*tappedConn, error) {
	tap := &entryTap{byID: map[int64]*entryQueue{}}
	conn, err := c.connectTap(ctx, tap)
	if err != nil {
		return nil, err
	}
	return &tappedConn{Conn: conn, tap: tap}, nil
}

// connectTap is connect; with a tap, dial puts it between go-ldap and the
// connection (after TLS, so StartTLS happens in dial too).
func (c *Config) connectTap(ctx context.Context, tap *entryTap) (*goldap.Conn, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	conn, err := c.pin.dial(ctx, c, tc, tap)
	if err != nil {
		var st startTLSError
		if errors.As(err, &st) {
			return nil, c.explain("start TLS with", st.err)
		}
		return nil, c.explain("connect to", err)
	}
	conn.SetTimeout(c.Timeout)
	if c.StartTLS && tap == nil {
		if err := conn.StartTLS(tc); err != nil {
			conn.Close()
			return nil, c.explain("start TLS with", err)
		}
	}
	if c.BindDN != "" {
		pw, err := c.BindPassword.Value()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("bind_password: %w", err)
		}
		if err := conn.Bind(c.BindDN, pw); err != nil {
			conn.Close()
			return nil, c.explain("bind to", err)
		}
	}
	return conn, nil
}

// dial opens the TCP connection to addr (host:port) and, for ldaps://, the TLS
// session, checked against the URL's host name (tc.ServerName), not addr.
// Errors are LDAP network errors, as goldap.DialURL returns them. With a tap,
// StartTLS (when configured) happens here, and the tap wraps the secured stream.
func (c *Config) dial(ctx context.Context, addr string, tc *tls.Config, tap *entryTap) (*goldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	dial := c.dialer
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, goldap.NewError(goldap.ErrorNetwork, err)
	}
	ldaps := strings.HasPrefix(c.URL, "ldaps://")
	if ldaps {
		tconn := tls.Client(raw, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, goldap.NewError(goldap.ErrorNetwork, err)
		}
		raw = tconn
	}
	if tap != nil {
		if c.StartTLS && !ldaps {
			tconn, err := startTLS(raw, tc, c.Timeout)
			if err != nil {
				raw.Close()
				return nil, startTLSError{err}
			}
			raw, ldaps = tconn, true
		}
		tap.Conn, tap.in = raw, bufio.NewReaderSize(raw, tapBufferSize)
		raw = tap
	}
	conn := goldap.NewConn(raw, ldaps)
	conn.Start()
	return conn, nil
}

// startTLSError marks a StartTLS failure in dial, for explain.
type startTLSError struct{ err error }

func (e startTLSError) Error() string { return e.err.Error() }
func (e startTLSError) Unwrap() error { return e.err }

// startTLS is goldap.Conn.StartTLS on a connection go-ldap does not own yet: the
// extended request, its result (errors as go-ldap returns them), the handshake.
func startTLS(raw net.Conn, tc *tls.Config, timeout time.Duration) (net.Conn, error) {
	if timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(timeout))
		defer func() { _ = raw.SetDeadline(time.Time{}) }()
	}
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	packet.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "MessageID"))
	request := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationExtendedRequest, nil, "Start TLS")
	request.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", "TLS Extended Command"))
	packet.AppendChild(request)
	if _, err := raw.Write(packet.Bytes()); err != nil {
		return nil, goldap.NewError(goldap.ErrorNetwork, err)
	}
	resp, err := ber.ReadPacket(raw) // reads exactly the response: TLS starts right after it
	if err != nil {
		return nil, goldap.NewError(goldap.ErrorNetwork, err)
	}
	if err := goldap.GetLDAPError(resp); err != nil {
		return nil, err
	}
	tconn := tls.Client(raw, tc)
	if err := tconn.Handshake(); err != nil {
		return nil, goldap.NewError(goldap.ErrorNetwork, fmt.Errorf("TLS handshake failed (%w)", err))
	}
	return tconn, nil
}

// explain turns a connection, TLS or bind error into one that says which it was and
// what to change. It never includes the password.
func (c *Config) explain(op string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   *tls.CertificateVerificationError
		recErr    tls.RecordHeaderError
		opErr     *net.OpError
	)
	hint := ""
	switch {
	case errors.As(err, &unknownCA):
		hint = "certificate signed by unknown authority: set ca_file to the CA that signed the server's certificate"
	case errors.As(err, &hostErr):
		hint = fmt.Sprintf("the server certificate is not valid for %q: set server_name to a name the certificate holds, or use that name in url", hostErr.Host)
	case errors.As(err, &certErr):
		hint = "the server certificate did not verify: check ca_file and the certificate's dates"
	case errors.As(err, &recErr), op == "connect to" && strings.HasPrefix(c.URL, "ldaps://") && errors.Is(err, io.EOF):
		hint = "the server did not answer TLS: use ldap:// with start_tls: true, or the LDAPS port (636)"
	case goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials):
		hint = "invalid credentials: check bind_dn and the password behind bind_password (and that the account is enabled and not locked)"
	case goldap.IsErrorWithCode(err, goldap.LDAPResultStrongAuthRequired), goldap.IsErrorWithCode(err, goldap.LDAPResultConfidentialityRequired):
		hint = "the server refuses simple binds without TLS: use ldaps:// or start_tls: true"
	case goldap.IsErrorWithCode(err, goldap.LDAPResultProtocolError) && op == "start TLS with":
		hint = "the server does not offer StartTLS: use ldaps://"
	case errors.As(err, &opErr):
		hint = "the server cannot be reached: check url (host and port), DNS and firewalls"
	}
	if hint != "" {
		return fmt.Errorf("%s %s: %s: %w", op, c.URL, hint, err)
	}
	return fmt.Errorf("%s %s: %w", op, c.URL, err)
}
