package ldap

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors/dirmap"
)

// An AD user whose mail and Exchange primary (SMTP:) disagree is read with the
// SMTP: address as the primary, mail as an alias and a warning naming both;
// attributes: {primary_address: mail} turns it around.
func TestADMailDisagreesWithExchangePrimary(t *testing.T) {
	srv, d := newADDir(t)
	d.addUser("dora", false, map[string][]string{
		"mail":           {"dora.old@example.com"},
		"proxyAddresses": {"SMTP:dora@example.com", "smtp:d@example.com"},
	})
	for _, c := range []struct {
		preset              string
		wantMail, wantOther string
	}{
		{"", "dora@example.com", "dora.old@example.com"},
		{dirmap.PrimaryMail, "dora.old@example.com", "dora@example.com"},
	} {
		t.Run("primary_address="+c.preset, func(t *testing.T) {
			src := srv.config(t, "ad", d.base, func(cfg *Config) { cfg.Attributes.PrimaryAddress = c.preset }).source(t)
			recs := readAll(t, src.Read)
			require.Len(t, recs, 1)
			dora := recs[0]
			require.Equal(t, c.wantMail, dora.Mail)
			require.ElementsMatch(t, []string{"d@example.com", c.wantOther}, dora.Aliases)
			require.Len(t, dora.Warnings, 1)
			require.Equal(t, "mail", dora.Warnings[0].Field)
			require.Contains(t, dora.Warnings[0].Message, "dora.old@example.com")
			require.Contains(t, dora.Warnings[0].Message, "SMTP:dora@example.com")
		})
	}
}
