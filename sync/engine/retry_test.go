package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// refusing is the real store, except that it refuses every change to the
// addresses in refuse, as a store does an object it cannot write.
type refusing struct {
	store.Store
	refuse []string
}

func (s *refusing) Apply(ctx context.Context, req store.ApplyRequest) ([]store.Outcome, error) {
	outs := make([]store.Outcome, len(req.Changes))
	var pass []store.Change
	var at []int
	for i, ch := range req.Changes {
		if slices.Contains(s.refuse, ch.Address) {
			outs[i].Err = fmt.Errorf("%s: %w", ch.Address, errors.New("the store cannot write this object"))
			continue
		}
		pass, at = append(pass, ch), append(at, i)
	}
	if len(pass) == 0 && len(req.Changes) > 0 {
		return outs, nil
	}
	req.Changes = pass
	res, err := s.Store.Apply(ctx, req)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		outs[i] = res[k]
	}
	return outs, nil
}

func (e *env) refusingEngine(t *testing.T, refuse ...string) (*engine.Engine, *refusing, *testenv.Clock) {
	t.Helper()
	st := &refusing{Store: e.store, refuse: refuse}
	eng := engine.New(st, e.state, nil, zap.NewNop())
	c := testenv.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	eng.SetClock(c.Now)
	return eng, st, c
}

func (e *env) cursor(t *testing.T) string {
	t.Helper()
	c, err := e.state.Cursor(context.Background(), "dir")
	require.NoError(t, err)
	return string(c)
}

func outcomeOf(rep *engine.Report, action store.Action, address string) string {
	for _, op := range rep.Operations {
		if op.Action == action && op.Address == address {
			return op.Outcome
		}
	}
	return ""
}

// One object the store refuses must not freeze the incremental cursor: the run
// is partial, the cursor moves, the failed object waits in the retry set, and
// the next incremental run both retries it and applies a deletion the source
// reported meanwhile (not a full run later).
func TestFailedChangeGoesToTheRetrySetAndTheCursorMoves(t *testing.T) {
	e := newEnv(t)
	eng, st, _ := e.refusingEngine(t, "u03@example.com")
	src := &connectortest.Static{Records: users(10)}
	pol := policy()
	pol.MaxDestructivePercent = 100
	job := engine.Job{Name: "dir", Source: connectortest.IncrementalStatic{Static: src}, Policy: pol}

	first := eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, engine.StatusPartial, first.Status)
	require.Equal(t, 9, e.count(t), "the nine others were created")
	require.Equal(t, "failed", outcomeOf(first, store.ActionCreate, "u03@example.com"))
	require.Equal(t, "c1", e.cursor(t), "the cursor moved past the failure")
	require.Len(t, first.Retries, 1)
	require.Equal(t, "a03", first.Retries[0].Anchor)
	require.Equal(t, "u03@example.com", first.Retries[0].Address)
	require.Equal(t, 1, first.Retries[0].Attempts)
	require.Contains(t, first.Retries[0].LastError, "the store cannot write this object")
	require.False(t, first.Retries[0].GivenUp)

	// The store accepts u03 now, and u05 was deleted from the source.
	st.refuse = nil
	src.Changes = []connectors.Record{{Anchor: "a05", Ref: "uid=u05", Deleted: true}}
	second := eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, engine.StatusOK, second.Status, second.Errors)
	require.False(t, second.Full, "the next run is incremental")
	require.Equal(t, "applied", outcomeOf(second, store.ActionCreate, "u03@example.com"), second.Operations)
	require.True(t, e.enabled(t, "u03@example.com"))
	require.False(t, e.enabled(t, "u05@example.com"), "the deletion is applied on this incremental run")
	require.Equal(t, "c1+", e.cursor(t))
	require.Empty(t, second.Retries)
	left, err := e.state.Retries(context.Background(), "dir")
	require.NoError(t, err)
	require.Empty(t, left)
}

