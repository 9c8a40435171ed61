package csvimport_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/csvimport"
)

var opts = csvimport.Options{
	Internal: func(d string) bool { return d == "example.com" },
	CheckPassword: func(p, address string) error {
		if len(p) < 8 {
			return errors.New("too short: use at least 8 characters")
		}
		if strings.Contains(p, address) {
			return errors.New("contains the address: choose another")
		}
		return nil
	},
}

func problems(t *testing.T, data string) []string {
	t.Helper()
	rows, err := csvimport.Parse([]byte(data), opts)
	var ie *csvimport.Error
	require.ErrorAs(t, err, &ie)
	require.Nil(t, rows, "nothing is imported from a file with problems")
	var out []string
	for _, p := range ie.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestTemplateParses(t *testing.T) {
	rows, err := csvimport.Parse(csvimport.Template(), opts)
	require.NoError(t, err)
	require.Equal(t, []csvimport.Row{{Line: 2, Email: "jane.doe@example.com", Name: "Jane Doe", Password: "Temporary-Passw0rd", ForceChange: true}}, rows)
}

func TestValidFile(t *testing.T) {
	data := "\xef\xbb\xbfemail,NAME,force change password,Password\r\n" +
		"Alice@Example.com,Alice,true,Temp-pass-1\r\n" +
		"\r\n" +
		"hr@example.com,HR list,,\r\n" +
		"\"bob@example.com\",\"Bob, Jr.\",FALSE,\r\n"
	rows, err := csvimport.Parse([]byte(data), opts)
	require.NoError(t, err)
	require.Equal(t, []csvimport.Row{
		{Line: 2, Email: "alice@example.com", Name: "Alice", Password: "Temp-pass-1", ForceChange: true},
		{Line: 4, Email: "hr@example.com", Name: "HR list"},
		{Line: 5, Email: "bob@example.com", Name: "Bob, Jr."},
	}, rows)
}

func TestEveryRowProblemIsReported(t *testing.T) {
	data := "Email,Name,Password,Force Change Password\n" +
		"ok@example.com,Ok,,FALSE\n" +
		"not-an-address,X,,FALSE\n" +
		"x@example.org,X,,FALSE\n" +
		",No address,,FALSE\n" +
		"y@example.com,Y,short,FALSE\n" +
		"z@example.com,Z,,maybe\n" +
		"w@example.com,W,,TRUE\n" +
		"OK@example.com,Again,,FALSE\n"
	got := problems(t, data)
	require.Len(t, got, 7, "%q", got)
	want := []string{
		"row 3, column Email: \"not-an-address\" is not a valid address",
		"row 4, column Email: domain example.org is not an internal domain",
		"row 5, column Email: missing",
		"row 6, column Password: too short",
		"row 7, column Force Change Password: \"maybe\": write TRUE or FALSE",
		"row 8, column Force Change Password: TRUE needs a Password",
		"row 9, column Email: ok@example.com is already on row 2",
	}
	for i, w := range want {
		require.Contains(t, got[i], w)
	}
	require.NotContains(t, strings.Join(got, "\n"), "short,", "a password is never echoed")
}

func TestHeaderProblems(t *testing.T) {
	require.Contains(t, problems(t, "Mail,Name\nx@example.com,X\n")[0], "row 1, column Mail: unknown column")
	require.Contains(t, problems(t, "Name\nX\n")[0], "row 1, column Email: missing")
	require.Contains(t, problems(t, "Email,email\nx@example.com,y@example.com\n")[0], "appears twice")
	require.Contains(t, problems(t, "")[0], "the file is empty")
	require.Contains(t, problems(t, "Email\n")[0], "no rows")
}

func TestTooManyAddressesIsRefusedWithBatchAdvice(t *testing.T) {
	var b strings.Builder
	b.WriteString("Email\n")
	for i := range csvimport.MaxAddresses + 1 {
		fmt.Fprintf(&b, "u%d@example.com\n", i)
	}
	got := problems(t, b.String())
	require.Len(t, got, 1)
	require.Contains(t, got[0], "501 addresses")
	require.Contains(t, got[0], "split it into batches of 500")
	require.Equal(t, csvimport.KindTooLarge, kind(t, b.String()))

	exact := strings.Join(strings.Split(b.String(), "\n")[:csvimport.MaxAddresses+1], "\n")
	rows, err := csvimport.Parse([]byte(exact), opts)
	require.NoError(t, err)
	require.Len(t, rows, csvimport.MaxAddresses)
}

func TestWindows1252IsRefusedNamingTheCharacter(t *testing.T) {
	got := problems(t, "Email,Name\nok@example.com,Ok\npound@example.com,Price \xa3 list\n")
	require.Len(t, got, 1)
	require.Contains(t, got[0], "row 3")
	require.Contains(t, got[0], "0xA3")
	require.Contains(t, got[0], `"£" in Windows-1252`)
	require.Contains(t, got[0], "CSV UTF-8")
	require.Equal(t, csvimport.KindNotUTF8, kind(t, "Email,Name\npound@example.com,Price \xa3 list\n"))
}

func TestPasswordIsCheckedAgainstTheRowsAddress(t *testing.T) {
	got := problems(t, "Email,Password\nann@example.com,xxann@example.comxx\n")
	require.Equal(t, []string{"row 2, column Password: contains the address: choose another"}, got)
	require.Equal(t, csvimport.KindRows, kind(t, "Email,Password\nann@example.com,short\n"))
}

func kind(t *testing.T, data string) string {
	t.Helper()
	_, err := csvimport.Parse([]byte(data), opts)
	var ce *csvimport.Error
	require.ErrorAs(t, err, &ce)
	return ce.Kind
}

func TestBrokenQuotingNamesTheRow(t *testing.T) {
	got := problems(t, "Email,Name\nok@example.com,Ok\nx@example.com,\"unterminated\n")
	require.Contains(t, got[0], "row 3")
	require.Contains(t, got[0], "quote")
}
