// Package password hashes cloud passwords and security answers with argon2id and
// decides whether a new password is strong enough. Hashes are stored in the PHC
// string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so the parameters travel
// with each hash and can be raised later without invalidating old ones.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default follows RFC 9106's second recommended option (64 MiB, 3 passes), with
// two lanes for the small machines dirsync runs on.
var Default = Params{Memory: 64 * 1024, Time: 3, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32
	// MinLength is the shortest password Check accepts.
	MinLength = 10
)

// ErrMismatch is returned by Verify when the password is wrong.
var ErrMismatch = errors.New("password does not match")

// Hash returns the PHC-encoded argon2id hash of secret with a fresh random salt.
func Hash(secret string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify checks secret against an encoded hash in constant time. A malformed hash
// is an error distinct from ErrMismatch (it means the stored value is corrupt).
func Verify(secret, encoded string) error {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("stored password hash is not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return fmt.Errorf("stored password hash has unsupported version %q", parts[2])
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || p.Time == 0 || p.Threads == 0 {
		return fmt.Errorf("stored password hash has bad parameters %q", parts[3])
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("stored password hash salt: %w", err)
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return errors.New("stored password hash key is not base64")
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// WeakError says why a password was refused; it never contains the password.
type WeakError struct{ Reason string }

func (e *WeakError) Error() string { return "weak password: " + e.Reason }

// common are passwords refused whatever their length (lower-cased).
var common = map[string]bool{
	"password1234": true, "passw0rd1234": true, "qwertyuiop": true, "1234567890": true,
	"0123456789": true, "letmein1234": true, "welcome1234": true, "administrator": true,
	"changeme123": true, "iloveyou123": true, "abcdefghij": true, "password123": true,
}

// Check decides whether password may be set: at least MinLength characters, at
// least three of lower case, upper case, digits and symbols, not a well-known
// password, and not containing the account's own name (the part before the @).
func Check(password, address string) error {
	if n := len([]rune(password)); n < MinLength {
		return &WeakError{Reason: fmt.Sprintf("%d characters; use at least %d", n, MinLength)}
	}
	var lower, upper, digit, symbol bool
	for _, r := range password {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			symbol = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit, symbol} {
		if b {
			classes++
		}
	}
	if classes < 3 {
		return &WeakError{Reason: "use at least three of: lower case, upper case, digits, symbols"}
	}
	lp := strings.ToLower(password)
	if common[lp] {
		return &WeakError{Reason: "it is one of the most common passwords"}
	}
	if local, _, ok := strings.Cut(strings.ToLower(address), "@"); ok && len(local) >= 3 && strings.Contains(lp, local) {
		return &WeakError{Reason: "it contains the account's own name"}
	}
	return nil
}
