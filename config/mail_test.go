package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

func parseMail(t *testing.T, dir, mail string) (*config.Config, error) {
	t.Helper()
	raw := "mail: " + mail + "\nserver: {public_url: https://dirsync.example.com}\nconnectors: [{name: a, type: file, config: {path: a.ldif}}]\n"
	return config.Parse([]byte(raw), dir, "t.yaml", registry.Builtin())
}

// writeCA writes a self-signed CA certificate as PEM.
func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
}

func TestMailDisabledByDefault(t *testing.T) {
	cfg, err := parseMail(t, t.TempDir(), "{}")
	require.NoError(t, err)
	require.False(t, cfg.Mail.SMTP.Enabled())
	require.Equal(t, config.SMTP{Security: "starttls", Timeout: 30 * time.Second}, cfg.Mail.SMTP)

	// Without a host nothing else is checked: email is off.
	_, err = parseMail(t, t.TempDir(), "{smtp: {security: bogus, from: not-an-address}}")
	require.NoError(t, err)
}

func TestMailDefaultsAndPaths(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, filepath.Join(dir, "ca.pem"))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "templates"), 0o755))
	cfg, err := parseMail(t, dir, `{templates_dir: templates, smtp: {host: smtp.example.com, ca_file: ca.pem,
  username: dirsync, password: "file:smtp-password", from: "Example directory <dirsync@example.com>"}}`)
	require.NoError(t, err)
	s := cfg.Mail.SMTP
	require.Equal(t, 587, s.Port, "starttls's port")
	require.Equal(t, "smtp.example.com:587", s.Addr())
	require.Equal(t, filepath.Join(dir, "ca.pem"), s.CAFile, "relative to the config file")
	require.Equal(t, filepath.Join(dir, "templates"), cfg.Mail.TemplatesDir)
	require.Equal(t, "file:"+filepath.Join(dir, "smtp-password"), s.Password.String())
	require.Equal(t, 30*time.Second, s.Timeout)

	for security, port := range map[string]int{"tls": 465, "none": 25} {
		cfg, err := parseMail(t, dir, `{smtp: {host: 127.0.0.1, security: `+security+`, from: a@example.com}}`)
		require.NoError(t, err)
		require.Equal(t, port, cfg.Mail.SMTP.Port, security)
	}
	cfg, err = parseMail(t, dir, `{smtp: {host: localhost, port: 2525, security: none, from: a@example.com, timeout: 5s}}`)
	require.NoError(t, err)
	require.Equal(t, 2525, cfg.Mail.SMTP.Port)
	require.Equal(t, 5*time.Second, cfg.Mail.SMTP.Timeout)
}

