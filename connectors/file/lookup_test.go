package file_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/file"
)

func lookup(t *testing.T, src connectors.Source, key string) (connectors.Found, error) {
	t.Helper()
	return src.(connectors.Looker).Lookup(context.Background(), key)
}

func TestLookupLDIF(t *testing.T) {
	src := open(t, file.Config{Path: "people.ldif"})
	recs, err := read(t, src)
	require.NoError(t, err)
	path := filepath.Join("testdata", "people.ldif")
	for _, key := range []string{"ANN@example.com", "a.lee@EXAMPLE.com", "6F1C6A34-0F7E-4A36-9D6A-1B2C3D4E5F60"} {
		t.Run(key, func(t *testing.T) {
			f, err := lookup(t, src, key)
			require.NoError(t, err)
			require.Equal(t, "file "+path+", line 7", f.Query)
			require.Equal(t, recs["uid=ann,ou=people,dc=example,dc=com"], f.Record, "the record Read emits")
			require.True(t, f.InScope)
			require.Len(t, f.Scope, 1)
			require.True(t, f.Scope[0].Admitted)
			require.Equal(t, []string{"Engineer"}, f.Raw["title"])
			require.Equal(t, []string{"uid=ann,ou=people,dc=example,dc=com"}, f.Raw["dn"])
		})
	}
	group, err := lookup(t, src, "team@example.com")
	require.NoError(t, err)
	require.Equal(t, "file "+path+", line 27", group.Query)
	require.Equal(t, connectors.KindGroup, group.Record.Kind)

	_, err = lookup(t, src, "nobody@example.com")
	require.ErrorIs(t, err, connectors.ErrNotInSource)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "mail, mailAlternateAddress, entryUUID")
}

func TestLookupADExport(t *testing.T) {
	src := open(t, file.Config{Path: "ad-export.ldif", Preset: "ad"})
	recs, err := read(t, src)
	require.NoError(t, err)
	ann := recs["cn=ann lee,ou=staff,dc=corp,dc=example,dc=com"]
	for _, key := range []string{"alee@example.NET", "ann.lee@example.com", "{" + ann.Anchor + "}"} {
		f, err := lookup(t, src, key)
		require.NoError(t, err, key)
		require.Equal(t, ann, f.Record, key)
		require.Equal(t, []string{ann.Anchor}, f.Raw["objectGUID"], "binary objectGUID shown as a GUID")
		require.Contains(t, f.Raw["proxyAddresses"], "X500:/o=Org/cn=ann")
	}
	// X500: proxy addresses are not mail addresses.
	_, err = lookup(t, src, "/o=Org/cn=ann")
	require.ErrorIs(t, err, connectors.ErrNotInSource)
}

func TestLookupLDIFSkippedSecretsAndDuplicates(t *testing.T) {
	dir := t.TempDir()
	ldif := `dn: ou=sales,dc=example,dc=com
objectClass: organizationalUnit
ou: sales
mail: sales@example.com

dn: uid=dee,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: dee
cn: Dee
sn: D
mail: dee@example.com
userPassword: {SSHA}c2VjcmV0LXZhbHVl
sambaNTPassword: 0123456789ABCDEF0123456789ABCDEF

# a second entry with the same address
dn: uid=dee2,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: dee2
cn: Dee Two
sn: D
mail: twin@example.com
mailAlternateAddress: dup@example.com

dn: uid=dee3,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: dee3
cn: Dee Three
sn: D
mail: DUP@example.com
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "d.ldif"), []byte(ldif), 0o600))
	src := open(t, file.Config{Path: filepath.Join(dir, "d.ldif")})

	ou, err := lookup(t, src, "sales@example.com")
	require.NoError(t, err)
	require.False(t, ou.InScope)
	require.False(t, ou.Scope[0].Admitted)
	require.Contains(t, ou.Scope[0].Detail, "neither a person nor a group")
	require.Contains(t, ou.Query, ", line 1")

	dee, err := lookup(t, src, "dee@example.com")
	require.NoError(t, err)
	require.True(t, dee.InScope)
	require.Equal(t, []string{"[redacted]"}, dee.Raw["userPassword"])
	require.Equal(t, []string{"[redacted]"}, dee.Raw["sambaNTPassword"])
	require.Contains(t, dee.Query, ", line 6")

	_, err = lookup(t, src, "dup@example.com")
	require.ErrorContains(t, err, "2 entries")
	require.ErrorContains(t, err, "uid=dee2,ou=people,dc=example,dc=com (line 16)")
	require.ErrorContains(t, err, "uid=dee3,ou=people,dc=example,dc=com (line 24)")
	require.NotErrorIs(t, err, connectors.ErrNotInSource)
}

func TestLookupCSV(t *testing.T) {
	src := open(t, file.Config{Path: "people.csv"})
	recs, err := read(t, src)
	require.NoError(t, err)
	path := filepath.Join("testdata", "people.csv")

	ann, err := lookup(t, src, "ANN.L@example.com")
	require.NoError(t, err)
	require.Equal(t, "file "+path+", row 2", ann.Query)
	require.Equal(t, recs["ann@example.com"], ann.Record)
	require.True(t, ann.InScope)
	require.Equal(t, []string{"[redacted]"}, ann.Raw["Password"])
	require.Equal(t, []string{"TRUE"}, ann.Raw["Force Change Password"], "a flag, not a secret")
	require.Equal(t, []string{"42"}, ann.Raw["Shoe Size"], "columns Read ignores are shown too")

	hr, err := lookup(t, src, "HR@example.com")
	require.NoError(t, err)
	require.Equal(t, "file "+path+", row 5", hr.Query, "rows are numbered as Read numbers them, blank row included")
	require.Equal(t, connectors.KindGroup, hr.Record.Kind)
	require.Equal(t, []string{""}, hr.Raw["Password"], "an empty password cell stays empty")

	_, err = lookup(t, src, "nobody@example.com")
	require.ErrorIs(t, err, connectors.ErrNotInSource)
	require.ErrorContains(t, err, "Email, Aliases and Anchor")
}
