package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/state/statetest"
)

func TestConformance(t *testing.T) {
	statetest.RunTests(t, func(t *testing.T) state.Backend {
		return open(t, filepath.Join(t.TempDir(), "state.db"))
	})
}

func open(t *testing.T, path string) *Backend {
	t.Helper()
	b, err := Open(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func TestOpenCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "dir", "state.db")
	open(t, path)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm())
}

func TestOpenRejectsForeignFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, []byte("not a bolt file, not at all, but long enough to look like a page"), 0o600))
	_, err := Open(garbage, zaptest.NewLogger(t))
	require.Error(t, err)

	future := filepath.Join(dir, "future.db")
	open(t, future)
	db, err := bolt.Open(future, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, []byte("99"))
	}))
	require.NoError(t, db.Close())
	_, err = Open(future, zaptest.NewLogger(t))
	require.ErrorContains(t, err, "schema version")
}

// TestSharedFile opens one file through two Backends, as the daemon and a one-shot
// CLI run would, then checks that everything survives closing and reopening.
func TestSharedFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	daemon, cli := open(t, path), open(t, path)

	lease, err := daemon.Acquire(ctx, "ldap", "daemon", time.Minute)
	require.NoError(t, err)
	_, err = cli.Acquire(ctx, "ldap", "cli", time.Minute)
	require.ErrorIs(t, err, state.ErrLocked, "the CLI must see the daemon's lock")

	entry := state.Entry{Fingerprint: "f1", Kind: "user", Address: "a@example.org"}
	require.NoError(t, daemon.Commit(ctx, lease, state.Commit{Upserts: map[string]state.Entry{"a": entry}, Cursor: []byte("c1")}))
	snap, err := cli.Snapshot(ctx, "ldap")
	require.NoError(t, err)
	require.Equal(t, state.Snapshot{"a": entry}, snap)
	cursor, err := cli.Cursor(ctx, "ldap")
	require.NoError(t, err)
	require.Equal(t, []byte("c1"), cursor)

	require.NoError(t, daemon.Release(ctx, lease))
	cliLease, err := cli.Acquire(ctx, "ldap", "cli", time.Minute)
	require.NoError(t, err)
	require.Greater(t, cliLease.Token, lease.Token)
	require.ErrorIs(t, daemon.Commit(ctx, lease, state.Commit{Cursor: []byte("stale")}), state.ErrStaleLease)
	require.NoError(t, cli.Commit(ctx, cliLease, state.Commit{Cursor: []byte("c2")}))

	run := state.Run{ID: "r1", Connector: "ldap", Status: "ok", Started: time.Now().UTC().Round(0), Counts: map[string]int{"created": 1}}
	require.NoError(t, cli.AddRun(ctx, run))
	hold := state.Hold{ID: "h1", Connector: "ldap", RunID: "r1", Reason: "threshold", Created: time.Now().UTC().Round(0), Operations: []byte(`[1, 2]`)}
	require.NoError(t, cli.PutHold(ctx, hold))
	runs, err := daemon.Runs(ctx, "", 10)
	require.NoError(t, err)
	require.Equal(t, []state.Run{run}, runs)

	require.NoError(t, daemon.Close())
	require.NoError(t, cli.Close())
	_, err = cli.Snapshot(ctx, "ldap")
	require.ErrorIs(t, err, errClosed)

	reopened := open(t, path)
	snap, err = reopened.Snapshot(ctx, "ldap")
	require.NoError(t, err)
	require.Equal(t, state.Snapshot{"a": entry}, snap)
	cursor, err = reopened.Cursor(ctx, "ldap")
	require.NoError(t, err)
	require.Equal(t, []byte("c2"), cursor)
	runs, err = reopened.Runs(ctx, "ldap", 10)
	require.NoError(t, err)
	require.Equal(t, []state.Run{run}, runs)
	holds, err := reopened.Holds(ctx, "ldap")
	require.NoError(t, err)
	require.Equal(t, []state.Hold{hold}, holds)

	// The lock and its token counter are in the file too.
	_, err = reopened.Acquire(ctx, "ldap", "daemon", time.Minute)
	require.ErrorIs(t, err, state.ErrLocked)
	require.NoError(t, reopened.Commit(ctx, cliLease, state.Commit{}))
	require.NoError(t, reopened.Release(ctx, cliLease))
	next, err := reopened.Acquire(ctx, "ldap", "daemon", time.Minute)
	require.NoError(t, err)
	require.Greater(t, next.Token, cliLease.Token)
}

// TestWaitsForFileLock holds the file the way another process's transaction would
// and checks that an operation waits for it, within the context's deadline.
func TestWaitsForFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b := open(t, path)
	other, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = b.Snapshot(ctx, "c")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	done := make(chan error, 1)
	go func() {
		_, err := b.Acquire(t.Context(), "c", "waiter", time.Minute)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Acquire returned while the file was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, other.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Acquire still waiting after the file was released")
	}
}

