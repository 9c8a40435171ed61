package runner_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// users are n users whose references, anchors and addresses start with
// prefix, which keeps two connectors' users apart.
func users(prefix string, n int) []connectors.Record {
	recs := make([]connectors.Record, n)
	for i := range recs {
		recs[i] = connectors.Record{Kind: connectors.KindUser, Ref: fmt.Sprintf("uid=%su%d", prefix, i),
			Anchor: fmt.Sprintf("%sa%d", prefix, i), Mail: fmt.Sprintf("%su%d@example.com", prefix, i)}
	}
	return recs
}

// static is a source of n users named with prefix.
func static(prefix string, n int) *connectortest.Static {
	return &connectortest.Static{Records: users(prefix, n)}
}

// owner maps only the display name.
type owner struct{ *connectortest.Static }

func (owner) Fields() []string { return []string{store.FieldDisplayName} }

// backends are a fresh SQLite store (with example.com) and local state.
func backends(t *testing.T) (store.Store, state.Backend) {
	t.Helper()
	return testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t)
}

func newRunner(t *testing.T, jobs ...engine.Job) (*runner.Runner, store.Store) {
	t.Helper()
	log := zap.NewNop()
	st, sb := backends(t)
	eng := engine.New(st, sb, []string{"example.com"}, log)
	r := runner.New(t.Context(), eng, sb, jobs, log, runner.Options{})
	t.Cleanup(func() { _ = r.Wait(context.Background()) })
	return r, st
}

func TestTriggerWaitReturnsReportsAndHistory(t *testing.T) {
	r, st := newRunner(t, engine.Job{Name: "b", Source: static("b", 3)}, engine.Job{Name: "a", Source: static("", 2)})
	require.Equal(t, []string{"a", "b"}, r.Connectors())

	got, err := r.Trigger(t.Context(), runner.Trigger{Wait: true})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].Connector)
	require.NotNil(t, got[1].Report)
	rep := *got[1].Report
	require.Equal(t, got[1].RunID, rep.RunID)
	require.Equal(t, engine.StatusOK, rep.Status)
	require.Len(t, rep.Operations, 3)
	_, err = st.User(t.Context(), "bu2@example.com")
	require.NoError(t, err)

	runs, err := r.Runs(t.Context(), "", 10)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	detail, err := r.Run(t.Context(), got[0].RunID)
	require.NoError(t, err)
	require.Equal(t, "a", detail.Connector)
	require.Equal(t, 2, detail.Counts["create"], detail.Counts)
	require.NotEmpty(t, detail.Report)

	_, err = r.Run(t.Context(), "no-such-run")
	require.ErrorIs(t, err, runner.ErrRunNotFound)
}

func TestDryRunIsListedButWritesNothing(t *testing.T) {
	r, st := newRunner(t, engine.Job{Name: "a", Source: static("", 2)})
	got, err := r.Trigger(t.Context(), runner.Trigger{DryRun: true, Wait: true})
	require.NoError(t, err)
	_, err = st.User(t.Context(), "u0@example.com")
	require.ErrorIs(t, err, store.ErrNotFound)
	runs, err := r.Runs(t.Context(), "a", 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.True(t, runs[0].DryRun)
	require.Equal(t, got[0].RunID, runs[0].RunID)
}

func TestUnknownConnector(t *testing.T) {
	r, _ := newRunner(t, engine.Job{Name: "a", Source: static("", 1)})
	_, err := r.Trigger(t.Context(), runner.Trigger{Connectors: []string{"nope"}})
	require.ErrorIs(t, err, runner.ErrUnknownConnector)
	require.ErrorContains(t, err, `"nope"`)
	_, _, err = r.Start(runner.Request{Connector: "nope"})
	require.ErrorIs(t, err, runner.ErrUnknownConnector)
	runs, err := r.Runs(t.Context(), "", 10)
	require.NoError(t, err)
	require.Empty(t, runs)
}

func TestFieldOwner(t *testing.T) {
	r, _ := newRunner(t, engine.Job{Name: "all", Source: static("", 0)}, engine.Job{Name: "some", Source: owner{static("", 0)}})
	require.True(t, r.FieldOwner("all", store.FieldTitle))
	require.True(t, r.FieldOwner("some", store.FieldDisplayName))
	require.False(t, r.FieldOwner("some", store.FieldTitle))
	require.False(t, r.FieldOwner("unknown", store.FieldTitle))
}
