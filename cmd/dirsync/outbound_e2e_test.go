package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
)

// corpLDIF is the directory of the test's connector: bob, and later the
// auto-created sender it brings along (adoption).
func corpLDIF(users ...string) string {
	var b strings.Builder
	for i, u := range users {
		fmt.Fprintf(&b, `dn: uid=%s,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: %s
cn: %s Corp
sn: Corp
mail: %s@example.com
entryUUID: 00000000-0000-4000-8000-%012d

`, u, u, u, u, i+1)
	}
	return b.String()
}

// daemon is one `dirsync serve` process of the outbound test.
type daemon struct {
	base, policy string
	logs         *lockedBuffer
	cmd          *exec.Cmd
	exited       chan struct{}
}

// outboundEnv is what the daemons share: a Redis of the test's own (state,
// seen-set, rate limits and the sender stream), a PostgreSQL schema (the
// store), the connector's LDIF and the tokens.
type outboundEnv struct {
	t               *testing.T
	dir, dsn, redis string
	ldif            string
	admin, gateway  string
}

func newOutboundEnv(t *testing.T) *outboundEnv {
	t.Helper()
	e := &outboundEnv{t: t, dir: t.TempDir(), dsn: testenv.PostgresSchemaDSN(t)}
	rs := startRedisServer(t, strings.TrimPrefix(freePort(t), "127.0.0.1:"))
	e.redis = "127.0.0.1:" + rs.port
	e.ldif = filepath.Join(e.dir, "corp.ldif")
	require.NoError(t, os.WriteFile(e.ldif, []byte(corpLDIF("bob")), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "dsn"), []byte(e.dsn), 0o600))
	cfg := e.config("bootstrap", freePort(t), freePort(t))
	tok := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`)
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "admin", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	e.admin = tok.FindString(res.stdout)
	res = dirsync(t, "tokens", "create", "--config", cfg, "--name", "gateway", "--scope", "senders")
	require.Equal(t, 0, res.code, res.stderr)
	e.gateway = tok.FindString(res.stdout)
	require.NotEmpty(t, e.admin)
	require.NotEmpty(t, e.gateway)
	return e
}

func (e *outboundEnv) config(name, listen, policy string) string {
	cfg := filepath.Join(e.dir, name+".yaml")
	require.NoError(e.t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info, format: json}
state:
  backend: redis
  redis: {addrs: ["%s"]}
store: {backend: postgres, dsn: "file:dsn"}
server: {listen: "%s"}
domains: [example.com]
outbound:
  policy: {listen: "%s"}
  stream: {enabled: true, claim_idle: 2s}
connectors:
  - {name: corp, type: file, schedule: "@every 1h", config: {path: corp.ldif, preset: openldap}}
`, e.redis, listen, policy)), 0o644))
	return cfg
}

