package mailaddr_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/mailaddr"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{in: " Ann.Lee@Example.COM ", want: "ann.lee@example.com"},
		{in: "jörg@Bücher.example", want: "jörg@xn--bcher-kva.example"},
		{in: "a+tag@sub.example.org", want: "a+tag@sub.example.org"},
		{in: "", err: "empty"},
		{in: "no-at-sign.example.com", err: "no local part and domain separated by @"},
		{in: "@example.com", err: "no local part"},
		{in: "ann@localhost", err: "not fully qualified"},
		{in: "Ann Lee <ann@example.com>", err: "invalid domain"},
		{in: "ann lee@example.com", err: "not a valid address"},
		{in: "two@@example.com", err: "not a valid address"},
		{in: "ann@exa mple.com", err: "invalid domain"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := mailaddr.Normalize(c.in)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				require.True(t, errors.Is(err, mailaddr.ErrInvalid))
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
			require.Equal(t, got[len(got)-len(mailaddr.Domain(got)):], mailaddr.Domain(got))
		})
	}
}

func TestNormalizeDomain(t *testing.T) {
	d, err := mailaddr.NormalizeDomain(" Bücher.Example ")
	require.NoError(t, err)
	require.Equal(t, "xn--bcher-kva.example", d)
	_, err = mailaddr.NormalizeDomain("intranet")
	require.ErrorContains(t, err, "not fully qualified")
}
