package statetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/state"
)

// reports is b as a state.Reports; a backend without it skips these tests.
func reports(t *testing.T, b state.Backend) state.Reports {
	t.Helper()
	rb, ok := b.(state.Reports)
	if !ok {
		t.Skipf("%T keeps no run reports (state.Reports)", b)
	}
	return rb
}

func testReports(t *testing.T, b state.Backend) {
	rb := reports(t, b)
	ctx := t.Context()
	// Whitespace and HTML-ish characters catch a backend that re-encodes the JSON.
	r1 := state.StoredReport{ID: "run-1", Connector: "a", Started: t0,
		Body: json.RawMessage("{\n  \"run_id\": \"run-1\",\n  \"operations\": [{\"address\": \"<a&b>@example.org\"}], \"n\": 1.50\n}")}
	r2 := state.StoredReport{ID: "run-2", Connector: "b", Started: t0.Add(time.Minute), Body: json.RawMessage(`{"run_id":"run-2"}`)}
	for _, r := range []state.StoredReport{r1, r2} {
		require.NoError(t, rb.SaveReport(ctx, r, time.Hour))
	}
	requireReport(t, rb, r1)
	requireReport(t, rb, r2)

	_, err := rb.Report(ctx, "unknown")
	require.ErrorIs(t, err, state.ErrNotFound)

	// Saving again under an ID replaces the report.
	r1.Body, r1.Started = json.RawMessage(`{"run_id":"run-1","again":true}`), t0.Add(2*time.Minute)
	require.NoError(t, rb.SaveReport(ctx, r1, time.Hour))
	requireReport(t, rb, r1)
	requireReport(t, rb, r2)

	// A large report (20,000 operations, close to 2 MB) comes back whole.
	big := state.StoredReport{ID: "big", Connector: "a", Started: t0, Body: bigBody(20_000)}
	require.NoError(t, rb.SaveReport(ctx, big, time.Hour))
	requireReport(t, rb, big)

	require.Error(t, rb.SaveReport(ctx, state.StoredReport{Connector: "a", Body: json.RawMessage(`{}`)}, time.Hour), "empty ID")
	require.Error(t, rb.SaveReport(ctx, state.StoredReport{ID: "r", Connector: "a", Body: json.RawMessage(`{}`)}, 0), "no retention")
	_, err = rb.Report(ctx, "r")
	require.ErrorIs(t, err, state.ErrNotFound, "a refused report is not stored")
}

func testReportExpiry(t *testing.T, b state.Backend) {
	rb := reports(t, b)
	ctx := t.Context()
	const short = 300 * time.Millisecond
	brief := state.StoredReport{ID: "brief", Connector: "a", Started: t0, Body: json.RawMessage(`{"run_id":"brief"}`)}
	kept := state.StoredReport{ID: "kept", Connector: "a", Started: t0, Body: json.RawMessage(`{"run_id":"kept"}`)}
	require.NoError(t, rb.SaveReport(ctx, brief, short))
	require.NoError(t, rb.SaveReport(ctx, kept, time.Hour))
	requireReport(t, rb, brief)

	// Expiry is the backend's business (a TTL, a timestamp): poll for it.
	require.Eventually(t, func() bool {
		_, err := rb.Report(ctx, "brief")
		return err != nil
	}, 5*time.Second, 50*time.Millisecond)
	_, err := rb.Report(ctx, "brief")
	require.ErrorIs(t, err, state.ErrNotFound)
	requireReport(t, rb, kept)

	// An expired ID may be used again.
	require.NoError(t, rb.SaveReport(ctx, brief, time.Hour))
	requireReport(t, rb, brief)
}

func requireReport(t *testing.T, rb state.Reports, want state.StoredReport) {
	t.Helper()
	got, err := rb.Report(t.Context(), want.ID)
	require.NoError(t, err, "report %q", want.ID)
	require.Equal(t, want.ID, got.ID)
	require.Equal(t, want.Connector, got.Connector)
	require.True(t, want.Started.Equal(got.Started), "started: want %s, got %s", want.Started, got.Started)
	require.Equal(t, string(want.Body), string(got.Body), "body bytes must be kept as given")
}

// bigBody is a report-shaped JSON of n operations.
func bigBody(n int) json.RawMessage {
	b := []byte(`{"operations":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"action":"update","address":"user%06d@example.org","reason":"changed in source"}`, i)
	}
	return append(b, "]}"...)
}
