package entra_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/entra"
	"github.com/dirsync/dirsync/internal/fakegraph"
)

func lookup(t *testing.T, src connectors.Source, key string) (connectors.Found, error) {
	t.Helper()
	return src.(connectors.Looker).Lookup(context.Background(), key)
}

func TestLookup(t *testing.T) {
	tn := newTenant(t, nil)
	tn.seed()
	src := tn.open()
	got, _ := read(t, src, nil)

	for _, key := range []string{"U4@example.com", "primary4@EXAMPLE.com", "u4.other@example.com", id(4)} {
		t.Run(key, func(t *testing.T) {
			f, err := lookup(t, src, key)
			require.NoError(t, err)
			require.Equal(t, got[id(4)], f.Record, "the record Read emits")
			require.True(t, f.InScope)
			require.Len(t, f.Scope, 1)
			require.Equal(t, []string{"SMTP:primary4@example.com", "smtp:u4@example.com"}, f.Raw["proxyAddresses"])
			require.Equal(t, []string{}, f.Raw["mail"], "null mail: no value")
			require.Equal(t, []string{"true"}, f.Raw["accountEnabled"])
			require.NotContains(t, f.Raw, "@odata.context")
		})
	}
	f, err := lookup(t, src, "alias1@example.com")
	require.NoError(t, err)
	require.Equal(t, got[id(1)], f.Record)
	require.Contains(t, f.Query, "GET "+tn.srv.GraphURL()+"/users?")
	require.Contains(t, f.Query, "$filter=mail eq 'alias1@example.com' or userPrincipalName eq 'alias1@example.com' or proxyAddresses/any(p:p eq 'smtp:alias1@example.com')")

	boss, err := lookup(t, src, "boss@example.com")
	require.NoError(t, err)
	require.True(t, boss.Record.Admin && boss.Record.Licensed, "admin and licence flags as Read sets them")
	require.Equal(t, got[id(7)], boss.Record)

	t.Run("guest", func(t *testing.T) {
		f, err := lookup(t, src, "guest@partner.example")
		require.NoError(t, err)
		require.False(t, f.InScope)
		require.False(t, f.Scope[0].Admitted)
		require.Contains(t, f.Scope[0].Detail, "include_guests: true")
		require.Equal(t, "guest@partner.example", f.Record.Mail, "mapped though out of scope")

		withGuests := newTenant(t, func(c *entra.Config) { c.IncludeGuests = true })
		withGuests.seed()
		f, err = lookup(t, withGuests.open(), id(6))
		require.NoError(t, err)
		require.True(t, f.InScope)
		require.Equal(t, "GET "+withGuests.srv.GraphURL()+"/users/"+id(6)+"?$select="+joinFields(), f.Query)
	})
	t.Run("groups", func(t *testing.T) {
		f, err := lookup(t, src, "ALL@example.com")
		require.NoError(t, err)
		require.True(t, f.InScope)
		require.Equal(t, got[id(101)], f.Record)
		require.Contains(t, f.Query, "/groups?")

		sec, err := lookup(t, src, id(102))
		require.NoError(t, err)
		require.False(t, sec.InScope)
		require.True(t, sec.Scope[0].Admitted)
		require.False(t, sec.Scope[1].Admitted)
		require.Contains(t, sec.Scope[1].Detail, "mailEnabled is false")
		require.Equal(t, []string{"u1@example.com"}, sec.Record.Members)
	})
	t.Run("not found", func(t *testing.T) {
		_, err := lookup(t, src, "o'nobody@example.com")
		require.ErrorIs(t, err, connectors.ErrNotInSource)
		require.ErrorContains(t, err, "mail eq 'o''nobody@example.com'", "names the filter, quotes doubled")
		require.ErrorContains(t, err, "/groups?")
		_, err = lookup(t, src, "00000000-0000-4000-8000-999999999999")
		require.ErrorIs(t, err, connectors.ErrNotInSource)
		require.ErrorContains(t, err, "/users/00000000-0000-4000-8000-999999999999")
	})
	t.Run("several", func(t *testing.T) {
		tn.srv.PutUser(fakegraph.User{ID: id(9), UserPrincipalName: "twin@example.com", Mail: "twin@example.com", AccountEnabled: true, UserType: "Member"})
		tn.srv.PutGroup(fakegraph.Group{ID: id(109), DisplayName: "Twin list", Mail: "other@example.com", MailEnabled: true,
			ProxyAddresses: []string{"SMTP:other@example.com", "smtp:twin@example.com"}})
		_, err := lookup(t, src, "twin@example.com")
		require.ErrorContains(t, err, "2 objects match")
		require.ErrorContains(t, err, "user twin@example.com ("+id(9)+")")
		require.ErrorContains(t, err, "group "+id(109)+" (Twin list)")
	})
}

func joinFields() string {
	out := ""
	for i, f := range entra.UserFields() {
		if i > 0 {
			out += ","
		}
		out += f
	}
	return out
}
