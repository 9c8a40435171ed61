package dirmap_test

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

func TestFormatGUID(t *testing.T) {
	// objectGUID bytes as AD stores them for {b9e3c7a2-1f4d-4c6b-9a57-0d2e4f6a8b10}.
	raw := []byte{0xa2, 0xc7, 0xe3, 0xb9, 0x4d, 0x1f, 0x6b, 0x4c, 0x9a, 0x57, 0x0d, 0x2e, 0x4f, 0x6a, 0x8b, 0x10}
	g, err := dirmap.FormatGUID(raw)
	require.NoError(t, err)
	require.Equal(t, "b9e3c7a2-1f4d-4c6b-9a57-0d2e4f6a8b10", g)
	_, err = dirmap.FormatGUID(raw[:15])
	require.ErrorContains(t, err, "16 bytes")
}

func TestSplitProxyAddresses(t *testing.T) {
	primary, aliases := dirmap.SplitProxyAddresses([]string{"smtp:a@x.com", "X500:/o=x", "SMTP:P@x.com", "sip:p@x.com", "smtp:b@x.com"})
	require.Equal(t, "P@x.com", primary)
	require.Equal(t, []string{"a@x.com", "b@x.com"}, aliases)
}

func TestDisabledDetection(t *testing.T) {
	ad, err := dirmap.Preset("ad")
	require.NoError(t, err)
	ol, err := dirmap.Preset("openldap")
	require.NoError(t, err)
	custom := ol.Override(dirmap.Mapping{Disabled: dirmap.Disabled{Attribute: "employeeStatus", Values: []string{"terminated"}}})
	cases := []struct {
		name  string
		m     dirmap.Mapping
		attrs dirmap.Attrs
		want  bool
		err   string
	}{
		{"ad enabled", ad, dirmap.Attrs{"useraccountcontrol": {"512"}}, false, ""},
		{"ad disabled", ad, dirmap.Attrs{"useraccountcontrol": {"514"}}, true, ""},
		{"ad signed value", ad, dirmap.Attrs{"useraccountcontrol": {"-2147483646"}}, true, ""},
		{"ad garbage", ad, dirmap.Attrs{"useraccountcontrol": {"lots"}}, false, "not an integer"},
		{"openldap locked", ol, dirmap.Attrs{"pwdaccountlockedtime": {"000001010000Z"}}, true, ""},
		{"openldap unlocked", ol, dirmap.Attrs{}, false, ""},
		{"custom value", custom, dirmap.Attrs{"employeestatus": {"Terminated"}}, true, ""},
		{"custom other", custom, dirmap.Attrs{"employeestatus": {"active"}}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attrs := dirmap.Attrs{"objectclass": {"user", "inetOrgPerson"}, "mail": {"a@example.com"}}
			for k, v := range c.attrs {
				attrs[k] = v
			}
			rec, skip, err := c.m.Record("cn=a", attrs)
			require.Empty(t, skip)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, connectors.KindUser, rec.Kind)
			require.Equal(t, c.want, rec.Disabled)
		})
	}
}

func TestNormalizeDN(t *testing.T) {
	require.Equal(t, "uid=bob,ou=people,dc=example,dc=com", dirmap.NormalizeDN("UID=Bob, OU=People,DC=Example, DC=Com"))
	require.Equal(t, "not a dn", dirmap.NormalizeDN(" Not A DN "))
}

func TestAttributesRequestedAreOnlyTheMappedOnes(t *testing.T) {
	m, err := dirmap.Preset("openldap")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"objectClass", "entryUUID", "mail", "mailAlternateAddress", "cn", "givenName", "sn",
		"telephoneNumber", "departmentNumber", "title", "member", "pwdAccountLockedTime"}, m.Attributes())
}

func TestBinaryGUIDIsNeverTrimmed(t *testing.T) {
	m, err := dirmap.Preset("ad")
	require.NoError(t, err)
	for _, raw := range [][]byte{
		{0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x20},
		{0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x09},
	} {
		rec, skip, err := m.Record("CN=x,DC=example,DC=com", dirmap.Attrs{"objectclass": {"user"}, "mail": {"x@example.com"}, "objectguid": {string(raw)}})
		require.NoError(t, err)
		require.Empty(t, skip)
		want, _ := dirmap.FormatGUID(raw)
		require.Equal(t, want, rec.Anchor)
	}
}

// The fast path for plain DNs must agree with the full parser.
func TestNormalizeDNFastPathAgreesWithParseDN(t *testing.T) {
	// Values keep their special characters escaped (see FuzzNormalizeDN).
	escape := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `+`, `\+`, `"`, `\"`, `;`, `\;`, `<`, `\<`, `>`, `\>`)
	reference := func(dn string) string {
		parsed, err := ldap.ParseDN(dn)
		require.NoError(t, err, dn)
		var parts []string
		for _, rdn := range parsed.RDNs {
			var ats []string
			for _, at := range rdn.Attributes {
				ats = append(ats, strings.ToLower(at.Type)+"="+escape.Replace(strings.ToLower(at.Value)))
			}
			parts = append(parts, strings.Join(ats, "+"))
		}
		return strings.Join(parts, ",")
	}
	for _, dn := range []string{
		"CN=John Smith,OU=Staff,DC=Example,DC=com",
		"cn = John Smith , ou=staff, dc=example,dc=com",
		"uid=u1,ou=t95d39c72,dc=example,dc=com",
		`CN=Smith\, John,OU=Staff,DC=example,DC=com`,
		"CN=a+UID=b,DC=example,DC=com",
		`CN=#04024869,DC=example`,
		"CN=Mail Users (EU),OU=Groups,DC=example,DC=com",
	} {
		require.Equal(t, reference(dn), dirmap.NormalizeDN(dn), dn)
	}
}
