package ldap

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors/dirmap"
)

// The server names ranged attributes, and the state backend hands back the
// cursor as bytes: both are outside input.

func FuzzParseRange(f *testing.F) {
	for _, seed := range []string{
		"member;range=0-1499", "member;range=1500-*", "Member;Range=0-*", "member;binary;range=3-7",
		"member", "member;range=", "member;range=5-4", "member;range=-1-5", "member;range=0--1",
		"member;range=+1-+2", "member;range=0-9223372036854775807", "member;range=9223372036854775807-*",
		"member;range=0-99999999999999999999", ";range=0-1", "member;range=a-b", "member;range=0-1;range=5-*",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, attr string) {
		name, lo, hi, ok := parseRange(attr)
		if !ok {
			require.Zero(t, name)
			return
		}
		require.GreaterOrEqual(t, lo, 0, "%q", attr)
		require.True(t, hi == -1 || (lo <= hi && hi < math.MaxInt), "%q gave %d-%d", attr, lo, hi)
		require.True(t, strings.HasPrefix(attr, name+";"), "%q gave the name %q", attr, name)
		// The form completeRanges asks for parses back to the same range.
		next := fmt.Sprintf("%s;range=%d-*", name, lo)
		if hi >= 0 {
			next = fmt.Sprintf("%s;range=%d-%d", name, lo, hi)
		}
		n2, lo2, hi2, ok2 := parseRange(next)
		require.True(t, ok2, next)
		require.Equal(t, []any{name, lo, hi}, []any{n2, lo2, hi2})
	})
}

func FuzzCursor(f *testing.F) {
	const scope = "0123456789abcdef01234567"
	modes := []string{ModeDirSync, ModeUSN, ModeSyncrepl, ModeTimestamp}
	for _, c := range []cursor{
		{Mode: ModeDirSync, Scope: scope, DirSync: []byte{0x4d, 0x53, 0x44, 0x53, 0, 1}, DC: "dc1.example.com", Invocation: "b1e0"},
		{Mode: ModeUSN, Scope: scope, DC: "dc1", Invocation: "b1e0", USN: 12345},
		{Mode: ModeSyncrepl, Scope: scope, Sync: map[string][]byte{"dc=example,dc=com": []byte("rid=000,csn=20261121234500.123456Z#000000#000#000000")}},
		{Mode: ModeSyncrepl, Scope: scope, Sync: map[string][]byte{"dc=example,dc=com": nil}},
		{Mode: ModeTimestamp, Scope: scope, Since: "20261121234500Z"},
		{Mode: ModeUSN, Scope: scope, Invocation: "b1e0", USN: -1},
		{Mode: ModeDirSync, Scope: scope},
		{Mode: ModeTimestamp, Scope: "another"},
	} {
		raw, err := json.Marshal(c)
		require.NoError(f, err)
		for i, m := range modes {
			if m == c.Mode {
				f.Add(raw, uint8(i))
			}
		}
	}
	for _, raw := range []string{"", "null", "{}", "[]", `{"mode":"usn","scope":"` + scope + `","usn":1e99}`,
		`{"mode":"dirsync","scope":"` + scope + `","dirsync":"!!"}`, `{"mode":"syncrepl","scope":"` + scope + `","sync":{"a":"eA=="},"sync":null}`} {
		f.Add([]byte(raw), uint8(0))
		f.Add([]byte(raw), uint8(2))
	}
	f.Fuzz(func(t *testing.T, raw []byte, m uint8) {
		mode := modes[int(m)%len(modes)]
		c, err := decodeCursor(raw, mode, scope)
		if err != nil {
			require.Zero(t, c, "a refused cursor is never half used")
			return
		}
		require.Equal(t, mode, c.Mode)
		require.Equal(t, scope, c.Scope)
		switch mode {
		case ModeDirSync:
			require.NotEmpty(t, c.DirSync)
		case ModeUSN:
			require.NotEmpty(t, c.Invocation)
			require.GreaterOrEqual(t, c.USN, int64(0))
		case ModeSyncrepl:
			require.NotEmpty(t, c.Sync)
		case ModeTimestamp:
			require.NotEmpty(t, c.Since)
			// The cursor's timestamp goes into a filter: escaped, it stays one
			// assertion whatever it holds.
			s := &source{cfg: &Config{TimestampAttribute: "modifyTimestamp"}}
			_, err := goldap.CompileFilter("(&(objectClass=user)" + s.sinceFilter(c.Since) + ")")
			require.NoError(t, err, "filter from %q", c.Since)
		}
		// What the next run stores decodes to the same cursor.
		again, err := json.Marshal(c)
		require.NoError(t, err)
		c2, err := decodeCursor(again, mode, scope)
		require.NoError(t, err)
		require.Equal(t, c, c2)
	})
}

func FuzzUnderDN(f *testing.F) {
	for _, seed := range [][2]string{
		{"CN=A,OU=People,DC=x", "ou=people,dc=x"},
		{"ou=people,dc=x", "OU=People, DC=x"},
		{`cn=a\,ou=people,dc=x`, "ou=people,dc=x"},
		{`cn=a\\,ou=people,dc=x`, "ou=people,dc=x"},
		{`cn=a\\\,ou=people,dc=x`, "ou=people,dc=x"},
		{"cn=a,dc=xx", "dc=x"},
		{"", "dc=x"},
		{"dc=x", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, dn, base string) {
		if !underDN(dn, base) {
			return
		}
		d, err1 := goldap.ParseDN(dn)
		b, err2 := goldap.ParseDN(base)
		if err1 != nil || err2 != nil || len(b.RDNs) == 0 {
			return
		}
		// Compared as parsed DNs: base's RDNs end dn's.
		dr, br := rdns(d), rdns(b)
		require.GreaterOrEqual(t, len(dr), len(br), "%q is not under %q", dn, base)
		require.Equal(t, br, dr[len(dr)-len(br):], "%q is not under %q", dn, base)
	})
}

func rdns(d *goldap.DN) []string {
	var out []string
	for _, r := range d.RDNs {
		var parts []string
		for _, a := range r.Attributes {
			parts = append(parts, strings.ToLower(strings.TrimSpace(a.Type))+"="+strings.TrimSpace(strings.ToLower(a.Value)))
		}
		out = append(out, strings.Join(parts, "+"))
	}
	return out
}

// FuzzGUIDText checks that the text form an admin types for an objectGUID
// (dirsync explain, lookups) and the binary form AD stores are inverses.
func FuzzGUIDText(f *testing.F) {
	for _, s := range []string{"b9e3c7a2-1f4d-4c6b-9a57-0d2e4f6a8b10", "{B9E3C7A2-1F4D-4C6B-9A57-0D2E4F6A8B10}",
		"b9e3c7a2-1f4d-4c6b-9a57-0d2e4f6a8b1", "b9e3c7a2-1f4d-4c6b-9a57--d2e4f6a8b10", "zzzzzzzz-1f4d-4c6b-9a57-0d2e4f6a8b10", "{}", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := parseUUID(s)
		if !ok {
			return
		}
		g, err := dirmap.FormatGUID(guidBytes(u))
		require.NoError(t, err)
		require.Equal(t, strings.ToLower(strings.Trim(s, "{}")), g)
		// and back: the stored bytes of that text are the same bytes.
		u2, ok := parseUUID(g)
		require.True(t, ok)
		require.Equal(t, u, u2)
	})
}
