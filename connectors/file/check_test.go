package file_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/file"
)

func check(t *testing.T, cfg file.Config, dir string) (string, error) {
	t.Helper()
	require.Empty(t, cfg.Prepare(dir))
	src, err := cfg.Open("test", zap.NewNop())
	require.NoError(t, err)
	checker, ok := src.(connectors.Checker)
	require.True(t, ok, "the file source implements connectors.Checker")
	line, err := checker.Check(context.Background())
	t.Logf("Check: %q, %v", line, err)
	return line, err
}

func TestCheckCountsWhatARunWouldRead(t *testing.T) {
	for _, tc := range []struct {
		cfg  file.Config
		want string
	}{
		{file.Config{Path: "people.ldif"}, "read testdata/people.ldif: 2 users, 1 group"},
		{file.Config{Path: "people.csv"}, "read testdata/people.csv: 2 users, 1 group"},
		{file.Config{Path: "ad-export.ldif", Preset: "ad"}, "read testdata/ad-export.ldif: 3 users, 1 group"},
	} {
		t.Run(tc.cfg.Path, func(t *testing.T) {
			line, err := check(t, tc.cfg, "testdata")
			require.NoError(t, err)
			require.Equal(t, tc.want, line)
		})
	}
}

func TestCheckNamesRecordsSyncWillQuarantine(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.csv"), []byte("Email,Type\nann@example.com,user\nbob@example.com,robot\n"), 0o600))
	line, err := check(t, file.Config{Path: "x.csv"}, dir)
	require.NoError(t, err)
	require.Equal(t, "read "+filepath.Join(dir, "x.csv")+": 2 users, 0 groups (1 record with a bad value, which sync will quarantine)", line)
}

func TestCheckReportsParseErrorsWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.ldif")
	ldif := "dn: uid=ann,dc=example,dc=com\nobjectClass: inetOrgPerson\nmail: ann@example.com\n\n" +
		"dn: uid=bob,dc=example,dc=com\nobjectClass: inetOrgPerson\nthis line is not an attribute\n"
	require.NoError(t, os.WriteFile(path, []byte(ldif), 0o600))
	line, err := check(t, file.Config{Path: path}, dir)
	require.Empty(t, line)
	require.ErrorContains(t, err, path)
	// The bad line itself, not the line where its entry ends (go-ldap/ldif's
	// number, which would be 8).
	require.ErrorContains(t, err, `line 7: no colon in "this line is not an attribute"`)

	csvPath := filepath.Join(dir, "broken.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte("Email,Name\nann@example.com,Ann\nbob@example.com,\"Bob\n"), 0o600))
	_, err = check(t, file.Config{Path: csvPath}, dir)
	require.ErrorContains(t, err, csvPath)
	require.ErrorContains(t, err, "line 3")
}

func TestCheckMissingFileSaysCheckPath(t *testing.T) {
	_, err := check(t, file.Config{Path: "nope.ldif"}, t.TempDir())
	require.ErrorContains(t, err, "nope.ldif")
	require.ErrorContains(t, err, "check path")
}
