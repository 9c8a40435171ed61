package testenv_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/store/sqlite"
)

// TestSQLiteStoreHasTheDomainsAndClosesAtCleanup: the store is open with the
// given domains during the test, fresh for each call, and closed after it.
func TestSQLiteStoreHasTheDomainsAndClosesAtCleanup(t *testing.T) {
	ctx := context.Background()
	var st *sqlite.Store
	t.Run("use", func(t *testing.T) {
		st = testenv.SQLiteStore(t, "example.com", "example.org")
		domains, err := st.Domains(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"example.com", "example.org"}, domains)

		other := testenv.SQLiteStore(t)
		domains, err = other.Domains(ctx)
		require.NoError(t, err)
		require.Empty(t, domains, "each call opens its own file")
	})
	_, err := st.Domains(ctx)
	require.ErrorContains(t, err, "closed", "the store is closed once its test ended")
}

// TestLocalStateClosesAtCleanup: the state file is open during the test and
// closed after it.
func TestLocalStateClosesAtCleanup(t *testing.T) {
	ctx := context.Background()
	var sb *local.Backend
	t.Run("use", func(t *testing.T) {
		sb = testenv.LocalState(t)
		cursor, err := sb.Cursor(ctx, "dir")
		require.NoError(t, err)
		require.Nil(t, cursor, "a fresh state file holds no cursor")
	})
	// The backend opens its file per operation, so the removed temporary
	// directory alone would fail the call too; the message tells them apart.
	_, err := sb.Cursor(ctx, "dir")
	require.ErrorContains(t, err, "local state backend is closed", "the state file is closed once its test ended")
}

func TestClockMovesOnlyWhenTold(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := testenv.NewClock(start)
	require.Equal(t, start, c.Now())
	require.Equal(t, start, c.Now(), "time does not pass by itself")
	c.Advance(90 * time.Second)
	require.Equal(t, start.Add(90*time.Second), c.Now())
	c.Advance(-30 * time.Second)
	require.Equal(t, start.Add(time.Minute), c.Now())
	c.Set(start)
	require.Equal(t, start, c.Now())
}

// TestClockIsSafeForConcurrentUse: readers and movers on other goroutines
// (run it with -race) lose no move.
func TestClockIsSafeForConcurrentUse(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := testenv.NewClock(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, start.Add(800*time.Second), c.Now())
}
