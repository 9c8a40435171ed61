package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

func user(i int) connectors.Record {
	return connectors.Record{Kind: connectors.KindUser, Ref: fmt.Sprintf("uid=u%02d", i), Anchor: fmt.Sprintf("a%02d", i),
		Mail: fmt.Sprintf("u%02d@example.com", i), DisplayName: fmt.Sprintf("User %d", i)}
}

func users(n int) []connectors.Record {
	out := make([]connectors.Record, n)
	for i := range out {
		out[i] = user(i)
	}
	return out
}

type env struct {
	store store.Store
	state state.Backend
	eng   *engine.Engine
	logs  *observer.ObservedLogs
}

func newEnv(t *testing.T) *env {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	st, sb := testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t)
	return &env{store: st, state: sb, eng: engine.New(st, sb, nil, zap.New(core)), logs: logs}
}

func policy() config.Policy {
	return config.Policy{BatchSize: 7, MaxDestructive: 500, MaxDestructivePercent: 10, MinSourcePercent: 50, MissingRuns: 2, SoftMatch: true}
}

func (e *env) run(t *testing.T, src connectors.Source, pol config.Policy, opts engine.Options) *engine.Report {
	t.Helper()
	return e.eng.Run(context.Background(), engine.Job{Name: "dir", Source: src, Policy: pol}, opts)
}

func (e *env) enabled(t *testing.T, addr string) bool {
	t.Helper()
	u, err := e.store.User(context.Background(), addr)
	require.NoError(t, err)
	return u.Enabled
}

func (e *env) count(t *testing.T) int {
	t.Helper()
	us, _, err := e.store.Users(context.Background(), store.ListQuery{Limit: 1000})
	require.NoError(t, err)
	return len(us)
}

func TestCreateThenNothingToDo(t *testing.T) {
	e := newEnv(t)
	src := &connectortest.Static{Records: users(20)}

	dry := e.run(t, src, policy(), engine.Options{DryRun: true})
	require.Equal(t, engine.StatusDryRun, dry.Status)
	require.Equal(t, 20, dry.Counts.Create)
	require.Equal(t, 0, e.count(t), "a dry run writes nothing to the store")
	snap, err := e.state.Snapshot(context.Background(), "dir")
	require.NoError(t, err)
	require.Empty(t, snap, "a dry run writes nothing to the state")
	runs, err := e.state.Runs(context.Background(), "dir", 10)
	require.NoError(t, err)
	require.Empty(t, runs)

	rep := e.run(t, src, policy(), engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Equal(t, 20, rep.Counts.Create)
	require.Equal(t, 20, e.count(t))
	require.Len(t, e.logs.FilterMessage("change applied").All(), 20, "one log line per applied change")
	line := e.logs.FilterMessage("change applied").All()[0].ContextMap()
	require.Equal(t, "dir", line["connector"])
	require.Equal(t, rep.RunID, line["run_id"])
	require.Equal(t, "create", line["action"])

	again := e.run(t, src, policy(), engine.Options{})
	require.Equal(t, engine.StatusOK, again.Status)
	require.Equal(t, 20, again.Counts.Unchanged)
	require.Zero(t, again.Counts.Create+again.Counts.Update+again.Counts.Disable)

	runs, err = e.state.Runs(context.Background(), "dir", 10)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, again.RunID, runs[0].ID)
}

func TestEmptyReadIsHeld(t *testing.T) {
	e := newEnv(t)
	require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: users(10)}, policy(), engine.Options{}).Status)
	for range 3 {
		rep := e.run(t, &connectortest.Static{}, policy(), engine.Options{})
		require.Equal(t, engine.StatusHeld, rep.Status)
		require.Contains(t, rep.HoldReason, "refusing to disable anyone")
	}
	snap, err := e.state.Snapshot(context.Background(), "dir")
	require.NoError(t, err)
	for a, entry := range snap {
		require.Zero(t, entry.Missing, "%s: the health gate must not advance missing counters", a)
	}
	require.True(t, e.enabled(t, "u03@example.com"))
}

