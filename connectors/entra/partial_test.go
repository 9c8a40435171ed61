package entra_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/entra"
	"github.com/dirsync/dirsync/internal/fakegraph"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// syncEnv is the real engine with a local state file and a SQLite store.
type syncEnv struct {
	eng   *engine.Engine
	st    store.Store
	state state.Backend
}

func newSyncEnv(t *testing.T) *syncEnv {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	st, sb := testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t)
	return &syncEnv{eng: engine.New(st, sb, []string{"example.com"}, log), st: st, state: sb}
}

// openBrakes lets every disable through: only a failed read can stop them.
var openBrakes = config.Policy{BatchSize: 3, MaxDestructive: 1000, MaxDestructivePercent: 100, MinSourcePercent: 0, MissingRuns: 1}

func (e *syncEnv) run(t *testing.T, src connectors.Source, full bool) *engine.Report {
	t.Helper()
	return e.eng.Run(context.Background(), engine.Job{Name: "cloud", Source: src, Policy: openBrakes}, engine.Options{Full: full})
}

func (e *syncEnv) enabled(t *testing.T) int {
	t.Helper()
	us, _, err := e.st.Users(context.Background(), store.ListQuery{Limit: 1000})
	require.NoError(t, err)
	n := 0
	for _, u := range us {
		if u.Enabled {
			n++
		}
	}
	return n
}

// partialTenant is a tenant of 20 members, read two users a page (ten pages
// of users/delta), with retries bounded to a few seconds.
func partialTenant(t *testing.T) *tenant {
	t.Helper()
	tn := newTenant(t, func(c *entra.Config) { c.MaxRetries, c.MaxRetryWait, c.Groups = 2, 2*time.Second, new(bool) })
	for i := 1; i <= 20; i++ {
		u := tn.user(i)
		u.AccountEnabled = true
		tn.srv.PutUser(u)
	}
	return tn
}

// TestGraphFaultAfterPagesDisablesNobody: a full read whose users/delta round
// fails after some pages, through the connector and the real engine with the
// brakes open. The connector reports the error after emitting the first pages'
// users; the run fails and nobody is disabled.
func TestGraphFaultAfterPagesDisablesNobody(t *testing.T) {
	for _, status := range []int{500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			tn := partialTenant(t)
			src := tn.open()
			e := newSyncEnv(t)
			rep := e.run(t, src, true)
			require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
			require.Equal(t, 20, rep.Counts.Create)

			tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/users/delta", Status: status, RetryAfter: time.Second, After: 3, Count: -1})
			emitted := 0
			err := src.Read(context.Background(), func(connectors.Record) error { emitted++; return nil })
			require.ErrorContains(t, err, fmt.Sprintf("answered %d", status))
			require.Equal(t, 6, emitted, "three pages of two users came through before the fault")

			tn.srv.ClearFaults()
			tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/users/delta", Status: status, RetryAfter: time.Second, After: 3, Count: -1})
			rep = e.run(t, src, true)
			require.Equal(t, engine.StatusFailed, rep.Status)
			require.Contains(t, rep.Errors[0], "nobody disabled")
			require.Zero(t, rep.Counts.Disable)
			require.Equal(t, 20, e.enabled(t), "everyone enabled before stays enabled")

			// The fault clears: a full read finds nobody missing.
			tn.srv.ClearFaults()
			rep = e.run(t, src, true)
			require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
			require.Zero(t, rep.Counts.Disable)
			require.Equal(t, 20, e.enabled(t))
		})
	}
}

// TestDeltaFaultAfterTombstonesDisablesNobody: an incremental read whose delta
// round reports removals on its first pages and then fails. The tombstones
// were emitted, but the run fails: nobody is disabled and the cursor stays, so
// the next run reads the same removals again and applies them.
func TestDeltaFaultAfterTombstonesDisablesNobody(t *testing.T) {
	tn := partialTenant(t)
	src := tn.open()
	e := newSyncEnv(t)
	require.Equal(t, engine.StatusOK, e.run(t, src, false).Status)
	cursor, err := e.state.Cursor(context.Background(), "cloud")
	require.NoError(t, err)
	require.NotEmpty(t, cursor)

	for i := 1; i <= 8; i++ {
		tn.srv.HardDeleteUser(id(i))
	}
	tombstones := 0
	tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/users/delta", Status: 500, After: 2, Count: -1})
	_, err = src.(connectors.Incremental).ReadChanges(context.Background(), cursor, func(r connectors.Record) error {
		if r.Deleted {
			tombstones++
		}
		return nil
	})
	require.ErrorContains(t, err, "answered 500")
	require.Equal(t, 4, tombstones, "two pages of removals came through before the fault")

	tn.srv.ClearFaults()
	tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/users/delta", Status: 500, After: 2, Count: -1})
	rep := e.run(t, src, false)
	require.Equal(t, engine.StatusFailed, rep.Status)
	require.False(t, rep.Full)
	require.Zero(t, rep.Counts.Disable)
	require.Equal(t, 20, e.enabled(t), "tombstones of a failed read disable nobody")
	after, err := e.state.Cursor(context.Background(), "cloud")
	require.NoError(t, err)
	require.Equal(t, string(cursor), string(after), "the delta link does not move")

	tn.srv.ClearFaults()
	rep = e.run(t, src, false)
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Equal(t, 8, rep.Counts.Disable)
	require.Equal(t, 12, e.enabled(t))
}
