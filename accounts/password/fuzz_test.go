package password

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseHash checks the stored format: parsing is strict enough that an
// accepted string is exactly what Hash would write (it formats back to itself),
// its costs are within the bounds Verify may spend, and parsing a bounded string
// allocates a bounded amount whatever costs it asks for.
func FuzzParseHash(f *testing.F) {
	for _, s := range []string{
		"$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=+64,t=01,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1xyz$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=300$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=019$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"x$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "", "$$$$$", "$argon2id$x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h, err := parseHash(s)
		runtime.ReadMemStats(&after)
		// Generous: the split and two base64 decodes are a few times the input.
		require.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(16*len(s)+64<<10), "parsing %d bytes", len(s))
		if err != nil {
			require.NotContains(t, err.Error(), "failed to")
			return
		}
		require.Equal(t, s, h.String(), "an accepted hash formats back to itself")
		require.LessOrEqual(t, h.params.Memory, uint32(maxMemory))
		require.LessOrEqual(t, h.params.Time, uint32(maxTime))
		require.GreaterOrEqual(t, h.params.Memory, 8*uint32(h.params.Threads))
		require.NotZero(t, h.params.Time)
		require.NotZero(t, h.params.Threads)
		require.True(t, len(h.salt) >= minSaltLen && len(h.salt) <= maxSaltLen)
		require.True(t, len(h.key) >= minKeyLen && len(h.key) <= maxKeyLen)
	})
}

// FuzzHashRoundTrip checks that what Hash writes parses back to its own
// parameters and verifies only its own secret.
func FuzzHashRoundTrip(f *testing.F) {
	f.Add("Correct-Horse-9", "correct-horse-9", uint8(1), uint8(1))
	f.Add("", "x", uint8(0), uint8(0))
	f.Add("pässwörd\x00", "pässwörd", uint8(4), uint8(2))
	f.Fuzz(func(t *testing.T, secret, other string, time, threads uint8) {
		p := Params{Memory: 8 * (1 + uint32(threads%4)), Time: 1 + uint32(time%2), Threads: 1 + threads%4}
		encoded, err := Hash(secret, p)
		require.NoError(t, err)
		h, err := parseHash(encoded)
		require.NoError(t, err, encoded)
		require.Equal(t, p, h.params)
		require.Equal(t, encoded, h.String())
		require.NoError(t, Verify(secret, encoded))
		if other != secret {
			require.ErrorIs(t, Verify(other, encoded), ErrMismatch)
		}
	})
}
