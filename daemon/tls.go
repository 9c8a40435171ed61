package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
)

// serverCert is the admin listener's certificate. The handshake reads it
// through GetCertificate, so a SIGHUP can swap in a renewed one without
// dropping the listener or the connections already open.
type serverCert struct {
	certFile, keyFile string
	log               *zap.Logger
	cur               atomic.Pointer[tls.Certificate]
}

// loadServerCert reads the configured pair once; a pair that does not load
// stops the start.
func loadServerCert(c config.ServerTLS, log *zap.Logger) (*serverCert, error) {
	sc := &serverCert{certFile: c.CertFile, keyFile: c.KeyFile, log: log}
	cert, err := sc.read()
	if err != nil {
		return nil, err
	}
	sc.cur.Store(cert)
	sc.logLoaded("TLS certificate loaded", cert)
	return sc, nil
}

// read loads and checks the pair without installing it.
func (sc *serverCert) read() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(sc.certFile, sc.keyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: load cert_file %s and key_file %s: %w (both must be PEM, the key matching the certificate)",
			sc.certFile, sc.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("server.tls: cert_file %s: %w", sc.certFile, err)
		}
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("server.tls: cert_file %s expired on %s: install a renewed certificate",
			sc.certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// Reload reads the files again. A pair that does not load (half-written by a
// renewal, a key that does not match, an expired certificate) leaves the
// current certificate in place; the error says why.
func (sc *serverCert) Reload() error {
	cert, err := sc.read()
	if err != nil {
		return fmt.Errorf("TLS certificate not reloaded, the current one stays: %w", err)
	}
	sc.cur.Store(cert)
	sc.logLoaded("TLS certificate reloaded", cert)
	return nil
}

func (sc *serverCert) logLoaded(msg string, cert *tls.Certificate) {
	sc.log.Info(msg, zap.String("cert_file", sc.certFile), zap.String("subject", cert.Leaf.Subject.String()),
		zap.Strings("dns_names", cert.Leaf.DNSNames), zap.Time("not_after", cert.Leaf.NotAfter))
}

// TLSConfig serves the current certificate, TLS 1.2 or later.
func (sc *serverCert) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := sc.cur.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("no certificate loaded")
		},
	}
}
