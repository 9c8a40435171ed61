package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
)

// failingStore and failingState fail the way a backend does when its server is
// away: with an error naming the host, and here a secret-looking marker.
type failingStore struct{ store.Store }

const backendMarker = "pg.internal.example:5432 password=S3CRET-MARKER"

func (failingStore) Domains(context.Context) ([]string, error) {
	return nil, errors.New("dial tcp " + backendMarker + ": connection refused")
}

type failingState struct{ state.Backend }

func (failingState) Runs(context.Context, string, int) ([]state.Run, error) {
	return nil, errors.New("redis 10.0.0.9:6379 user=dirsync: NOAUTH S3CRET-MARKER")
}

// TestReadyzSaysUnavailableWithoutTheCause: /readyz has no authentication, so
// a failing backend is "unavailable" in the answer and its error is logged.
func TestReadyzSaysUnavailableWithoutTheCause(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	srv := httptest.NewServer(serveMux(failingStore{}, failingState{}, nil, zap.New(core), http.NotFoundHandler(), http.NotFoundHandler(), nil))
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, map[string]string{"status": "unavailable", "store": "unavailable", "state": "unavailable"}, body)

	entries := logs.FilterMessage("not ready").All()
	require.Len(t, entries, 2)
	for _, e := range entries {
		require.Contains(t, e.ContextMap()["error"], "S3CRET-MARKER", "the operator finds the cause in the log")
	}
}

// TestRootLeadsToTheConsoleOnlyWhenItIsServed: / redirects to /console/ when
// the console is on; with server.console.disabled neither answers.
func TestRootLeadsToTheConsoleOnlyWhenItIsServed(t *testing.T) {
	con := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(h http.Handler, path string) *http.Response {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		resp, err := noRedirect.Get(srv.URL + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp
	}
	on := serveMux(failingStore{}, failingState{}, nil, zap.NewNop(), http.NotFoundHandler(), http.NotFoundHandler(), con)
	resp := get(on, "/")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/", resp.Header.Get("Location"))
	require.Equal(t, http.StatusTeapot, get(on, "/console/users").StatusCode, "the console serves its own paths")
	require.Equal(t, http.StatusNotFound, get(on, "/elsewhere").StatusCode, "only the bare root redirects")

	off := serveMux(failingStore{}, failingState{}, nil, zap.NewNop(), http.NotFoundHandler(), http.NotFoundHandler(), nil)
	require.Equal(t, http.StatusNotFound, get(off, "/").StatusCode)
	require.Equal(t, http.StatusNotFound, get(off, "/console/").StatusCode)
}
