package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// source emits n users; when gate is set it first waits for the gate to close,
// so a test can hold a run in progress.
type source struct {
	prefix string // keeps two connectors' users apart
	n      int
	gate   chan struct{}
}

func (s *source) Read(ctx context.Context, emit connectors.Emit) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range s.n {
		err := emit(connectors.Record{Kind: connectors.KindUser, Ref: fmt.Sprintf("uid=%su%d", s.prefix, i),
			Anchor: fmt.Sprintf("%sa%d", s.prefix, i), Mail: fmt.Sprintf("%su%d@example.com", s.prefix, i)})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *source) Close() error { return nil }

// owner maps only the display name.
type owner struct{ source }

func (o *owner) Fields() []string { return []string{store.FieldDisplayName} }

// backends are a fresh SQLite store (with example.com) and local state.
func backends(t *testing.T) (store.Store, state.Backend) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "store.db"), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sb, err := local.Open(filepath.Join(dir, "state.db"), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	require.NoError(t, st.AddDomain(t.Context(), "example.com", store.Actor{Kind: "system"}))
	return st, sb
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
	r, st := newRunner(t, engine.Job{Name: "b", Source: &source{prefix: "b", n: 3}}, engine.Job{Name: "a", Source: &source{n: 2}})
	require.Equal(t, []string{"a", "b"}, r.Connectors())

	got, err := r.Trigger(t.Context(), api.TriggerSync{Wait: true})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].Connector)
	var rep engine.Report
	require.NoError(t, json.Unmarshal(got[1].Report, &rep))
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
	require.ErrorIs(t, err, api.ErrRunNotFound)
}

func TestDryRunIsListedButWritesNothing(t *testing.T) {
	r, st := newRunner(t, engine.Job{Name: "a", Source: &source{n: 2}})
	got, err := r.Trigger(t.Context(), api.TriggerSync{DryRun: true, Wait: true})
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
	r, _ := newRunner(t, engine.Job{Name: "a", Source: &source{n: 1}})
	_, err := r.Trigger(t.Context(), api.TriggerSync{Connectors: []string{"nope"}})
	require.ErrorIs(t, err, api.ErrUnknownConnector)
	require.ErrorContains(t, err, `"nope"`)
	_, _, err = r.Start(runner.Request{Connector: "nope"})
	require.ErrorIs(t, err, api.ErrUnknownConnector)
	runs, err := r.Runs(t.Context(), "", 10)
	require.NoError(t, err)
	require.Empty(t, runs)
}

func TestFieldOwner(t *testing.T) {
	r, _ := newRunner(t, engine.Job{Name: "all", Source: &source{}}, engine.Job{Name: "some", Source: &owner{}})
	require.True(t, r.FieldOwner("all", store.FieldTitle))
	require.True(t, r.FieldOwner("some", store.FieldDisplayName))
	require.False(t, r.FieldOwner("some", store.FieldTitle))
	require.False(t, r.FieldOwner("unknown", store.FieldTitle))
}
