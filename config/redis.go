package config

import (
	"fmt"
	"net"
	"time"
)

// Redis is the connection of the redis state backend. One address is a
// standalone server, several a Cluster; with master_name the addresses are
// Sentinels.
type Redis struct {
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name"`
	Username   string   `yaml:"username"`
	// Password is a secret reference (${ENV_VAR} or file:PATH), never the value.
	Password Secret    `yaml:"password"`
	DB       int       `yaml:"db"`
	TLS      *RedisTLS `yaml:"tls"`
	// Timeout bounds dialling and each command (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// LeaderLease is how long the replica that runs the schedule holds its
	// lease between renewals (default 15s; renewed every third of it). A leader
	// that dies is replaced within it.
	LeaderLease time.Duration `yaml:"leader_lease"`
	// RunLease is the same for a connector's run lock (default 2m): a runner
	// paused or cut off for longer loses the connector, and its writes are
	// then refused by the store's fencing check.
	RunLease time.Duration `yaml:"run_lease"`
}

// RedisTLS turns TLS on (an empty section trusts the system's CAs).
type RedisTLS struct {
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// IsSet reports whether any redis setting was written.
func (r Redis) IsSet() bool {
	return len(r.Addrs) > 0 || r.MasterName != "" || r.Username != "" || r.Password.IsSet() ||
		r.DB != 0 || r.TLS != nil || r.Timeout != 0 || r.LeaderLease != 0 || r.RunLease != 0
}

func (r Redis) validate(path string) []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Path: path + key, Message: fmt.Sprintf(format, args...)})
	}
	if len(r.Addrs) == 0 {
		add(".addrs", "missing: at least one host:port, e.g. [\"redis.example.com:6379\"]")
	}
	for i, a := range r.Addrs {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
			add(fmt.Sprintf(".addrs[%d]", i), "%q is not host:port", a)
		}
	}
	if r.DB < 0 {
		add(".db", "%d: must not be negative", r.DB)
	} else if r.DB != 0 && r.MasterName == "" && len(r.Addrs) > 1 {
		add(".db", "Redis Cluster (several addrs) only has database 0")
	}
	if r.Timeout < 0 {
		add(".timeout", "must not be negative")
	}
	for _, l := range []struct {
		key string
		d   time.Duration
	}{{".leader_lease", r.LeaderLease}, {".run_lease", r.RunLease}} {
		if l.d != 0 && l.d < time.Second {
			add(l.key, "%s is too short: use at least 1s (a lease is renewed every third of it)", l.d)
		}
	}
	if r.Username != "" && !r.Password.IsSet() {
		add(".password", "missing: an ACL user needs a password reference, ${ENV_VAR} or file:PATH")
	}
	return probs
}
