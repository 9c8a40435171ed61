package apiwire_test

import (
	"context"
	"testing"

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

// TestStatusQuarantined: the status check lists the user's source record that
// the connector's latest run quarantined, with the run, the reason and the
// fix, whether the record is named by a DN (found through the state's cache)
// or by the address; a dry run does not count, and a later run that
// synchronises the record clears it.
func TestStatusQuarantined(t *testing.T) {
	st, sb := testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t)
	bob := connectors.Record{Kind: connectors.KindUser, Ref: "uid=bob,ou=people,dc=example,dc=com", Anchor: "b1", Mail: "bob@example.com", DisplayName: "Bob"}
	carol := connectors.Record{Kind: connectors.KindUser, Ref: "CAROL@example.com", Anchor: "c1", Mail: "carol@example.com"}
	src := &connectortest.Static{Records: []connectors.Record{bob, carol}}
	r := runner.New(t.Context(), engine.New(st, sb, []string{"example.com"}, zap.NewNop()), sb,
		[]engine.Job{{Name: "hr", Source: src}}, zap.NewNop(), runner.Options{})
	t.Cleanup(func() { _ = r.Wait(context.Background()) })
	svc := api.NewService(api.Options{Store: st, Syncer: apiwire.NewSyncs(r).WithState(sb)})
	noState := api.NewService(api.Options{Store: st, Syncer: apiwire.NewSyncs(r)})
	run := func(dry bool) string {
		t.Helper()
		got, err := r.Trigger(t.Context(), runner.Trigger{Wait: true, DryRun: dry})
		require.NoError(t, err)
		require.Len(t, got, 1)
		return got[0].RunID
	}

	run(false) // bob is created from the source
	status, err := svc.UserStatus(t.Context(), "bob@example.com")
	require.NoError(t, err)
	require.Equal(t, []api.QuarantinedRecord{}, status.Quarantined)

	bad := bob
	bad.Invalid = &connectors.FieldError{Field: "attributes", Message: `pwdAccountLockedTime "soon" is not a time`}
	badCarol := carol
	badCarol.Invalid = &connectors.FieldError{Field: "Disabled", Message: `row 3: "maybe" is not TRUE or FALSE`}
	src.Records = []connectors.Record{bad, badCarol}
	id := run(false)
	run(true) // a dry run is not the latest run
	status, err = svc.UserStatus(t.Context(), "bob@example.com")
	require.NoError(t, err)
	require.Len(t, status.Quarantined, 1)
	q := status.Quarantined[0]
	require.Equal(t, "hr", q.Connector)
	require.Equal(t, id, q.RunID)
	require.Equal(t, "uid=bob,ou=people,dc=example,dc=com", q.Record)
	require.Equal(t, "attributes", q.Field)
	require.Equal(t, `pwdAccountLockedTime "soon" is not a time`, q.Reason)
	require.Equal(t, "correct the value in the source", q.Fix)
	require.False(t, q.Time.IsZero())

	status, err = noState.UserStatus(t.Context(), "bob@example.com")
	require.NoError(t, err)
	require.Empty(t, status.Quarantined, "without the state's cache a DN names nobody")

	other, err := noState.UserStatus(t.Context(), "carol@example.com")
	require.NoError(t, err)
	require.Len(t, other.Quarantined, 1, "a record named by the address, in any case")
	require.Equal(t, "CAROL@example.com", other.Quarantined[0].Record)
	require.Equal(t, "Disabled", other.Quarantined[0].Field)

	src.Records = []connectors.Record{bob, carol}
	run(false)
	status, err = svc.UserStatus(t.Context(), "bob@example.com")
	require.NoError(t, err)
	require.Empty(t, status.Quarantined, "fixed in the source: the latest run synchronised it")
}
