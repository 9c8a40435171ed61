// Package mailaddr puts email addresses in the one form the store keeps: trimmed,
// lower-case, with the domain in its ASCII (IDNA A-label) form.
package mailaddr

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"golang.org/x/net/idna"
)

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("invalid email address")

// Normalize returns the canonical form of a bare address (no display name, no angle
// brackets), or an error saying what is wrong with it.
func Normalize(s string) (string, error) {
	s = strings.TrimSpace(s)
	if plain(s) {
		// Most addresses of a directory: already canonical, and valid by
		// construction (FuzzNormalizePlain holds this to the full path).
		return s, nil
	}
	return normalize(s)
}

// plain reports whether s is an address Normalize would return unchanged,
// decided without parsing: a local part of lower-case letters, digits and
// . _ + - (dots neither first, last nor doubled), and a domain of at least
// two lower-case letter-and-digit labels of at most 63 characters, hyphens
// inside a label only and never in its third and fourth place (so no
// punycode), at most 254 characters in all.
func plain(s string) bool {
	if len(s) > 254 {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	prev := byte('.')
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '+', c == '-':
		case c == '.' && prev != '.':
		default:
			return false
		}
		prev = c
	}
	if prev == '.' {
		return false
	}
	labels := 0
	for domain != "" {
		label, rest, more := strings.Cut(domain, ".")
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			(len(label) >= 4 && label[2] == '-' && label[3] == '-') {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
		labels++
		if more && rest == "" {
			return false // a trailing dot
		}
		domain = rest
	}
	return labels >= 2
}

// normalize is Normalize's full path, for any address.
func normalize(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", fmt.Errorf("%w: %q has no local part and domain separated by @", ErrInvalid, s)
	}
	local, domain := s[:at], s[at+1:]
	ascii, err := idna.Lookup.ToASCII(strings.ToLower(domain))
	if err != nil {
		return "", fmt.Errorf("%w: %q has an invalid domain: %w", ErrInvalid, s, err)
	}
	if !strings.Contains(ascii, ".") {
		return "", fmt.Errorf("%w: %q: domain %q is not fully qualified", ErrInvalid, s, ascii)
	}
	out := strings.ToLower(local) + "@" + ascii
	parsed, err := mail.ParseAddress(out)
	if err != nil || parsed.Address != out {
		return "", fmt.Errorf("%w: %q is not a valid address", ErrInvalid, s)
	}
	if len(out) > 254 {
		return "", fmt.Errorf("%w: %q is longer than 254 characters", ErrInvalid, s)
	}
	return out, nil
}

// Domain returns the part after the last @ of an already normalised address.
func Domain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// NormalizeDomain returns the canonical (lower-case ASCII) form of a domain name.
func NormalizeDomain(d string) (string, error) {
	ascii, err := idna.Lookup.ToASCII(strings.ToLower(strings.TrimSpace(d)))
	if err != nil {
		return "", fmt.Errorf("domain %q: %w", d, err)
	}
	if !strings.Contains(ascii, ".") {
		return "", fmt.Errorf("domain %q is not fully qualified", d)
	}
	return ascii, nil
}
