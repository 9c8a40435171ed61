package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// The sync routes are tested with the daemon's real Syncer (sync/runner) over
// the real engine, a local state file and the same SQLite store.

// users are n users with a display name.
func users(n int) []connectors.Record {
	recs := make([]connectors.Record, n)
	for i := range recs {
		recs[i] = connectors.Record{Kind: connectors.KindUser, Ref: fmt.Sprintf("uid=u%d", i),
			Anchor: fmt.Sprintf("a%d", i), Mail: fmt.Sprintf("u%d@example.com", i), DisplayName: fmt.Sprintf("U %d", i)}
	}
	return recs
}

// nameOnly owns only the display name.
type nameOnly struct{ *connectortest.Static }

func (nameOnly) Fields() []string { return []string{store.FieldDisplayName} }

func newSyncHarness(t *testing.T, jobs ...engine.Job) (*harness, *runner.Runner) {
	t.Helper()
	log := zap.NewNop()
	st, sb := testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := runner.New(ctx, engine.New(st, sb, []string{"example.com"}, log), sb, jobs, log, runner.Options{})
	t.Cleanup(func() { _ = r.Wait(context.Background()); cancel() })
	return newHarness(t, apiwire.NewSyncs(r), st), r
}

func TestTriggerAndRuns(t *testing.T) {
	ad := nameOnly{&connectortest.Static{Records: users(2)}}
	h, r := newSyncHarness(t, engine.Job{Name: "ad", Source: ad}, engine.Job{Name: "file", Source: &connectortest.Static{Records: users(1)}})

	var trig api.Triggered
	h.call("POST", "/v1/syncs", h.sync, api.TriggerSync{Connectors: []string{"ad"}}).ok(202, &trig)
	require.Len(t, trig.Runs, 1)
	require.Equal(t, "ad", trig.Runs[0].Connector)
	require.Nil(t, trig.Runs[0].Report, "not waited for")
	firstID := trig.Runs[0].RunID
	require.NoError(t, r.Idle(t.Context(), ""))

	var detail api.RunDetail
	h.call("GET", "/v1/runs/"+trig.Runs[0].RunID, h.sync, nil).ok(200, &detail)
	require.Equal(t, "ad", detail.Connector)
	require.Equal(t, api.RunOK, detail.Status)
	require.Equal(t, 2, detail.Counts["create"], detail.Counts)
	require.NotNil(t, detail.Report)
	require.Len(t, detail.Report.Operations, 2)

	// Waiting: every connector, the reports in the answer.
	h.call("POST", "/v1/syncs", h.admin, api.TriggerSync{Wait: true, Full: true}).ok(200, &trig)
	require.Len(t, trig.Runs, 2)
	for _, run := range trig.Runs {
		require.NotNil(t, run.Report)
		require.Equal(t, run.RunID, run.Report.RunID)
	}

	var runs api.RunList
	h.call("GET", "/v1/runs", h.read, nil).ok(200, &runs)
	require.Len(t, runs.Runs, 3)
	h.call("GET", "/v1/runs?connector=ad&limit=1", h.sync, nil).ok(200, &runs)
	require.Len(t, runs.Runs, 1)
	require.Equal(t, "ad", runs.Runs[0].Connector)

	// The status check names the run and the connector's fields.
	var st api.Status
	h.call("GET", "/v1/users/u1@example.com/status", h.read, nil).ok(200, &st)
	require.Equal(t, "ad", st.Origin)
	require.Equal(t, "a1", st.Anchor)
	require.NotNil(t, st.LastSync)
	require.Equal(t, "ad", st.LastSync.Connector)
	require.Equal(t, firstID, st.LastSync.RunID, "the full re-run changed nothing")
	require.Equal(t, "create", st.LastSync.Action)
	require.Equal(t, "ad", st.FieldOwners[store.FieldDisplayName])
	require.Equal(t, "admin", st.FieldOwners[store.FieldTitle], "ad does not map titles")
	require.Equal(t, "admin", st.FieldOwners["password"])
}

