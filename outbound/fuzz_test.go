package outbound

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/mailaddr"
)

// FuzzSender checks the two readings of a reported sender: normalize (the
// worker's, canonical) and fastKey (the answer path's seen-set key). An accepted
// sender is a canonical address; and two senders with the same fast key must
// settle the same way, or the key one of them leaves in the seen-set would let
// the answer path skip the other (a garbled sender hiding a real one).
func FuzzSender(f *testing.F) {
	for _, p := range [][2]string{
		{"jane@example.com", "Jane@Example.com"},
		{"<jane@example.com>", "jane@example.com"},
		{"Jane Doe <jane@example.com>", "\"Jane Doe\" <jane@example.com>"},
		{"<jane@example.com", "jane@example.com"},
		{"jane@example.com>", "jane@example.com"},
		{"<>", ""},
		{"  ", "<<>>"},
		{"=?UTF-8?B?SsOpcsO0bWU=?= <j@example.com>", "j@example.com"},
		{"\"a@b\"@example.com", "a@b@example.com"},
		{"jane@Bücher.example", "jane@xn--bcher-kva.example"},
		{"bounce+x=y@example.com", "not an address"},
		{strings.Repeat("x", 300) + "@example.com", "x@" + strings.Repeat("y.", 130) + "com"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		addrA, reasonA := normalize(a)
		addrB, reasonB := normalize(b)
		for _, c := range []struct{ raw, addr, reason string }{{a, addrA, reasonA}, {b, addrB, reasonB}} {
			if c.reason != "" {
				require.Empty(t, c.addr)
				require.True(t, strings.HasPrefix(c.reason, ReasonEmpty) || strings.HasPrefix(c.reason, ReasonInvalid), "reason %q", c.reason)
				continue
			}
			require.Equal(t, 1, strings.Count(c.addr, "@"), "%q from %q", c.addr, c.raw)
			again, err := mailaddr.Normalize(c.addr)
			require.NoError(t, err, "%q from %q", c.addr, c.raw)
			require.Equal(t, c.addr, again, "%q from %q is not canonical", c.addr, c.raw)
		}
		ka, kb := fastKey(a), fastKey(b)
		if ka == "" || ka != kb {
			return
		}
		require.Equal(t, reasonA == "", reasonB == "", "%q and %q share the fast key %q but only one is an address", a, b, ka)
		require.Equal(t, addrA, addrB, "%q and %q share the fast key %q", a, b, ka)
	})
}
