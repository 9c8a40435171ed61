package csvimport_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/csvimport"
	"github.com/dirsync/dirsync/internal/mailaddr"
)

// FuzzParse feeds whole files. Parse returns rows or an *Error, never both; an
// accepted file holds at most MaxAddresses distinct canonical addresses on
// increasing lines, each TRUE Force Change with a password; a refused one says
// what is wrong; and a bounded file costs a bounded amount of memory.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		string(csvimport.Template()),
		"\xef\xbb\xbfemail,NAME,force change password,Password\r\nAlice@Example.com,Alice,true,Temp-pass-1\r\n\r\n\"bob@example.com\",\"Bob, Jr.\",FALSE,\r\n",
		"Email\nx@example.com\nX@EXAMPLE.COM\n",
		"Email,Name,Password,Force Change Password\n\"unterminated,x,,\n",
		"Email,Pasword\nx@example.com,secret\n",
		"Email,Email\n", ",\n", "", "\xef\xbb\xbf", "Email\n", "Name\nx\n",
		"Email,Name\nx@example.com,Caf\xe9\n",
		"Email,Force Change Password\nx@example.com,TRUE\n",
		"Email\n" + strings.Repeat("a@example.com\n", 3),
		"Email\n" + strings.Repeat("\"\n", 5),
		"Email;Name\nx@example.com;X\n",
	} {
		f.Add([]byte(s))
	}
	opts := csvimport.Options{
		Internal:      func(d string) bool { return d == "example.com" || strings.HasSuffix(d, ".example") },
		CheckPassword: func(p, _ string) error { return nil },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rows, err := csvimport.Parse(data, opts)
		runtime.ReadMemStats(&after)
		// Generous: a file is read once into records, rows and problems, each
		// a small multiple of the input, plus per-problem messages.
		require.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(200*len(data)+1<<20), "parsing %d bytes", len(data))
		if err != nil {
			require.Nil(t, rows)
			var ie *csvimport.Error
			require.True(t, errors.As(err, &ie), "%T: %v", err, err)
			require.NotEmpty(t, ie.Problems)
			require.Contains(t, []string{csvimport.KindRows, csvimport.KindNotUTF8, csvimport.KindTooLarge}, ie.Kind)
			for _, p := range ie.Problems {
				require.NotEmpty(t, p.Message)
				require.GreaterOrEqual(t, p.Row, 0)
			}
			return
		}
		require.NotEmpty(t, rows)
		require.LessOrEqual(t, len(rows), csvimport.MaxAddresses)
		seen := map[string]bool{}
		line := 1
		for _, r := range rows {
			require.Greater(t, r.Line, line, "rows come in file order after the header")
			line = r.Line
			canon, err := mailaddr.Normalize(r.Email)
			require.NoError(t, err)
			require.Equal(t, canon, r.Email)
			require.False(t, seen[r.Email], "%s listed twice", r.Email)
			seen[r.Email] = true
			require.True(t, !r.ForceChange || r.Password != "", "row %d: TRUE without a password", r.Line)
		}
	})
}

// secretMarker stands for a password in FuzzPasswordNeverEchoed.
const secretMarker = "Pw-8b1e5f-MARKER"

// FuzzPasswordNeverEchoed builds a one-row file whose password holds a marker
// and checks that no problem ever repeats it, whatever the other cells hold and
// whichever check refuses the row.
func FuzzPasswordNeverEchoed(f *testing.F) {
	f.Add("jane@example.com", "Jane", "x", "TRUE", false)
	f.Add("not an address", "", "", "maybe", true)
	f.Add("jane@example.org", "Jane", "\"", "", true)
	f.Add("", "", "\n", "FALSE", false)
	f.Add("a@example.com", "a\r\nb", ",", "TRUE", true)
	f.Fuzz(func(t *testing.T, email, name, pw, force string, refuse bool) {
		password := pw + secretMarker + pw
		if strings.Contains(email+name+force, secretMarker[:6]) {
			t.Skip("the marker is in another cell")
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		require.NoError(t, w.WriteAll([][]string{
			{"Email", "Name", "Password", "Force Change Password"},
			{email, name, password, force},
		}))
		opts := csvimport.Options{
			Internal: func(d string) bool { return d == "example.com" },
			CheckPassword: func(p, _ string) error {
				if refuse {
					return errors.New("too weak: choose a longer one")
				}
				return nil
			},
		}
		rows, err := csvimport.Parse(buf.Bytes(), opts)
		if err != nil {
			require.NotContains(t, err.Error(), secretMarker[:6], "the password leaked into %q", err.Error())
			return
		}
		require.Len(t, rows, 1)
		require.Equal(t, password, rows[0].Password, "the password is taken as typed")
	})
}

// TestUnterminatedQuoteIsAProblem is the crasher FuzzParse found: a quote left
// open to the end of the file made Parse ask the CSV reader for the position of
// a record it never finished, which panics.
func TestUnterminatedQuoteIsAProblem(t *testing.T) {
	rows, err := csvimport.Parse([]byte("Email,Name\nok@example.com,Ok\n\"x@example.com,X\n"), csvimport.Options{})
	require.Nil(t, rows)
	var ie *csvimport.Error
	require.ErrorAs(t, err, &ie)
	require.Len(t, ie.Problems, 1)
	require.Contains(t, ie.Problems[0].String(), `row 3: extraneous or missing " in quoted-field`)
	require.Contains(t, ie.Problems[0].String(), "quote fields that contain commas")
}
