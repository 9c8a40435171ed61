package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mail configures the email dirsync sends (registration invitations). With
// no smtp.host, no email is sent and nothing else here is checked.
//
//	mail:
//	  smtp:
//	    host: smtp.example.com
//	    port: 587                     # default: 587 for starttls, 465 for tls, 25 for none
//	    security: starttls            # starttls (default) | tls | none (loopback hosts only)
//	    ca_file: /etc/dirsync/smtp-ca.pem   # added to the system's CAs
//	    username: dirsync@example.com
//	    password: ${DIRSYNC_SMTP_PASSWORD}
//	    from: "Example directory <dirsync@example.com>"
//	    timeout: 30s
//	  templates_dir: /etc/dirsync/mail-templates   # files here replace the built-in templates by name
type Mail struct {
	SMTP SMTP `yaml:"smtp"`
	// TemplatesDir holds templates that override the built-in ones file by
	// file (invitation.subject.txt, invitation.txt, invitation.html).
	// Relative to the config file's folder.
	TemplatesDir string `yaml:"templates_dir"`
}

// SMTP security modes (SMTP.Security).
const (
	// SMTPStartTLS: plain connection upgraded with STARTTLS, which the server
	// must offer (no fallback to clear text).
	SMTPStartTLS = "starttls"
	// SMTPTLS: TLS from the first byte (implicit TLS, "submissions", port 465).
	SMTPTLS = "tls"
	// SMTPNone: no TLS at all; only allowed to a loopback host (a local relay).
	SMTPNone = "none"
)

// SMTP is the mail submission server. Certificates are always verified,
// against the system's CAs plus CAFile: there is no switch to skip it.
type SMTP struct {
	// Host is the server's name or IP address, without a port. Empty: email
	// is disabled.
	Host string `yaml:"host"`
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int `yaml:"port"`
	// Security is starttls (default), tls or none.
	Security string `yaml:"security"`
	// CAFile is a PEM bundle trusted in addition to the system's CAs
	// (relative to the config file's folder).
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name the server's certificate must hold
	// (default: Host).
	ServerName string `yaml:"server_name"`
	// Username turns SMTP AUTH on; Password is its secret reference.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// From is the sender, an RFC 5322 address that may carry a display name:
	// "Example directory <dirsync@example.com>".
	From string `yaml:"from"`
	// Timeout bounds one whole send: connect, TLS, AUTH and the message
	// (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// Enabled reports whether email is configured.
func (s SMTP) Enabled() bool { return s.Host != "" }

// Addr is host:port, as dialled.
func (s SMTP) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

func defaultMail() Mail {
	return Mail{SMTP: SMTP{Security: SMTPStartTLS, Timeout: 30 * time.Second}}
}

// defaultSMTPPort is the port each security mode is usually served on.
var defaultSMTPPort = map[string]int{SMTPStartTLS: 587, SMTPTLS: 465, SMTPNone: 25}

// prepare defaults the port, makes paths absolute against dir and validates.
// It runs from Config.validate, before Parse resolves the other sections'
// paths, so it resolves its own.
func (m *Mail) prepare(dir string) []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Path: "mail." + key, Message: fmt.Sprintf(format, args...)})
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	s := &m.SMTP
	s.CAFile, m.TemplatesDir = abs(s.CAFile), abs(m.TemplatesDir)
	s.Password.ResolvePath(dir)
	if !s.Enabled() {
		return nil
	}
	if m.TemplatesDir != "" {
		if fi, err := os.Stat(m.TemplatesDir); err != nil || !fi.IsDir() {
			add("templates_dir", "%s is not a readable folder: create it, or remove templates_dir to use the built-in templates", m.TemplatesDir)
		}
	}
	if strings.ContainsAny(s.Host, "/: ") && net.ParseIP(s.Host) == nil {
		add("smtp.host", "%q is not a host name or IP address: write the name alone (smtp.example.com) and the port under port", s.Host)
	}
	port, known := defaultSMTPPort[s.Security]
	if !known {
		add("smtp.security", "%q is not a security mode: use starttls (port 587), tls (implicit TLS, port 465) or none (loopback relay only)", s.Security)
	}
	if s.Port == 0 {
		s.Port = port
	}
	if s.Port < 1 || s.Port > 65535 {
		add("smtp.port", "%d is not a TCP port: use 1 to 65535, or leave it out for the security mode's usual port", s.Port)
	}
	if s.Security == SMTPNone {
		if why := notLoopback(s.Host); why != "" {
			add("smtp.security", "none sends mail in clear, so it is only allowed to a loopback host, and %q %s: "+
				"use security: starttls (port 587) or tls (port 465)", s.Host, why)
		}
		if s.Username != "" {
			add("smtp.username", "SMTP AUTH with security: none would send the password in clear: use security: starttls or tls")
		}
	}
	if s.CAFile != "" {
		if pem, err := os.ReadFile(s.CAFile); err != nil {
			add("smtp.ca_file", "%v: give a readable PEM file of CA certificates", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			add("smtp.ca_file", "%s holds no PEM certificate: give the CA certificate(s) that signed the server's certificate", s.CAFile)
		}
	}
	switch {
	case s.Username != "" && !s.Password.IsSet():
		add("smtp.password", "missing: username is set, so give the password as ${ENV_VAR}, file:PATH or credential:NAME")
	case s.Username == "" && s.Password.IsSet():
		add("smtp.username", "missing: password is set, so give the account it belongs to (or remove password to send without AUTH)")
	}
	if s.From == "" {
		add("smtp.from", "missing: the sender address, such as \"Example directory <dirsync@example.com>\"")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		add("smtp.from", "%q is not an email address (%v): write dirsync@example.com or \"Display name <dirsync@example.com>\"", s.From, err)
	}
	if s.Timeout <= 0 {
		add("smtp.timeout", "%s: use a positive duration such as 30s (it bounds a whole send)", s.Timeout)
	}
	return probs
}
