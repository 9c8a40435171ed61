package alerts

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dirsync/dirsync/internal/golden"
	"github.com/dirsync/dirsync/sync/engine"
)

func TestRunAlerts(t *testing.T) {
	gate := &engine.Report{RunID: "r5", Connector: "hr", Status: engine.StatusHeld,
		HoldReason: "the source returned 12 records,\n4% of the 300 the state knows (sync.min_source_percent: 50)"}
	long := failedReport("r6")
	long.Errors = []string{strings.Repeat("é", 400)}
	for _, tc := range []struct {
		name    string
		rep     *engine.Report
		kind    string
		summary string
		reason  string
		counts  map[string]int
	}{
		{name: "ok", rep: &engine.Report{RunID: "r0", Connector: "corp", Status: engine.StatusOK}},
		{name: "dry run", rep: &engine.Report{RunID: "r0", Connector: "corp", Status: engine.StatusDryRun, Errors: []string{"x"}}},
		{name: "nil", rep: nil},
		{name: "held", rep: heldReport("r1"), kind: KindHeld,
			summary: "corp: 2 operations held for approval by run r1; review, then approve or reject: dirsync holds list --connector corp",
			reason:  "2 disables across the connector exceed the limit of 1 (sync.max_destructive)",
			counts:  map[string]int{"create": 1, "update": 3, "disable": 0, "enable": 0, "delete": 0, "unchanged": 120, "quarantined": 0, "held": 2}},
		{name: "source-health gate", rep: gate, kind: KindHeld,
			summary: "hr: run r5 held by the source-health gate (nothing to approve): the source returned 12 records, 4% of the 300 the state knows (sync.min_source_percent: 50)",
			reason:  gate.HoldReason},
		{name: "failed", rep: failedReport("r2"), kind: KindFailed,
			summary: "corp: run r2 failed: read source (after 0 records; nothing applied, nobody disabled): ldap dial ldaps://dc1:636: connection refused",
			reason:  "read source (after 0 records; nothing applied, nobody disabled): ldap dial ldaps://dc1:636: connection refused"},
		{name: "failed without an error", rep: &engine.Report{RunID: "r3", Connector: "corp", Status: engine.StatusFailed}, kind: KindFailed,
			summary: "corp: run r3 failed: no error recorded", reason: "no error recorded"},
		{name: "partial", rep: partialReport("r4"), kind: KindPartial,
			summary: "corp: 2 operations of 3 failed in run r4; first: update dan@example.com: address dan@example.com is taken by a manual account",
			reason:  "update dan@example.com: address dan@example.com is taken by a manual account",
			counts:  map[string]int{"create": 2, "update": 1, "disable": 0, "enable": 0, "delete": 0, "unchanged": 0, "quarantined": 0, "held": 0}},
		{name: "long error", rep: long, kind: KindFailed,
			summary: truncate("corp: run r6 failed: "+strings.Repeat("é", 400), maxSummary), reason: long.Errors[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := runAlert(tc.rep)
			require.Equal(t, tc.kind != "", ok)
			if !ok {
				return
			}
			require.Equal(t, tc.kind, a.Kind)
			require.Equal(t, tc.rep.Connector, a.Connector)
			require.Equal(t, tc.rep.RunID, a.RunID)
			require.Equal(t, tc.summary, a.Summary)
			require.Equal(t, tc.reason, a.Reason)
			require.Equal(t, tc.counts, a.Counts)
			require.LessOrEqual(t, len(a.Summary), maxSummary+len("…"))
			require.NotContains(t, a.Summary, "\n")
		})
	}
}

func TestPartialWithHolds(t *testing.T) {
	rep := partialReport("r1")
	rep.Held = heldReport("r1").Held
	a, ok := runAlert(rep)
	require.True(t, ok)
	require.Equal(t, "corp: 2 operations of 3 failed in run r1; 2 more held for approval: dirsync holds list --connector corp; "+
		"first: update dan@example.com: address dan@example.com is taken by a manual account", a.Summary)
}

func TestTruncateKeepsRunes(t *testing.T) {
	s := truncate(strings.Repeat("é", 10), 5) // é is 2 bytes: byte 5 is mid-rune
	require.Equal(t, "éé…", s)
	require.Equal(t, "short", truncate("short", 5))
}

