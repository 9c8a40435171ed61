package mailaddr_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/mailaddr"
)

// FuzzNormalize checks what the store relies on: an accepted address has one @,
// a fully qualified ASCII domain, no space or control character, and is already
// in its canonical form (normalising it again changes nothing).
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"jane.doe@example.com", " Jane.Doe@EXAMPLE.com ", "a@b.c", "user@Bücher.example",
		"user@xn--bcher-kva.example", "a@b@example.com", "@example.com", "a@", "a@localhost",
		"\"quoted local\"@example.com", "a..b@example.com", "a@example..com", "a@-example.com",
		"a@exam_ple.com", "a@.", "İ@example.com", "ǅ@example.com", "a\x00b@example.com",
		"a@example.com.", "a@e\u200d.com", strings.Repeat("a", 250) + "@example.com",
		"a@" + strings.Repeat("b", 64) + ".com", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := mailaddr.Normalize(s)
		if err != nil {
			require.True(t, errors.Is(err, mailaddr.ErrInvalid), "error %v does not wrap ErrInvalid", err)
			require.Empty(t, out)
			return
		}
		require.Equal(t, 1, strings.Count(out, "@"), "%q", out)
		require.LessOrEqual(t, len(out), 254)
		require.Equal(t, strings.ToLower(out), out)
		for _, r := range out {
			require.False(t, unicode.IsSpace(r) || unicode.IsControl(r), "%q holds %U", out, r)
		}
		domain := mailaddr.Domain(out)
		require.Contains(t, domain, ".")
		for i := 0; i < len(domain); i++ {
			require.Less(t, domain[i], byte(0x80), "domain %q is not ASCII", domain)
		}
		d2, err := mailaddr.NormalizeDomain(domain)
		require.NoError(t, err, "the domain of accepted %q", out)
		require.Equal(t, domain, d2)
		again, err := mailaddr.Normalize(out)
		require.NoError(t, err, "normalising %q (from %q) again", out, s)
		require.Equal(t, out, again, "normalising %q again", s)
	})
}

// FuzzNormalizeDomain checks that an accepted domain is ASCII, fully qualified
// and canonical.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"example.com", "EXAMPLE.com", "Bücher.example", "xn--bcher-kva.example",
		"localhost", "a..b", ".", "-a.com", "a_b.com", "ß.de", "\u200d.com", " example.com "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := mailaddr.NormalizeDomain(s)
		if err != nil {
			return
		}
		require.Contains(t, d, ".")
		for i := 0; i < len(d); i++ {
			require.Less(t, d[i], byte(0x80), "domain %q is not ASCII", d)
		}
		again, err := mailaddr.NormalizeDomain(d)
		require.NoError(t, err, "normalising %q (from %q) again", d, s)
		require.Equal(t, d, again)
	})
}
