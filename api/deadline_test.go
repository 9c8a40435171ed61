package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
)

// TestSyncWaitOutlastsWriteTimeout: behind a server with short read and write
// timeouts, an ordinary slow answer is cut off, but POST /v1/syncs with wait
// lifts the write timeout for itself and answers when its runs end.
func TestSyncWaitOutlastsWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	sy := &stubSyncer{delay: 3 * timeout}
	h := newHarness(t, sy, nil) // the store and the tokens
	srv := httptest.NewUnstartedServer(api.New(api.Options{Store: h.st, Syncer: sy, Log: zap.NewNop()}))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(srv.Close)

	do := func(method, path string, body []byte) (*http.Response, error) {
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+h.sync)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return srv.Client().Do(req)
	}

	// The timeout is in force: a slow listing loses its answer.
	resp, err := do("GET", "/v1/runs", nil)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	require.Error(t, err, "an answer later than the write timeout is cut off")

	start := time.Now()
	resp, err = do("POST", "/v1/syncs", []byte(`{"wait": true}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", raw)
	require.Greater(t, time.Since(start), 2*timeout, "the wait outlasted both timeouts")
	var trig api.Triggered
	require.NoError(t, json.Unmarshal(raw, &trig))
	require.Len(t, trig.Runs, 1)
	require.Equal(t, "r-1", trig.Runs[0].RunID)
}
