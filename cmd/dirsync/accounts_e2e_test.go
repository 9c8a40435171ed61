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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// accountsEnv is a `dirsync serve` on the quickstart configuration with the
// sign-in rate limits lifted (the test signs in more often than a person
// would), an admin token, and the built binary as both the administrator's
// and the end user's CLI.
type accountsEnv struct {
	t        *testing.T
	dir      string
	base     string
	token    string
	secretNo int
	// userOut is everything the end user's commands printed.
	userOut strings.Builder
}

func newAccountsEnv(t *testing.T) *accountsEnv {
	t.Helper()
	dir, cfg := quickstart(t)
	listen := freePort(t)
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	raw = bytes.Replace(raw, []byte("  listen: 127.0.0.1:8080"), []byte("  listen: "+listen+"\n"+
		"  login: {per_client_rate: 1000000, per_client_burst: 100000, per_account_rate: 1000000, per_account_burst: 100000}"), 1)
	require.NoError(t, os.WriteFile(cfg, raw, 0o644))
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "accounts", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	token := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)
	require.NotEmpty(t, token, res.stdout)
	d := startServe(t, listen, cfg)
	require.Eventually(t, func() bool {
		resp, err := http.Get(d.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "the daemon did not become ready")
	return &accountsEnv{t: t, dir: dir, base: d.base, token: token}
}

// run runs the binary against the daemon with stdin as its standard input;
// admin adds the admin token to the environment (the end user's commands run
// without one).
func (e *accountsEnv) run(admin bool, stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "DIRSYNC_SERVER="+e.base, "DIRSYNC_TOKEN=")
	if admin {
		cmd.Env = append(cmd.Env, "DIRSYNC_TOKEN="+e.token)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(e.t, err)
	}
	if !admin {
		e.userOut.WriteString(out.String() + errb.String())
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// admin runs an admin command that must succeed.
func (e *accountsEnv) admin(args ...string) string {
	e.t.Helper()
	r := e.run(true, "", args...)
	require.Equal(e.t, 0, r.code, "dirsync %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// user runs an end user's command and checks its exit code.
func (e *accountsEnv) user(code int, stdin string, args ...string) result {
	e.t.Helper()
	r := e.run(false, stdin, args...)
	require.Equal(e.t, code, r.code, "dirsync %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// secret writes value to a file of its own and returns the path.
func (e *accountsEnv) secret(value string) string {
	e.secretNo++
	p := filepath.Join(e.dir, "secret-"+strconv.Itoa(e.secretNo))
	require.NoError(e.t, os.WriteFile(p, []byte(value+"\n"), 0o600))
	return p
}

// TestAccountCommandsEndToEnd is the end user's side of dirsync issue 23
// through the binary: a temporary password changed with a security question
// on first sign-in, a forgotten password reset with the answer, the lock
// after three wrong answers, and registration through an invitation with
// roles.
func TestAccountCommandsEndToEnd(t *testing.T) {
	e := newAccountsEnv(t)
	e.admin("domains", "add", "example.org")
	const (
		addr  = "kim@example.org"
		temp  = "Temporary-Pass-42"
		first = "Blue-Harbour-Lantern-7"
		reset = "Green-Meadow-Compass-9"
	)
	e.admin("users", "create", addr, "--name", "Kim Kale", "--password-file", e.secret(temp))

	// The first sign-in says the temporary password must change, with a question.
	r := e.user(0, "", "account", "sign-in", "--address", addr, "--password-file", e.secret(temp))
	require.Contains(t, r.stdout, "Signed in as "+addr+" with a temporary password")
	require.Contains(t, r.stdout, "dirsync account change-password --address "+addr)
	require.Contains(t, r.stdout, "security question")

	// Without a question the change is refused, and the fix is named.
	r = e.user(1, "", "account", "change-password", "--address", addr,
		"--password-file", e.secret(temp), "--new-password-file", e.secret(first))
	require.Contains(t, r.stderr, "security_question")
	require.Contains(t, r.stderr, "add --question Q --answer-file F")

	// With one, secrets as successive lines of standard input, in flag order.
	r = e.user(0, temp+"\n"+first+"\nGroße  Straße\n", "account", "change-password", "--address", addr,
		"--password-file", "-", "--new-password-file", "-", "--question", "Which street did you grow up on?", "--answer-file", "-")
	require.Equal(t, "Password changed for "+addr+". Security question set.\n", r.stdout)

	r = e.user(1, "", "account", "sign-in", "--address", addr, "--password-file", e.secret(temp))
	require.Contains(t, r.stderr, "the address or password is wrong (invalid_credentials)")
	require.Contains(t, r.stderr, "dirsync account reset --address "+addr)
	r = e.user(0, first+"\n", "account", "sign-in", "--address", addr, "--password-file", "-")
	require.Equal(t, "Signed in as "+addr+".\n", r.stdout)
	var status api.Status
	require.NoError(t, json.Unmarshal([]byte(e.admin("users", "status", addr, "--output", "json")), &status))
	require.True(t, status.Registered, "the change with a question registers the login")

	// A forgotten password: the question is shown, the answer matches in
	// another case and spacing, and the new password signs in.
	r = e.user(0, "grosse strasse\n"+reset+"\n", "account", "reset", "--address", addr,
		"--answer-file", "-", "--new-password-file", "-")
	require.Contains(t, r.stderr, "Security question: Which street did you grow up on?\n")
	require.Equal(t, "Password reset for "+addr+": sign in with the new password.\n", r.stdout)
	r = e.user(0, "", "account", "sign-in", "--address", addr, "--password-file", e.secret(reset), "--output", "json")
	var signed api.LoginResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &signed), r.stdout)
	require.Equal(t, api.LoginResult{Address: addr}, signed)

	// Three wrong answers lock the account; the right password is refused then.
	for range 3 {
		r = e.user(1, "", "account", "reset", "--address", addr,
			"--answer-file", e.secret("Elm Street"), "--new-password-file", e.secret("Another-Strong-Pass-3"))
		require.Contains(t, r.stderr, "(invalid_credentials)")
		require.Contains(t, r.stderr, "three wrong answers or passwords in a row lock the account")
	}
	require.NoError(t, json.Unmarshal([]byte(e.admin("users", "status", addr, "--output", "json")), &status))
	require.True(t, status.Locked, "three wrong answers lock the account")
	require.Regexp(t, `Locked: +yes`, e.admin("users", "status", addr))
	e.user(1, "", "account", "sign-in", "--address", addr, "--password-file", e.secret(reset))

	// An invitation with roles, not emailed: the admin passes on the token.
	const lee = "lee@example.org"
	e.admin("users", "create", lee, "--name", "Lee Lane")
	out := e.admin("users", "invite", lee, "--role", "Sales", "--role", "Training", "--no-email", "--expires-in", "48h")
	require.Contains(t, out, "Invitation for "+lee+"\n")
	require.Regexp(t, `Roles: +Sales, Training\n`, out)
	require.Regexp(t, `Email: +not emailed\n`, out)
	require.Regexp(t, `Expires: +.* \(in (47h5\dm|48h)\)\n`, out)
	require.Contains(t, out, "pass on the token to the user now")
	open := e.admin("users", "invitation", lee)
	require.Regexp(t, `Roles: +Sales, Training\n`, open)
	require.Regexp(t, `Email: +not emailed\n`, open)
	require.NotContains(t, open, "Token")

	// A new invitation replaces that one; its token registers the user.
	var inv api.Invitation
	require.NoError(t, json.Unmarshal([]byte(e.admin("users", "invite", lee, "--role", "Sales", "--role", "Training",
		"--no-email", "--output", "json")), &inv))
	require.NotEmpty(t, inv.Token)
	require.Equal(t, []string{"Sales", "Training"}, inv.Roles)
	require.Equal(t, "none", inv.Email.Status)
	register := []string{"account", "register", "--password-file", e.secret(first), "--question", "First pet?",
		"--answer-file", e.secret("Rex")}
	r = e.user(0, "", append(register, "--token-file", e.secret(inv.Token))...)
	require.Equal(t, "Registered "+lee+".\nSign in with: dirsync account sign-in --address "+lee+"\n", r.stdout)
	var u api.User
	require.NoError(t, json.Unmarshal([]byte(e.admin("users", "show", lee, "--output", "json")), &u))
	require.True(t, u.Registered)
	require.Equal(t, []string{"Sales", "Training"}, u.Roles)
	require.Contains(t, e.admin("users", "show", lee), "Sales, Training")
	e.user(0, "", "account", "sign-in", "--address", lee, "--password-file", e.secret(first))

	// The token again (from standard input this time) is refused with the API's words.
	r = e.user(1, inv.Token+"\n", register...)
	require.Contains(t, r.stderr, "the invitation was already used: each invitation registers once (invitation_used)")
	r = e.run(true, "", "users", "invitation", lee)
	require.Equal(t, 1, r.code, r.stdout)
	require.Contains(t, r.stderr, lee+" has no open invitation")

	for _, s := range []string{temp, first, reset, "Große", "grosse", "Elm Street", "Rex", inv.Token} {
		require.NotContains(t, e.userOut.String(), s, "no secret is ever printed")
	}
}

// TestAccountCommandsRefuseSecretsInFlags: the account commands read secrets
// from files, standard input or the terminal only, and say so.
func TestAccountCommandsRefuseSecretsInFlags(t *testing.T) {
	r := dirsyncIn(t, "", "account", "sign-in", "--address", "kim@example.org", "--password", "Blue-Harbour-Lantern-7")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "flag provided but not defined: -password")
	r = dirsyncIn(t, "", "account", "sign-in", "--address", "kim@example.org")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "give the password with --password-file FILE, or --password-file - to read it from standard input")
	r = dirsyncIn(t, "", "account", "sign-in", "--password-file", "-")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--address is required")
	r = dirsyncIn(t, "", "account", "sign-in", "--address", "kim@example.org", "--password-file", "-")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "standard input ended before the password")

	r = dirsyncIn(t, "", "account", "--help")
	require.Equal(t, 0, r.code)
	for _, sub := range []string{"sign-in", "change-password", "reset", "register"} {
		require.Contains(t, r.stdout, "dirsync account "+sub+" ")
	}
	r = dirsyncIn(t, "", "account", "change-password", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stderr, "Usage: dirsync account change-password --address A")
	require.Contains(t, r.stderr, "-new-password-file")
	r = dirsyncIn(t, "", "help")
	require.Contains(t, r.stdout, "dirsync account sign-in --address A")
}
