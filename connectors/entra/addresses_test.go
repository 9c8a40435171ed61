package entra

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Graph's mail and the capital SMTP: proxy address disagreeing: the Exchange
// primary wins (it is what Exchange sends as), mail is kept as an alias, and
// the record carries a warning naming both.
func TestAddressesPrimaryRule(t *testing.T) {
	cases := []struct {
		name        string
		mail        string
		proxies     []string
		others      []string
		wantMail    string
		wantAliases []string
		warning     bool
		preferMail  bool
	}{
		{"disagree", "a@example.com", []string{"SMTP:b@example.com", "smtp:c@example.com"}, []string{"o@example.com"},
			"b@example.com", []string{"c@example.com", "o@example.com", "a@example.com"}, true, false},
		{"agree", "B@example.com", []string{"SMTP:b@example.com", "smtp:c@example.com"}, nil,
			"B@example.com", []string{"c@example.com"}, false, false},
		{"disagree, primary_address: mail", "a@example.com", []string{"SMTP:b@example.com"}, nil,
			"a@example.com", []string{"b@example.com"}, true, true},
		{"no mail", "", []string{"SMTP:b@example.com"}, nil, "b@example.com", nil, false, false},
		{"no proxy", "a@example.com", []string{"X500:/o=x"}, []string{"o@example.com"}, "a@example.com", []string{"o@example.com"}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mail, _, aliases, warn := userAddresses(c.mail, c.proxies, c.others, c.preferMail)
			require.Equal(t, c.wantMail, mail)
			require.Equal(t, c.wantAliases, aliases)
			if !c.warning {
				require.Nil(t, warn)
				return
			}
			require.NotNil(t, warn)
			require.Contains(t, warn.Message, c.mail)
			require.Contains(t, warn.Message, "SMTP:b@example.com")
		})
	}
}
