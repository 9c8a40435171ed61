package ldap

import (
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
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	conn, err := c.pin.dial(ctx, c, tc)
	if err != nil {
		return nil, c.explain("connect to", err)
	}
	conn.SetTimeout(c.Timeout)
	if c.StartTLS {
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
// Errors are LDAP network errors, as goldap.DialURL returns them.
func (c *Config) dial(ctx context.Context, addr string, tc *tls.Config) (*goldap.Conn, error) {
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
	conn := goldap.NewConn(raw, ldaps)
	conn.Start()
	return conn, nil
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
