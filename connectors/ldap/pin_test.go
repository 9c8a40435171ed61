package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
)

// roundRobin resolves every name to the same addresses, rotated at each lookup
// as round-robin DNS hands out a domain's DCs.
type roundRobin struct {
	addrs   []string
	lookups atomic.Int32
}

func (r *roundRobin) LookupHost(_ context.Context, _ string) ([]string, error) {
	n := int(r.lookups.Add(1)) % len(r.addrs)
	return append(slices.Clone(r.addrs[n:]), r.addrs[:n]...), nil
}

// dialLog records the address of every dial.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialLog) add(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = append(d.addrs, addr)
}

func (d *dialLog) distinct() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.addrs)
	slices.Sort(out)
	return slices.Compact(out)
}

func (d *dialLog) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = nil
}

var threeDCs = []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}

// TestEveryConnectionOfARunDialsOneAddress: without a server. 192.0.2.1 is down;
// connections started together by one run all wait for the choice and go to the
// same answering address; the next run resolves again.
func TestEveryConnectionOfARunDialsOneAddress(t *testing.T) {
	c := &Config{URL: "ldap://corp.example.test", Preset: "ad", BaseDNs: []string{"DC=example,DC=test"}}
	require.Empty(t, c.Prepare(t.TempDir()))
	dns := &roundRobin{addrs: threeDCs}
	var log dialLog
	c.resolver = dns
	c.dialer = func(_ context.Context, _, addr string) (net.Conn, error) {
		log.add(addr)
		if addr == "192.0.2.1:389" {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		}
		client, server := net.Pipe()
		t.Cleanup(func() { server.Close() })
		return client, nil
	}
	src := c.source(t)
	for run := 1; run <= 3; run++ {
		log.reset()
		r := src.pinned()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				conn, err := r.cfg.connect(context.Background())
				if err == nil {
					conn.Close()
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(run), dns.lookups.Load(), "one lookup per run")
		answered := slices.DeleteFunc(log.distinct(), func(a string) bool { return a == "192.0.2.1:389" })
		require.Len(t, answered, 1, "run %d dialled %v", run, log.distinct())
		require.Contains(t, []string{"192.0.2.2:389", "192.0.2.3:389"}, answered[0])
	}
}

// viaFakeDNS renames the server in cfg's URL to name (which must be in the
// server's certificate), makes name resolve to three documentation addresses
// and sends every dial to the real server, logging the address asked for. TLS
// passing proves the certificate is still checked against name, not the IP.
func viaFakeDNS(t *testing.T, c *Config, name string) *dialLog {
	t.Helper()
	u, err := url.Parse(c.URL)
	require.NoError(t, err)
	real := u.Host
	u.Host = net.JoinHostPort(name, u.Port())
	c.URL = u.String()
	c.resolver = &roundRobin{addrs: threeDCs}
	log := &dialLog{}
	c.dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		log.add(addr)
		return (&net.Dialer{}).DialContext(ctx, network, real)
	}
	return log
}

// TestOpenLDAPParallelReadDialsOneAddress: a full read over four partitions and
// the group search, then an incremental run, each on a single resolved address.
func TestOpenLDAPParallelReadDialsOneAddress(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 40)
	cfg := srv.config(t, "openldap", base, func(c *Config) { c.Parallel = 4; c.Incremental = ModeTimestamp })
	log := viaFakeDNS(t, cfg, "localhost")
	src := cfg.source(t)
	require.Len(t, readAll(t, src.Read), 42)
	require.Len(t, log.distinct(), 1, "a full read dialled %v", log.distinct())
	require.Greater(t, len(log.addrs), 4, "the partitions ran on their own connections")
	host, _, err := net.SplitHostPort(log.distinct()[0])
	require.NoError(t, err)
	require.Contains(t, threeDCs, host)

	log.reset()
	_, _ = readChanges(t, src, nil)
	require.Len(t, log.distinct(), 1, "an incremental run dialled %v", log.distinct())
}

// TestADCursorRecordsTheDC: against Samba AD, the usn cursor names the DC and
// its invocationId, every connection of the run went to one address, and a
// cursor from another invocationId makes the run a full read.
func TestADCursorRecordsTheDC(t *testing.T) {
	srv, d := newADDir(t)
	for _, n := range []string{"a", "b", "c"} {
		d.addUser(n, false, nil)
	}
	for _, mode := range []string{ModeUSN, ModeDirSync} {
		t.Run(mode, func(t *testing.T) {
			cfg := srv.config(t, "ad", d.base, func(c *Config) { c.Incremental = mode; c.Parallel = 3 })
			log := viaFakeDNS(t, cfg, "dc1.example.com")
			src := cfg.source(t)
			full, raw := readChanges(t, src, nil)
			require.Len(t, full, 3)
			require.Len(t, log.distinct(), 1, "one run, one DC: dialled %v", log.distinct())

			var cur cursor
			require.NoError(t, json.Unmarshal(raw, &cur))
			require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, cur.Invocation)
			require.NotEmpty(t, cur.DC)
			root, err := src.pinned().rootDSE(context.Background())
			require.NoError(t, err)
			require.Equal(t, root.invocation, cur.Invocation)
			require.Equal(t, root.dc, cur.DC)

			cur.Invocation = "00000000-0000-0000-0000-000000000001"
			other, err := json.Marshal(cur)
			require.NoError(t, err)
			_, err = src.ReadChanges(context.Background(), other, func(connectors.Record) error { return nil })
			if mode == ModeUSN {
				require.ErrorIs(t, err, connectors.ErrCursorExpired, "another DC's USNs are not comparable")
				require.ErrorContains(t, err, cur.Invocation)
			} else {
				require.NoError(t, err, "a DirSync cookie is valid on any DC of the domain")
			}
		})
	}
}
