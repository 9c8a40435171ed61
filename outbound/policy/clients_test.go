package policy_test

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/outbound/policy"
)

// reqSASL is req with a sasl_username line (empty: the line as Postfix sends
// it for an unauthenticated client).
func reqSASL(sender, user string) string {
	return strings.Replace(req(sender), "\nsender=", "\nsasl_username="+user+"\nsender=", 1)
}

// A client outside allowed_clients is closed unanswered, creates nothing, and
// is logged once however often it comes back.
func TestRefusedClient(t *testing.T) {
	s := start(t, policy.Options{AllowedClients: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	for range 3 {
		c := dial(t, s.addr)
		// The server may close before or after the request arrives: the write
		// may fail, and unread data makes the close a reset. Either way the
		// client gets no answer.
		_, _ = io.WriteString(c, req("intruder@example.com"))
		b, err := io.ReadAll(c.br)
		require.True(t, err == nil || isReset(err), "%v", err)
		require.Empty(t, string(b))
	}
	require.Eventually(t, func() bool { return s.Stats().Refused == 3 }, 3*time.Second, 10*time.Millisecond)
	require.Empty(t, s.sink.got(), "a refused client creates nothing")
	st := s.Stats()
	require.EqualValues(t, 3, st.Refused)
	require.Zero(t, st.Requests)
	logged := s.logs.FilterMessageSnippet("not in allowed_clients").All()
	require.Len(t, logged, 1, "logged once per address")
	require.Equal(t, "127.0.0.1", logged[0].ContextMap()["client"])
}

// By default only loopback clients are served.
func TestDefaultAllowsLoopback(t *testing.T) {
	s := start(t, policy.Options{})
	c := dial(t, s.addr)
	c.send(t, req("a@example.com"))
	c.answers(t, 1)
	require.Equal(t, []string{"a@example.com"}, s.sink.got())
	require.Zero(t, s.Stats().Refused)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, policy.DefaultAllowedClients)
}

func TestAllowedClient(t *testing.T) {
	tests := []struct {
		name    string
		allowed []netip.Prefix
		remote  string
		want    bool
	}{
		{"default loopback v4", nil, "127.0.0.1:5000", true},
		{"default loopback v4 other", nil, "127.8.9.10:5000", true},
		{"default loopback v6", nil, "[::1]:5000", true},
		{"default v4-mapped loopback", nil, "[::ffff:127.0.0.1]:5000", true},
		{"default lan", nil, "192.0.2.7:5000", false},
		{"default public v6", nil, "[2001:db8::1]:5000", false},
		{"listed lan", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "192.0.2.7:5000", true},
		{"listed lan, loopback not", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "127.0.0.1:5000", false},
		{"garbage", nil, "nonsense", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, policy.New(policy.Options{AllowedClients: tt.allowed}).Allowed(tt.remote))
		})
	}
}

// With require_sasl_username, only authenticated submissions create users:
// the rest get DUNNO all the same.
func TestRequireSASLUsername(t *testing.T) {
	s := start(t, policy.Options{RequireSASLUsername: true})
	c := dial(t, s.addr)
	c.send(t, req("nosasl@example.com"))
	c.send(t, reqSASL("empty@example.com", ""))
	c.send(t, reqSASL("alice@example.com", "alice"))
	c.answers(t, 3)
	require.Equal(t, []string{"alice@example.com"}, s.sink.got())

	// Without the option, every sender is offered as before.
	s2 := start(t, policy.Options{})
	c2 := dial(t, s2.addr)
	c2.send(t, req("nosasl@example.com"))
	c2.send(t, reqSASL("alice@example.com", "alice"))
	c2.answers(t, 2)
	require.Equal(t, []string{"nosasl@example.com", "alice@example.com"}, s2.sink.got())
}
