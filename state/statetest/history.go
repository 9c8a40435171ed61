package statetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/state"
)

// minKeptRuns is the least history every backend keeps per connector.
const minKeptRuns = 100

var t0 = time.Date(2024, 5, 1, 8, 0, 0, 123456789, time.UTC)

func newRun(connector string, i int) state.Run {
	r := state.Run{
		ID:        fmt.Sprintf("%s-run-%d", connector, i),
		Connector: connector,
		Status:    []string{"ok", "failed", "held"}[i%3],
		Full:      i%2 == 0,
		DryRun:    i%4 == 1,
		Started:   t0.Add(time.Duration(i) * time.Minute),
		Finished:  t0.Add(time.Duration(i)*time.Minute + 1500*time.Millisecond),
		Counts:    map[string]int{"created": i, "updated": 2 * i, "disabled": 1},
	}
	if r.Status == "failed" {
		r.Error = "ldap search: timeout"
	}
	if i%5 == 4 {
		r.MergedInto = fmt.Sprintf("%s-run-%d", connector, i-1)
	}
	return r
}

func testRuns(t *testing.T, b state.Backend) {
	ctx := t.Context()
	// Interleaved so that the merged history differs from each connector's.
	order := []struct {
		connector string
		i         int
	}{{"a", 0}, {"b", 0}, {"a", 1}, {"a", 2}, {"b", 1}, {"a", 3}, {"b", 2}, {"a", 4}}
	var all []state.Run
	for n, o := range order {
		r := newRun(o.connector, o.i)
		// Recorded order and start time agree, whichever a backend sorts by.
		r.Started = t0.Add(time.Duration(n) * time.Minute)
		r.Finished = r.Started.Add(time.Second)
		require.NoError(t, b.AddRun(ctx, r))
		all = append([]state.Run{r}, all...) // newest first
	}
	of := func(connector string) []state.Run {
		var out []state.Run
		for _, r := range all {
			if r.Connector == connector {
				out = append(out, r)
			}
		}
		return out
	}

	tests := []struct {
		connector string
		limit     int
		want      []state.Run
	}{
		{"a", 10, of("a")},
		{"a", 5, of("a")},
		{"a", 2, of("a")[:2]},
		{"b", 10, of("b")},
		{"b", 1, of("b")[:1]},
		{"", 100, all},
		{"", 4, all[:4]},
		{"none", 10, nil},
	}
	for _, tc := range tests {
		got, err := b.Runs(ctx, tc.connector, tc.limit)
		require.NoError(t, err)
		require.Equal(t, normRuns(tc.want), normRuns(got), "Runs(%q, %d)", tc.connector, tc.limit)
	}
}

func testRunHistoryBound(t *testing.T, b state.Backend) {
	ctx := t.Context()
	const added = minKeptRuns + 20
	var want []state.Run
	for i := range added {
		r := newRun("h", i)
		require.NoError(t, b.AddRun(ctx, r))
		want = append([]state.Run{r}, want...)
	}
	require.NoError(t, b.AddRun(ctx, newRun("other", 0)))

	got, err := b.Runs(ctx, "h", 10*added)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(got), minKeptRuns, "the newest %d runs are kept", minKeptRuns)
	require.LessOrEqual(t, len(got), added)
	require.Equal(t, normRuns(want[:len(got)]), normRuns(got))

	got, err = b.Runs(ctx, "h", minKeptRuns)
	require.NoError(t, err)
	require.Equal(t, normRuns(want[:minKeptRuns]), normRuns(got))
}

func testHolds(t *testing.T, b state.Backend) {
	ctx := t.Context()
	// Whitespace and HTML-ish characters catch a backend that re-encodes the JSON.
	ops := json.RawMessage("[\n  {\"op\": \"disable\", \"address\": \"<a&b>@example.org\"},\n  {\"op\":\"delete\",\"n\":1.50}\n]")
	h1 := state.Hold{ID: "h1", Connector: "a", RunID: "r1", Reason: "deletes above threshold", Created: t0, Operations: ops}
	h2 := state.Hold{ID: "h2", Connector: "a", RunID: "r2", Reason: "source health", Created: t0.Add(time.Minute), Operations: json.RawMessage(`[]`)}
	h3 := state.Hold{ID: "h3", Connector: "b", RunID: "r3", Reason: "deletes above threshold", Created: t0.Add(2 * time.Minute), Operations: json.RawMessage(`{"x":true}`)}
	// Stored newest first, so a backend listing in insertion order fails.
	for _, h := range []state.Hold{h3, h2, h1} {
		require.NoError(t, b.PutHold(ctx, h))
	}
	requireHolds(t, b, "a", h1, h2)
	requireHolds(t, b, "b", h3)
	requireHolds(t, b, "", h1, h2, h3)
	requireHolds(t, b, "none")

	got, err := b.Holds(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, string(ops), string(got[0].Operations), "operations bytes must be kept as given")

	// Replace by ID.
	h1.Reason, h1.RunID, h1.Operations = "re-evaluated", "r4", json.RawMessage(`[{"op":"enable"}]`)
	require.NoError(t, b.PutHold(ctx, h1))
	requireHolds(t, b, "a", h1, h2)

	require.NoError(t, b.DeleteHold(ctx, "a", "h1"))
	requireHolds(t, b, "a", h2)
	requireHolds(t, b, "", h2, h3)

	require.ErrorIs(t, b.DeleteHold(ctx, "a", "h1"), state.ErrNotFound, "deleted twice")
	require.ErrorIs(t, b.DeleteHold(ctx, "a", "unknown"), state.ErrNotFound)
	require.ErrorIs(t, b.DeleteHold(ctx, "none", "h2"), state.ErrNotFound, "unknown connector")
	require.ErrorIs(t, b.DeleteHold(ctx, "b", "h2"), state.ErrNotFound, "another connector's hold")
	requireHolds(t, b, "", h2, h3)
}

func requireHolds(t *testing.T, b state.Backend, connector string, want ...state.Hold) {
	t.Helper()
	got, err := b.Holds(t.Context(), connector)
	require.NoError(t, err)
	require.Equal(t, normHolds(want), normHolds(got), "Holds(%q)", connector)
}

// normRuns puts times in UTC so a backend that stores another zone still compares
// equal; nil and empty both become empty.
func normRuns(runs []state.Run) []state.Run {
	out := make([]state.Run, 0, len(runs))
	for _, r := range runs {
		r.Started, r.Finished = r.Started.UTC(), r.Finished.UTC()
		out = append(out, r)
	}
	return out
}

// normHolds is normRuns for holds.
func normHolds(holds []state.Hold) []state.Hold {
	out := make([]state.Hold, 0, len(holds))
	for _, h := range holds {
		h.Created = h.Created.UTC()
		out = append(out, h)
	}
	return out
}
