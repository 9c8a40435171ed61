package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// Holds, retry entries and ledger lines come back from the state backend as
// bytes anyone with access to Redis or the state file could have changed: a
// damaged one must never be approved, planned or counted as it stands.

func FuzzDecodeHeld(f *testing.F) {
	const conn = "corp"
	good := HeldOp{Connector: conn, RunID: "r1", Reason: "brakes", Created: time.Unix(1e9, 0).UTC(), Status: HoldPending,
		Change: store.Change{Action: store.ActionDisable, Kind: "user", Address: "a@example.com", Anchor: "a1"},
		Entry:  &state.Entry{Fingerprint: "f", Kind: "user", Address: "a@example.com"}}
	good.ID = holdID(conn, plan.Op{Change: good.Change})
	forged := good
	forged.Change.Address, forged.Change.Anchor = "ceo@example.com", "ceo" // keeps the ID of a1's disable
	otherConn := good
	otherConn.Connector = "hr"
	badStatus := good
	badStatus.Status = "approved"
	for _, ops := range [][]HeldOp{{good}, {good, forged}, {otherConn}, {badStatus}, {}} {
		raw, err := json.Marshal(ops)
		require.NoError(f, err)
		f.Add(raw)
	}
	for _, raw := range []string{"", "null", "{}", `[{"action":"delete","address":"x@example.com"}]`, `[{"id":"h1"}]`, `[null]`, `[{"id":"h","change":{"changes":[{"field":"x","new":{}}]}}]`} {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ops, err := decodeHeld(state.Hold{ID: conn, Connector: conn, Operations: raw})
		if err != nil {
			require.Contains(t, err.Error(), `hold "corp"`, "the error names the hold")
		}
		for _, op := range ops {
			require.Equal(t, conn, op.Connector)
			require.Equal(t, holdID(conn, plan.Op{Change: op.Change}), op.ID, "an operation is only what its ID names")
			require.Contains(t, []string{HoldPending, HoldApplied, HoldRejected, HoldExpired}, op.Status)
		}
		if len(ops) > 0 {
			// What saveHeld writes back decodes to the same operations.
			again, err := json.Marshal(ops)
			require.NoError(t, err)
			ops2, err := decodeHeld(state.Hold{ID: conn, Connector: conn, Operations: again})
			require.NoError(t, err)
			require.Equal(t, len(ops), len(ops2))
		}
	})
}

func FuzzCheckRetry(f *testing.F) {
	rec, err := json.Marshal(connectors.Record{Kind: connectors.KindUser, Anchor: "a1", Mail: "a@example.com"})
	require.NoError(f, err)
	for _, e := range []state.Retry{
		{Anchor: "a1", Address: "a@example.com", Record: rec, Attempts: 2, LastError: "store down"},
		{Anchor: "a1", Record: rec, Attempts: -1000000},
		{Anchor: "b2", Record: rec, Attempts: 1},
		{Anchor: "", Record: json.RawMessage(`{"anchor":""}`)},
		{Anchor: "a1", Record: json.RawMessage(`"a1"`)},
	} {
		raw, err := json.Marshal(e)
		require.NoError(f, err)
		f.Add(raw)
	}
	f.Add([]byte(`{"anchor":"a1","record":null,"attempts":1}`))
	f.Add([]byte(`{"anchor":"a1","record":{"anchor":"a1","kind":7}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var e state.Retry
		if json.Unmarshal(raw, &e) != nil {
			return // the backend refuses it with the entry's key
		}
		err := checkRetry(e)
		if err != nil {
			require.Contains(t, err.Error(), "retry entry")
			return
		}
		require.GreaterOrEqual(t, e.Attempts, 0)
		require.NotEmpty(t, e.Anchor)
		// What feedRetries plans from it is the entry's own object.
		var r connectors.Record
		if json.Unmarshal(e.Record, &r) == nil {
			require.Equal(t, e.Anchor, r.Anchor)
		}
	})
}

func FuzzWindowCounts(f *testing.F) {
	f.Add([]byte(`[{"kind":"disable","domain":"example.com","count":3},{"kind":"disable","domain":"example.com","count":4}]`))
	f.Add([]byte(`[{"kind":"disable","domain":"example.com","count":3},{"kind":"disable","domain":"example.com","count":-40}]`))
	f.Add([]byte(`[{"kind":"delete","count":9223372036854775807},{"kind":"delete","count":1}]`))
	f.Add([]byte(`[{"run_id":"r","at":"2026-01-01T00:00:00Z","kind":"delete","domain":"x","count":0}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var lines []state.Destructive
		if json.Unmarshal(raw, &lines) != nil {
			return
		}
		counts, err := windowCounts(lines)
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "ledger line of run "), err.Error())
			require.Nil(t, counts)
			return
		}
		// Every line counts, none lowers another's: each sum is at least each
		// of its lines.
		for _, l := range lines {
			require.GreaterOrEqual(t, counts[plan.WindowKey{Kind: l.Kind, Domain: l.Domain}], l.Count)
		}
	})
}
