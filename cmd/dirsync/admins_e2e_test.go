package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dirsyncIn runs the dirsync binary with stdin as its standard input.
func dirsyncIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestAdminsCreateWhileServeRuns is the quickstart's first administrator:
// made with the password on standard input while `dirsync serve` runs on the
// same SQLite store, then signed in through the running daemon.
func TestAdminsCreateWhileServeRuns(t *testing.T) {
	dir, cfg := quickstart(t)
	listen := freePort(t)
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, bytes.Replace(raw, []byte("127.0.0.1:8080"), []byte(listen), 1), 0o644))
	d := startServe(t, listen, cfg)
	require.Eventually(t, func() bool {
		resp, err := http.Get(d.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "the daemon did not become ready")

	login := func(address, password string) (int, map[string]any) {
		body, err := json.Marshal(map[string]string{"address": address, "password": password})
		require.NoError(t, err)
		resp, err := http.Post(d.base+"/v1/auth/login", "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out) // the status is what is checked; the body only when 200
		return resp.StatusCode, out
	}
	const pw = "Correct-Horse-42"
	code, _ := login("admin@example.com", pw)
	require.Equal(t, http.StatusUnauthorized, code, "no administrator yet")

	create := []string{"admins", "create", "--config", cfg, "--address", "admin@example.com", "--name", "Ada Admin"}
	res := dirsyncIn(t, pw+"\n", append(create, "--password-file", "-")...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "created admin@example.com, set its password, granted Administrator: sign in at http://"+listen+"/console/\n", res.stdout)
	require.NotContains(t, res.stdout+res.stderr, pw)

	code, body := login("admin@example.com", pw)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, false, body["must_change_password"], "the password is the administrator's own, not a temporary one")

	// Again, with the password in a file: nothing to do.
	pwFile := filepath.Join(dir, "admin-password")
	require.NoError(t, os.WriteFile(pwFile, []byte(pw+"\n"), 0o600))
	res = dirsyncIn(t, "", append(create, "--password-file", pwFile)...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "admin@example.com exists, it already has that password, it already holds Administrator: "+
		"sign in at http://"+listen+"/console/\n", res.stdout)

	// A password the policy refuses: the rule is named, nothing changes.
	res = dirsyncIn(t, "Short-1\n", append(create, "--password-file", "-")...)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "the password was refused: weak password: 7 characters; use at least 10")
	require.NotContains(t, res.stderr, "Short-1")
	code, _ = login("admin@example.com", pw)
	require.Equal(t, http.StatusOK, code)

	// An address outside the internal domains: the fix is in the message.
	res = dirsyncIn(t, pw+"\n", "admins", "create", "--config", cfg, "--address", "admin@example.org", "--password-file", "-")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "domain example.org is not an internal domain of this directory")
	require.Contains(t, res.stderr, "dirsync domains add example.org")

	// The password as a flag is refused, and why.
	res = dirsyncIn(t, "", append(create, "--password", pw)...)
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "--password is refused: a command line is visible to every user of this machine")
	require.Contains(t, res.stderr, "--password-file -")
	require.Empty(t, res.stdout)
}