func TestMissingTwiceIsDisabledThenReEnabled(t *testing.T) {
	e := newEnv(t)
	pol := policy()
	pol.MaxDestructivePercent = 100
	require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: users(10)}, pol, engine.Options{}).Status)
	without := &connectortest.Static{Records: users(9)} // u09 leaves
	first := e.run(t, without, pol, engine.Options{})
	require.Zero(t, first.Counts.Disable)
	require.True(t, e.enabled(t, "u09@example.com"), "one missing run is not enough")
	second := e.run(t, without, pol, engine.Options{})
	require.Equal(t, 1, second.Counts.Disable)
	require.False(t, e.enabled(t, "u09@example.com"))
	third := e.run(t, without, pol, engine.Options{})
	require.Zero(t, third.Counts.Disable, "already disabled: nothing more to do")

	back := e.run(t, &connectortest.Static{Records: users(10)}, pol, engine.Options{})
	require.Equal(t, 1, back.Counts.Enable, back.Operations)
	require.True(t, e.enabled(t, "u09@example.com"))
}

func TestThresholdHoldsDestructiveChangesOnly(t *testing.T) {
	e := newEnv(t)
	pol := policy()
	pol.MissingRuns = 1
	require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: users(20)}, pol, engine.Options{}).Status)
	// Three leave (15% > 10%) and one joins.
	rep := e.run(t, &connectortest.Static{Records: append(users(17), user(30))}, pol, engine.Options{})
	require.Equal(t, engine.StatusHeld, rep.Status)
	require.Equal(t, 3, rep.Counts.Held)
	require.Equal(t, 1, rep.Counts.Create)
	require.True(t, e.enabled(t, "u18@example.com"))
	require.True(t, e.enabled(t, "u30@example.com"), "the create went ahead")
	holds, err := e.state.Holds(context.Background(), "dir")
	require.NoError(t, err)
	require.Len(t, holds, 1)
	require.Contains(t, string(holds[0].Operations), "u18@example.com")
	require.Equal(t, rep.RunID, holds[0].RunID)

	// The held users stay planned on the next run rather than being forgotten.
	next := e.run(t, &connectortest.Static{Records: append(users(17), user(30))}, pol, engine.Options{})
	require.Equal(t, 3, next.Counts.Held)
}

func TestLockedConnectorFails(t *testing.T) {
	e := newEnv(t)
	_, err := e.state.Acquire(context.Background(), "dir", "someone-else", time.Minute)
	require.NoError(t, err)
	rep := e.run(t, &connectortest.Static{Records: users(3)}, policy(), engine.Options{})
	require.Equal(t, engine.StatusFailed, rep.Status)
	require.Contains(t, rep.Errors[0], "lock connector dir")
	require.Equal(t, 0, e.count(t))
}

// failingCommit makes the first Commit fail, as a crash between apply and commit would.
type failingCommit struct {
	state.Backend
	failed bool
}

func (f *failingCommit) Commit(ctx context.Context, l state.Lease, c state.Commit) error {
	if !f.failed {
		f.failed = true
		return errors.New("disk full")
	}
	return f.Backend.Commit(ctx, l, c)
}

func TestCrashBeforeCommitIsRepairedByTheNextRun(t *testing.T) {
	e := newEnv(t)
	eng := engine.New(e.store, &failingCommit{Backend: e.state}, nil, zap.NewNop())
	job := engine.Job{Name: "dir", Source: &connectortest.Static{Records: users(5)}, Policy: policy()}
	rep := eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, engine.StatusFailed, rep.Status)
	require.Equal(t, 5, e.count(t), "the store was written before the commit failed")

	again := eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, engine.StatusOK, again.Status, again.Errors)
	require.Zero(t, again.Counts.Create, "idempotent: no duplicate creates")
	snap, err := e.state.Snapshot(context.Background(), "dir")
	require.NoError(t, err)
	require.Len(t, snap, 5)
	third := eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, 5, third.Counts.Unchanged)
}

func TestConflictMakesThePartialRunRetryOnlyThatObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// u02's domain is configured but not registered in the store, which
	// refuses its create. (An alias another object owns no longer fails a
	// write: the plan withholds it.)
	e.eng = engine.New(e.store, e.state, []string{"elsewhere.example"}, zap.NewNop())
	recs := users(4)
	recs[2].Mail = "u02@elsewhere.example"
	rep := e.run(t, connectortest.IncrementalStatic{Static: &connectortest.Static{Records: recs}}, policy(), engine.Options{})
	require.Equal(t, engine.StatusPartial, rep.Status)
	require.Len(t, rep.Errors, 1)
	require.Contains(t, rep.Errors[0], "domain elsewhere.example is not an internal domain")
	snap, err := e.state.Snapshot(ctx, "dir")
	require.NoError(t, err)
	require.Len(t, snap, 3, "the failed object is not committed, so the next run retries it")
	cursor, err := e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1", string(cursor), "the cursor moves past a failed change: the retry set keeps it")
}

