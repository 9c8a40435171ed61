package config

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ServerTLS serves the admin listener over HTTPS. Both files are PEM; they are
// read at start and again on every SIGHUP, so a renewed certificate needs no
// restart.
//
//	server:
//	  listen: 0.0.0.0:8443
//	  tls: {cert_file: /etc/dirsync/tls/tls.crt, key_file: /etc/dirsync/tls/tls.key}
type ServerTLS struct {
	CertFile string `yaml:"cert_file"` // the certificate, followed by its intermediates
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether TLS was asked for.
func (t ServerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// ServerTimeouts bound each connection of the admin listener, so a client that
// sends slowly (or never finishes its headers) cannot hold connections open.
// A sync trigger that waits for its runs lifts the write timeout for itself.
//
//	server:
//	  timeouts: {read_header: 10s, read: 1m, write: 2m, idle: 2m}
type ServerTimeouts struct {
	ReadHeader time.Duration `yaml:"read_header"` // request line and headers
	Read       time.Duration `yaml:"read"`        // the whole request, body included
	Write      time.Duration `yaml:"write"`       // from the end of the headers to the end of the answer
	Idle       time.Duration `yaml:"idle"`        // a kept-alive connection between requests
}

func defaultServerTimeouts() ServerTimeouts {
	return ServerTimeouts{ReadHeader: 10 * time.Second, Read: time.Minute, Write: 2 * time.Minute, Idle: 2 * time.Minute}
}

// Console configures the admin console the daemon serves under /console/ on
// its listener. Sessions are kept in the store, so every replica shares them.
//
//	server:
//	  console:
//	    idle_timeout: 30m      # a session unused this long ends
//	    absolute_timeout: 12h  # every session ends this long after sign-in
type Console struct {
	// Disabled: no console; /console/ answers 404 and / is not redirected.
	Disabled        bool          `yaml:"disabled"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	AbsoluteTimeout time.Duration `yaml:"absolute_timeout"`
}

func defaultConsole() Console {
	return Console{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour}
}

// lookupTimeout bounds the name resolution of a listen host that is neither
// an IP address nor localhost.
const lookupTimeout = 3 * time.Second

// validate checks the listener's settings. server.public_url is the address
// users open dirsync at, from which the links in email (invitations) are
// built: an absolute http(s) URL, optionally with a path, without query or
// fragment. validate trims its trailing slash, so a link is PublicURL+"/path".
//
//	server: {public_url: "https://dirsync.example.com"}
func (s *Server) validate() []Problem {
	var probs []Problem
	add := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if s.PublicURL != "" {
		s.PublicURL = strings.TrimRight(s.PublicURL, "/")
		u, err := url.Parse(s.PublicURL)
		shown := "the value" // unparsable: it might hold a password
		if err == nil {
			shown = strconv.Quote(u.Redacted())
		}
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
			add("server.public_url", "%s is not an absolute http or https URL: write the address users open, such as https://dirsync.example.com", shown)
		case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s.PublicURL, "#"):
			add("server.public_url", "%s holds a user, query or fragment: give only scheme, host and optional path, such as https://example.com/dirsync", shown)
		}
	}
	if s.TLS.Enabled() {
		if s.TLS.CertFile == "" {
			add("server.tls.cert_file", "missing: the PEM certificate that goes with key_file")
		}
		if s.TLS.KeyFile == "" {
			add("server.tls.key_file", "missing: the PEM private key that goes with cert_file")
		}
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{
		{"read_header", s.Timeouts.ReadHeader}, {"read", s.Timeouts.Read},
		{"write", s.Timeouts.Write}, {"idle", s.Timeouts.Idle},
	} {
		if t.d <= 0 {
			add("server.timeouts."+t.key, "%s: use a positive duration such as 30s (none at all would let a slow client hold a connection forever)", t.d)
		}
	}
	if c := s.Console; !c.Disabled {
		if c.IdleTimeout <= 0 {
			add("server.console.idle_timeout", "%s: use a positive duration such as 30m (a session unused this long ends)", c.IdleTimeout)
		}
		if c.AbsoluteTimeout < c.IdleTimeout {
			add("server.console.absolute_timeout", "%s is shorter than idle_timeout %s: use a longer duration such as 12h", c.AbsoluteTimeout, c.IdleTimeout)
		}
	}
	if s.Listen == "" {
		add("server.listen", "missing: an address such as 127.0.0.1:8080")
		return probs
	}
	host, _, err := net.SplitHostPort(s.Listen)
	if err != nil {
		add("server.listen", "%q is not host:port (e.g. 127.0.0.1:8080)", s.Listen)
		return probs
	}
	if s.TLS.Enabled() || s.TLSTerminatedByProxy {
		return probs
	}
	if why := notLoopback(host); why != "" {
		add("server.listen", "%q %s, and the admin API's tokens and passwords must not cross the network in clear: "+
			"set server.tls.cert_file and server.tls.key_file to serve HTTPS, "+
			"or, if a TLS-terminating proxy is in front of dirsync, set server.tls_terminated_by_proxy: true "+
			"(or listen on 127.0.0.1)", s.Listen, why)
	}
	return probs
}

// notLoopback says why host accepts connections from other machines, or ""
// when it only listens on loopback. A host name counts as loopback only when
// every address it resolves to is.
func notLoopback(host string) string {
	if host == "" {
		return "listens on every interface"
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		switch {
		case ip.IsUnspecified():
			return "listens on every interface"
		case !ip.IsLoopback():
			return "listens on a non-loopback address"
		}
		return ""
	}
	// RFC 6761: localhost and its subdomains are always loopback.
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return "is a host name that does not resolve, so it cannot be shown to be loopback only"
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip == nil || !ip.IsLoopback() {
			return fmt.Sprintf("is a host name resolving to %s, not only to loopback", a)
		}
	}
	return ""
}
