package main_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
)

// startPolicy is outboundEnv.start with extra keys in outbound.policy.
func (e *outboundEnv) startPolicy(name, extra string) *daemon {
	t := e.t
	t.Helper()
	d := &daemon{base: "http://" + freePort(t), policy: freePort(t), logs: &lockedBuffer{}, exited: make(chan struct{})}
	cfg := e.config(name, strings.TrimPrefix(d.base, "http://"), d.policy)
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	line := `policy: {listen: "` + d.policy + `"}`
	require.Contains(t, string(raw), line)
	raw = []byte(strings.Replace(string(raw), line, `policy: {listen: "`+d.policy+`", `+extra+`}`, 1))
	require.NoError(t, os.WriteFile(cfg, raw, 0o644))
	d.cmd = exec.Command(binary, "serve", "--config", cfg)
	d.cmd.Stderr = d.logs
	require.NoError(t, d.cmd.Start())
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(20 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("--- %s's log:\n%s", name, d.logs.String())
		}
	})
	require.Eventually(t, func() bool { code, _ := d.call("GET", "/readyz", "", ""); return code == 200 },
		30*time.Second, 50*time.Millisecond, "%s did not come up; log:\n%s", name, d.logs.String())
	return d
}

// TestOutboundPolicyClientsEndToEnd: a real Postfix that is not in
// allowed_clients creates nobody (its connection is closed, so Postfix
// defers the mail), and with require_sasl_username an unauthenticated
// submission creates nobody either.
func TestOutboundPolicyClientsEndToEnd(t *testing.T) {
	e := newOutboundEnv(t)
	st, err := postgres.Open(t.Context(), e.dsn, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := t.Context()
	notCreated := func(addr string) {
		t.Helper()
		time.Sleep(2 * time.Second) // the workers create within milliseconds when they do
		_, err := st.User(ctx, addr)
		require.ErrorIs(t, err, store.ErrNotFound, "%s was created", addr)
	}

	refusing := e.startPolicy("refusing", "allowed_clients: [192.0.2.0/24]")
	mta := testenv.StartPostfix(t, refusing.policy)
	err = mta.Send("intruder@example.com", "someone@example.net", "hello")
	require.Error(t, err, "Postfix cannot get an answer, so it defers the mail")
	notCreated("intruder@example.com")
	require.Contains(t, refusing.logs.String(), "not in allowed_clients")
	require.Equal(t, 1, strings.Count(refusing.logs.String(), "not in allowed_clients"), "logged once per address")

	sasl := e.startPolicy("sasl", "require_sasl_username: true")
	mta2 := testenv.StartPostfix(t, sasl.policy)
	require.NoError(t, mta2.Send("anonymous@example.com", "someone@example.net", "hello"), "DUNNO: the mail goes through")
	notCreated("anonymous@example.com")
}