func TestIncrementalRunsAndExpiredCursor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := &connectortest.Static{Records: users(10)}
	inc := connectortest.IncrementalStatic{Static: src}
	first := e.run(t, inc, policy(), engine.Options{})
	require.True(t, first.Full, "no cursor yet: the first run is full")
	cursor, err := e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1", string(cursor))

	changed := user(3)
	changed.Title = "Boss"
	src.Changes = []connectors.Record{changed, {Anchor: "a04", Deleted: true}}
	rep := e.run(t, inc, policy(), engine.Options{})
	require.False(t, rep.Full)
	require.Equal(t, 1, rep.Counts.Update)
	require.Equal(t, 1, rep.Counts.Disable, "a tombstone disables at once")
	require.False(t, e.enabled(t, "u04@example.com"))
	u, err := e.store.User(ctx, "u03@example.com")
	require.NoError(t, err)
	require.Equal(t, "Boss", u.Title)
	cursor, err = e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1+", string(cursor))

	src.Expired = true
	src.Records[3] = changed
	full := e.run(t, inc, policy(), engine.Options{})
	require.True(t, full.Full, "an expired cursor falls back to a full read")
	require.Equal(t, engine.StatusOK, full.Status, full.Errors)
	cursor, err = e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, "c1", string(cursor))
}

// A source object replaced by another with the same address: the old one's
// disable, planned from its cached address, must not hit the new one.
func TestReplacedObjectsDisableNeverHitsItsSuccessor(t *testing.T) {
	e := newEnv(t)
	pol := policy()
	pol.MaxDestructivePercent = 100
	x := connectors.Record{Kind: connectors.KindUser, Ref: "x", Anchor: "ax", Mail: "x@example.com"}
	y := connectors.Record{Kind: connectors.KindUser, Ref: "y", Anchor: "ay", Mail: "x@example.com"}
	require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: []connectors.Record{x}}, pol, engine.Options{}).Status)
	second := e.run(t, &connectortest.Static{Records: []connectors.Record{y}}, pol, engine.Options{})
	require.Len(t, second.Quarantined, 1, "the old object may still be live: no takeover yet")
	third := e.run(t, &connectortest.Static{Records: []connectors.Record{y}}, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, third.Status, third.Errors)
	require.Equal(t, 1, third.Counts.Update, "re-anchored to the new object")
	require.True(t, e.enabled(t, "x@example.com"), "the old anchor's disable found nothing to disable")
	u, err := e.store.User(context.Background(), "x@example.com")
	require.NoError(t, err)
	require.Equal(t, "ay", u.Anchor)
	fourth := e.run(t, &connectortest.Static{Records: []connectors.Record{y}}, pol, engine.Options{})
	require.Equal(t, 1, fourth.Counts.Unchanged)
	require.Zero(t, fourth.Counts.Disable)
	require.True(t, e.enabled(t, "x@example.com"))
}

