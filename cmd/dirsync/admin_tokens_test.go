package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAdminTokenExpiry(t *testing.T) {
	cfg := writeConfig(t, t.TempDir())
	before := time.Now()
	res := runCLI(t, "tokens", "create", "--config", cfg, "--name", "contractor", "--scope", "read", "--expires-in", "720h", "--output", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var created struct {
		Expires *time.Time `json:"expires"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &created))
	require.NotNil(t, created.Expires)
	require.WithinDuration(t, before.Add(720*time.Hour), *created.Expires, time.Minute)

	res = runCLI(t, "tokens", "create", "--config", cfg, "--name", "audit", "--scope", "read", "--expires", "2099-01-31")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "it expires 2099-01-31 00:00:00")
	res = runCLI(t, "tokens", "create", "--config", cfg, "--name", "ci", "--scope", "read")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "it never expires")

	res = runCLI(t, "tokens", "list", "--config", cfg)
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `(?m)^audit\s+read\s+\S+ \S+\s+never\s+2099-01-31 00:00:00$`, res.stdout)
	require.Regexp(t, `(?m)^ci\s+read\s+\S+ \S+\s+never\s+never$`, res.stdout)
	require.Regexp(t, `(?m)^contractor\s+read\s+\S+ \S+\s+never\s+`+before.Add(720*time.Hour).Format("2006-01-02"), res.stdout)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--expires-in", "720h", "--expires", "2099-01-01"}, "not both"},
		{[]string{"--expires-in", "-1h"}, "must be positive"},
		{[]string{"--expires", "2001-01-01"}, "not in the future"},
		{[]string{"--expires", "next week"}, "write a date as 2026-12-31"},
		{[]string{"--expires", "2999-01-01"}, "too far ahead"},
	} {
		res = runCLI(t, append([]string{"tokens", "create", "--config", cfg, "--name", "x", "--scope", "read"}, tc.args...)...)
		require.Equal(t, exitUsage, res.code, tc.args)
		require.Contains(t, res.stderr, tc.want, tc.args)
	}
}
