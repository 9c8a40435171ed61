package file_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/connectors/dirmap"
	"github.com/dirsync/dirsync/connectors/file"
)

func open(t *testing.T, yamlCfg file.Config) connectors.Source {
	t.Helper()
	cfg := yamlCfg
	errs := cfg.Prepare("testdata")
	require.Empty(t, errs)
	src, err := cfg.Open("test", zap.NewNop())
	require.NoError(t, err)
	return src
}

func read(t *testing.T, src connectors.Source) (map[string]connectors.Record, error) {
	t.Helper()
	out := map[string]connectors.Record{}
	err := src.Read(context.Background(), func(r connectors.Record) error {
		out[r.Ref] = r
		return nil
	})
	return out, err
}

func TestConformanceLDIF(t *testing.T) {
	connectortest.RunTests(t, func(t *testing.T) connectors.Source {
		return open(t, file.Config{Path: "people.ldif"})
	}, connectortest.Expect{Users: 2, Groups: 1})
}

func TestConformanceCSV(t *testing.T) {
	connectortest.RunTests(t, func(t *testing.T) connectors.Source {
		return open(t, file.Config{Path: "people.csv"})
	}, connectortest.Expect{Users: 2, Groups: 1})
}

func TestConformanceADExport(t *testing.T) {
	connectortest.RunTests(t, func(t *testing.T) connectors.Source {
		return open(t, file.Config{Path: "ad-export.ldif", Preset: "ad"})
	}, connectortest.Expect{Users: 3, Groups: 1})
}

func TestOpenLDAPExport(t *testing.T) {
	recs, err := read(t, open(t, file.Config{Path: "people.ldif"}))
	require.NoError(t, err)
	ann := recs["uid=ann,ou=people,dc=example,dc=com"]
	require.Equal(t, "6f1c6a34-0f7e-4a36-9d6a-1b2c3d4e5f60", ann.Anchor)
	require.Equal(t, "Ann@Example.com", ann.Mail, "the connector passes values raw; the engine normalises")
	require.Equal(t, []string{"a.lee@example.com"}, ann.Aliases)
	require.Equal(t, "Ann Lee", ann.DisplayName)
	require.False(t, ann.Disabled)
	require.True(t, recs["uid=bob,ou=people,dc=example,dc=com"].Disabled, "pwdAccountLockedTime marks a disabled account")
	team := recs["cn=team,ou=groups,dc=example,dc=com"]
	require.Equal(t, connectors.KindGroup, team.Kind)
	require.Equal(t, []string{"uid=ann,ou=people,dc=example,dc=com", "uid=bob,ou=people,dc=example,dc=com"}, team.Members,
		"member DNs are normalised to the members' own Ref spelling")
}

func TestADExport(t *testing.T) {
	recs, err := read(t, open(t, file.Config{Path: "ad-export.ldif", Preset: "ad"}))
	require.NoError(t, err)
	require.Len(t, recs, 4, "the computer account is excluded")
	ann := recs["cn=ann lee,ou=staff,dc=corp,dc=example,dc=com"]
	require.Equal(t, "b9e3c7a2-1f4d-4c6b-9a57-0d2e4f6a8b10", ann.Anchor, "binary objectGUID rendered in the standard form")
	require.Equal(t, "Ann.Lee@example.com", ann.Mail, "SMTP: (upper case) is the primary address")
	require.ElementsMatch(t, []string{"ann@example.com", "alee@example.net"}, ann.Aliases, "smtp: values are aliases, X500: is ignored")
	require.False(t, ann.Disabled, "userAccountControl 512")
	require.True(t, recs["cn=bob ray,ou=staff,dc=corp,dc=example,dc=com"].Disabled, "userAccountControl 514 has bit 0x2")
	require.Equal(t, "cy@example.com", recs["cn=cy twombly,ou=staff,dc=corp,dc=example,dc=com"].Mail, "mail is used without proxyAddresses")
	require.Len(t, recs["cn=all staff,ou=groups,dc=corp,dc=example,dc=com"].Members, 2)
}

