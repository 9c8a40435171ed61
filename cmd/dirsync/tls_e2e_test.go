package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCert is a self-signed certificate for 127.0.0.1 and its key, as PEM.
type testCert struct {
	serial    int64
	cert, key []byte
	parsed    *x509.Certificate
}

func newTestCert(t *testing.T, serial int64, notAfter time.Time) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("dirsync test %d", serial)},
		NotBefore:             time.Now().Add(-2 * time.Hour),
		NotAfter:              notAfter,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true, // self-signed: it is its own trust anchor
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	parsed, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return testCert{serial: serial, parsed: parsed,
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})}
}

// TestServeTLSAndCertificateReload runs `dirsync serve` over HTTPS on every
// interface (allowed: TLS is on), with a real TLS client: the certificate is
// served, a SIGHUP swaps in a renewed one without a restart, and a broken or
// expired renewal is refused while the current certificate stays. A client
// that never finishes its headers is cut off by server.timeouts.read_header.
func TestServeTLSAndCertificateReload(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hr.ldif"), []byte(corpLDIF("ann")), 0o644))
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	install := func(c testCert) {
		t.Helper()
		require.NoError(t, os.WriteFile(certFile, c.cert, 0o644))
		require.NoError(t, os.WriteFile(keyFile, c.key, 0o600))
	}
	first := newTestCert(t, 1, time.Now().Add(24*time.Hour))
	second := newTestCert(t, 2, time.Now().Add(48*time.Hour))
	expired := newTestCert(t, 3, time.Now().Add(-time.Hour))
	install(first)

	_, port, err := net.SplitHostPort(freePort(t))
	require.NoError(t, err)
	cfg := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info, format: json}
state: {path: data/state.db}
store: {path: data/dirsync.db}
server:
  listen: "0.0.0.0:%s"
  tls: {cert_file: tls.crt, key_file: tls.key}
  timeouts: {read_header: 500ms}
domains: [example.com]
connectors:
  - {name: hr, type: file, schedule: "@every 1h", config: {path: hr.ldif, preset: openldap}}
`, port)), 0o644))
	addr := "127.0.0.1:" + port
	d := startServe(t, addr, cfg)

	roots := x509.NewCertPool()
	for _, c := range []testCert{first, second, expired} {
		roots.AddCert(c.parsed)
	}
	// served says which certificate a new connection gets (0: no TLS answer).
	served := func() int64 {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
		if err != nil {
			return 0
		}
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	require.Eventually(t, func() bool { return served() == 1 }, 30*time.Second, 50*time.Millisecond, "HTTPS with the first certificate")

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}}
	resp, err := client.Get("https://" + addr + "/readyz")
	require.NoError(t, err)
	var ready map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ready))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok", ready["status"])
	resp, err = http.Get("http://" + addr + "/readyz")
	if err == nil {
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP is not served")
	}

	hup := func() { t.Helper(); require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP)) }

	// A renewal: SIGHUP, and new connections get it.
	install(second)
	hup()
	require.Eventually(t, func() bool { return served() == 2 }, 10*time.Second, 50*time.Millisecond, "the renewed certificate after SIGHUP")
	require.NotEmpty(t, logsOf(d.logs, "TLS certificate reloaded"))

	// A half-written renewal (a key that does not match) and an expired one
	// are refused; the second certificate stays.
	require.NoError(t, os.WriteFile(keyFile, first.key, 0o600))
	hup()
	require.Eventually(t, func() bool { return len(logsOf(d.logs, "TLS certificate reload rejected")) == 1 }, 10*time.Second, 50*time.Millisecond)
	require.Contains(t, logsOf(d.logs, "TLS certificate reload rejected")[0]["error"], "the current one stays")
	require.Equal(t, int64(2), served())
	install(expired)
	hup()
	require.Eventually(t, func() bool { return len(logsOf(d.logs, "TLS certificate reload rejected")) == 2 }, 10*time.Second, 50*time.Millisecond)
	require.Contains(t, logsOf(d.logs, "TLS certificate reload rejected")[1]["error"], "expired on")
	require.Equal(t, int64(2), served())

	// Slow loris: headers begun and never finished. The server hangs up after
	// read_header (500ms), well before the test's own limit.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: dirsync\r\nX-Slow: ")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	got, err := io.ReadAll(conn)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept the connection open for 10s")
	require.Less(t, time.Since(start), 5*time.Second)
	// Go answers 408 or just closes; either way no request was served.
	require.False(t, strings.Contains(string(got), "200 OK"), "answer: %q", got)
}
