package main_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
)

// TestInvitationByEmailEndToEnd: `dirsync users invite` with two roles on a
// daemon whose mail.smtp is a real Postfix (STARTTLS, verified against the
// harness's CA); the message arrives in Postfix's mailbox; following its link
// to the console's registration page registers the user with exactly those
// roles; the link works once.
func TestInvitationByEmailEndToEnd(t *testing.T) {
	mb := testenv.StartPostfixMailbox(t, testenv.MailboxTLS())
	host, port, err := net.SplitHostPort(mb.SMTPAddr)
	require.NoError(t, err)

	_, cfg := quickstart(t)
	listen := freePort(t)
	base := "http://" + listen
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	raw = bytes.Replace(raw, []byte("  listen: 127.0.0.1:8080"), []byte("  listen: "+listen+"\n  public_url: "+base), 1)
	raw = append(raw, fmt.Sprintf("mail:\n  smtp:\n    host: %s\n    port: %s\n    security: starttls\n    ca_file: %s\n"+
		"    from: \"dirsync <dirsync@example.com>\"\n    timeout: 20s\n", host, port, mb.CAFile)...)
	require.NoError(t, os.WriteFile(cfg, raw, 0o644))

	// config check reaches the mail server (no message sent).
	res := dirsync(t, "config", "check", "--config", cfg)
	require.Equal(t, 0, res.code, res.stdout+res.stderr)
	require.Regexp(t, `(?m)mail.*`+regexp.QuoteMeta(mb.SMTPAddr)+`.*no message sent`, res.stdout)

	res = dirsync(t, "tokens", "create", "--config", cfg, "--name", "inviter", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	token := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)
	d := startServe(t, listen, cfg)
	require.Eventually(t, func() bool {
		resp, err := http.Get(d.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "the daemon did not become ready")

	admin := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = append(os.Environ(), "DIRSYNC_SERVER="+base, "DIRSYNC_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "dirsync %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	admin("users", "create", "carol@example.com", "--name", "Carol Crane")
	out := admin("users", "invite", "carol@example.com", "--role", "Sales", "--role", "Training")
	require.Contains(t, out, "sent", out)

	msg := mb.Wait(t, "carol@example.com", time.Minute)
	require.Contains(t, msg.Header.Get("From"), "dirsync@example.com")
	require.NotEmpty(t, msg.Subject)
	require.Contains(t, msg.Text, "Sales")
	require.Contains(t, msg.Text, "Training")
	link := regexp.MustCompile(`https?://\S+/console/invitation\?token=[A-Za-z0-9_%-]+`).FindString(msg.Text)
	require.NotEmpty(t, link, "no link in the message:\n%s", msg.Text)
	require.Contains(t, html.UnescapeString(msg.HTML), link, "the HTML part carries the same link")
	u, err := url.Parse(link)
	require.NoError(t, err)
	tok := u.Query().Get("token")

	// Follow the link: the registration page, then its form.
	resp, err := http.Get(link)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	require.Contains(t, string(page), `name="token" value="`+tok+`"`)
	form := url.Values{"token": {tok}, "password": {"Blue-Harbour-Lantern-7"}, "confirm_password": {"Blue-Harbour-Lantern-7"},
		"security_question": {"First pet?"}, "security_answer": {"Rex"}}
	submit := func() (int, string) {
		resp, err := http.PostForm(base+"/console/invitation", form)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := submit()
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "carol@example.com")

	shown := admin("users", "show", "carol@example.com", "--output", "json")
	require.Regexp(t, `"registered":\s*true`, shown)
	require.Regexp(t, `"roles":\s*\[\s*"Sales",\s*"Training"\s*\]`, shown)

	code, body = submit()
	require.Equal(t, http.StatusGone, code, "a second use of the link is refused")
	require.Contains(t, body, "already used")

	// The token is in the email only: not in the daemon's log.
	require.NotContains(t, d.logs.String(), tok)
}