func TestOnlyAlertingRunsOnceEach(t *testing.T) {
	h := newHook(t, nil)
	n, logs := newNotifier(t, testConfig(t, h.url()))
	n.RunFinished(&engine.Report{RunID: "ok", Connector: "corp", Status: engine.StatusOK})
	n.RunFinished(&engine.Report{RunID: "dry", Connector: "corp", Status: engine.StatusDryRun})
	n.RunFinished(heldReport("r1"))
	n.RunFinished(heldReport("r1")) // reported twice (an API trigger and the scheduler, say)
	n.RunFinished(heldReport("r2"))
	n.RunFinished(failedReport("r2")) // another kind: its own alert
	other := heldReport("r1")
	other.Connector = "hr"
	n.RunFinished(other)
	closeNotifier(t, n)

	var got []string
	for _, r := range h.requests() {
		var a Alert
		require.NoError(t, json.Unmarshal(r.body, &a))
		got = append(got, a.Connector+"/"+a.Kind+"/"+a.RunID)
	}
	require.ElementsMatch(t, []string{"corp/held/r1", "corp/held/r2", "corp/failed/r2", "hr/held/r1"}, got)
	require.Len(t, entries(logs, "alert"), 4)
}

func TestLogLine(t *testing.T) {
	n, logs := newNotifier(t, testConfig(t, "")) // no webhook: the log line alone
	n.host = "sync-1"
	n.RunFinished(heldReport("r1"))
	lines := entries(logs, "alert")
	require.Len(t, lines, 1)
	e := lines[0]
	require.Equal(t, zapcore.ErrorLevel, e.Level)
	require.Equal(t, "alerts", e.LoggerName)
	f := e.ContextMap()
	require.Equal(t, "held", f["kind"])
	require.Equal(t, "corp", f["connector"])
	require.Equal(t, "r1", f["run_id"])
	require.Equal(t, "sync-1", f["host"])
	require.Contains(t, f["summary"], "dirsync holds list --connector corp")
	require.Contains(t, f["reason"], "sync.max_destructive")
	require.NotNil(t, f["counts"])
	require.NoError(t, n.Close(t.Context()))
}

func TestLogOff(t *testing.T) {
	h := newHook(t, nil)
	cfg := testConfig(t, h.url())
	cfg.Log = false
	n, logs := newNotifier(t, cfg)
	n.RunFinished(failedReport("r1"))
	closeNotifier(t, n)
	require.Empty(t, entries(logs, "alert"))
	require.Len(t, h.requests(), 1, "the webhook still gets it")
}

// TestWebhookBody pins the JSON a webhook receives; README.md shows this file.
func TestWebhookBody(t *testing.T) {
	h := newHook(t, nil)
	n, _ := newNotifier(t, testConfig(t, h.url()))
	n.now = func() time.Time { return time.Date(2025, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600)) }
	n.host = "sync-1"
	n.RunFinished(heldReport("0b6c2f4e-3d1a-4c55-9a7e-1f2d3c4b5a69"))
	closeNotifier(t, n)
	require.Len(t, h.requests(), 1)
	var body bytes.Buffer
	require.NoError(t, json.Indent(&body, h.requests()[0].body, "", "  "))
	body.WriteByte('\n')

	golden.File(t, filepath.Join("testdata", "held.json"), body.Bytes())
}

// TestLogLineJSON encodes the alert as the daemon's JSON log does (README.md
// shows a line this test printed with -v).
func TestLogLineJSON(t *testing.T) {
	var out bytes.Buffer
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	n, err := New(testConfig(t, ""), zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(&out), zapcore.InfoLevel)))
	require.NoError(t, err)
	n.host = "sync-1"
	n.RunFinished(failedReport("5d0e9c1a-8f47-4b2e-a6d3-0c9b8a7f6e51"))
	require.NoError(t, n.Close(t.Context()))
	t.Log(strings.TrimSpace(out.String()))

	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line))
	require.Equal(t, "error", line["level"])
	require.Equal(t, "alerts", line["logger"])
	require.Equal(t, "alert", line["msg"])
	require.Equal(t, "failed", line["kind"])
	require.Equal(t, "corp", line["connector"])
	require.Equal(t, "sync-1", line["host"])
	require.Contains(t, line["summary"], "run 5d0e9c1a-8f47-4b2e-a6d3-0c9b8a7f6e51 failed: read source")
}
