package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
)

// answer is what the fake LastSuccess says in one check, and the time that
// check runs at.
type answer struct {
	now time.Time
	ls  time.Time
	ok  bool
	err error
}

// staleWatch runs Watch over one connector in lockstep with the test: every
// check asks the test for its answer, so the test knows that the previous
// check is over (and its alert logged) when the next one asks.
type staleWatch struct {
	t       *testing.T
	logs    *observer.ObservedLogs
	asked   chan struct{}
	answers chan answer
	done    chan struct{}
	cancel  context.CancelFunc
}

func watchOne(t *testing.T, staleAfter time.Duration) *staleWatch {
	t.Helper()
	cfg := testConfig(t, "")
	cfg.StaleAfter = staleAfter
	n, logs := newNotifier(t, cfg)
	// Each check runs at the time its answer gives.
	clk := testenv.NewClock(time.Time{})
	n.now = clk.Now
	w := &staleWatch{t: t, logs: logs, asked: make(chan struct{}), answers: make(chan answer), done: make(chan struct{})}
	last := func(ctx context.Context, connector string) (time.Time, bool, error) {
		require.Equal(t, "corp", connector)
		select {
		case w.asked <- struct{}{}:
		case <-ctx.Done():
			return time.Time{}, false, ctx.Err()
		}
		var a answer
		select {
		case a = <-w.answers:
		case <-ctx.Done(): // the test is over: it asked nothing more
			return time.Time{}, false, ctx.Err()
		}
		clk.Set(a.now)
		return a.ls, a.ok, a.err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		defer close(w.done)
		n.Watch(ctx, func() []string { return []string{"corp"} }, last)
	}()
	t.Cleanup(w.stop)
	return w
}

// check waits for the next check, asserts how many stale alerts the ones
// before it raised, and answers it.
func (w *staleWatch) check(alertsSoFar int, a answer) {
	w.t.Helper()
	w.waitCheck(alertsSoFar)
	w.answers <- a
}

func (w *staleWatch) waitCheck(alertsSoFar int) {
	w.t.Helper()
	select {
	case <-w.asked:
	case <-time.After(10 * time.Second):
		w.t.Fatal("Watch stopped checking")
	}
	require.Len(w.t, w.alerts(), alertsSoFar)
}

func (w *staleWatch) alerts() []observer.LoggedEntry { return entries(w.logs, "alert") }

func (w *staleWatch) stop() {
	w.cancel()
	<-w.done
}

func TestStaleOncePerSpell(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ls := t0.Add(-30 * time.Minute)
	w := watchOne(t, time.Hour)
	w.check(0, answer{now: t0, ls: ls, ok: true})                       // 30m: fine
	w.check(0, answer{now: t0.Add(31 * time.Minute), ls: ls, ok: true}) // 61m: stale
	w.check(1, answer{now: t0.Add(40 * time.Minute), ls: ls, ok: true}) // still stale: told already
	w.check(1, answer{now: t0.Add(90 * time.Minute), ls: ls, ok: true})
	w.check(1, answer{now: t0.Add(91 * time.Minute), ls: ls, ok: true}) // another hour since the alert: again
	recovered := t0.Add(100 * time.Minute)
	w.check(2, answer{now: t0.Add(101 * time.Minute), ls: recovered, ok: true})
	w.check(2, answer{now: t0.Add(161 * time.Minute), ls: recovered, ok: true}) // a new spell
	w.check(3, answer{now: t0.Add(162 * time.Minute), ls: recovered, ok: true})
	w.waitCheck(3)
	w.stop()

	a := w.alerts()
	require.Equal(t, zapcore.ErrorLevel, a[0].Level)
	f := a[0].ContextMap()
	require.Equal(t, "stale", f["kind"])
	require.Equal(t, "corp", f["connector"])
	require.Equal(t, ls, f["last_success"])
	require.Equal(t, "corp: no successful run since 2025-03-01T11:30:00Z (1h1m ago; stale_after 1h)", f["summary"])
	require.Equal(t, "corp: no successful run since 2025-03-01T13:40:00Z (1h1m ago; stale_after 1h)", a[2].ContextMap()["summary"])
}