func TestMailProblems(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "not-a-ca.pem"), []byte("hello\n"), 0o600))
	for _, tc := range []struct {
		name, mail string
		want       []string
	}{
		{"from missing", `{smtp: {host: smtp.example.com}}`,
			[]string{`mail.smtp.from: missing: the sender address`}},
		{"from invalid", `{smtp: {host: smtp.example.com, from: "dirsync at example.com"}}`,
			[]string{`mail.smtp.from: "dirsync at example.com" is not an email address`}},
		{"security unknown", `{smtp: {host: smtp.example.com, from: a@example.com, security: ssl}}`,
			[]string{`mail.smtp.security: "ssl" is not a security mode: use starttls (port 587), tls (implicit TLS, port 465) or none`}},
		{"none off loopback", `{smtp: {host: 192.0.2.10, from: a@example.com, security: none}}`,
			[]string{`mail.smtp.security: none sends mail in clear, so it is only allowed to a loopback host, and "192.0.2.10" listens on a non-loopback address: use security: starttls (port 587) or tls (port 465)`}},
		{"auth in clear", `{smtp: {host: 127.0.0.1, from: a@example.com, security: none, username: u, password: "${P}"}}`,
			[]string{`mail.smtp.username: SMTP AUTH with security: none would send the password in clear`}},
		{"password missing", `{smtp: {host: smtp.example.com, from: a@example.com, username: u}}`,
			[]string{`mail.smtp.password: missing: username is set`}},
		{"username missing", `{smtp: {host: smtp.example.com, from: a@example.com, password: "${P}"}}`,
			[]string{`mail.smtp.username: missing: password is set`}},
		{"host with port", `{smtp: {host: "smtp.example.com:587", from: a@example.com}}`,
			[]string{`mail.smtp.host: "smtp.example.com:587" is not a host name or IP address: write the name alone`}},
		{"port", `{smtp: {host: smtp.example.com, port: 70000, from: a@example.com}}`,
			[]string{`mail.smtp.port: 70000 is not a TCP port`}},
		{"timeout", `{smtp: {host: smtp.example.com, from: a@example.com, timeout: 0s}}`,
			[]string{`mail.smtp.timeout: 0s: use a positive duration`}},
		{"ca_file missing", `{smtp: {host: smtp.example.com, from: a@example.com, ca_file: nope.pem}}`,
			[]string{`mail.smtp.ca_file: open ` + filepath.Join(dir, "nope.pem") + `: no such file or directory: give a readable PEM file`}},
		{"ca_file without certificate", `{smtp: {host: smtp.example.com, from: a@example.com, ca_file: not-a-ca.pem}}`,
			[]string{`mail.smtp.ca_file: ` + filepath.Join(dir, "not-a-ca.pem") + ` holds no PEM certificate`}},
		{"templates_dir missing", `{templates_dir: nope, smtp: {host: smtp.example.com, from: a@example.com}}`,
			[]string{`mail.templates_dir: ` + filepath.Join(dir, "nope") + ` is not a readable folder`}},
		{"several at once", `{smtp: {host: smtp.example.com, security: ssl, timeout: -1s}}`,
			[]string{`mail.smtp.security:`, `mail.smtp.from: missing`, `mail.smtp.timeout:`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseMail(t, dir, tc.mail)
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestMailInlinePasswordRefused(t *testing.T) {
	_, err := parseMail(t, t.TempDir(), `{smtp: {host: smtp.example.com, from: a@example.com, username: u, password: hunter2-secret}}`)
	require.ErrorContains(t, err, config.ErrInlineSecret.Error())
	require.NotContains(t, err.Error(), "hunter2-secret")
}

func TestServerPublicURL(t *testing.T) {
	for _, tc := range []struct {
		in, want, problem string
	}{
		{in: "https://dirsync.example.com", want: "https://dirsync.example.com"},
		{in: "https://dirsync.example.com/", want: "https://dirsync.example.com"},
		{in: "http://127.0.0.1:8080/dirsync//", want: "http://127.0.0.1:8080/dirsync"},
		{in: "dirsync.example.com", problem: `"dirsync.example.com" is not an absolute http or https URL`},
		{in: "ftp://dirsync.example.com", problem: `is not an absolute http or https URL`},
		{in: "https://", problem: `is not an absolute http or https URL`},
		{in: "https://dirsync.example.com/?a=b", problem: `holds a user, query or fragment`},
		{in: "https://dirsync.example.com/#top", problem: `holds a user, query or fragment`},
		{in: "https://admin:s3cret-pw@dirsync.example.com", problem: `holds a user, query or fragment`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			cfg, err := config.Parse([]byte(`server: {public_url: "`+tc.in+`"}
connectors: [{name: a, type: file, config: {path: a.ldif}}]
`), t.TempDir(), "t.yaml", registry.Builtin())
			if tc.problem != "" {
				require.ErrorContains(t, err, "server.public_url: ")
				require.ErrorContains(t, err, tc.problem)
				require.NotContains(t, err.Error(), "s3cret-pw", "a password in the URL is never echoed")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, cfg.Server.PublicURL)
		})
	}
}

// TestMailNeedsPublicURL: an invitation email links to the console, so
// mail.smtp without server.public_url is refused with the fix.
func TestMailNeedsPublicURL(t *testing.T) {
	raw := "mail: {smtp: {host: smtp.example.com, from: dirsync@example.com}}\nconnectors: [{name: a, type: file, config: {path: a.ldif}}]\n"
	_, err := config.Parse([]byte(raw), t.TempDir(), "t.yaml", registry.Builtin())
	require.ErrorContains(t, err, "server.public_url: required with mail.smtp")
}
