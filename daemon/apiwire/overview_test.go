package apiwire_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// downStore is a store that does not answer, with a host in its error.
type downStore struct{}

func (downStore) Domains(context.Context) ([]string, error) {
	return nil, errors.New("dial tcp db.internal.example:5432: connect: connection refused")
}

type leader bool

func (l leader) IsLeader() bool { return bool(l) }

// TestOverview: each connector's status from the runner, the run history and
// the state (a good incremental one, one whose source refuses connections,
// one held in a run, a disabled one), the staleness rule, the role and the
// backends' health, over the real engine, runner and local state.
func TestOverview(t *testing.T) {
	log := zap.NewNop()
	st, sb := testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t)
	recs := []connectors.Record{{Kind: connectors.KindUser, Ref: "uid=ann", Anchor: "a1", Mail: "ann@example.com", DisplayName: "Ann"},
		{Kind: connectors.KindUser, Ref: "uid=bob", Anchor: "a2", Mail: "bob@example.com", DisplayName: "Bob"}}
	refused := `read source (after 0 records; nothing applied, nobody disabled): connect to ldap://127.0.0.1:1: the server cannot be reached: dial tcp 127.0.0.1:1: connect: connection refused`
	slow := &connectortest.Static{Gate: make(chan struct{}), Reading: make(chan struct{})}
	jobs := []engine.Job{
		{Name: "hr", Source: connectortest.IncrementalStatic{Static: &connectortest.Static{Records: recs}}},
		{Name: "ldap", Source: &connectortest.Static{Err: errors.New(refused)}},
		{Name: "slow", Source: slow},
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := runner.New(ctx, engine.New(st, sb, []string{"example.com"}, log), sb, jobs, log, runner.Options{})
	t.Cleanup(func() { _ = r.Wait(context.Background()); cancel() })

	_, err := r.Trigger(t.Context(), runner.Trigger{Connectors: []string{"hr", "ldap"}, Wait: true})
	require.NoError(t, err)
	_, err = r.Trigger(t.Context(), runner.Trigger{Connectors: []string{"slow"}})
	require.NoError(t, err)
	<-slow.Reading
	t.Cleanup(func() { close(slow.Gate) })

	started := time.Now()
	offset := time.Duration(0)
	next := started.Add(time.Hour).UTC().Truncate(time.Second)
	src := apiwire.OverviewSource{Runner: r, State: sb, Store: st, Since: started,
		Now: func() time.Time { return time.Now().Add(offset) },
		Next: func(c string) (time.Time, time.Time) {
			if c == "hr" {
				return next, next.Add(23 * time.Hour)
			}
			return next, time.Time{}
		},
		Connectors: func() []apiwire.ConnectorInfo {
			return []apiwire.ConnectorInfo{
				{Name: "hr", Type: "file", Enabled: true, Schedule: "@every 1h", FullSchedule: "@every 24h"},
				{Name: "ldap", Type: "ldap", Enabled: true, Schedule: "@every 1h"},
				{Name: "off", Type: "ldap", Enabled: false, Schedule: "@every 1h"},
				{Name: "slow", Type: "file", Enabled: true, Schedule: "@every 1h"},
			}
		}}
	ov, err := apiwire.NewOverviews(src).Overview(t.Context())
	require.NoError(t, err)
	require.Equal(t, api.ReplicaStatus{Role: api.RoleSingle, State: api.Health{OK: true}, Store: api.Health{OK: true}}, ov.Replica)
	require.Len(t, ov.Connectors, 4)
	byName := map[string]api.ConnectorStatus{}
	for _, c := range ov.Connectors {
		byName[c.Name] = c
	}

	hr := byName["hr"]
	require.Equal(t, "file", hr.Type)
	require.True(t, hr.Enabled)
	require.Equal(t, &next, hr.NextRun)
	require.NotNil(t, hr.NextFullRun)
	require.NotNil(t, hr.LastRun)
	require.Equal(t, api.RunOK, hr.LastRun.Status)
	require.Equal(t, 2, hr.LastRun.Counts["create"], hr.LastRun.Counts)
	require.NotNil(t, hr.LastSuccess)
	require.Equal(t, hr.LastRun.Finished, *hr.LastSuccess)
	require.NotNil(t, hr.CursorAgeSeconds, "an incremental source that committed has a cursor")
	require.Less(t, *hr.CursorAgeSeconds, 60.0)
	require.Nil(t, hr.LastError)
	require.False(t, hr.Stale, hr.StaleReason)
	require.False(t, hr.Running)

	ld := byName["ldap"]
	require.Equal(t, api.RunFailed, ld.LastRun.Status)
	require.Nil(t, ld.LastSuccess)
	require.Nil(t, ld.CursorAgeSeconds)
	require.NotNil(t, ld.LastError)
	require.Equal(t, api.ErrorKindUnreachable, ld.LastError.Kind)
	require.Equal(t, ld.LastRun.RunID, ld.LastError.RunID)
	require.Contains(t, ld.LastError.Message, "connection refused")
	require.False(t, ld.Stale, "the daemon has only just started: not overdue yet")

	off := byName["off"]
	require.False(t, off.Enabled)
	require.Nil(t, off.NextRun, "a disabled connector has no next run")
	require.Nil(t, off.LastRun)
	require.False(t, off.Stale)

	sl := byName["slow"]
	require.True(t, sl.Running)
	require.Nil(t, sl.LastRun, "a run in progress is not the last run")

	// Three hours on: hr's success is older than twice its hourly interval,
	// ldap never succeeded since the daemon started.
	offset = 3 * time.Hour
	ov, err = apiwire.NewOverviews(src).Overview(t.Context())
	require.NoError(t, err)
	for _, c := range ov.Connectors {
		byName[c.Name] = c
	}
	require.True(t, byName["hr"].Stale)
	require.Contains(t, byName["hr"].StaleReason, "last successful run 3h ago (expected within 2h, twice the schedule's interval of 1h)")
	require.True(t, byName["ldap"].Stale)
	require.Contains(t, byName["ldap"].StaleReason, "no successful run since the daemon started 3h ago")
	require.False(t, byName["off"].Stale, "a disabled connector is never overdue")
	require.Greater(t, *byName["hr"].CursorAgeSeconds, (3*time.Hour).Seconds()-60)

	// alerts.stale_after shorter than the schedule allows is the rule.
	src.StaleAfter = 90 * time.Minute
	offset = 100 * time.Minute
	ov, err = apiwire.NewOverviews(src).Overview(t.Context())
	require.NoError(t, err)
	require.True(t, ov.Connectors[0].Stale)
	require.Contains(t, ov.Connectors[0].StaleReason, "alerts.stale_after 1h30m")

	// A follower: the schedule is the leader's. A store that does not
	// answer: fixed words, no host.
	src.Leader, src.Store = leader(false), downStore{}
	ov, err = apiwire.NewOverviews(src).Overview(t.Context())
	require.NoError(t, err)
	require.Equal(t, api.RoleFollower, ov.Replica.Role)
	require.False(t, ov.Replica.Store.OK)
	require.NotEmpty(t, ov.Replica.Store.Error)
	require.NotContains(t, ov.Replica.Store.Error, "db.internal")
	require.True(t, ov.Replica.State.OK)
	require.Nil(t, ov.Connectors[0].NextRun)
	src.Leader = leader(true)
	ov, err = apiwire.NewOverviews(src).Overview(t.Context())
	require.NoError(t, err)
	require.Equal(t, api.RoleLeader, ov.Replica.Role)
	require.NotNil(t, ov.Connectors[0].NextRun)

	// The Syncer the daemon passes to the API gives it through the API.
	svc := api.NewService(api.Options{Store: st, Syncer: apiwire.WithOverview(apiwire.NewSyncs(r).WithState(sb), apiwire.NewOverviews(src))})
	got, err := svc.Overview(t.Context())
	require.NoError(t, err)
	require.Len(t, got.Connectors, 4)
}

