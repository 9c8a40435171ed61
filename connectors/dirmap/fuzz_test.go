package dirmap_test

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// The mappers read what a directory (or an LDIF file) holds: any byte string.
// These targets check they never panic and keep their promises on any input.

// parseGUID reads FormatGUID's output back into the 16 bytes AD stores.
func parseGUID(t *testing.T, s string) []byte {
	t.Helper()
	parts := strings.Split(s, "-")
	require.Len(t, parts, 5, s)
	want := []int{8, 4, 4, 4, 12}
	var raw []byte
	for i, p := range parts {
		require.Len(t, p, want[i], s)
		require.Equal(t, strings.ToLower(p), p, "lower-case hex: %s", s)
		b, err := hex.DecodeString(p)
		require.NoError(t, err, s)
		raw = append(raw, b...)
	}
	// The first three groups are little-endian in the stored form.
	out := make([]byte, 16)
	binary.LittleEndian.PutUint32(out[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(out[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(out[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(out[8:], raw[8:])
	return out
}

func FuzzFormatGUID(f *testing.F) {
	for _, seed := range [][]byte{
		{0xa2, 0xc7, 0xe3, 0xb9, 0x4d, 0x1f, 0x6b, 0x4c, 0x9a, 0x57, 0x0d, 0x2e, 0x4f, 0x6a, 0x8b, 0x10},
		make([]byte, 16),
		[]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
		[]byte(" \n\x00\r  \n\x00\r  \n\x00\r  "), // bytes that trimming would eat
		{},
		make([]byte, 15),
		make([]byte, 17),
		[]byte("b9e3c7a2-1f4d-4c6b-9a57-0d2e4f6a8b10"), // already text: not a GUID
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := dirmap.FormatGUID(b)
		if len(b) != 16 {
			require.Error(t, err)
			require.Empty(t, g)
			return
		}
		require.NoError(t, err)
		require.Len(t, g, 36)
		require.Equal(t, b, parseGUID(t, g), "FormatGUID output must read back to the stored bytes")
	})
}

func FuzzProxyAddresses(f *testing.F) {
	for _, seed := range []struct {
		vals, mail string
		preferMail bool
	}{
		{"smtp:a@x.com\nX500:/o=x\nSMTP:P@x.com\nsip:p@x.com\nsmtp:b@x.com", "p@x.com", false},
		{"SMTP:a@x.com\nSMTP:b@x.com", "c@x.com", true},
		{"SMTP:\nsmtp:", "", false},
		{"Smtp:odd@x.com\nsMTP:odd2@x.com", "", false},
		{"SMTP:a:b@x.com\nnocolon\n:\n", "a@x.com", false},
		{"SMTP:ä@ü.de\nsmtp:\xff\xfe", "Ä@Ü.DE", false},
		{"", "", true},
	} {
		f.Add(seed.vals, seed.mail, seed.preferMail)
	}
	f.Fuzz(func(t *testing.T, joined, mail string, preferMail bool) {
		vals := strings.Split(joined, "\n")
		primary, aliases := dirmap.SplitProxyAddresses(vals)
		smtp := map[string]int{} // address → how many smtp-typed values carry it
		primaries := map[string]bool{}
		n := 0
		for _, v := range vals {
			typ, addr, ok := strings.Cut(v, ":")
			if ok && strings.EqualFold(typ, "smtp") {
				smtp[addr]++
				n++
				primaries[addr] = primaries[addr] || typ == "SMTP"
			}
		}
		if primary != "" {
			require.True(t, primaries[primary], "the primary %q comes from an SMTP: value", primary)
			smtp[primary]--
		}
		for _, a := range aliases {
			require.Positive(t, smtp[a], "the alias %q comes from an smtp value, once per value", a)
			smtp[a]--
		}
		// Every smtp value is kept: as the primary or as an alias (an empty
		// SMTP: value is the only one that may vanish).
		for a, left := range smtp {
			if left > 0 {
				require.Empty(t, a, "the smtp value %q was lost", a)
			}
		}
		require.LessOrEqual(t, len(aliases), n)

		got, other, warn := dirmap.PickPrimary(mail, primary, preferMail)
		switch {
		case primary == "" || strings.EqualFold(mail, primary):
			require.Equal(t, mail, got)
			require.Empty(t, other)
			require.Nil(t, warn)
		case mail == "":
			require.Equal(t, primary, got)
			require.Empty(t, other)
			require.Nil(t, warn)
		default:
			require.NotNil(t, warn, "a disagreement is always reported")
			require.Equal(t, "mail", warn.Field)
			require.ElementsMatch(t, []string{mail, primary}, []string{got, other}, "neither address is lost")
			if preferMail {
				require.Equal(t, mail, got)
			} else {
				require.Equal(t, primary, got)
			}
		}
	})
}

func FuzzNormalizeDN(f *testing.F) {
	for _, seed := range []string{
		"CN=Alice Smith,OU=People,DC=Example,DC=Com",
		" cn = Alice , ou=People ,dc=example",
		`CN=Smith\, John,OU=People,DC=example,DC=com`,
		`cn=a\,b=c,dc=x`,
		`cn=a+sn=b,dc=x`,
		`cn=#04024869,dc=x`,
		`cn="quoted, value",dc=x`,
		"cn=a;dc=x",
		"cn=,dc=x",
		"=a",
		"not a dn",
		"",
		"cn=\xff\xfe,dc=x",
		"CN=İstanbul,DC=X",
		`cn=a\2Cb,dc=x`,
		`cn=\ lead\ ,dc=x`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		if _, err := ldap.ParseDN(dn); err != nil && strings.ContainsAny(dn, "\\\"+#;<>") {
			// Neither a DN nor one of the fast path's plain ones: only
			// lower-cased, and promised nothing more.
			require.Equal(t, strings.ToLower(strings.TrimSpace(dn)), dirmap.NormalizeDN(dn))
			return
		}
		n := dirmap.NormalizeDN(dn)
		require.Equal(t, n, dirmap.NormalizeDN(n), "normalising twice must not change a DN: %q", dn)
		// Case and the spaces around separators are not part of a DN's identity.
		// (ASCII case: Unicode has letters, like the final sigma, whose upper
		// case lowers to another letter.)
		upper := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' {
				return r - 'a' + 'A'
			}
			return r
		}, n)
		require.Equal(t, n, dirmap.NormalizeDN(upper), "case changes the normal form of %q", dn)
		if parsed, err := ldap.ParseDN(dn); err == nil && len(parsed.RDNs) > 0 {
			// The normal form of a DN names the same entry (up to case), so two
			// different entries never share one.
			again, err := ldap.ParseDN(n)
			require.NoError(t, err, "the normal form %q of a valid DN %q must parse", n, dn)
			require.Equal(t, rdnStrings(parsed), rdnStrings(again), "the normal form %q names another DN than %q", n, dn)
		}
	})
}

// rdnStrings lists a parsed DN's type=value pairs, lower-cased, without the
// spaces around them (the fast path trims any white space, the parser only ' ').
func rdnStrings(d *ldap.DN) []string {
	var out []string
	for _, r := range d.RDNs {
		for _, a := range r.Attributes {
			out = append(out, strings.ToLower(strings.TrimSpace(a.Type))+"="+strings.TrimSpace(strings.ToLower(a.Value)))
		}
		out = append(out, "|")
	}
	return out
}

func TestNormalizeDNKeepsEscapes(t *testing.T) {
	// One entry whose cn holds ",b=c", and an entry two levels down: before
	// values were escaped again, both normalised to "cn=a,b=c,dc=x".
	require.NotEqual(t, dirmap.NormalizeDN(`cn=a\,b=c,dc=x`), dirmap.NormalizeDN("cn=a,b=c,dc=x"))
	// Two spellings of one DN still share their normal form.
	require.Equal(t, dirmap.NormalizeDN(`CN=Smith\, John,DC=x`), dirmap.NormalizeDN(`cn=smith\2C john, dc=x`))
	require.Equal(t, `cn=smith\, john,dc=x`, dirmap.NormalizeDN(`CN=Smith\, John,DC=x`))
}

func FuzzRecord(f *testing.F) {
	guid := string([]byte{0xa2, 0xc7, 0xe3, 0xb9, 0x4d, 0x1f, 0x6b, 0x4c, 0x9a, 0x57, 0x0d, 0x2e, 0x4f, 0x6a, 0x8b, 0x10})
	for _, seed := range []struct {
		preset, dn, classes, anchor, mail, proxies, uac, members string
	}{
		{"ad", "CN=Alice,OU=People,DC=x", "top\nperson\nuser", guid, "alice@x.com", "SMTP:Alice@x.com\nsmtp:a@x.com", "512", ""},
		{"ad", "CN=Bob,DC=x", "user", guid, "bob@x.com", "SMTP:robert@x.com", "-2147483646", ""},
		{"ad", "CN=PC,DC=x", "user\ncomputer", guid, "", "", "4096", ""},
		{"ad", "CN=G,DC=x", "group", guid, "g@x.com", "", "", "CN=Alice,OU=People,DC=x\nCN=Smith\\, J,DC=x"},
		{"ad", "CN=Short,DC=x", "user", "short", "s@x.com", "", "2", ""},
		{"ad", "CN=U,DC=x", "user", guid, "u@x.com", "", "not a number", ""},
		{"openldap", "uid=c,ou=p,dc=x", "inetOrgPerson", "3f0b6c1e-0000-1000-8000-000000000000", " c@x.com ", "", "20260101000000Z", ""},
		{"openldap", "cn=grp,dc=x", "groupOfNames", "e", "", "", "", "uid=c,ou=p,dc=x"},
		{"openldap", "ou=people,dc=x", "organizationalUnit", "", "", "", "", ""},
	} {
		f.Add(seed.preset == "ad", seed.dn, seed.classes, seed.anchor, seed.mail, seed.proxies, seed.uac, seed.members)
	}
	f.Fuzz(func(t *testing.T, ad bool, dn, classes, anchor, mail, proxies, uac, members string) {
		name := "openldap"
		if ad {
			name = "ad"
		}
		m, err := dirmap.Preset(name)
		require.NoError(t, err)
		attrs := dirmap.Attrs{"objectclass": strings.Split(classes, "\n")}
		set := func(attr, v string) {
			if attr != "" && v != "" {
				attrs[strings.ToLower(attr)] = strings.Split(v, "\n")
			}
		}
		set(m.Mail, mail)
		set(m.ProxyAddresses, proxies)
		set(m.Disabled.Attribute, uac)
		set(m.Members, members)
		if anchor != "" {
			// Binary GUIDs are one value, never split.
			attrs[strings.ToLower(m.Anchor)] = []string{anchor}
		}
		rec, skip, err := m.Record(dn, attrs)
		if skip != "" {
			require.NoError(t, err)
			require.Zero(t, rec.Anchor)
			return
		}
		require.Contains(t, []connectors.Kind{connectors.KindUser, connectors.KindGroup}, rec.Kind)
		require.Equal(t, dirmap.NormalizeDN(dn), rec.Ref)
		if ad && anchor != "" && len(anchor) != 16 {
			require.Error(t, err, "an objectGUID that is not 16 bytes is refused, not used as an anchor")
			return
		}
		if err != nil {
			// Only a disabled flag that is not a number is refused after the anchor.
			require.Contains(t, err.Error(), m.Disabled.Attribute)
			return
		}
		if ad && anchor != "" {
			require.Equal(t, []byte(anchor), parseGUID(t, rec.Anchor))
		}
		if rec.Mail != "" {
			addrs := append(strings.Split(mail, "\n"), proxies)
			found := false
			for _, a := range addrs {
				found = found || strings.Contains(a, rec.Mail)
			}
			require.True(t, found, "the mail %q comes from the entry", rec.Mail)
		}
		if rec.Kind == connectors.KindGroup && members != "" {
			require.Len(t, rec.Members, len(strings.Split(members, "\n")))
		} else {
			require.Empty(t, rec.Members)
		}
	})
}