func TestCSVTemplateAndExtraColumns(t *testing.T) {
	src := open(t, file.Config{Path: "people.csv"})
	recs, err := read(t, src)
	require.NoError(t, err)
	require.Len(t, recs, 3, "the blank row is skipped")
	ann := recs["ann@example.com"]
	require.Equal(t, "Ann Lee", ann.DisplayName)
	require.Equal(t, "Engineering", ann.Department)
	require.Equal(t, []string{"a.lee@example.com", "ann.l@example.com"}, ann.Aliases)
	require.Equal(t, "ann@example.com", ann.Anchor, "without an Anchor column the address anchors the row")
	hr := recs["hr@example.com"]
	require.Equal(t, connectors.KindGroup, hr.Kind)
	require.Equal(t, []string{"ann@example.com", "bob@example.com"}, hr.Members)
	owner, ok := src.(connectors.FieldOwner)
	require.True(t, ok)
	require.ElementsMatch(t, []string{"display_name", "department", "aliases", "members"}, owner.Fields(),
		"a CSV owns only the fields it has columns for")
}

func TestCSVInWindows1252IsRefused(t *testing.T) {
	_, err := read(t, open(t, file.Config{Path: "cp1252.csv"}))
	require.ErrorContains(t, err, "row 3 is not UTF-8")
	require.ErrorContains(t, err, "save the file as UTF-8")
}

func TestBrokenLDIFFailsTheWholeRead(t *testing.T) {
	_, err := read(t, open(t, file.Config{Path: "broken.ldif"}))
	require.Error(t, err)
	require.ErrorContains(t, err, "broken.ldif")
}

func TestChangeRecordsAreRefused(t *testing.T) {
	_, err := read(t, open(t, file.Config{Path: "changes.ldif"}))
	require.ErrorContains(t, err, "change record")
}

func TestMissingFileIsAFailedReadNotAConfigError(t *testing.T) {
	cfg := file.Config{Path: "nope.ldif"}
	require.Empty(t, cfg.Prepare(t.TempDir()))
	src, err := cfg.Open("test", zap.NewNop())
	require.NoError(t, err)
	_, err = read(t, src)
	require.ErrorContains(t, err, "no such file")
}

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  file.Config
		want string
	}{
		{"no path", file.Config{}, "path: missing"},
		{"bad format", file.Config{Path: "x", Format: "xml"}, `format: "xml": use ldif or csv`},
		{"bad preset", file.Config{Path: "x.ldif", Preset: "novell"}, `preset: unknown preset "novell"`},
		{"anchor_format", file.Config{Path: "x.ldif", Mapping: dirmap.Mapping{AnchorFormat: "hex"}}, `mapping.anchor_format: "hex"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := c.cfg.Prepare(dir)
			require.NotEmpty(t, errs)
			require.Contains(t, errs[0].Error(), c.want)
		})
	}
	ok := file.Config{Path: "rel/x.csv"}
	require.Empty(t, ok.Prepare(dir))
	require.Equal(t, filepath.Join(dir, "rel/x.csv"), ok.Path, "relative paths resolve against the config folder")
	require.Equal(t, "csv", ok.Format, "format follows the extension")
}

func TestCSVWithOnlyEmailOwnsNoFieldAndNamesAnEmptyEmailCell(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "min.csv"), []byte("Email,Password\nann@example.com,x\n,secret\n"), 0o644))
	cfg := file.Config{Path: "min.csv"}
	require.Empty(t, cfg.Prepare(dir))
	src, err := cfg.Open("test", zap.NewNop())
	require.NoError(t, err)
	owner := src.(connectors.FieldOwner)
	require.NotNil(t, owner.Fields(), "nil would mean every field")
	require.Empty(t, owner.Fields())
	recs, err := read(t, src)
	require.NoError(t, err)
	bad := recs["row 3"]
	require.NotNil(t, bad.Invalid)
	require.Equal(t, "Email", bad.Invalid.Field)
	require.Contains(t, bad.Invalid.Message, "row 3: the Email cell is empty")
}