// TestOverviewErrorKinds: source errors are sorted as the metrics sort them.
func TestOverviewErrorKinds(t *testing.T) {
	for msg, kind := range map[string]string{
		"read source: context deadline exceeded":                         api.ErrorKindTimeout,
		`bind as "cn=svc": LDAP Result Code 49 "Invalid Credentials"`:    api.ErrorKindAuth,
		"read source: dial tcp 127.0.0.1:1: connect: connection refused": api.ErrorKindUnreachable,
		"something else entirely":                                        api.ErrorKindOther,
	} {
		t.Run(strings.Fields(msg)[0], func(t *testing.T) {
			log := zap.NewNop()
			st, sb := testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t)
			jobs := []engine.Job{{Name: "x", Source: &connectortest.Static{Err: errors.New(msg)}}}
			r := runner.New(t.Context(), engine.New(st, sb, []string{"example.com"}, log), sb, jobs, log, runner.Options{})
			_, err := r.Trigger(t.Context(), runner.Trigger{Wait: true})
			require.NoError(t, err)
			require.NoError(t, r.Wait(context.Background()))
			ov, err := apiwire.NewOverviews(apiwire.OverviewSource{Runner: r, State: sb, Store: st,
				Connectors: func() []apiwire.ConnectorInfo {
					return []apiwire.ConnectorInfo{{Name: "x", Type: "ldap", Enabled: true, Schedule: "@every 1h"}}
				}}).Overview(t.Context())
			require.NoError(t, err)
			require.NotNil(t, ov.Connectors[0].LastError, fmt.Sprint(ov.Connectors[0].LastRun))
			require.Equal(t, kind, ov.Connectors[0].LastError.Kind)
		})
	}
}
