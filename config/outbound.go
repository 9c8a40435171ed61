package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Outbound configures how first-time outbound senders are reported and
// created (the HTTP route POST /v1/senders is always served to tokens with
// the senders scope; the policy service and the stream are opt-in).
//
//	outbound:
//	  policy: {listen: "127.0.0.1:10040"}   # Postfix submission: check_policy_service inet:127.0.0.1:10040
//	  stream: {enabled: true}               # XADD dirsync:senders * sender alice@example.com
//	  rate_limit: {per_domain: 100, period: 1h}
type Outbound struct {
	Policy    OutboundPolicy `yaml:"policy"`
	Stream    OutboundStream `yaml:"stream"`
	RateLimit OutboundRate   `yaml:"rate_limit"`
	// SeenSize bounds the set of known senders kept in memory and in Redis
	// (default 100000); SeenTTL is how long an entry counts (default 24h).
	SeenSize int           `yaml:"seen_size"`
	SeenTTL  time.Duration `yaml:"seen_ttl"`
	// Workers settle the policy service's unknown senders from a queue of Queue
	// entries (defaults 4 and 10000); a full queue drops a sender until its next message.
	Workers int `yaml:"workers"`
	Queue   int `yaml:"queue"`
}

// OutboundPolicy is the Postfix policy-delegation service. It belongs on the
// submission service (port 587), where the senders are your own users, not on
// the inbound smtpd, where anyone on the internet picks the sender.
type OutboundPolicy struct {
	// Listen is host:port; empty turns the service off.
	Listen string `yaml:"listen"`
	// AllowedClients are the networks (CIDR, or a single address) whose
	// connections are served; default loopback only (127.0.0.0/8 and ::1).
	// Any other client is closed unanswered: whoever reaches the service can
	// make dirsync create users.
	AllowedClients []string `yaml:"allowed_clients"`
	// RequireSASLUsername offers a sender only when the request carries a
	// sasl_username (an authenticated submission).
	RequireSASLUsername bool `yaml:"require_sasl_username"`
}

// Clients returns AllowedClients as prefixes (a single address as a /32 or
// /128); nil when none are set, which means the default, loopback only.
func (p OutboundPolicy) Clients() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range p.AllowedClients {
		c = strings.TrimSpace(c)
		if pr, err := netip.ParsePrefix(c); err == nil {
			out = append(out, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(c)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address, e.g. 10.0.0.0/8 or 192.0.2.25", c)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// OutboundStream is the Redis stream the gateway may write senders to; it
// needs the redis state backend (the stream lives in the same Redis).
type OutboundStream struct {
	Enabled bool `yaml:"enabled"`
	// Name of the stream (default dirsync:senders) and of the consumer group
	// shared by the replicas (default dirsync).
	Name  string `yaml:"name"`
	Group string `yaml:"group"`
	// ClaimIdle: entries another replica read but did not acknowledge for this
	// long are taken over (default 1m).
	ClaimIdle time.Duration `yaml:"claim_idle"`
}

// OutboundRate bounds creations per internal domain: at most PerDomain in
// any Period (default 100 per 1h); per_domain: 0 turns the limit off.
type OutboundRate struct {
	PerDomain int           `yaml:"per_domain"`
	Period    time.Duration `yaml:"period"`
}

func defaultOutbound() Outbound {
	return Outbound{
		Stream:    OutboundStream{Name: "dirsync:senders", Group: "dirsync", ClaimIdle: time.Minute},
		RateLimit: OutboundRate{PerDomain: 100, Period: time.Hour},
		SeenSize:  100_000, SeenTTL: 24 * time.Hour, Workers: 4, Queue: 10_000,
	}
}

func (o Outbound) validate(stateBackend string) []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Path: "outbound." + key, Message: fmt.Sprintf(format, args...)})
	}
	if l := o.Policy.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			add("policy.listen", "%q is not host:port, e.g. 127.0.0.1:10040", l)
		}
	}
	for i, c := range o.Policy.AllowedClients {
		if _, err := (OutboundPolicy{AllowedClients: []string{c}}).Clients(); err != nil {
			add(fmt.Sprintf("policy.allowed_clients[%d]", i), "%s", err)
		}
	}
	if o.Stream.Enabled {
		if !stateBackends[stateBackend].streams {
			add("stream.enabled", "the sender stream lives in the state's Redis: set state.backend: redis, or use outbound.policy or POST /v1/senders")
		}
		if o.Stream.Name == "" {
			add("stream.name", "missing: the stream's key, e.g. dirsync:senders")
		}
		if o.Stream.Group == "" {
			add("stream.group", "missing: the consumer group's name, e.g. dirsync")
		}
		if o.Stream.ClaimIdle < time.Second {
			add("stream.claim_idle", "%s is too short: use at least 1s (entries a live replica is still handling would be taken over)", o.Stream.ClaimIdle)
		}
	}
	if o.RateLimit.PerDomain < 0 {
		add("rate_limit.per_domain", "%d: must not be negative (0 turns the limit off)", o.RateLimit.PerDomain)
	}
	if o.RateLimit.Period <= 0 {
		add("rate_limit.period", "must be positive, e.g. 1h")
	}
	if o.SeenSize < 1 {
		add("seen_size", "%d: must be at least 1", o.SeenSize)
	}
	if o.SeenTTL <= 0 {
		add("seen_ttl", "must be positive, e.g. 24h")
	}
	if o.Workers < 1 || o.Workers > 64 {
		add("workers", "%d is out of range: use 1 to 64", o.Workers)
	}
	if o.Queue < 1 {
		add("queue", "%d: must be at least 1", o.Queue)
	}
	return probs
}
