package testenv

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

// The embedded backends below need no server, so unlike Addr they never skip.
//
// Import cycles: this package imports store/sqlite and state/local, so the
// internal (package x, not x_test) tests of those packages and of what they
// import (store, state, internal/mailaddr) cannot use testenv; their external
// test packages can.

// SQLiteStore opens a SQLite store in a fresh temporary file and closes it when
// the test ends. Each domain given is registered first (by the system actor),
// as a store the sync writes into needs its internal domains.
func SQLiteStore(t testing.TB, domains ...string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "store.db"), zap.NewNop())
	if err != nil {
		t.Fatalf("open the SQLite store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, d := range domains {
		if err := st.AddDomain(context.Background(), d, store.Actor{Kind: "system"}); err != nil {
			t.Fatalf("add domain %s: %v", d, err)
		}
	}
	return st
}

// LocalState opens a local state file in a fresh temporary directory and
// closes it when the test ends.
func LocalState(t testing.TB) *local.Backend {
	t.Helper()
	sb, err := local.Open(filepath.Join(t.TempDir(), "state.db"), zap.NewNop())
	if err != nil {
		t.Fatalf("open the local state file: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

// Clock is a clock that moves only when told to, so a test decides exactly
// when a lease, a backoff or a window ends instead of sleeping past it. It is
// safe for concurrent use: the code under test may read it from its own
// goroutines while the test moves it. Pass its Now method where the code
// takes a func() time.Time.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d (back, if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