func TestCancelledContext(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := b.Snapshot(ctx, "c")
	require.ErrorIs(t, err, context.Canceled)
	_, err = b.Acquire(ctx, "c", "runner", time.Minute)
	require.ErrorIs(t, err, context.Canceled)
}

// TestExpiredLeaseStillCurrent: until someone takes the lock over, an expired lease
// may still commit and renew; fencing is by token, not by clock.
func TestExpiredLeaseStillCurrent(t *testing.T) {
	ctx := t.Context()
	b := open(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now()
	b.now = func() time.Time { return now }
	lease, err := b.Acquire(ctx, "c", "slow", time.Minute)
	require.NoError(t, err)

	now = now.Add(2 * time.Minute)
	require.NoError(t, b.Commit(ctx, lease, state.Commit{Cursor: []byte("late")}))
	renewed, err := b.Renew(ctx, lease, time.Minute)
	require.NoError(t, err)
	require.Equal(t, now.Add(time.Minute).Round(0), renewed.Expires)

	now = now.Add(2 * time.Minute)
	taken, err := b.Acquire(ctx, "c", "next", time.Minute)
	require.NoError(t, err)
	require.Greater(t, taken.Token, lease.Token)
	require.ErrorIs(t, b.Commit(ctx, lease, state.Commit{}), state.ErrStaleLease)
}

func TestRunHistoryTrimmed(t *testing.T) {
	ctx := t.Context()
	b := open(t, filepath.Join(t.TempDir(), "state.db"))
	b.keepRuns = 5
	for i := range 8 {
		require.NoError(t, b.AddRun(ctx, state.Run{ID: fmt.Sprint(i), Connector: "c", Status: "ok"}))
	}
	require.NoError(t, b.AddRun(ctx, state.Run{ID: "other", Connector: "d", Status: "ok"}))
	runs, err := b.Runs(ctx, "c", 100)
	require.NoError(t, err)
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	require.Equal(t, []string{"7", "6", "5", "4", "3"}, ids)
}

func TestInvalidArguments(t *testing.T) {
	ctx := t.Context()
	b := open(t, filepath.Join(t.TempDir(), "state.db"))
	_, err := b.Snapshot(ctx, "")
	require.Error(t, err)
	_, err = b.Acquire(ctx, "c", "runner", 0)
	require.Error(t, err)
	require.Error(t, b.AddRun(ctx, state.Run{ID: "r"}))
	require.Error(t, b.PutHold(ctx, state.Hold{Connector: "c"}))
	lease, err := b.Acquire(ctx, "c", "runner", time.Minute)
	require.NoError(t, err)
	require.Error(t, b.Commit(ctx, lease, state.Commit{Upserts: map[string]state.Entry{"": {}}}))
}

// helperEnv names the state file a helper process works on; see TestTwoProcesses.
const helperEnv = "DIRSYNC_LOCAL_STATE_HELPER"

// TestTwoProcesses runs this test binary a second time as a helper process, and both
// processes take turns on one connector's lock and commit into the same file.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b := open(t, path)

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	out := make(chan error, 1)
	var output []byte
	go func() {
		var err error
		output, err = cmd.CombinedOutput()
		out <- err
	}()
	require.NoError(t, takeTurns(t.Context(), b, "parent"))
	require.NoError(t, <-out, "helper process:\n%s", output)

	snap, err := b.Snapshot(t.Context(), "shared")
	require.NoError(t, err)
	require.Len(t, snap, 2*turns)
	for i := range turns {
		require.Contains(t, snap, fmt.Sprintf("parent-%d", i))
		require.Contains(t, snap, fmt.Sprintf("child-%d", i))
	}
	runs, err := b.Runs(t.Context(), "shared", 1000)
	require.NoError(t, err)
	require.Len(t, runs, 2*turns)
}

// TestHelperProcess is the child side of TestTwoProcesses; run directly, it skips.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestTwoProcesses")
	}
	b := open(t, path)
	require.NoError(t, takeTurns(t.Context(), b, "child"))
}

const turns = 15

