package dirmap_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// The Exchange primary (the capital SMTP: proxy address) is what Exchange sends
// as and what a mail gateway sees, so it wins over a disagreeing mail unless
// the mapping says primary_address: mail.
func TestPrimaryAddress(t *testing.T) {
	ad, err := dirmap.Preset("ad")
	require.NoError(t, err)
	mailWins := ad.Override(dirmap.Mapping{PrimaryAddress: dirmap.PrimaryMail})
	cases := []struct {
		name        string
		m           dirmap.Mapping
		mail        []string
		proxies     []string
		wantMail    string
		wantAliases []string
		warning     bool
	}{
		{"disagree, proxy wins", ad, []string{"a@example.com"}, []string{"SMTP:b@example.com", "smtp:c@example.com"},
			"b@example.com", []string{"c@example.com", "a@example.com"}, true},
		{"disagree, mail wins", mailWins, []string{"a@example.com"}, []string{"SMTP:b@example.com", "smtp:c@example.com"},
			"a@example.com", []string{"c@example.com", "b@example.com"}, true},
		{"agree up to case", ad, []string{"A@Example.com"}, []string{"SMTP:a@example.com"}, "A@Example.com", nil, false},
		{"no proxy addresses", ad, []string{"a@example.com"}, nil, "a@example.com", nil, false},
		{"no mail", ad, nil, []string{"SMTP:b@example.com"}, "b@example.com", nil, false},
		{"only smtp aliases", ad, []string{"a@example.com"}, []string{"smtp:c@example.com"}, "a@example.com", []string{"c@example.com"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attrs := dirmap.Attrs{"objectclass": {"user"}, "objectguid": {string(make([]byte, 16))}}
			if c.mail != nil {
				attrs["mail"] = c.mail
			}
			if c.proxies != nil {
				attrs["proxyaddresses"] = c.proxies
			}
			rec, skip, err := c.m.Record("cn=a,dc=example,dc=com", attrs)
			require.NoError(t, err)
			require.Empty(t, skip)
			require.Equal(t, c.wantMail, rec.Mail)
			require.Equal(t, c.wantAliases, rec.Aliases)
			if !c.warning {
				require.Empty(t, rec.Warnings)
				return
			}
			require.Len(t, rec.Warnings, 1)
			w := rec.Warnings[0]
			require.Equal(t, "mail", w.Field)
			require.Contains(t, w.Message, "a@example.com")
			require.Contains(t, w.Message, "b@example.com")
			require.Contains(t, w.Message, "primary_address")
		})
	}
}

func TestPrimaryAddressChecked(t *testing.T) {
	ad, err := dirmap.Preset("ad")
	require.NoError(t, err)
	errs := ad.Override(dirmap.Mapping{PrimaryAddress: "exchange"}).Check("mapping")
	require.Len(t, errs, 1)
	var fe *connectors.FieldError
	require.ErrorAs(t, errs[0], &fe)
	require.Equal(t, "mapping.primary_address", fe.Field)
	require.Contains(t, fe.Message, "use proxy or mail")
	require.Empty(t, ad.Check("mapping"))
}
