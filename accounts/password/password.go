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
	"strconv"
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
	return phc{params: p, salt: salt, key: key}.String(), nil
}

// Verify checks secret against an encoded hash in constant time. A malformed hash
// is an error distinct from ErrMismatch (it means the stored value is corrupt).
func Verify(secret, encoded string) error {
	h, err := parseHash(encoded)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(secret), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	if subtle.ConstantTimeCompare(got, h.key) != 1 {
		return ErrMismatch
	}
	return nil
}

// Bounds on a stored hash's parameters. Verify spends what the stored string
// asks for, so a corrupt or planted row must not be able to ask for 4 TiB of
// memory or a billion passes; the bounds sit well above any cost worth
// configuring (RFC 9106's first option is 2 GiB, one pass).
const (
	maxMemory  = 4 << 20 // KiB: 4 GiB
	maxTime    = 64
	minSaltLen = 8 // RFC 9106 §3.1
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

// phc is a parsed stored hash.
type phc struct {
	params    Params
	salt, key []byte
}

// String formats h the way Hash writes it.
func (h phc) String() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.params.Memory, h.params.Time, h.params.Threads,
		enc.EncodeToString(h.salt), enc.EncodeToString(h.key))
}

// parseHash reads exactly the form Hash writes. Errors never quote the salt or
// the key, only the parameters.
func parseHash(encoded string) (phc, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, errors.New("stored password hash is not an argon2id PHC string")
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return phc{}, fmt.Errorf("stored password hash has unsupported version %q", clip(parts[2]))
	}
	var h phc
	m, okM := phcParam(parts[3], "m=", maxMemory)
	rest := strings.TrimPrefix(parts[3], "m="+strconv.FormatUint(m, 10)+",")
	t, okT := phcParam(rest, "t=", maxTime)
	rest = strings.TrimPrefix(rest, "t="+strconv.FormatUint(t, 10)+",")
	p, okP := phcParam(rest, "p=", 255)
	if !okM || !okT || !okP || rest != "p="+strconv.FormatUint(p, 10) || t == 0 || p == 0 || m < 8*p {
		return phc{}, fmt.Errorf("stored password hash has bad parameters %q (want m=1..%d KiB, at least 8 per lane, t=1..%d, p=1..255)",
			clip(parts[3]), maxMemory, maxTime)
	}
	h.params = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	var ok bool
	if h.salt, ok = phcBytes(parts[4], minSaltLen, maxSaltLen); !ok {
		return phc{}, fmt.Errorf("stored password hash salt is not %d to %d bytes of unpadded base64", minSaltLen, maxSaltLen)
	}
	if h.key, ok = phcBytes(parts[5], minKeyLen, maxKeyLen); !ok {
		return phc{}, fmt.Errorf("stored password hash key is not %d to %d bytes of unpadded base64", minKeyLen, maxKeyLen)
	}
	return h, nil
}

// phcBytes decodes canonical unpadded base64 of min to max bytes. The length is
// checked first, so a huge field costs nothing; and the decoder's habit of
// skipping CR and LF is undone by comparing with the canonical encoding.
func phcBytes(s string, lo, hi int) ([]byte, bool) {
	enc := base64.RawStdEncoding
	if len(s) < enc.EncodedLen(lo) || len(s) > enc.EncodedLen(hi) {
		return nil, false
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil || len(b) < lo || len(b) > hi || enc.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// phcParam reads the decimal after prefix at the start of s, up to the next
// comma, in canonical form (no sign, no leading zero) and at most limit.
func phcParam(s, prefix string, limit uint64) (uint64, bool) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, false
	}
	v, _, _ = strings.Cut(v, ",")
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > limit || strconv.FormatUint(n, 10) != v {
		return 0, false
	}
	return n, true
}

// clip keeps an error about a corrupt value short.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
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