// takeTurns acquires the shared lock turns times, committing an entry and a run under
// each lease.
func takeTurns(ctx context.Context, b *Backend, who string) error {
	for i := 0; i < turns; {
		lease, err := b.Acquire(ctx, "shared", who, time.Minute)
		if errors.Is(err, state.ErrLocked) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		anchor := fmt.Sprintf("%s-%d", who, i)
		entry := state.Entry{Fingerprint: anchor, Kind: "user", Address: anchor + "@example.org"}
		if err := b.Commit(ctx, lease, state.Commit{Upserts: map[string]state.Entry{anchor: entry}, Cursor: []byte(anchor)}); err != nil {
			return err
		}
		if err := b.AddRun(ctx, state.Run{ID: anchor, Connector: "shared", Status: "ok"}); err != nil {
			return err
		}
		if err := b.Release(ctx, lease); err != nil {
			return err
		}
		i++
	}
	return nil
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	_, err := OpenReadOnly(path, nil)
	require.ErrorIs(t, err, os.ErrNotExist, "a missing file is not created")
	_, statErr := os.Stat(path)
	require.ErrorIs(t, statErr, os.ErrNotExist)

	rw, err := Open(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	lease, err := rw.Acquire(ctx, "c", "me", time.Minute)
	require.NoError(t, err)
	require.NoError(t, rw.Commit(ctx, lease, state.Commit{Upserts: map[string]state.Entry{"a": {Fingerprint: "f", Address: "a@example.com"}}}))
	require.NoError(t, rw.Release(ctx, lease))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	ro, err := OpenReadOnly(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	snap, err := ro.Snapshot(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, "a@example.com", snap["a"].Address)
	_, err = ro.Acquire(ctx, "c", "me", time.Minute)
	require.ErrorIs(t, err, errReadOnly)
	require.ErrorIs(t, ro.AddRun(ctx, state.Run{ID: "r", Connector: "c"}), errReadOnly)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after, "nothing was written")
}

// TestReportsPruned: each save deletes up to pruneBatch expired reports, the
// oldest first, so the file does not keep reports past their retention.
func TestReportsPruned(t *testing.T) {
	ctx := t.Context()
	b := open(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now()
	b.now = func() time.Time { return now }
	body := []byte(`{"run_id":"x"}`)
	const old = pruneBatch + 10
	for i := range old {
		require.NoError(t, b.SaveReport(ctx, state.StoredReport{ID: fmt.Sprintf("old-%03d", i), Connector: "c", Body: body}, time.Minute+time.Duration(i)*time.Millisecond))
	}
	stored := func() (reports, index int) {
		require.NoError(t, b.view(ctx, func(tx *bolt.Tx) error {
			reports, index = tx.Bucket(bucketReports).Stats().KeyN, tx.Bucket(bucketReportExp).Stats().KeyN
			return nil
		}))
		return reports, index
	}
	r, i := stored()
	require.Equal(t, old, r)
	require.Equal(t, old, i)

	now = now.Add(2 * time.Minute)
	_, err := b.Report(ctx, "old-000")
	require.ErrorIs(t, err, state.ErrNotFound, "expired, even before it is pruned")
	require.NoError(t, b.SaveReport(ctx, state.StoredReport{ID: "new-1", Connector: "c", Body: body}, time.Hour))
	r, i = stored()
	require.Equal(t, old-pruneBatch+1, r, "one save prunes at most pruneBatch")
	require.Equal(t, r, i)
	_, err = b.Report(ctx, fmt.Sprintf("old-%03d", old-1))
	require.ErrorIs(t, err, state.ErrNotFound)

	require.NoError(t, b.SaveReport(ctx, state.StoredReport{ID: "new-2", Connector: "c", Body: body}, time.Hour))
	r, i = stored()
	require.Equal(t, 2, r)
	require.Equal(t, 2, i)

	// Saving an ID again moves its expiry instead of leaving the old one indexed.
	require.NoError(t, b.SaveReport(ctx, state.StoredReport{ID: "new-2", Connector: "c", Body: body}, 2*time.Hour))
	r, i = stored()
	require.Equal(t, 2, r)
	require.Equal(t, 2, i)
	now = now.Add(90 * time.Minute)
	_, err = b.Report(ctx, "new-1")
	require.ErrorIs(t, err, state.ErrNotFound)
	got, err := b.Report(ctx, "new-2")
	require.NoError(t, err)
	require.Equal(t, string(body), string(got.Body))
}

// A run lock held by a process of this machine that no longer runs (a
// `dirsync sync` killed mid-run) is taken over at once, with the next token;
// one held by a live process, or by another host, still waits for its lease.
func TestLockOfADeadProcessIsTakenOver(t *testing.T) {
	ctx := t.Context()
	b := open(t, filepath.Join(t.TempDir(), "state.db"))
	host, err := os.Hostname()
	require.NoError(t, err)
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	deadOwner := fmt.Sprintf("%s:%d", host, gone.Process.Pid)

	dead, err := b.Acquire(ctx, "c", deadOwner, time.Hour)
	require.NoError(t, err)
	taken, err := b.Acquire(ctx, "c", "next", time.Minute)
	require.NoError(t, err, "the dead process's lock is taken over before its lease ends")
	require.Greater(t, taken.Token, dead.Token)
	require.ErrorIs(t, b.Commit(ctx, dead, state.Commit{}), state.ErrStaleLease)
	require.NoError(t, b.Release(ctx, taken))

	for _, owner := range []string{fmt.Sprintf("%s:%d", host, os.Getpid()), fmt.Sprintf("other-host:%d", gone.Process.Pid), "no-pid"} {
		held, err := b.Acquire(ctx, "c", owner, time.Hour)
		require.NoError(t, err)
		_, err = b.Acquire(ctx, "c", "next", time.Minute)
		require.ErrorIs(t, err, state.ErrLocked, "owner %s", owner)
		require.NoError(t, b.Release(ctx, held))
	}
}
