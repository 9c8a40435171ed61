package password_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/accounts/password"
)

// fast keeps the tests quick; Default is exercised once.
var fast = password.Params{Memory: 1024, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	h, err := password.Hash("Correct-Horse-9", password.Default)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$"), h)
	require.NotContains(t, h, "Correct-Horse-9")
	require.NoError(t, password.Verify("Correct-Horse-9", h))
	require.ErrorIs(t, password.Verify("correct-horse-9", h), password.ErrMismatch)

	h2, err := password.Hash("Correct-Horse-9", fast)
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "every hash has its own salt")
	require.NoError(t, password.Verify("Correct-Horse-9", h2), "parameters travel with the hash")
}

func TestVerifyRejectsCorruptHashes(t *testing.T) {
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=18$m=1024,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=x$c2FsdA$a2V5", "$argon2id$v=19$m=1024,t=1,p=1$!!$a2V5", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$",
		// Trailing garbage, non-canonical numbers, and costs no hash of ours has
		// (a planted row must not make Verify spend them) were all accepted once.
		"$argon2id$v=19$m=64,t=1,p=1xyz$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=+64,t=01,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=65,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"x$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5"} {
		err := password.Verify("x", bad)
		require.Error(t, err, bad)
		require.NotErrorIs(t, err, password.ErrMismatch, bad)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		pw, addr, want string
	}{
		{"Correct-Horse-9", "jane@example.com", ""},
		{"Short-1", "jane@example.com", "7 characters; use at least 10"},
		{"alllowercaseletters", "jane@example.com", "three of"},
		{"Password1234", "jane@example.com", "most common"},
		{"Jane-Doe-2026!", "jane@example.com", "own name"},
		{"ünïcödé-PÄSS-42", "x@example.com", ""},
	} {
		err := password.Check(tc.pw, tc.addr)
		if tc.want == "" {
			require.NoError(t, err, tc.pw)
			continue
		}
		var we *password.WeakError
		require.ErrorAs(t, err, &we, tc.pw)
		require.Contains(t, err.Error(), tc.want)
		require.NotContains(t, err.Error(), tc.pw, "the password is never echoed")
	}
}
