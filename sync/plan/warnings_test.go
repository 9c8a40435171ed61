package plan_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/sync/plan"
)

// A warning the connector's mapping raised (mail disagreeing with the
// Exchange primary) is reported with the record, which is still synced.
func TestNormalizeReportsSourceWarnings(t *testing.T) {
	msg := "mail old@example.com and the Exchange primary proxy address SMTP:new@example.com disagree"
	rec := connectors.Record{Kind: connectors.KindUser, Ref: "cn=dora", Anchor: "a-dora", Mail: "new@example.com",
		Aliases: []string{"old@example.com"}, Warnings: []connectors.FieldError{{Field: "mail", Message: msg}}}
	n, warnings, ok := plan.Normalize(rec, func(string) bool { return true })
	require.True(t, ok)
	require.Equal(t, "new@example.com", n.Address)
	require.Equal(t, []string{"old@example.com"}, n.Aliases)
	require.Equal(t, []plan.Quarantine{{Record: "cn=dora", Field: "mail", Reason: msg, Fix: "correct the value in the source"}}, warnings)
}

// When the address that won the primary-address rule is not in an internal
// domain (an Exchange primary in the tenant's onmicrosoft.com domain, say) and
// the one that lost is, the record is synchronised under the internal one, with
// a warning, rather than quarantined.
func TestNormalizeFallsBackToTheInternalAddress(t *testing.T) {
	internal := func(d string) bool { return d == "example.com" }
	rec := connectors.Record{Kind: connectors.KindUser, Ref: "cn=dora", Anchor: "a-dora", Mail: "dora@contoso.onmicrosoft.com",
		MailFallback: "dora@example.com", Aliases: []string{"dora@example.com"}}
	n, warnings, ok := plan.Normalize(rec, internal)
	require.True(t, ok, "%v", warnings)
	require.Equal(t, "dora@example.com", n.Address)
	require.Empty(t, n.Aliases)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0].Reason, "dora@contoso.onmicrosoft.com is not in an internal domain")

	// Neither internal: quarantined as before, naming the primary's domain.
	rec.MailFallback, rec.Aliases = "dora@other.org", nil
	_, notes, ok := plan.Normalize(rec, internal)
	require.False(t, ok)
	require.Contains(t, notes[0].Reason, "contoso.onmicrosoft.com")
}