func TestStaleWithoutAnySuccess(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	w := watchOne(t, time.Hour)
	w.check(0, answer{now: t0})                       // first seen: the watch starts
	w.check(0, answer{now: t0.Add(59 * time.Minute)}) // not an hour yet
	w.check(0, answer{now: t0.Add(61 * time.Minute)}) // an hour watched, no success
	w.check(1, answer{now: t0.Add(62 * time.Minute)}) // told already
	w.check(1, answer{now: t0.Add(63 * time.Minute), err: errors.New("state backend unreachable")})
	w.waitCheck(1)
	w.stop()

	f := w.alerts()[0].ContextMap()
	require.Equal(t, "corp: no successful run since dirsync started watching it at 2025-03-01T12:00:00Z (1h1m ago; stale_after 1h)", f["summary"])
	_, has := f["last_success"]
	require.False(t, has, "no success: no last_success field")
	unknown := entries(w.logs, "stale check: last success unknown")
	require.Len(t, unknown, 1)
	require.Equal(t, zapcore.WarnLevel, unknown[0].Level)

	// In JSON a zero last_success is left out.
	body, err := json.Marshal(staleAlert("corp", time.Time{}, t0, t0.Add(2*time.Hour), time.Hour))
	require.NoError(t, err)
	require.NotContains(t, string(body), "last_success")
}

func TestStaleWebhook(t *testing.T) {
	h := newHook(t, nil)
	cfg := testConfig(t, h.url())
	cfg.StaleAfter = time.Hour
	n, _ := newNotifier(t, cfg)
	ls := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	checks := make(chan struct{}, 1)
	go func() {
		defer close(done)
		n.Watch(ctx, func() []string {
			select {
			case checks <- struct{}{}:
			case <-ctx.Done():
			}
			return []string{"corp"}
		}, func(context.Context, string) (time.Time, bool, error) { return ls, true, nil })
	}()
	waitFor(t, checks, 10)
	cancel()
	<-done
	closeNotifier(t, n)
	reqs := h.requests()
	require.Len(t, reqs, 1, "stale in ten checks, alerted once")
	var a Alert
	require.NoError(t, json.Unmarshal(reqs[0].body, &a))
	require.Equal(t, KindStale, a.Kind)
	require.True(t, ls.Equal(a.LastSuccess))
	require.Empty(t, a.RunID)
}

func TestStaleOff(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.StaleAfter = 0
	n, _ := newNotifier(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Watch(ctx, func() []string { t.Error("stale alerts are off: nothing to check"); return nil }, nil)
	}()
	select {
	case <-done:
		t.Fatal("Watch returned before its context ended")
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	<-done
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", 6*time.Hour + 20*time.Second: "6h", time.Minute: "1m",
		90 * time.Second: "1m30s", 1500 * time.Millisecond: "1.5s", 26 * time.Hour: "26h",
	} {
		require.Equal(t, want, Ago(d), d.String())
	}
}

func TestHistoryLastSuccess(t *testing.T) {
	st := testenv.LocalState(t)
	// Runs before the fixture's own close, which ignores the error.
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	add := func(connector, status string, finished time.Time) {
		require.NoError(t, st.AddRun(ctx, state.Run{ID: connector + status + finished.String(), Connector: connector,
			Status: status, Started: finished.Add(-time.Minute), Finished: finished}))
	}
	add("corp", "ok", t0)
	add("corp", "held", t0.Add(time.Hour)) // the newest that worked
	add("corp", "failed", t0.Add(2*time.Hour))
	add("corp", "partial", t0.Add(3*time.Hour))
	add("hr", "failed", t0)
	add("hr", "partial", t0.Add(time.Hour))
	add("sales", "ok", t0.Add(5*time.Hour))

	last := HistoryLastSuccess(st)
	for _, tc := range []struct {
		connector string
		want      time.Time
		ok        bool
	}{
		{"corp", t0.Add(time.Hour), true},
		{"hr", time.Time{}, false},
		{"sales", t0.Add(5 * time.Hour), true},
		{"never-ran", time.Time{}, false},
	} {
		got, ok, err := last(ctx, tc.connector)
		require.NoError(t, err, tc.connector)
		require.Equal(t, tc.ok, ok, tc.connector)
		require.True(t, tc.want.Equal(got), "%s: %s", tc.connector, got)
	}

	_, _, err := HistoryLastSuccess(brokenHistory{st})(ctx, "corp")
	require.ErrorIs(t, err, errBroken)
	require.ErrorContains(t, err, "run history of corp")
}

var errBroken = errors.New("state backend unreachable")

// brokenHistory is a backend whose run history cannot be read.
type brokenHistory struct{ state.Backend }

func (brokenHistory) Runs(context.Context, string, int) ([]state.Run, error) { return nil, errBroken }