func (e *outboundEnv) start(name string) *daemon {
	t := e.t
	t.Helper()
	d := &daemon{base: "http://" + freePort(t), policy: freePort(t), logs: &lockedBuffer{}, exited: make(chan struct{})}
	cfg := e.config(name, strings.TrimPrefix(d.base, "http://"), d.policy)
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
	require.Eventually(t, func() bool {
		code, _ := d.call("GET", "/readyz", "", "")
		return code == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "%s did not come up; log:\n%s", name, d.logs.String())
	return d
}

func (d *daemon) call(method, path, token, body string) (int, []byte) {
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// TestOutboundSendersEndToEnd: a real Postfix asks dirsync's policy service
// about every message; only the new internal sender becomes a user. The same
// through POST /v1/senders and the Redis stream read by two replicas. A
// directory sync then adopts the auto-created user instead of duplicating it.
func TestOutboundSendersEndToEnd(t *testing.T) {
	e := newOutboundEnv(t)
	st, err := postgres.Open(t.Context(), e.dsn, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := t.Context()

	one := e.start("one")
	// The start-up sync brings bob in from the directory.
	require.Eventually(t, func() bool { _, err := st.User(ctx, "bob@example.com"); return err == nil },
		30*time.Second, 100*time.Millisecond, "bob was not synced; log:\n%s", one.logs.String())

	mta := testenv.StartPostfix(t, one.policy)
	for _, from := range []string{"New.Sender@Example.com", "bob@example.com", "stranger@external.org"} {
		require.NoError(t, mta.Send(from, "someone@example.net", "hello"), "send from %s; postfix log:\n%s", from, mta.Log())
	}
	require.Eventually(t, func() bool { _, err := st.User(ctx, "new.sender@example.com"); return err == nil },
		15*time.Second, 50*time.Millisecond, "the new internal sender was not created; dirsync log:\n%s\npostfix log:\n%s",
		one.logs.String(), mta.Log())
	u, err := st.User(ctx, "new.sender@example.com")
	require.NoError(t, err)
	require.Equal(t, store.OriginOutbound, u.Origin)
	require.True(t, u.Enabled)
	require.False(t, u.Account.Registered)
	audit, err := st.Audit(ctx, store.AuditQuery{Address: "new.sender@example.com"})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Equal(t, store.Actor{Kind: "outbound", Name: "policy"}, audit[0].Actor)
	// Exactly that one: bob is untouched, the external sender is not a user.
	bob, err := st.User(ctx, "bob@example.com")
	require.NoError(t, err)
	require.Equal(t, "corp", bob.Origin)
	_, err = st.User(ctx, "stranger@external.org")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, 1, outboundUsers(t, st))

	// The HTTP endpoint: per-address answers, for the gateway's token only.
	code, raw := one.call("POST", "/v1/senders", e.gateway,
		`{"senders": ["Http Sender <http.sender@example.com>", "bob@example.com", "x@external.org", "<>"]}`)
	require.Equal(t, http.StatusOK, code, string(raw))
	var rep struct {
		Created, Exists, Ignored int
		Results                  []struct{ Sender, Address, Status, Reason string }
	}
	require.NoError(t, json.Unmarshal(raw, &rep))
	require.Equal(t, []string{"created", "exists", "ignored", "ignored"},
		[]string{rep.Results[0].Status, rep.Results[1].Status, rep.Results[2].Status, rep.Results[3].Status}, string(raw))
	require.Equal(t, "http.sender@example.com", rep.Results[0].Address)
	require.Contains(t, rep.Results[2].Reason, "external domain")
	require.Equal(t, 1, rep.Created)
	code, raw = one.call("POST", "/v1/senders", e.admin+"x", `{"senders": ["a@example.com"]}`)
	require.Equal(t, http.StatusUnauthorized, code, string(raw))
	code, raw = one.call("POST", "/v1/syncs", e.gateway, `{}`)
	require.Equal(t, http.StatusForbidden, code, "a senders token may only report senders: %s", raw)
	require.Equal(t, 2, outboundUsers(t, st))

	// The stream, shared by two replicas through one consumer group.
	two := e.start("two")
	rdb := goredis.NewClient(&goredis.Options{Addr: e.redis})
	t.Cleanup(func() { _ = rdb.Close() })
	const n = 60
	for i := range n {
		require.NoError(t, rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "dirsync:senders",
			Values: []string{"sender", fmt.Sprintf("stream%02d@example.com", i)}}).Err())
	}
	require.NoError(t, rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "dirsync:senders", Values: []string{"sender", "bob@example.com"}}).Err())
	require.Eventually(t, func() bool { return outboundUsers(t, st) == 2+n }, 30*time.Second, 100*time.Millisecond,
		"stream senders not all created; one:\n%s\ntwo:\n%s", one.logs.String(), two.logs.String())
	require.Eventually(t, func() bool {
		p, err := rdb.XPending(ctx, "dirsync:senders", "dirsync").Result()
		return err == nil && p.Count == 0
	}, 10*time.Second, 50*time.Millisecond, "stream entries left unacknowledged")
	consumers, err := rdb.XInfoConsumers(ctx, "dirsync:senders", "dirsync").Result()
	require.NoError(t, err)
	require.Len(t, consumers, 2, "each replica is a consumer of the group")
	for i := range n {
		addr := fmt.Sprintf("stream%02d@example.com", i)
		a, err := st.Audit(ctx, store.AuditQuery{Address: addr})
		require.NoError(t, err)
		require.Len(t, a, 1, "%s created once", addr)
		require.Equal(t, store.Actor{Kind: "outbound", Name: "stream"}, a[0].Actor)
	}

	// Adoption: the directory now has the auto-created sender; the sync adopts
	// it (soft match) instead of creating a second user.
	require.NoError(t, os.WriteFile(e.ldif, []byte(corpLDIF("bob", "new.sender")), 0o644))
	code, raw = one.call("POST", "/v1/syncs", e.admin, `{"connectors": ["corp"], "wait": true}`)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Contains(t, string(raw), `"status":"ok"`, string(raw))
	u, err = st.User(ctx, "new.sender@example.com")
	require.NoError(t, err)
	require.Equal(t, "corp", u.Origin, "adopted by the directory")
	require.Equal(t, "00000000-0000-4000-8000-000000000002", u.Anchor)
	require.Equal(t, "new.sender Corp", u.DisplayName)
	list, _, err := st.Users(ctx, store.ListQuery{Search: "new.sender"})
	require.NoError(t, err)
	require.Len(t, list, 1, "no duplicate")
	audit, err = st.Audit(ctx, store.AuditQuery{Address: "new.sender@example.com"})
	require.NoError(t, err)
	require.Equal(t, store.ActionUpdate, audit[0].Action, "adopted by an update, not a create: %+v", audit[0])
	require.Equal(t, 1+n, outboundUsers(t, st))
}

func outboundUsers(t *testing.T, st store.Store) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		page, next, err := st.Users(context.Background(), store.ListQuery{Origin: store.OriginOutbound, Cursor: cursor, Limit: 500})
		require.NoError(t, err)
		n += len(page)
		if next == "" {
			return n
		}
		cursor = next
	}
}
