package file_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/file"
)

const ldifHead = "version: 1\n\ndn: uid=ann,dc=example,dc=com\nobjectClass: inetOrgPerson\nmail: ann@example.com\nentryUUID: 1\n"

// TestHostileLDIFIsRefusedEverywhere feeds each hostile file to every path that
// parses LDIF (Read, the Lookup behind explain, the Checker): each must fail naming
// the line, and the content of a file a URL points at must never come back.
func TestHostileLDIFIsRefusedEverywhere(t *testing.T) {
	dir := t.TempDir()
	const marker = "MARKER-3f9c1d-SECRET"
	secret := filepath.Join(dir, "environ")
	require.NoError(t, os.WriteFile(secret, []byte(marker), 0o600))
	cases := []struct {
		name string
		body string
		want []string
	}{
		{"file URL", ldifHead + "cn:< file://" + secret + "\n",
			[]string{"line 7", `"cn"`, "takes its value from a URL", "put the value itself in the file"}},
		{"file URL folded onto a continuation line", ldifHead + "displayName:\n < file://" + secret + "\n",
			[]string{"line 7", `"displayName"`, "takes its value from a URL"}},
		{"dev zero URL", ldifHead + "cn:< file:///dev/zero\n\n",
			[]string{"line 7", `"cn"`, "takes its value from a URL"}},
		{"URL as the dn", "dn:< file://" + secret + "\nobjectClass: inetOrgPerson\n",
			[]string{"line 1", `"dn"`, "takes its value from a URL"}},
		{"over-long line", ldifHead + "description: " + strings.Repeat("x", 5<<20) + "\n",
			[]string{"line 7", "longer than 4 MiB", `"description"`}},
		{"over-long folded line", ldifHead + "description: x\n" + strings.Repeat(" "+strings.Repeat("y", 75)+"\n", 60000),
			[]string{"line 7", "longer than 4 MiB"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".ldif")
			require.NoError(t, os.WriteFile(path, []byte(c.body), 0o600))
			src := openIn(t, dir, file.Config{Path: path})
			want := append([]string{path}, c.want...)

			_, rerr := read(t, src)
			_, lerr := src.(connectors.Looker).Lookup(context.Background(), "ann@example.com")
			line, cerr := src.(connectors.Checker).Check(context.Background())
			for name, err := range map[string]error{"Read": rerr, "Lookup": lerr, "Check": cerr} {
				require.Error(t, err, name)
				for _, w := range want {
					require.ErrorContains(t, err, w, name)
				}
				require.NotContains(t, err.Error(), marker, name)
				require.Less(t, len(err.Error()), 1000, "%s: the error quotes no bulk from the file", name)
			}
			require.Empty(t, line)
		})
	}
}

// TestEndlessFileIsRefused: a path such as /dev/zero (no newline, no end) fails
// once the first line outgrows the cap instead of eating memory.
func TestEndlessFileIsRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero on this system")
	}
	_, err := read(t, openIn(t, t.TempDir(), file.Config{Path: "/dev/zero", Format: "ldif"}))
	require.ErrorContains(t, err, "line 1 is longer than 4 MiB")
}

// TestLDIFErrorsNameTheBadLine: the parser reports where an entry ends; the
// connector names the line at fault, or the entry's first line.
func TestLDIFErrorsNameTheBadLine(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string
	}{
		{"not an attribute", ldifHead + "\ndn: uid=bob,dc=example,dc=com\nthis line is not an attribute\nmail: bob@example.com\n\n", "line 9: no colon"},
		{"bad base64", ldifHead + "description:: !!!\ncn: ann\n\n", `line 7: attribute "description": the base64 value does not decode`},
		{"bad attribute name", ldifHead + "dis play: x\n\n", `line 7: "dis play" is not an attribute name`},
		{"entry without a dn", ldifHead + "\nmail: bob@example.com\ncn: bob\n\n", "entry at line 8: missing 'dn:'"},
		{"change record", ldifHead + "\ndn: uid=bob,dc=example,dc=com\nchangetype: delete\n\n", "entry at line 8 is a change record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.ldif")
			require.NoError(t, os.WriteFile(path, []byte(c.body), 0o600))
			_, err := read(t, openIn(t, dir, file.Config{Path: path}))
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestFoldedAndCommentedLDIFStillReads: the guard unfolds lines itself, so
// folding, comments and CRLF endings must read exactly as before.
func TestFoldedAndCommentedLDIFStillReads(t *testing.T) {
	body := "version: 1\r\n# a comment\r\n  folded into the comment\r\ndn: uid=ann,dc=exa\r\n mple,dc=com\r\nobjectClass: inetOrgPerson\r\nmail: ann@example.com\r\n" +
		"cn: Ann\r\n  Lee\r\ndescription:: w6lsw6h2ZQ==\r\nentryUUID: 1\r\n\r\n\r\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "x.ldif")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	src := openIn(t, dir, file.Config{Path: path})
	recs, err := read(t, src)
	require.NoError(t, err)
	require.Equal(t, "Ann Lee", recs["uid=ann,dc=example,dc=com"].DisplayName)
	f, err := src.(connectors.Looker).Lookup(context.Background(), "ann@example.com")
	require.NoError(t, err)
	require.Equal(t, "file "+path+", line 4", f.Query)
	require.Equal(t, []string{"élève"}, f.Raw["description"])
}

func openIn(t *testing.T, dir string, cfg file.Config) connectors.Source {
	t.Helper()
	require.Empty(t, cfg.Prepare(dir))
	src, err := cfg.Open("test", zap.NewNop())
	require.NoError(t, err)
	return src
}
