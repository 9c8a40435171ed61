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
