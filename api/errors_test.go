package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// stubSyncer answers with what a test sets: errors wrapped as the layers of a
// real daemon would wrap them, and a wait that takes delay.
type stubSyncer struct {
	triggerErr, runsErr, runErr error
	delay                       time.Duration
}

func (s *stubSyncer) Connectors() []string                    { return []string{"corp"} }
func (s *stubSyncer) FieldOwner(connector, field string) bool { return false }

func (s *stubSyncer) Trigger(ctx context.Context, req api.TriggerSync) ([]api.TriggeredRun, error) {
	if s.triggerErr != nil {
		return nil, s.triggerErr
	}
	if req.Wait {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []api.TriggeredRun{{Connector: "corp", RunID: "r-1"}}, nil
}

func (s *stubSyncer) Runs(ctx context.Context, connector string, limit int) ([]api.Run, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return nil, s.runsErr
}

func (s *stubSyncer) Run(ctx context.Context, id string) (api.RunDetail, error) {
	return api.RunDetail{}, s.runErr
}

// TestErrorsNeverCarryInternalText: whatever a lower layer put in an error
// (host names, users, a connection string) reaches the log, not the caller.
// A sentinel is answered with the words of the code that raised it.
func TestErrorsNeverCarryInternalText(t *testing.T) {
	outer := func(err error) error { return fmt.Errorf("redis GET %s: %w", internalMarker, err) }
	for _, tc := range []struct {
		name   string
		sy     *stubSyncer
		method string
		path   string
		body   any
		status int
		code   string
		want   string // in the message
	}{
		{"unexpected error", &stubSyncer{runsErr: errors.New("dial tcp " + internalMarker + ": refused")},
			"GET", "/v1/runs", nil, http.StatusInternalServerError, api.CodeInternal, "internal error; the daemon's log has the details"},
		{"sentinel under an outer layer", &stubSyncer{runErr: outer(fmt.Errorf("%w: r-9 (only the last 200 runs are kept)", api.ErrRunNotFound))},
			"GET", "/v1/runs/r-9", nil, http.StatusNotFound, api.CodeNotFound, "run not found: r-9 (only the last 200 runs are kept)"},
		{"stopping under an outer layer", &stubSyncer{triggerErr: outer(fmt.Errorf("%w: the runner is stopping", api.ErrStopping))},
			"POST", "/v1/syncs", api.TriggerSync{}, http.StatusServiceUnavailable, api.CodeUnavailable, "the daemon is stopping: the runner is stopping"},
		{"unknown connector under two layers", &stubSyncer{triggerErr: outer(fmt.Errorf("trigger: %w", fmt.Errorf("%w %q: removed from the configuration", api.ErrUnknownConnector, "corp")))},
			"POST", "/v1/syncs", api.TriggerSync{}, http.StatusNotFound, api.CodeUnknownConnector, `unknown connector "corp": removed from the configuration`},
		{"joined errors", &stubSyncer{triggerErr: errors.Join(errors.New(internalMarker), fmt.Errorf("%w: runs were cancelled", api.ErrStopping))},
			"POST", "/v1/syncs", api.TriggerSync{}, http.StatusServiceUnavailable, api.CodeUnavailable, "the daemon is stopping: runs were cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.sy, nil)
			res := h.call(tc.method, tc.path, h.sync, tc.body)
			msg := res.apiErr(tc.status, tc.code)
			require.Equal(t, tc.want, msg.Message)
			require.NotContains(t, string(res.Body), "S3CRET-MARKER")
			require.NotContains(t, string(res.Body), "db-7.corp.internal")
		})
	}
}
