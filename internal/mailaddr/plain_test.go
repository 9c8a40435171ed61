package mailaddr

import (
	"strings"
	"testing"
)

// FuzzNormalizePlain holds Normalize's fast path to its full one: whatever
// plain accepts, the full path (IDNA and net/mail) returns unchanged.
func FuzzNormalizePlain(f *testing.F) {
	for _, s := range []string{
		"jane.doe@example.com", "a@b.c", "a+tag@mail.example.org", "a_b-c@x-y.example", "a@b",
		"a..b@example.com", ".a@example.com", "a.@example.com", "a@-b.com", "a@b-.com",
		"a@xn--bcher-kva.example", "a@ab--c.example", "a@example..com", "a@example.com.",
		"A@example.com", "a@EXAMPLE.com", "a@b_c.com", "a b@example.com", "a@1.2",
		"a@" + strings.Repeat("b", 63) + ".com", "a@" + strings.Repeat("b", 64) + ".com",
		strings.Repeat("a", 240) + "@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plain(s) {
			return
		}
		out, err := normalize(s)
		if err != nil || out != s {
			t.Fatalf("plain(%q), but the full path gives %q, %v", s, out, err)
		}
	})
}

func TestPlain(t *testing.T) {
	for s, want := range map[string]bool{
		"jane.doe@example.com":    true,
		"a+tag@mail.example.org":  true,
		"a_b-c@x-y.example":       true,
		"Jane@example.com":        false, // not canonical: the full path lower-cases it
		"a@Example.com":           false,
		"a..b@example.com":        false,
		"a@localhost":             false, // not fully qualified
		"a@xn--bcher-kva.example": false, // punycode: IDNA checks it
		"a@-b.com":                false,
		"a@example.com.":          false,
		"a@b@example.com":         false,
		"@example.com":            false,
		"a@":                      false,
	} {
		if got := plain(s); got != want {
			t.Errorf("plain(%q) = %v, want %v", s, got, want)
		}
	}
}