func TestSyncErrors(t *testing.T) {
	gate := make(chan struct{})
	h, r := newSyncHarness(t, engine.Job{Name: "ad", Source: &connectortest.Static{Records: users(1), Gate: gate}})

	e := h.call("POST", "/v1/syncs", h.sync, api.TriggerSync{Connectors: []string{"nope"}}).apiErr(404, api.CodeUnknownConnector)
	require.Contains(t, e.Message, "ad", "the message lists the configured connectors")
	close(gate)
	require.NoError(t, r.Idle(t.Context(), ""))

	h.call("GET", "/v1/runs/no-such-run", h.sync, nil).apiErr(404, api.CodeNotFound)
	h.call("GET", "/v1/runs?limit=0", h.sync, nil).apiErr(400, api.CodeBadRequest)
	h.call("GET", "/v1/runs?since=yesterday", h.sync, nil).apiErr(400, api.CodeBadRequest)
	h.call("POST", "/v1/syncs", h.sync, map[string]any{"connector": "ad"}).apiErr(400, api.CodeBadRequest)
	h.call("POST", "/v1/syncs", h.read, nil).apiErr(403, api.CodeForbidden)
	h.call("POST", "/v1/syncs", h.senders, nil).apiErr(403, api.CodeForbidden)
	h.call("GET", "/v1/runs", h.senders, nil).apiErr(403, api.CodeForbidden)
	h.call("GET", "/v1/runs", "", nil).apiErr(401, api.CodeUnauthorized)
	// A sync token reads runs, not users.
	h.call("GET", "/v1/users", h.sync, nil).apiErr(403, api.CodeForbidden)
}

// TestTriggerQueues: a trigger for a running connector gets its pending run,
// and GET /v1/runs?state= lists runs by state.
func TestTriggerQueues(t *testing.T) {
	gate := make(chan struct{})
	h, r := newSyncHarness(t, engine.Job{Name: "ad", Source: &connectortest.Static{Records: users(1), Gate: gate}})

	var first, second, third api.Triggered
	h.call("POST", "/v1/syncs", h.sync, nil).ok(202, &first)
	require.False(t, first.Runs[0].Queued)
	h.call("POST", "/v1/syncs", h.sync, nil).ok(202, &second)
	require.True(t, second.Runs[0].Queued)
	h.call("POST", "/v1/syncs", h.admin, api.TriggerSync{Full: true}).ok(202, &third)
	require.Equal(t, second.Runs[0].RunID, third.Runs[0].RunID, "merged into the pending run")

	var runs api.RunList
	h.call("GET", "/v1/runs?state=pending", h.sync, nil).ok(200, &runs)
	require.Len(t, runs.Runs, 1)
	p := runs.Runs[0]
	require.Equal(t, second.Runs[0].RunID, p.RunID)
	require.Equal(t, api.RunPending, p.Status)
	require.Equal(t, []string{"api"}, p.RequestedBy)
	require.Equal(t, 2, p.Triggers)
	require.True(t, p.Full)
	h.call("GET", "/v1/runs?state=running&connector=ad", h.read, nil).ok(200, &runs)
	require.Len(t, runs.Runs, 1)
	require.Equal(t, first.Runs[0].RunID, runs.Runs[0].RunID)
	require.Equal(t, api.RunRunning, runs.Runs[0].Status)
	h.call("GET", "/v1/runs", h.read, nil).ok(200, &runs)
	require.Len(t, runs.Runs, 2)
	h.call("GET", "/v1/runs?state=done", h.read, nil).apiErr(400, api.CodeBadRequest)

	close(gate)
	require.NoError(t, r.Idle(t.Context(), "ad"))
	h.call("GET", "/v1/runs?state=pending", h.sync, nil).ok(200, &runs)
	require.Empty(t, runs.Runs)
	h.call("GET", "/v1/runs", h.read, nil).ok(200, &runs)
	require.Len(t, runs.Runs, 2)
	for _, run := range runs.Runs {
		require.Equal(t, api.RunOK, run.Status)
	}

	// A stopping daemon takes no more triggers.
	require.NoError(t, r.Wait(t.Context()))
	h.call("POST", "/v1/syncs", h.sync, nil).apiErr(503, api.CodeUnavailable)
}