func TestHeldChangesAreNotLostOnIncrementalRuns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := &connectortest.Static{Records: users(10)}
	inc := connectortest.IncrementalStatic{Static: src}
	pol := policy()
	pol.MaxDestructivePercent = 100
	pol.MaxDestructive = 1
	require.Equal(t, engine.StatusOK, e.run(t, inc, pol, engine.Options{}).Status)
	src.Changes = []connectors.Record{{Anchor: "a01", Deleted: true}, {Anchor: "a02", Deleted: true}}
	for range 2 {
		rep := e.run(t, inc, pol, engine.Options{})
		require.Equal(t, engine.StatusHeld, rep.Status)
		require.Equal(t, 2, rep.Counts.Held)
		cursor, err := e.state.Cursor(ctx, "dir")
		require.NoError(t, err)
		require.Equal(t, "c1", string(cursor), "the cursor must not move past held changes")
		held, err := e.eng.Held(ctx, "dir", engine.HoldPending)
		require.NoError(t, err)
		require.Len(t, held, 2, "the same two operations, held again under the same IDs")
		require.Equal(t, rep.RunID, held[0].RunID)
	}
	require.True(t, e.enabled(t, "u01@example.com"))

	// Raising the limit does not release them: held operations wait for an
	// admin. Approving them applies them; the next run moves the cursor on.
	pol.MaxDestructive = 10
	rep := e.run(t, inc, pol, engine.Options{})
	require.Equal(t, engine.StatusHeld, rep.Status, rep.Errors)
	require.True(t, e.enabled(t, "u01@example.com"))
	res, err := e.eng.Decide(ctx, engine.Decision{RunID: rep.RunID, Approve: true, By: "alice"})
	require.NoError(t, err)
	require.Len(t, res, 2)
	require.False(t, e.enabled(t, "u01@example.com"))
	require.False(t, e.enabled(t, "u02@example.com"))
	rep = e.run(t, inc, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Zero(t, rep.Counts.Held)
	require.Zero(t, rep.Counts.Disable, "approved operations are not planned again")
	cursor, err := e.state.Cursor(ctx, "dir")
	require.NoError(t, err)
	require.NotEqual(t, "c1", string(cursor), "nothing held: the cursor moves on")
	held, err := e.eng.Held(ctx, "dir", engine.HoldApplied)
	require.NoError(t, err)
	require.Len(t, held, 2)
}

func TestSmallReadHoldsEvenExplicitDisables(t *testing.T) {
	e := newEnv(t)
	require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: users(20)}, policy(), engine.Options{}).Status)
	few := users(3)
	for i := range few {
		few[i].Disabled = true
	}
	rep := e.run(t, &connectortest.Static{Records: few}, policy(), engine.Options{})
	require.Equal(t, engine.StatusHeld, rep.Status)
	require.Equal(t, 3, rep.Counts.Held)
	require.Contains(t, rep.HoldReason, "refusing to disable anyone")
	for i := range 3 {
		require.True(t, e.enabled(t, fmt.Sprintf("u%02d@example.com", i)))
	}
}

func TestGroupIsWrittenWithoutAMemberWhoseCreateFailed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// elsewhere.example is configured but not yet registered in the store, so
	// the plan creates u01 in it and the store refuses that create. (An alias
	// another object holds no longer fails a create: the plan withholds it.)
	e.eng = engine.New(e.store, e.state, []string{"elsewhere.example"}, zap.NewNop())
	recs := users(3)
	recs[1].Mail = "u01@elsewhere.example"
	group := connectors.Record{Kind: connectors.KindGroup, Ref: "cn=team", Anchor: "g1", Mail: "team@example.com",
		Members: []string{"uid=u00", "uid=u01", "uid=u02"}}
	rep := e.run(t, &connectortest.Static{Records: append(recs, group)}, policy(), engine.Options{})
	require.Equal(t, engine.StatusPartial, rep.Status)
	require.Len(t, rep.Errors, 1, "only u01 failed: %v", rep.Errors)
	team, err := e.store.User(ctx, "team@example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"u00@example.com", "u02@example.com"}, team.Members)
	require.NotEmpty(t, rep.Warnings)

	// The domain is registered: the next run creates u01 and completes the group.
	require.NoError(t, e.store.AddDomain(ctx, "elsewhere.example", store.Actor{Kind: "admin"}))
	again := e.run(t, &connectortest.Static{Records: append(recs, group)}, policy(), engine.Options{})
	require.Equal(t, engine.StatusOK, again.Status, again.Errors)
	team, err = e.store.User(ctx, "team@example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"u00@example.com", "u01@elsewhere.example", "u02@example.com"}, team.Members)
}

func TestLostStateFileDoesNotLockTheStoreOut(t *testing.T) {
	dir := t.TempDir()
	st := testenv.SQLiteStore(t, "example.com")
	// Two runs on one state file, then a fresh, empty one: its first lease must
	// still outrank every token the store has seen.
	for i, name := range []string{"state-a.db", "state-a.db", "state-b.db"} {
		sb, err := local.Open(filepath.Join(dir, name), zap.NewNop())
		require.NoError(t, err)
		eng := engine.New(st, sb, nil, zap.NewNop())
		rep := eng.Run(context.Background(), engine.Job{Name: "dir", Source: &connectortest.Static{Records: users(3 + i)}, Policy: policy()}, engine.Options{})
		require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
		require.NoError(t, sb.Close())
	}
}
