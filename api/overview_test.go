package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// fakeSyncer is a Syncer with no connectors and no runs.
type fakeSyncer struct{}

func (fakeSyncer) Connectors() []string { return []string{"ad"} }
func (fakeSyncer) Trigger(context.Context, api.TriggerSync) ([]api.TriggeredRun, error) {
	return nil, nil
}
func (fakeSyncer) Runs(context.Context, string, int) ([]api.Run, error) { return nil, nil }
func (fakeSyncer) Run(context.Context, string) (api.RunDetail, error) {
	return api.RunDetail{}, api.ErrRunNotFound
}
func (fakeSyncer) FieldOwner(string, string) bool { return false }

// fakeOverviewer is a Syncer that gives a fixed overview.
type fakeOverviewer struct {
	fakeSyncer
	ov api.Overview
}

func (f fakeOverviewer) Overview(context.Context) (api.Overview, error) { return f.ov, nil }

// pendingHolds lists held operations: two of ad pending, one of hr.
type pendingHolds struct{ fakeHolds }

func (pendingHolds) Holds(_ context.Context, connector, status string) ([]api.Hold, error) {
	if connector != "" || status != string(api.HoldPending) {
		return nil, nil // the overview asks for every pending one
	}
	return []api.Hold{{ID: "1", Connector: "ad"}, {ID: "2", Connector: "ad"}, {ID: "3", Connector: "hr"}}, nil
}

// TestOverview: the daemon's overview reaches read tokens as it was given,
// with the pending held operations counted per connector by the API.
func TestOverview(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	age := 90.0
	ov := api.Overview{Generated: at, Replica: api.ReplicaStatus{Role: api.RoleLeader, State: api.Health{OK: true},
		Store: api.Health{OK: false, Error: "the store did not answer"}},
		Connectors: []api.ConnectorStatus{
			{Name: "ad", Type: "ldap", Enabled: true, Schedule: "@every 15m", NextRun: &at,
				LastRun:          &api.Run{RunID: "r1", Connector: "ad", Status: api.RunFailed, Started: at, Finished: at, Counts: map[string]int{}},
				CursorAgeSeconds: &age, Stale: true, StaleReason: "no successful run",
				LastError: &api.SourceError{Message: "connection refused", Kind: api.ErrorKindUnreachable, RunID: "r1", At: at}},
			{Name: "hr", Type: "file", Enabled: false, Schedule: "@every 1h"},
			{Name: "quiet", Type: "file", Enabled: true, Schedule: "@every 1h"},
		}}
	h := newHarnessWith(t, api.Options{Syncer: fakeOverviewer{ov: ov}, Holds: pendingHolds{}}, nil)

	var got api.Overview
	h.call("GET", "/v1/overview", h.read, nil).ok(http.StatusOK, &got)
	want := ov
	want.Connectors = append([]api.ConnectorStatus(nil), ov.Connectors...)
	want.Connectors[0].PendingHolds, want.Connectors[1].PendingHolds = 2, 1
	require.Equal(t, want, got)

	h.call("GET", "/v1/overview", h.senders, nil).apiErr(http.StatusForbidden, api.CodeForbidden)
	h.call("GET", "/v1/overview?x=1", h.read, nil).apiErr(http.StatusBadRequest, api.CodeBadRequest)
}

// TestOverviewUnavailable: without a sync side, or with one that gives no
// overview, the answer is 503 like the other sync routes.
func TestOverviewUnavailable(t *testing.T) {
	for name, sy := range map[string]api.Syncer{"no syncer": nil, "no overview": fakeSyncer{}} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, sy, nil)
			info := h.call("GET", "/v1/overview", h.read, nil).apiErr(http.StatusServiceUnavailable, api.CodeUnavailable)
			require.Contains(t, info.Message, "dirsync serve")
		})
	}
}
