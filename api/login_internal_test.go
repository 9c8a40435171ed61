package api

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/accounts/password"
)

// TestLoginClientKey: the rate-limiting key is the connection's address;
// X-Forwarded-For counts only through trusted proxies, read from the right;
// an IPv6 client is its /64.
func TestLoginClientKey(t *testing.T) {
	g := newLoginGuard(LoginOptions{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}.withDefaults(password.Default))
	for _, tc := range []struct {
		name, remote, xff, want string
	}{
		{"direct", "198.51.100.7:4000", "", "198.51.100.7"},
		{"forged header ignored", "198.51.100.7:4000", "203.0.113.9", "198.51.100.7"},
		{"through a trusted proxy", "10.1.2.3:4000", "203.0.113.9", "203.0.113.9"},
		{"client-sent entries left of the proxy's are ignored", "10.1.2.3:4000", "192.0.2.1, 203.0.113.9", "203.0.113.9"},
		{"two trusted hops", "10.1.2.3:4000", "203.0.113.9, 10.9.9.9", "203.0.113.9"},
		{"malformed entry stops the walk", "10.1.2.3:4000", "203.0.113.9, junk", "10.1.2.3"},
		{"IPv6 is its /64", "[2001:db8:1:2:aaaa::1]:4000", "", "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6", "[::ffff:198.51.100.7]:4000", "", "198.51.100.7"},
		{"IPv6 proxy", "[fd00::5]:4000", "2001:db8:9:9::1", "2001:db8:9:9::/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/auth/login", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			require.Equal(t, tc.want, g.client(r))
		})
	}
}

// TestLoginGuardTablesAreBounded: a flood of new client addresses keeps at
// most Tracked limiters.
func TestLoginGuardTablesAreBounded(t *testing.T) {
	g := newLoginGuard(LoginOptions{Tracked: 100}.withDefaults(password.Default))
	for i := range 5000 {
		r := httptest.NewRequest("POST", "/v1/auth/login", nil)
		r.RemoteAddr = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String() + ":1"
		require.NoError(t, g.allow(r, "x"+r.RemoteAddr+"@example.com"))
	}
	require.Equal(t, 100, g.perClient.Len())
	require.Equal(t, 100, g.perAccount.Len())
}
