package redis_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
)

// FuzzStoredValues writes a fuzzed value where the backend keeps each kind
// of record (as a damaged or hostile Redis would hold it) and reads it back
// through the backend: never a panic; an error names what it read; what does
// decode is what the backend would write again.
func FuzzStoredValues(f *testing.F) {
	addr := testenv.Addr(f, testenv.EnvRedisAddr)
	raw := rawClient(f, addr)
	prefix := randomPrefix(f)
	f.Cleanup(func() { dropPrefix(f, raw, prefix) })
	b := open(f, addr, prefix, zap.NewNop())

	hold, _ := json.Marshal(map[string]any{"id": "h1", "connector": "CONN", "ops": []byte(`[{"id":"x"}]`)})
	retry, _ := json.Marshal(state.Retry{Anchor: "a1", Record: json.RawMessage(`{"anchor":"a1"}`), Attempts: 1})
	ledger, _ := json.Marshal(state.Destructive{At: time.Unix(1e9, 0).UTC(), RunID: "r", Kind: "disable", Domain: "x", Count: 2})
	run, _ := json.Marshal(map[string]any{"s": 1, "r": state.Run{ID: "r1", Connector: "CONN", Status: "ok"}})
	report, _ := json.Marshal(map[string]any{"connector": "CONN", "body": []byte(`{"ok":true}`)})
	for kind, seeds := range [][]string{
		{string(run), `{"s":"x"}`, `{"r":{"started":"not a time"}}`},
		{string(hold), `{"ops":"!!"}`, `{"created":1}`},
		{string(retry), `{"attempts":1e400}`, `{"record":x}`},
		{string(ledger), `{"count":-1}`, `{"at":"2026-13-01T00:00:00Z"}`},
		{string(report), `{"body":5}`},
		{`{"c":"Y3Vy"}`, `{"c":null}`, `{"c":"%%"}`, "not json"},
		{"\x01\x01f\x04user\x00\x00\x00\x00", "\x01\x05ab", "\x00garbage"},
	} {
		for _, s := range append(seeds, "", "null", "{}", "[]", "\xff") {
			f.Add(uint8(kind), []byte(s))
		}
	}
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, kind uint8, v []byte) {
		ctx := t.Context()
		conn := "c" + strconv.FormatInt(n.Add(1), 10) // its own keys, and its own damage marks
		key := func(name string) string { return "{" + prefix + ":" + conn + "}:" + name }
		t.Cleanup(func() {
			_ = raw.Del(ctx, key("runs"), key("holds"), key("retries"), key("ledger"), key("meta"), key("snap"), prefix+":report:"+conn).Err()
			_ = raw.SRem(ctx, prefix+":connectors", conn).Err()
		})
		switch kind % 7 {
		case 0:
			require.NoError(t, raw.LPush(ctx, key("runs"), v).Err())
			runs, err := b.Runs(ctx, conn, 10)
			if err != nil {
				require.ErrorContains(t, err, fmt.Sprintf("runs of %q", conn))
				return
			}
			require.Len(t, runs, 1)
		case 1:
			require.NoError(t, raw.SAdd(ctx, prefix+":connectors", conn).Err())
			require.NoError(t, raw.HSet(ctx, key("holds"), "h1", v).Err())
			holds, err := b.Holds(ctx, conn)
			if err != nil {
				require.ErrorContains(t, err, `hold "h1"`)
				return
			}
			require.Len(t, holds, 1)
			// A decoded hold stores and reads back the same.
			h := holds[0]
			h.ID, h.Connector = "h2", conn
			require.NoError(t, b.PutHold(ctx, h))
			again, err := b.Holds(ctx, conn)
			require.NoError(t, err)
			require.Contains(t, again, h)
		case 2:
			require.NoError(t, raw.HSet(ctx, key("retries"), "a1", v).Err())
			list, err := b.Retries(ctx, conn)
			if err != nil {
				require.ErrorContains(t, err, `retry entry "a1"`)
				return
			}
			require.Len(t, list, 1)
		case 3:
			require.NoError(t, raw.ZAdd(ctx, key("ledger"), goredis.Z{Score: float64(time.Now().UnixMilli()), Member: v}).Err())
			lines, err := b.DestructiveSince(ctx, conn, time.Now().Add(-time.Hour))
			if err != nil {
				require.ErrorContains(t, err, fmt.Sprintf("ledger line of %q", conn))
				return
			}
			require.Len(t, lines, 1)
		case 4:
			require.NoError(t, raw.Set(ctx, prefix+":report:"+conn, v, time.Minute).Err())
			rep, err := b.Report(ctx, conn)
			if err != nil {
				require.ErrorContains(t, err, fmt.Sprintf("report %q", conn))
				return
			}
			require.Equal(t, conn, rep.ID)
		case 5:
			require.NoError(t, raw.HSet(ctx, key("meta"), "cursor", v).Err())
			cur, err := b.Cursor(ctx, conn)
			require.NoError(t, err, "a damaged cursor means a full run, never a failed one")
			var rec struct {
				C []byte `json:"c"`
			}
			if json.Unmarshal(v, &rec) != nil || rec.C == nil {
				require.Nil(t, cur)
			} else {
				require.Equal(t, rec.C, cur)
			}
		case 6:
			require.NoError(t, raw.HSet(ctx, key("meta"), "cursor", `{"c":"Y3Vy"}`).Err())
			require.NoError(t, raw.HSet(ctx, key("snap"), "x", v).Err())
			snap, err := b.Snapshot(ctx, conn)
			require.NoError(t, err, "a damaged entry is dropped, never a failed run")
			cur, err := b.Cursor(ctx, conn)
			require.NoError(t, err)
			if _, ok := snap["x"]; ok {
				require.Equal(t, []byte("cur"), cur)
			} else {
				require.Empty(t, snap)
				require.Nil(t, cur, "a snapshot with a dropped entry must not continue from its cursor")
			}
		}
	})
}