// A newer version of a failed object that the source sends wins over the one
// in the retry set, and the set keeps the newest for the next attempt.
func TestRetryUsesTheNewestVersionOfTheObject(t *testing.T) {
	e := newEnv(t)
	eng, st, _ := e.refusingEngine(t, "u03@example.com")
	src := &connectortest.Static{Records: users(5)}
	job := engine.Job{Name: "dir", Source: connectortest.IncrementalStatic{Static: src}, Policy: policy()}
	require.Equal(t, engine.StatusPartial, eng.Run(context.Background(), job, engine.Options{}).Status)

	boss := user(3)
	boss.Title = "Boss"
	src.Changes = []connectors.Record{boss}
	again := eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, engine.StatusPartial, again.Status)
	require.Len(t, again.Operations, 1, "u03 planned once: the source's version, not also the stored one")
	require.Len(t, again.Retries, 1)
	require.Equal(t, 2, again.Retries[0].Attempts)

	st.refuse, src.Changes = nil, nil
	last := eng.Run(context.Background(), job, engine.Options{})
	require.Equal(t, engine.StatusOK, last.Status, last.Errors)
	u, err := e.store.User(context.Background(), "u03@example.com")
	require.NoError(t, err)
	require.Equal(t, "Boss", u.Title, "the retry planned the newest version")
	require.Empty(t, last.Retries)
}

// The retry set backs off exponentially (capped), gives up after the limit
// but keeps the entry listed, and a full run that re-reads the object clears it.
func TestRetryBackoffAndLimit(t *testing.T) {
	e := newEnv(t)
	eng, st, clk := e.refusingEngine(t, "u03@example.com")
	src := &connectortest.Static{Records: users(5)}
	pol := policy()
	pol.Retry.RetryMaxAttempts, pol.Retry.RetryBackoff, pol.Retry.RetryBackoffMax = 4, time.Minute, 3*time.Minute
	job := engine.Job{Name: "dir", Source: connectortest.IncrementalStatic{Static: src}, Policy: pol}
	start := clk.Now()

	steps := []struct {
		after    time.Duration // since the first run
		tried    bool          // u03 planned (and refused) in this run
		attempts int
		next     time.Duration // NextAttempt since the first run; 0 = given up
	}{
		{0, true, 1, time.Minute},
		{30 * time.Second, false, 1, time.Minute},    // not due yet
		{time.Minute, true, 2, 3 * time.Minute},      // waits 2 minutes now
		{3 * time.Minute, true, 3, 6 * time.Minute},  // 4 minutes, capped at 3
		{5 * time.Minute, false, 3, 6 * time.Minute}, // not due
		{6 * time.Minute, true, 4, 0},                // the fourth failure: given up
		{24 * time.Hour, false, 4, 0},                // given up: reported, not retried
	}
	for i, s := range steps {
		clk.Set(start.Add(s.after))
		rep := eng.Run(context.Background(), job, engine.Options{})
		require.Equal(t, s.tried, outcomeOf(rep, store.ActionCreate, "u03@example.com") == "failed", "step %d: %v", i, rep.Operations)
		require.Len(t, rep.Retries, 1, "step %d", i)
		r := rep.Retries[0]
		require.Equal(t, s.attempts, r.Attempts, "step %d", i)
		if s.next == 0 {
			require.True(t, r.GivenUp, "step %d", i)
			require.True(t, r.NextAttempt.IsZero(), "step %d", i)
		} else {
			require.False(t, r.GivenUp, "step %d", i)
			require.Equal(t, start.Add(s.next), r.NextAttempt, "step %d", i)
		}
	}

	// A given-up entry still stays when the store would accept it, until a
	// full run re-reads the object and applies it.
	st.refuse = nil
	rep := eng.Run(context.Background(), job, engine.Options{})
	require.Len(t, rep.Retries, 1)
	_, err := e.store.User(context.Background(), "u03@example.com")
	require.ErrorIs(t, err, store.ErrNotFound)
	full := eng.Run(context.Background(), job, engine.Options{Full: true})
	require.Equal(t, engine.StatusOK, full.Status, full.Errors)
	require.True(t, e.enabled(t, "u03@example.com"))
	require.Empty(t, full.Retries)
}