func TestNoSyncer(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.call("POST", "/v1/syncs", h.sync, nil).apiErr(503, api.CodeUnavailable)
	h.call("GET", "/v1/runs", h.sync, nil).apiErr(503, api.CodeUnavailable)
	h.call("GET", "/v1/runs/x", h.sync, nil).apiErr(503, api.CodeUnavailable)
}

// TestRunsCursorPages: GET /v1/runs pages newest first with a cursor that
// names the last run shown, so a run that starts between two pages neither
// repeats nor hides one; status= filters by any status; a cursor the API did
// not give is refused.
func TestRunsCursorPages(t *testing.T) {
	// Each connector its own user: two connectors racing to create one
	// address would make one of their runs partial, and the status= pages
	// below count ok runs.
	other := users(2)[1:]
	h, _ := newSyncHarness(t, engine.Job{Name: "ad", Source: &connectortest.Static{Records: users(1)}},
		engine.Job{Name: "file", Source: &connectortest.Static{Records: other}})
	for range 3 {
		h.call("POST", "/v1/syncs", h.sync, api.TriggerSync{Wait: true}).ok(200, nil)
	}
	var all api.RunList
	h.call("GET", "/v1/runs", h.read, nil).ok(200, &all)
	require.Len(t, all.Runs, 6)
	require.Empty(t, all.NextCursor, "one page holds everything")

	var first api.RunList
	h.call("GET", "/v1/runs?limit=4", h.read, nil).ok(200, &first)
	require.Len(t, first.Runs, 4)
	require.NotEmpty(t, first.NextCursor)
	// A run that starts now is newer than every page: the next page goes on
	// where the first ended.
	h.call("POST", "/v1/syncs", h.sync, api.TriggerSync{Connectors: []string{"ad"}, Wait: true}).ok(200, nil)
	var second api.RunList
	h.call("GET", "/v1/runs?limit=4&cursor="+first.NextCursor, h.read, nil).ok(200, &second)
	require.Len(t, second.Runs, 2)
	require.Empty(t, second.NextCursor, "the last page")
	var ids []string
	for _, run := range append(first.Runs, second.Runs...) {
		ids = append(ids, run.RunID)
	}
	var want []string
	for _, run := range all.Runs {
		want = append(want, run.RunID)
	}
	require.Equal(t, want, ids, "the pages are the listing, in order, each run once")

	// status= takes every status; the cursor keeps it.
	var ok api.RunList
	h.call("GET", "/v1/runs?status=ok&connector=ad&limit=2", h.read, nil).ok(200, &ok)
	require.Len(t, ok.Runs, 2)
	h.call("GET", "/v1/runs?status=ok&connector=ad&limit=2&cursor="+ok.NextCursor, h.read, nil).ok(200, &ok)
	require.Len(t, ok.Runs, 2, "4 runs of ad, two per page")
	for _, run := range ok.Runs {
		require.Equal(t, "ad", run.Connector)
		require.Equal(t, api.RunOK, run.Status)
	}
	h.call("GET", "/v1/runs?status=failed", h.read, nil).ok(200, &ok)
	require.Empty(t, ok.Runs)

	e := h.call("GET", "/v1/runs?cursor=not-a-cursor", h.read, nil).apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "next_cursor")
	e = h.call("GET", "/v1/runs?status=done", h.read, nil).apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "dry-run")
	h.call("GET", "/v1/runs?state=pending&status=ok", h.read, nil).apiErr(400, api.CodeBadRequest)
}
