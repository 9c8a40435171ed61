package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/store"
)

// fuzzRoutes are the API's routes ({p} is the fuzzed path parameter).
var fuzzRoutes = [][2]string{
	{"GET", "/v1/domains"}, {"POST", "/v1/domains"},
	{"GET", "/v1/users"}, {"POST", "/v1/users"},
	{"GET", "/v1/users/{p}"}, {"PATCH", "/v1/users/{p}"}, {"DELETE", "/v1/users/{p}"},
	{"GET", "/v1/users/{p}/status"}, {"POST", "/v1/users/{p}/unlock"}, {"POST", "/v1/users/{p}/register"},
	{"POST", "/v1/users/{p}/unregister"}, {"POST", "/v1/users/{p}/invite"}, {"PUT", "/v1/users/{p}/roles"},
	{"GET", "/v1/roles"}, {"POST", "/v1/roles"},
	{"POST", "/v1/auth/login"}, {"POST", "/v1/auth/password"}, {"POST", "/v1/auth/register"},
	{"GET", "/v1/imports/template"}, {"POST", "/v1/imports"},
	{"POST", "/v1/senders"},
	{"GET", "/v1/holds"}, {"POST", "/v1/holds/approve"}, {"POST", "/v1/holds/reject"},
	{"POST", "/v1/holds/{p}/approve"}, {"POST", "/v1/holds/{p}/reject"},
	{"POST", "/v1/explain"}, {"POST", "/v1/syncs"},
	{"GET", "/v1/runs"}, {"GET", "/v1/runs/{p}"},
}

// The services behind the API answer plainly, so that every request body
// and query reaches its decoding.
type (
	fzSyncer    struct{}
	fzHolds     struct{}
	fzExplainer struct{}
	fzSenders   struct{}
)

func (fzSyncer) Connectors() []string { return []string{"corp"} }
func (fzSyncer) Trigger(_ context.Context, req api.TriggerSync) ([]api.TriggeredRun, error) {
	return []api.TriggeredRun{}, nil
}
func (fzSyncer) Runs(context.Context, string, int) ([]api.Run, error) { return []api.Run{}, nil }
func (fzSyncer) Run(context.Context, string) (api.RunDetail, error) {
	return api.RunDetail{}, api.ErrRunNotFound
}
func (fzSyncer) FieldOwner(connector, field string) bool                  { return false }
func (fzHolds) Holds(context.Context, string, string) ([]api.Hold, error) { return []api.Hold{}, nil }
func (fzHolds) Decide(context.Context, api.DecideHolds, bool, string) ([]api.HoldResult, error) {
	return []api.HoldResult{}, nil
}
func (fzExplainer) Explain(context.Context, api.ExplainRequest) (*api.Explanation, error) {
	return &api.Explanation{}, nil
}
func (fzSenders) Report(context.Context, []string, string) ([]outbound.Result, error) {
	return nil, nil
}

