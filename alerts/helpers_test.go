package alerts

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/plan"
)

// hookPath and hookQuery make the test webhook URL carry tokens, as chat
// webhooks do: they must never show in a log line.
const (
	hookPath  = "/services/T0KEN-PATH-7f3a"
	hookQuery = "token=QUERY-SECRET-91c2"
)

// request is one POST the test webhook received.
type request struct {
	at     time.Time
	header http.Header
	body   []byte
}

// hook is a test webhook: answer decides the reply to the n-th request (from 1).
type hook struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(n int, w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []request
	got  chan struct{} // one value per request, as it arrives
}

func newHook(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *hook {
	t.Helper()
	h := &hook{t: t, answer: answer, got: make(chan struct{}, 1000)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.reqs = append(h.reqs, request{at: time.Now(), header: r.Header.Clone(), body: body})
		n := len(h.reqs)
		h.mu.Unlock()
		h.got <- struct{}{}
		if h.answer == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.answer(n, w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// url is the webhook's URL, tokens and all.
func (h *hook) url() string { return h.srv.URL + hookPath + "?" + hookQuery }

func (h *hook) requests() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]request(nil), h.reqs...)
}

// fileSecret writes value to a file and returns a reference to it.
func fileSecret(t *testing.T, value string) config.Secret {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(path, []byte(value+"\n"), 0o600))
	s, err := config.ParseSecret("file:" + path)
	require.NoError(t, err)
	return s
}

// testConfig is the default configuration with fast retries and, if url is not
// empty, a webhook.
func testConfig(t *testing.T, url string) config.Alerts {
	cfg := config.Alerts{Log: true, StaleAfter: time.Hour, CheckEvery: time.Millisecond,
		Webhook: config.AlertWebhook{Timeout: 5 * time.Second, MaxAttempts: 5, Backoff: time.Millisecond}}
	if url != "" {
		cfg.Webhook.URL = fileSecret(t, url)
	}
	return cfg
}

// newNotifier returns a Notifier logging to an observer, closed at cleanup.
func newNotifier(t *testing.T, cfg config.Alerts) (*Notifier, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	n, err := New(cfg, zap.New(core))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n, logs
}

// closeNotifier closes n, giving it a few seconds.
func closeNotifier(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.Close(ctx))
}

// logText is everything an entry would write: message, logger name and fields.
func logText(e observer.LoggedEntry) string {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range e.Context {
		f.AddTo(enc)
	}
	return fmt.Sprintf("%s %s %s %v", e.Level, e.LoggerName, e.Message, enc.Fields)
}

// requireNoSecret fails if any log line holds a part of the webhook URL that
// carries a token.
func requireNoSecret(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	for _, e := range logs.All() {
		text := logText(e)
		for _, secret := range []string{"T0KEN", "QUERY-SECRET", hookPath} {
			require.NotContains(t, text, secret, "log line leaks the webhook URL")
		}
	}
}

func failedReport(runID string) *engine.Report {
	return &engine.Report{RunID: runID, Connector: "corp", Status: engine.StatusFailed,
		Errors: []string{"read source (after 0 records; nothing applied, nobody disabled): ldap dial ldaps://dc1:636: connection refused"}}
}

func heldReport(runID string) *engine.Report {
	held := []engine.Operation{
		{Change: store.Change{Action: store.ActionDisable, Kind: store.KindUser, Address: "ann@example.com"}, Outcome: "held"},
		{Change: store.Change{Action: store.ActionDisable, Kind: store.KindUser, Address: "bob@example.com"}, Outcome: "held"},
	}
	return &engine.Report{RunID: runID, Connector: "corp", Status: engine.StatusHeld, Held: held,
		Counts:     plan.Counts{Create: 1, Update: 3, Unchanged: 120, Held: 2},
		HoldReason: "2 disables across the connector exceed the limit of 1 (sync.max_destructive)"}
}

func partialReport(runID string) *engine.Report {
	ops := []engine.Operation{
		{Change: store.Change{Action: store.ActionCreate, Kind: store.KindUser, Address: "cat@example.com"}, Outcome: "applied"},
		{Change: store.Change{Action: store.ActionUpdate, Kind: store.KindUser, Address: "dan@example.com"}, Outcome: "failed",
			Error: "address dan@example.com is taken by a manual account"},
		{Change: store.Change{Action: store.ActionCreate, Kind: store.KindUser, Address: "eve@example.com"}, Outcome: "failed",
			Error: "quota exceeded"},
	}
	return &engine.Report{RunID: runID, Connector: "corp", Status: engine.StatusPartial, Operations: ops,
		Counts: plan.Counts{Create: 2, Update: 1}}
}

// waitFor receives n values from ch, failing after a generous timeout.
func waitFor(t *testing.T, ch <-chan struct{}, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d", i, n)
		}
	}
}

// entries returns the logged entries whose message is msg.
func entries(logs *observer.ObservedLogs, msg string) []observer.LoggedEntry {
	return logs.FilterMessage(msg).All()
}

func zapNop() *zap.Logger { return zap.NewNop() }

// envSecret is a reference to an environment variable the test leaves empty.
func envSecret(t *testing.T, name string) config.Secret {
	t.Helper()
	t.Setenv(name, "")
	s, err := config.ParseSecret("${" + name + "}")
	require.NoError(t, err)
	return s
}
