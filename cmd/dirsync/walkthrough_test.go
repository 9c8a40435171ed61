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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestREADMEWalkthrough follows the README's "Managing users" walkthrough against
// a real `dirsync serve` on the quickstart config, with the built binary as the
// admin's CLI and plain HTTP for the end-user login endpoints (as the README uses
// curl). If a step here changes, change the README with it.
func TestREADMEWalkthrough(t *testing.T) {
	dir, cfg := quickstart(t)
	addr := freePort(t)
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, bytes.Replace(raw, []byte("127.0.0.1:8080"), []byte(addr), 1), 0o644))
	base := "http://" + addr

	// 1. A token, straight in the store, before the daemon has ever run.
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "walkthrough", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	token := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)
	require.NotEmpty(t, token, res.stdout)

	serve := exec.Command(binary, "serve", "--config", cfg)
	var logs bytes.Buffer
	serve.Stderr = &logs
	require.NoError(t, serve.Start())
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() { _ = serve.Process.Kill() })
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond)

	admin := func(args ...string) result {
		t.Helper()
		return runEnv(t, []string{"DIRSYNC_SERVER=" + base, "DIRSYNC_TOKEN=" + token}, args...)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := admin(args...)
		require.Equal(t, 0, r.code, "dirsync %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
		return r.stdout
	}
	secret := func(name, value string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(value+"\n"), 0o600))
		return p
	}

	// 2. A domain, and a user in it with a temporary password.
	ok("domains", "add", "example.org")
	require.Contains(t, ok("domains", "list"), "example.org")
	ok("users", "create", "ann@example.org", "--name", "Ann Archer", "--surname", "Archer",
		"--password-file", secret("temp.txt", "Temporary-Pass-42"))

	// 3. Signing in with it only leads to the change, which sets the security
	// question and registers the login.
	require.NotContains(t, ok("users", "show", "ann@example.org"), "Registered:  yes")
	code, body := post(t, base+"/v1/auth/login", `{"address":"ann@example.org","password":"Temporary-Pass-42"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"must_change_password":true,"security_question_required":true`)
	code, body = post(t, base+"/v1/auth/password", `{"address":"ann@example.org","current_password":"Temporary-Pass-42",
		"new_password":"Blue-Harbour-Lantern-7","security_question":"First pet?","security_answer":"Rex"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, ok("users", "status", "ann@example.org", "--output", "json"), `"registered": true`)
	code, body = post(t, base+"/v1/auth/login", `{"address":"ann@example.org","password":"Blue-Harbour-Lantern-7"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"must_change_password":false`)

	// 4. Three wrong passwords lock the account; the status shows it; unlock.
	for range 3 {
		code, _ = post(t, base+"/v1/auth/login", `{"address":"ann@example.org","password":"wrong-password-1"}`)
	}
	require.Equal(t, http.StatusUnauthorized, code, "the lock is not told to the caller")
	code, body = post(t, base+"/v1/auth/login", `{"address":"ann@example.org","password":"Blue-Harbour-Lantern-7"}`)
	require.Equal(t, http.StatusUnauthorized, code, "a locked account refuses even the right password: %s", body)
	status := ok("users", "status", "ann@example.org", "--output", "json")
	require.Contains(t, status, `"locked": true`)
	ok("users", "unlock", "ann@example.org")
	code, body = post(t, base+"/v1/auth/login", `{"address":"ann@example.org","password":"Blue-Harbour-Lantern-7"}`)
	require.Equal(t, http.StatusOK, code, body)

	// 5. Unregister keeps the user but ends the login (its password is gone).
	ok("users", "unregister", "ann@example.org")
	code, _ = post(t, base+"/v1/auth/login", `{"address":"ann@example.org","password":"Blue-Harbour-Lantern-7"}`)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, ok("users", "show", "ann@example.org"), "ann@example.org")

	// 6. CSV import, and a bad file refused row by row with nothing imported.
	good := secret("users.csv", "Email,Name,Password,Force Change Password\n"+
		"bob@example.org,Bob Baker,,FALSE\ncara@example.org,Cara Cole,Correct-Horse-Battery-9,TRUE")
	require.Contains(t, ok("import", good), "2 added")
	bad := admin("import", secret("bad.csv", "Email,Name,Password,Force Change Password\n"+
		"dan@example.org,Dan,,maybe\nnot-an-address,Eve,,FALSE\nfay@elsewhere.test,Fay,,FALSE"))
	require.Equal(t, 1, bad.code, bad.stdout)
	for _, want := range []string{"row 2, column Force Change Password", "row 3, column Email", "row 4, column Email"} {
		require.Contains(t, bad.stderr, want)
	}
	require.Equal(t, 1, admin("users", "show", "dan@example.org").code, "nothing from a bad file is imported")

	// 7. Listing: registered by default; all, by letter, by search text, sorted.
	require.NotContains(t, ok("users", "list"), "bob@example.org", "unregistered users are hidden by default")
	byLetter := ok("users", "list", "--registration", "all", "--letter", "b", "--domain", "example.org")
	require.Contains(t, byLetter, "bob@example.org")
	require.NotContains(t, byLetter, "cara@example.org")
	require.Contains(t, ok("users", "list", "--registration", "all", "--q", "cole"), "cara@example.org")
	sorted := ok("users", "list", "--registration", "all", "--domain", "example.org", "--sort", "display_name", "--order", "desc")
	require.Less(t, strings.Index(sorted, "cara@"), strings.Index(sorted, "bob@"))
	require.Less(t, strings.Index(sorted, "bob@"), strings.Index(sorted, "ann@"))

	// 8. A sync on demand, and its report.
	trig := ok("trigger", "--output", "json")
	var triggered struct {
		Runs []struct {
			RunID string `json:"run_id"`
		} `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(trig), &triggered), trig)
	require.Len(t, triggered.Runs, 1)
	report := ok("runs", "show", triggered.Runs[0].RunID)
	require.Contains(t, report, triggered.Runs[0].RunID)
	require.Contains(t, ok("runs", "list"), triggered.Runs[0].RunID)

	// The log is read once the daemon has exited (it writes until then).
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	require.Contains(t, logs.String(), `"msg":"account locked"`, "the lock is logged")
	require.Contains(t, logs.String(), `"msg":"request","method":"POST","path":"/v1/users"`, "admin requests are logged")
	require.NotContains(t, logs.String(), token, "the token is never logged")
	require.NotContains(t, logs.String(), "Blue-Harbour-Lantern-7")
}

func runEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
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

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