// FuzzRequest drives the real handler, over a real SQLite store, with a
// fuzzed route, path parameter, query string, Content-Type and body, as an
// admin. Whatever arrives: no panic, no 500 (a 5xx is only a deliberate 503
// of a service this process does not run, or of a busy sign-in), and every
// error is the API's JSON error shape.
func FuzzRequest(f *testing.F) {
	st := testenv.SQLiteStore(f, "example.com")
	tok, hash, err := api.NewToken()
	require.NoError(f, err)
	_, err = st.CreateToken(f.Context(), store.Token{Name: "admin-token", Hash: hash, Scopes: []string{store.ScopeAdmin}}, store.Actor{Kind: "system"})
	require.NoError(f, err)
	h := api.New(api.Options{Store: st, Log: zap.NewNop(), PasswordParams: fast,
		Syncer: fzSyncer{}, Holds: fzHolds{}, Explainer: fzExplainer{}, Senders: fzSenders{}})

	const js = "application/json"
	route := func(method, path string) uint8 {
		for i, r := range fuzzRoutes {
			if r == [2]string{method, path} {
				return uint8(i)
			}
		}
		panic(method + " " + path)
	}
	for _, s := range []struct {
		method, path, p, q, ct, body string
	}{
		{"GET", "/v1/domains", "", "", "", ""},
		{"POST", "/v1/domains", "", "", js, `{"name":"example.org"}`},
		{"GET", "/v1/users", "", "limit=5&cursor=abc&q=a", "", ""},
		{"POST", "/v1/users", "", "", js, `{"address":"a@example.com","display_name":"A"}`},
		{"GET", "/v1/users/{p}", "a@example.com", "", "", ""},
		{"PATCH", "/v1/users/{p}", "a@example.com", "", js, `{"display_name":null,"aliases":["x@example.com"]}`},
		{"GET", "/v1/users/{p}", "..%2f..", "", "", ""},
		{"DELETE", "/v1/users/{p}", "a@example.com", "", "", ""},
		{"GET", "/v1/users/{p}/status", "a@example.com", "", "", ""},
		{"POST", "/v1/users/{p}/register", "a@example.com", "", js, `{"password":"Correct-Horse-42"}`},
		{"POST", "/v1/users/{p}/invite", "a@example.com", "", js, `{}`},
		{"PUT", "/v1/users/{p}/roles", "a@example.com", "", js, `{"roles":["Administrator",null]}`},
		{"POST", "/v1/roles", "", "", js, `{"name":"r","permissions":["users.read"]}`},
		{"POST", "/v1/auth/login", "", "", js, `{"address":"a@example.com","password":"x"}`},
		{"POST", "/v1/auth/password", "", "", js, `{"address":"a@example.com","current_password":"x","new_password":"y"}`},
		{"POST", "/v1/auth/register", "", "", js, `{"token":"t","password":"p"}`},
		{"POST", "/v1/imports", "", "", "text/csv", "Email,Name,Password,Force Change Password\na@example.com,A,,\n"},
		{"POST", "/v1/senders", "", "", js, `{"senders":["a@example.com"]}`},
		{"GET", "/v1/holds", "", "status=pending&connector=corp", "", ""},
		{"POST", "/v1/holds/approve", "", "", js, `{"ids":["h1"]}`},
		{"POST", "/v1/holds/reject", "", "", js, `{"run_id":"r"}`},
		{"POST", "/v1/holds/{p}/approve", "h1", "", "", ""},
		{"POST", "/v1/explain", "", "", js, `{"connector":"corp","user":"a@example.com"}`},
		{"POST", "/v1/syncs", "", "", js, `{"connectors":["corp"],"full":true,"wait":true}`},
		{"GET", "/v1/runs", "", "limit=-1&connector=%zz", "", ""},
		{"GET", "/v1/runs", "", "limit=99999999999999999999&state=running", "", ""},
		{"GET", "/v1/runs/{p}", "r1", "", "", ""},
		{"POST", "/v1/users", "", "", js, `{"address":"a@example.com"}{"x":1}`},
		{"POST", "/v1/domains", "", "", "application/json; charset=\"", `{"name":1e999}`},
		{"POST", "/v1/users", "", "", js, `{"address":"\ud800@example.com","aliases":[1]}`},
	} {
		f.Add(route(s.method, s.path), s.p, s.q, s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, r uint8, param, query, ct string, body []byte) {
		rt := fuzzRoutes[int(r)%len(fuzzRoutes)]
		target := strings.ReplaceAll(rt[1], "{p}", url.PathEscape(param))
		req := httptest.NewRequestWithContext(t.Context(), rt[0], "/", bytes.NewReader(body))
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = "", "", query
		u, err := url.Parse(target)
		require.NoError(t, err)
		req.URL.Path, req.URL.RawPath = u.Path, u.RawPath
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set("Authorization", "Bearer "+tok)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		res := w.Result()
		if res.StatusCode >= 500 {
			var eb api.ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb), "body: %s", w.Body)
			require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "%s %s?%s: %s", rt[0], target, query, w.Body)
			require.Contains(t, []string{api.CodeUnavailable, api.CodeBusy}, eb.Error.Code)
		}
		if res.StatusCode >= 400 {
			var eb api.ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb), "%s %s: %d %s", rt[0], target, res.StatusCode, w.Body)
			require.NotEmpty(t, eb.Error.Code)
			require.NotEmpty(t, eb.Error.Message)
		}
	})
}
