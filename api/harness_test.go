package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

// The API is tested through real HTTP against a real SQLite store. Every
// response body and, at the end of each test, the whole audit log and every
// log line are checked for the secrets the test registered.

var fast = password.Params{Memory: 64, Time: 1, Threads: 1}

const (
	goodPass  = "Correct-Horse-42"
	otherPass = "Another-Battery-7"
)

type harness struct {
	t    *testing.T
	st   *sqlite.Store
	srv  *httptest.Server
	clk  *testenv.Clock
	logs *observer.ObservedLogs

	// Tokens by scope.
	admin, read, sync, senders string

	mu      sync.Mutex
	secrets []string
	// storeClosed skips the final audit check (a test closed the store).
	storeClosed bool
}

// newHarness serves the API over a store with example.com and four tokens.
// syncer may be nil.
func newHarness(t *testing.T, syncer api.Syncer, st *sqlite.Store) *harness {
	t.Helper()
	return newHarnessWith(t, api.Options{Syncer: syncer}, st)
}

// newHarnessWith is newHarness with more of the API's options (the store,
// logger, clock and password costs are the harness's own).
func newHarnessWith(t *testing.T, o api.Options, st *sqlite.Store) *harness {
	t.Helper()
	if st == nil {
		st = testenv.SQLiteStore(t, "example.com")
	}
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{t: t, st: st, clk: testenv.NewClock(time.Now().UTC().Truncate(time.Second)), logs: logs}
	o.Store, o.Log, o.Now, o.PasswordParams = st, zap.New(core), h.clk.Now, fast
	h.srv = httptest.NewServer(api.New(o))
	t.Cleanup(h.srv.Close)
	for _, scope := range store.Scopes {
		tok, hash, err := api.NewToken()
		require.NoError(t, err)
		_, err = st.CreateToken(t.Context(), store.Token{Name: scope + "-token", Hash: hash, Scopes: []string{scope}},
			store.Actor{Kind: "system"})
		require.NoError(t, err)
		h.secret(tok, hash)
		switch scope {
		case store.ScopeAdmin:
			h.admin = tok
		case store.ScopeRead:
			h.read = tok
		case store.ScopeSync:
			h.sync = tok
		case store.ScopeSenders:
			h.senders = tok
		}
	}
	h.secret(goodPass, otherPass, "$argon2id")
	t.Cleanup(h.checkNoSecretStored)
	return h
}

// secret registers strings that no response, audit entry or log line may hold.
func (h *harness) secret(s ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secrets = append(h.secrets, s...)
}

func (h *harness) requireNoSecret(where, text string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.secrets {
		require.NotContains(h.t, text, s, "a secret in %s", where)
	}
}

func (h *harness) checkNoSecretStored() {
	if h.storeClosed {
		return
	}
	entries, err := h.st.Audit(context.Background(), store.AuditQuery{Limit: 100000})
	require.NoError(h.t, err)
	raw, err := json.Marshal(entries)
	require.NoError(h.t, err)
	h.requireNoSecret("the audit log", string(raw))
	for _, e := range h.logs.All() {
		line, err := json.Marshal(e.ContextMap())
		require.NoError(h.t, err)
		h.requireNoSecret("the log", e.Message+" "+string(line))
	}
}

// response is an answer of the API.
type response struct {
	t      *testing.T
	Status int
	Header http.Header
	Body   []byte
}

// decode reads the JSON body into v.
func (r *response) decode(v any) {
	r.t.Helper()
	require.NoError(r.t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// apiErr is the body of an error answer, checked against the expected status
// and code.
func (r *response) apiErr(status int, code string) api.ErrorInfo {
	r.t.Helper()
	require.Equal(r.t, status, r.Status, "body: %s", r.Body)
	require.True(r.t, strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"), r.Header.Get("Content-Type"))
	var body api.ErrorBody
	r.decode(&body)
	require.Equal(r.t, code, body.Error.Code, "message: %s", body.Error.Message)
	require.NotEmpty(r.t, body.Error.Message)
	return body.Error
}

// ok requires the status and decodes the body into v (nil: ignore it).
func (r *response) ok(status int, v any) *response {
	r.t.Helper()
	require.Equal(r.t, status, r.Status, "body: %s", r.Body)
	if v != nil {
		r.decode(v)
	}
	return r
}

// raw sends body with contentType ("" sends none).
func (h *harness) raw(method, path, token, contentType string, body []byte) *response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.srv.URL+path, rd)
	require.NoError(h.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.srv.Client().Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	h.requireNoSecret(method+" "+path+" answer", string(out))
	return &response{t: h.t, Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// call sends body as JSON (nil: no body).
func (h *harness) call(method, path, token string, body any) *response {
	h.t.Helper()
	if body == nil {
		return h.raw(method, path, token, "", nil)
	}
	b, err := json.Marshal(body)
	require.NoError(h.t, err)
	return h.raw(method, path, token, "application/json", b)
}

// createUser creates a manual user through the API.
func (h *harness) createUser(in api.CreateUser) api.User {
	h.t.Helper()
	var u api.User
	h.call("POST", "/v1/users", h.admin, in).ok(http.StatusCreated, &u)
	return u
}

// registerUser creates addr and registers its portal login with goodPass.
func (h *harness) registerUser(addr string) {
	h.t.Helper()
	h.createUser(api.CreateUser{Address: addr})
	h.call("POST", "/v1/users/"+addr+"/register", h.admin, api.Register{Password: goodPass,
		Question: "First pet?", Answer: "Rex"}).ok(http.StatusOK, nil)
}

func (h *harness) login(addr, pw string) *response {
	h.t.Helper()
	return h.call("POST", "/v1/auth/login", "", api.Login{Address: addr, Password: pw})
}

// audit is the store's audit log for addr, newest first.
func (h *harness) audit(addr string) []store.AuditEntry {
	h.t.Helper()
	entries, err := h.st.Audit(h.t.Context(), store.AuditQuery{Address: addr, Limit: 1000})
	require.NoError(h.t, err)
	return entries
}
