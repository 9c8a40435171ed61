package api_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// fakeChecker answers a fixed check and records how it was asked.
type fakeChecker struct {
	calls atomic.Int32
	fresh atomic.Bool
}

func (f *fakeChecker) Check(_ context.Context, fresh bool) (api.ConfigCheck, error) {
	f.calls.Add(1)
	f.fresh.Store(fresh)
	return api.ConfigCheck{File: "/etc/dirsync/dirsync.yaml", Checks: []api.CheckLine{
		{Check: "configuration", Status: api.CheckOK, Detail: "valid"},
		{Check: "connector", Name: "hr", Status: api.CheckFailed, Detail: "bind refused: check connectors[0].bind_password", TookSeconds: 0.25},
		{Check: "connector", Name: "old", Status: api.CheckSkipped, Detail: "disabled: true"},
	}}, nil
}

func TestConfigCheckService(t *testing.T) {
	svc := api.NewService(api.Options{})
	_, err := svc.ConfigCheck(context.Background(), false)
	status, info, _ := api.Classify(err)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, api.CodeUnavailable, info.Code)
	require.Contains(t, info.Message, "dirsync config check")

	fc := &fakeChecker{}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	svc = api.NewService(api.Options{Checker: fc, Now: func() time.Time { return at }})
	c, err := svc.ConfigCheck(context.Background(), true)
	require.NoError(t, err)
	require.True(t, fc.fresh.Load())
	require.Equal(t, at, c.Generated, "a zero time is the service's clock")
	require.Len(t, c.Checks, 3)
	require.Equal(t, 1, c.Passed())
	require.Equal(t, 1, c.Failed())
	require.Equal(t, 1, c.Skipped())
}

func TestConfigCheckRoute(t *testing.T) {
	fc := &fakeChecker{}
	h := newHarnessWith(t, api.Options{Checker: fc}, nil)

	var got api.ConfigCheck
	h.call("GET", "/v1/config/check?fresh=true", h.admin, nil).ok(http.StatusOK, &got)
	require.True(t, fc.fresh.Load())
	require.Equal(t, "/etc/dirsync/dirsync.yaml", got.File)
	require.False(t, got.Generated.IsZero())
	require.Len(t, got.Checks, 3)
	require.Equal(t, api.CheckFailed, got.Checks[1].Status)
	require.Equal(t, "bind refused: check connectors[0].bind_password", got.Checks[1].Detail)
	require.InDelta(t, 0.25, got.Checks[1].TookSeconds, 1e-9)

	h.call("GET", "/v1/config/check", h.admin, nil).ok(http.StatusOK, &got)
	require.False(t, fc.fresh.Load())

	// It connects to every server: a read token may not.
	h.call("GET", "/v1/config/check", h.read, nil).apiErr(http.StatusForbidden, api.CodeForbidden)
	h.call("GET", "/v1/config/check", h.sync, nil).apiErr(http.StatusForbidden, api.CodeForbidden)
	h.call("GET", "/v1/config/check", "", nil).apiErr(http.StatusUnauthorized, api.CodeUnauthorized)
	h.call("GET", "/v1/config/check?fresh=maybe", h.admin, nil).apiErr(http.StatusBadRequest, api.CodeBadRequest)
	h.call("GET", "/v1/config/check?frsh=1", h.admin, nil).apiErr(http.StatusBadRequest, api.CodeBadRequest)
	require.Equal(t, int32(2), fc.calls.Load(), "refused requests never reach the checker")

	// Without a checker: 503.
	h2 := newHarness(t, nil, nil)
	h2.call("GET", "/v1/config/check", h2.admin, nil).apiErr(http.StatusServiceUnavailable, api.CodeUnavailable)
}
