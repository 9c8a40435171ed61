package daemon

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

// quickstartConfig is the shipped quickstart (local state, SQLite store, the
// file connector "sample") in a fresh folder, plus extra connector lines.
func quickstartConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"quickstart.yaml", "sample-directory.ldif"} {
		raw, err := os.ReadFile(filepath.Join("..", "deploy", "examples", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), raw, 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	raw, err := os.ReadFile(filepath.Join(dir, "quickstart.yaml"))
	require.NoError(t, err)
	cfg, err := config.Parse(append(raw, extra...), dir, "quickstart.yaml", registry.Builtin())
	require.NoError(t, err)
	return cfg
}

// testChecker checks *cur with a clock the test moves, counting the checks.
func testChecker(cur *atomic.Pointer[config.Config], clock *atomic.Int64, calls *atomic.Int32, hold <-chan struct{}) *configChecker {
	c := newConfigChecker(cur.Load, "/etc/dirsync/dirsync.yaml", zap.NewNop())
	c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	c.check = func(ctx context.Context, cfg *config.Config, log *zap.Logger, o CheckOptions) []CheckResult {
		calls.Add(1)
		if hold != nil {
			<-hold
		}
		clock.Add(int64(time.Millisecond))
		return Check(ctx, cfg, log, o)
	}
	return c
}

func TestConfigCheckerChecksTheRunningConfiguration(t *testing.T) {
	var cur atomic.Pointer[config.Config]
	cur.Store(quickstartConfig(t, ""))
	var clock atomic.Int64
	clock.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	var calls atomic.Int32
	c := testChecker(&cur, &clock, &calls, nil)

	got, err := c.Check(t.Context(), false)
	require.NoError(t, err)
	require.Equal(t, "/etc/dirsync/dirsync.yaml", got.File)
	byCheck := map[string]api.CheckLine{}
	for _, l := range got.Checks {
		byCheck[l.Check+"/"+l.Name] = l
	}
	for _, k := range []string{"configuration/", "state/local", "store/sqlite", "connector/sample"} {
		require.Contains(t, byCheck, k, "lines: %+v", got.Checks)
		require.Equal(t, api.CheckOK, byCheck[k].Status, "%s: %s", k, byCheck[k].Detail)
	}
	require.Len(t, got.Checks, 4, "no secrets in the quickstart: %+v", got.Checks)
	require.Equal(t, int32(1), calls.Load())

	// A reload of the page within 30 s is answered from the cache.
	clock.Add(int64(20 * time.Second))
	again, err := c.Check(t.Context(), false)
	require.NoError(t, err)
	require.Equal(t, got, again)
	require.Equal(t, int32(1), calls.Load())

	// A reload of the configuration: the next check (fresh, or once the
	// result is old) checks the new one.
	cur.Store(quickstartConfig(t, "  - {name: later, type: file, disabled: true, config: {path: nowhere.ldif}}\n"))
	clock.Add(int64(11 * time.Second))
	next, err := c.Check(t.Context(), false)
	require.NoError(t, err)
	require.Equal(t, int32(2), calls.Load())
	require.True(t, next.Generated.After(got.Generated))
	last := next.Checks[len(next.Checks)-1]
	require.Equal(t, api.CheckLine{Check: "connector", Name: "later", Status: api.CheckSkipped, Detail: "disabled: true"}, last)

	_, err = c.Check(t.Context(), true)
	require.NoError(t, err)
	require.Equal(t, int32(3), calls.Load(), "fresh checks again at once")
}

func TestConfigCheckerOneAtATime(t *testing.T) {
	var cur atomic.Pointer[config.Config]
	cur.Store(quickstartConfig(t, ""))
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	var calls atomic.Int32
	hold := make(chan struct{})
	c := testChecker(&cur, &clock, &calls, hold)

	// Five callers at once, all asking for a fresh check: one check runs, and
	// the others wait for it and get its result.
	var wg sync.WaitGroup
	results := make([]api.ConfigCheck, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Check(context.Background(), true)
			require.NoError(t, err)
			results[i] = r
		}()
	}
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // the others are waiting for their turn
	close(hold)
	wg.Wait()
	require.Equal(t, int32(1), calls.Load())
	for _, r := range results[1:] {
		require.Equal(t, results[0], r)
	}

	// A caller that gives up while waiting leaves with its context's error.
	c.turn = make(chan struct{}, 1) // someone else's turn, forever
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Check(ctx, true)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
