package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Login bounds the public sign-in routes (/v1/auth/login, /password,
// /register), which need no token. Each attempt costs an argon2id run (64 MiB
// for its duration), so without these limits a few hundred attempts at once
// exhaust the daemon's memory. Every key is optional; zero takes the default.
//
//	server:
//	  login:
//	    max_concurrent_verifications: 0  # argon2 runs at once; 0 = one per CPU, at most 4
//	    max_waiting: 64                  # attempts waiting for a run; more are answered 503
//	    max_wait: 2s                     # longest wait for a run, then 503
//	    per_client_rate: 30              # attempts per minute per client address
//	    per_client_burst: 10
//	    per_account_rate: 10             # attempts per minute per address signed in to
//	    per_account_burst: 10
//	    tracked: 10000                   # client addresses and accounts remembered, each
//	    trusted_proxies: []              # CIDRs whose X-Forwarded-For names the client
type Login struct {
	// MaxConcurrentVerifications is how many argon2 hashes or verifications
	// run at once (0: one per CPU, at most 4, i.e. 256 MiB at the default cost).
	MaxConcurrentVerifications int `yaml:"max_concurrent_verifications"`
	// MaxWaiting is how many sign-in attempts may wait for a free run.
	MaxWaiting int `yaml:"max_waiting"`
	// MaxWait is how long one waits before it is answered 503.
	MaxWait time.Duration `yaml:"max_wait"`
	// PerClientRate and PerClientBurst: attempts per minute, and at once, from
	// one client address (an IPv6 client is its /64).
	PerClientRate  float64 `yaml:"per_client_rate"`
	PerClientBurst int     `yaml:"per_client_burst"`
	// PerAccountRate and PerAccountBurst: attempts per minute, and at once, on
	// one address, whether or not it exists (so the limit reveals nothing).
	PerAccountRate  float64 `yaml:"per_account_rate"`
	PerAccountBurst int     `yaml:"per_account_burst"`
	// Tracked bounds each limiter table: the least recently seen client or
	// account is forgotten first.
	Tracked int `yaml:"tracked"`
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For header is believed; from anyone else the header is
	// ignored and the connection's address is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Defaults of Login's keys.
const (
	DefaultLoginMaxWaiting      = 64
	DefaultLoginMaxWait         = 2 * time.Second
	DefaultLoginPerClientRate   = 30
	DefaultLoginPerClientBurst  = 10
	DefaultLoginPerAccountRate  = 10
	DefaultLoginPerAccountBurst = 10
	DefaultLoginTracked         = 10000
)

// WithDefaults returns l with every zero key set to its default
// (MaxConcurrentVerifications stays 0: the API sizes it to the machine).
func (l Login) WithDefaults() Login {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&l.MaxWaiting, DefaultLoginMaxWaiting)
	set(&l.PerClientBurst, DefaultLoginPerClientBurst)
	set(&l.PerAccountBurst, DefaultLoginPerAccountBurst)
	set(&l.Tracked, DefaultLoginTracked)
	if l.MaxWait == 0 {
		l.MaxWait = DefaultLoginMaxWait
	}
	if l.PerClientRate == 0 {
		l.PerClientRate = DefaultLoginPerClientRate
	}
	if l.PerAccountRate == 0 {
		l.PerAccountRate = DefaultLoginPerAccountRate
	}
	return l
}

// Proxies parses TrustedProxies (validate has refused bad ones).
func (l Login) Proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range l.TrustedProxies {
		if pfx, err := parsePrefix(p); err == nil {
			out = append(out, pfx)
		}
	}
	return out
}

// parsePrefix reads a CIDR, or a lone address as its own /32 or /128.
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

func (l Login) validate() []Problem {
	const path = "server.login."
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Path: path + key, Message: fmt.Sprintf(format, args...)})
	}
	if l.MaxConcurrentVerifications < 0 || l.MaxConcurrentVerifications > 64 {
		add("max_concurrent_verifications", "%d is out of range: use 1 to 64, or 0 for one per CPU (at most 4); "+
			"each run takes 64 MiB, so keep runs × 64 MiB well under the memory limit", l.MaxConcurrentVerifications)
	}
	if l.MaxWaiting < 0 {
		add("max_waiting", "%d: must not be negative (0 takes the default, %d)", l.MaxWaiting, DefaultLoginMaxWaiting)
	}
	if l.MaxWait < 0 || l.MaxWait > time.Minute {
		add("max_wait", "%s is out of range: use up to 1m, such as 2s (0 takes the default)", l.MaxWait)
	}
	for _, r := range []struct {
		key  string
		rate float64
	}{{"per_client_rate", l.PerClientRate}, {"per_account_rate", l.PerAccountRate}} {
		if r.rate < 0 {
			add(r.key, "%g: must not be negative; write attempts per minute, such as 30 (0 takes the default)", r.rate)
		}
	}
	for _, b := range []struct {
		key   string
		burst int
	}{{"per_client_burst", l.PerClientBurst}, {"per_account_burst", l.PerAccountBurst}} {
		if b.burst < 0 {
			add(b.key, "%d: must not be negative (0 takes the default)", b.burst)
		}
	}
	if l.Tracked < 0 || (l.Tracked > 0 && l.Tracked < 100) || l.Tracked > 10_000_000 {
		add("tracked", "%d is out of range: use 100 to 10000000 (0 takes the default, %d)", l.Tracked, DefaultLoginTracked)
	}
	for i, p := range l.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an address or CIDR: write it like 10.0.0.0/8 or 192.0.2.7", p)
		}
	}
	return probs
}
