package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"

	goldap "github.com/go-ldap/ldap/v3"
)

// resolver looks a host name up (net.DefaultResolver; a fake in tests).
type resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// dcPin is the one address every connection of a run dials. A host name such as
// example.com resolves to every DC of the domain, and uSNCreated ranges (the
// partitions of a parallel read) and highestCommittedUSN (usn mode) belong to
// one DC: searches spread over several DCs would skip users, whom the next run
// would then disable. So a run resolves the name once, dials the addresses in
// turn until one answers, and sends every later connection there. TLS still
// checks the certificate against the configured name.
type dcPin struct {
	mu   sync.Mutex
	addr string // host:port once pinned
}

// pinned returns a copy of s whose connections all go to one server address.
// Each run (and each lookup or check) takes its own: the next run resolves
// again, so a DC taken out of DNS stops being used.
func (s *source) pinned() *source {
	cfg := *s.cfg
	cfg.pin = &dcPin{}
	return &source{cfg: &cfg, log: s.log}
}

// hostPort is the URL's host and port (389 or 636 when the URL has none).
func (c *Config) hostPort() (string, string, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", "", fmt.Errorf("url: %w", err)
	}
	port := u.Port()
	if port == "" {
		port = goldap.DefaultLdapPort
		if u.Scheme == "ldaps" {
			port = goldap.DefaultLdapsPort
		}
	}
	return u.Hostname(), port, nil
}

// dial connects to the pinned address; the first connection of a run resolves
// the host and pins the first address that answers. Without a pin (p nil) the
// host name is dialled as it is.
func (p *dcPin) dial(ctx context.Context, c *Config, tc *tls.Config, tap *entryTap) (*goldap.Conn, error) {
	host, port, err := c.hostPort()
	if err != nil {
		return nil, err
	}
	if p == nil {
		return c.dial(ctx, net.JoinHostPort(host, port), tc, tap)
	}
	p.mu.Lock()
	if addr := p.addr; addr != "" {
		p.mu.Unlock()
		return c.dial(ctx, addr, tc, tap)
	}
	// Hold the lock while choosing: parallel searches starting together must
	// wait for the choice rather than each make their own.
	defer p.mu.Unlock()
	ips := []string{host}
	if net.ParseIP(host) == nil {
		r := c.resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if ips, err = r.LookupHost(ctx, host); err != nil {
			return nil, goldap.NewError(goldap.ErrorNetwork, fmt.Errorf("resolve %s: %w", host, err))
		}
		if len(ips) == 0 {
			return nil, goldap.NewError(goldap.ErrorNetwork, fmt.Errorf("resolve %s: no address", host))
		}
	}
	var errs []error
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, port)
		conn, err := c.dial(ctx, addr, tc, tap)
		if err == nil {
			p.addr = addr
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, fmt.Errorf("none of the %d addresses of %s answered: %w", len(ips), host, errors.Join(errs...))
}
