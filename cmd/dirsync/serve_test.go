package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
)

// TestServeRefusesPlaintextOffLoopback: plaintext on an address other hosts
// reach is a configuration problem, so serve does not start and config check
// reports it, each naming both ways out.
func TestServeRefusesPlaintextOffLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(listen, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir)
			raw, err := os.ReadFile(cfg)
			require.NoError(t, err)
			raw = []byte(strings.ReplaceAll(string(raw), `"127.0.0.1:0"`, `"`+listen+`"`))
			require.NoError(t, os.WriteFile(cfg, raw, 0o600))

			for _, args := range [][]string{{"serve", "--config", cfg}, {"config", "check", "--offline", "--config", cfg}} {
				// Bounded: a serve that wrongly starts is stopped, and fails below.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var stdout, stderr bytes.Buffer
				code := exitCode(run(ctx, args, &stdout, &stderr), &stderr)
				cancel()
				require.Equal(t, exitUsage, code, "dirsync %v: stdout %s stderr %s", args, stdout.String(), stderr.String())
				out := stdout.String() + stderr.String()
				require.Contains(t, out, fmt.Sprintf(`server.listen: %q listens on every interface`, listen))
				require.Contains(t, out, "set server.tls.cert_file and server.tls.key_file")
				require.Contains(t, out, "set server.tls_terminated_by_proxy: true")
			}
			_, err = os.Stat(filepath.Join(dir, "state.db"))
			require.True(t, os.IsNotExist(err), "serve stopped before opening anything")
		})
	}
}

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
	a := &app{store: failingStore{}, state: failingState{}, log: zap.New(core)}
	srv := httptest.NewServer(serveMux(a, nil, http.NotFoundHandler(), http.NotFoundHandler()))
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
