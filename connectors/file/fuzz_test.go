package file

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// FuzzReadCSV checks the CSV reader on any file: it fails naming the file or
// emits records that each have a reference and an anchor (the join needs both),
// and a bounded file costs a bounded amount of memory.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"Email,Name,Aliases,Disabled\njane@example.com,Jane,j@example.com;jd@example.com,FALSE\n",
		"\uFEFFemail,type,members\nstaff@example.com,group,jane@example.com jim@example.com\n",
		"Email,Anchor\n,\n  ,  \nx@example.com,\n",
		"Email,Disabled,Type\nx@example.com,maybe,robot\n",
		"Email,Email\n", "Name\nx\n", "", "Email\n\"open\n", "Email\nCaf\xe9@example.com\n",
		"Email,Password\nx@example.com,secret\n", "Email\r\nx@example.com\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "/drop/users.csv"
		var recs []connectors.Record
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := readCSV(context.Background(), bytes.NewReader(data), path, zap.NewNop(), func(r connectors.Record) error {
			recs = append(recs, r)
			return nil
		})
		runtime.ReadMemStats(&after)
		require.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(200*len(data)+1<<20), "reading %d bytes", len(data))
		if err != nil {
			require.Contains(t, err.Error(), "csv "+path)
			return
		}
		for _, r := range recs {
			require.NotEmpty(t, r.Ref)
			require.NotEmpty(t, r.Anchor)
			require.Contains(t, []connectors.Kind{connectors.KindUser, connectors.KindGroup}, r.Kind)
			if r.Mail != "" {
				require.Equal(t, strings.ToLower(r.Mail), r.Ref)
			}
		}
	})
}

// ldifMarker is the content of a file an LDIF line points at with attr:< URL.
const ldifMarker = "MARKER-c41d9e-ENVIRON"

// FuzzReadLDIF checks the LDIF reader behind its guard on any file: "@URL@" in
// the input becomes a file:// URL to a file holding a marker, and that content
// never comes back in a record or an error; every error names the file; every
// entry the guard lets through has a dn line; memory stays bounded.
func FuzzReadLDIF(f *testing.F) {
	head := "version: 1\n\ndn: uid=ann,dc=example,dc=com\nobjectClass: inetOrgPerson\nmail: ann@example.com\nentryUUID: 1\n"
	for _, s := range []string{
		head,
		head + "cn:< @URL@\n",
		head + "displayName:\n < @URL@\n\n",
		"dn:< @URL@\nobjectClass: inetOrgPerson\n",
		head + "cn:: QW5u\ndescription:: !!\n",
		head + "\ndn: cn=staff,dc=example,dc=com\nobjectClass: groupOfNames\nmember: uid=ann,dc=example,dc=com\n",
		"dn: uid=x,dc=example\nchangetype: modify\nreplace: mail\nmail: x@example.com\n-\n",
		"# comment\n continued comment\ndn: uid=y,dc=example\nmail: y@example.com\n",
		"version: 2\n", "no colon\n", "1.2.3: x\n", "dn:\n", "\n\n\n", " leading space\n", "dn: a\r\nmail: b\r\n",
	} {
		f.Add([]byte(s))
	}
	secret := filepath.Join(f.TempDir(), "environ")
	require.NoError(f, os.WriteFile(secret, []byte(ldifMarker), 0o600))
	m, err := dirmap.Preset("openldap")
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "/drop/dir.ldif"
		data = bytes.ReplaceAll(data, []byte("@URL@"), []byte("file://"+secret))
		if bytes.Contains(data, []byte(ldifMarker[:10])) {
			t.Skip("the marker is in the input itself")
		}
		var out strings.Builder
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := readLDIF(context.Background(), bytes.NewReader(data), path, m, zap.NewNop(), func(r connectors.Record) error {
			fmt.Fprintf(&out, "%+v\n", r)
			return nil
		})
		runtime.ReadMemStats(&after)
		require.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(400*len(data)+4<<20), "reading %d bytes", len(data))
		require.NotContains(t, out.String(), ldifMarker[:10], "a URL value was read into a record")
		if err != nil {
			require.NotContains(t, err.Error(), ldifMarker[:10], "a URL value was read into an error")
			require.Contains(t, err.Error(), "ldif "+path)
		}
		for e, err := range ldifEntries(bytes.NewReader(data), path) {
			if err != nil {
				break
			}
			require.Positive(t, e.line, "entry %q has no dn line", e.entry.DN)
		}
	})
}
