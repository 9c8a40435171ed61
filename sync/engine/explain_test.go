package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// lookSource is an in-memory source that can read one record: records whose
// Department is "out" are outside its scope.
type lookSource struct{ *connectortest.Static }

func (s lookSource) Read(ctx context.Context, emit connectors.Emit) error {
	for _, r := range s.Records {
		if r.Department != "out" {
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s lookSource) Lookup(ctx context.Context, key string) (connectors.Found, error) {
	for _, r := range s.Records {
		if strings.EqualFold(r.Mail, key) || r.Anchor == key {
			in := r.Department != "out"
			return connectors.Found{Query: "records where mail or anchor is " + key, Raw: map[string][]string{"mail": {r.Mail}, "password": {"[redacted]"}},
				Record: r, InScope: in, Scope: []connectors.ScopeCheck{{Rule: `department != "out"`, Admitted: in, Detail: "department is " + r.Department}}}, nil
		}
	}
	return connectors.Found{}, fmt.Errorf("%w: records where mail or anchor is %s", connectors.ErrNotInSource, key)
}

func TestExplainStages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	recs := users(10)
	src := lookSource{&connectortest.Static{Records: recs}}
	pol := policy()
	job := engine.Job{Name: "dir", Source: src, Policy: pol}
	require.Equal(t, engine.StatusOK, e.eng.Run(ctx, job, engine.Options{}).Status)

	// Included and unchanged: joined by anchor, nothing to do.
	x, err := e.eng.Explain(ctx, job, "U01@example.com", false)
	require.NoError(t, err)
	require.True(t, x.Scope.InScope)
	require.True(t, x.Normalise.OK)
	require.Equal(t, "u01@example.com", x.Normalise.Record.Address)
	require.Equal(t, "anchor", x.Join.By)
	require.Equal(t, "u01@example.com", x.Join.User.Address)
	require.False(t, x.Join.Changed)
	require.Empty(t, x.Plan.Operations)
	require.Contains(t, x.Plan.Summary, "no change")
	require.Equal(t, []string{"[redacted]"}, x.Read.Attributes["password"])

	// Changed in the source: the exact update with before and after; --apply
	// applies just that, and counts nobody else missing.
	recs[2].DisplayName = "Renamed Two"
	recs[3].DisplayName = "Renamed Three"
	x, err = e.eng.Explain(ctx, job, "a02", true)
	require.NoError(t, err)
	require.True(t, x.Join.Changed)
	require.Len(t, x.Plan.Operations, 1)
	op := x.Plan.Operations[0]
	require.Equal(t, store.ActionUpdate, op.Action)
	require.Equal(t, []store.FieldChange{{Field: store.FieldDisplayName, Before: "User 2", After: "Renamed Two"}}, op.Changes)
	require.NotNil(t, x.Apply)
	require.Equal(t, engine.StatusOK, x.Apply.Status, x.Apply.Errors)
	require.False(t, x.Apply.Full)
	require.Equal(t, 1, x.Apply.Counts.Update)
	u, err := e.store.User(ctx, "u02@example.com")
	require.NoError(t, err)
	require.Equal(t, "Renamed Two", u.DisplayName)
	u, err = e.store.User(ctx, "u03@example.com")
	require.NoError(t, err)
	require.Equal(t, "User 3", u.DisplayName, "only the explained object is applied")
	x, err = e.eng.Explain(ctx, job, "a02", false)
	require.NoError(t, err)
	require.False(t, x.Join.Changed, "the one-object run committed its snapshot entry")

	// Excluded by the scope: what full runs will do about it.
	recs[4].Department = "out"
	x, err = e.eng.Explain(ctx, job, "u04@example.com", true)
	require.NoError(t, err)
	require.False(t, x.Scope.InScope)
	require.False(t, x.Scope.Checks[0].Admitted)
	require.Contains(t, x.Plan.Summary, "out of scope: the next full run counts u04@example.com missing (1 of 2 runs)")
	require.Contains(t, x.Plan.Summary, "nothing applied")
	require.Nil(t, x.Apply)
	require.True(t, e.enabled(t, "u04@example.com"))

	// Quarantined: the normalise stage says why.
	recs[5].Mail = "u05@"
	x, err = e.eng.Explain(ctx, job, "u05@", false)
	require.NoError(t, err)
	require.False(t, x.Normalise.OK)
	require.Equal(t, "mail", x.Normalise.Quarantined[0].Field)
	require.Contains(t, x.Plan.Summary, "quarantined")

	// Out of scope and invalid too: the scope decides; a run never normalises
	// the object, so nothing is reported quarantined.
	recs[6].Department, recs[6].Mail = "out", "u06@"
	x, err = e.eng.Explain(ctx, job, "u06@", false)
	require.NoError(t, err)
	require.False(t, x.Scope.InScope)
	require.Empty(t, x.Normalise.Quarantined)
	require.Contains(t, x.Plan.Summary, "out of scope")

	// Not in the source: the error says which search found nothing.
	_, err = e.eng.Explain(ctx, job, "nobody@example.com", false)
	require.ErrorIs(t, err, connectors.ErrNotInSource)
	require.Contains(t, err.Error(), "mail or anchor is nobody@example.com")

	// A source without one-object reads says so.
	_, err = e.eng.Explain(ctx, engine.Job{Name: "dir", Source: src.Static, Policy: pol}, "u01@example.com", false)
	require.ErrorIs(t, err, engine.ErrCannotExplain)
}
