package postgres

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/storetest"
)

// testSchema is a fresh schema of the test's own (testenv.PostgresSchema).
func testSchema(t testing.TB) *pgxpool.Config { return testenv.PostgresSchema(t) }

// openTest opens a store in a fresh schema, closed when the test ends.
func openTest(t testing.TB, cfg *pgxpool.Config) *Store {
	t.Helper()
	s, err := OpenConfig(context.Background(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		s, err := OpenConfig(t.Context(), testSchema(t), zaptest.NewLogger(t))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}

// TestConformanceOneAtATime runs the suite with the batched create path off, so
// both paths are held to the same behaviour.
func TestConformanceOneAtATime(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		s := openTest(t, testSchema(t))
		s.c.bulk = false
		return s
	})
}

// roundTrips counts the statements and batches a pool sends: each is one round
// trip to the server.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// userCreates builds n user creates from connector c1, as a plan of an initial
// sync would: every owned field set, enabled explicit.
func userCreates(from, n int, aliases bool) []store.Change {
	out := make([]store.Change, n)
	for i := range out {
		id := from + i
		fields := []store.FieldChange{
			{Field: store.FieldDisplayName, After: "User " + itoa(id)},
			{Field: store.FieldGivenName, After: "User"},
			{Field: store.FieldSurname, After: itoa(id)},
			{Field: store.FieldDepartment, After: "Dept " + itoa(id%50)},
			{Field: store.FieldTitle, After: "Engineer"},
			{Field: store.FieldEnabled, After: true},
		}
		if aliases {
			fields = append(fields, store.FieldChange{Field: store.FieldAliases,
				After: []string{"alias" + itoa(id) + "@example.net"}})
		}
		out[i] = store.Change{Action: store.ActionCreate, Kind: store.KindUser,
			Address: "user" + itoa(id) + "@example.com", Origin: "c1", Anchor: "A-" + itoa(id),
			Changes: fields, Reason: "new in source"}
	}
	return out
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

func TestBulkCreateIsAFewRoundTrips(t *testing.T) {
	cfg := testSchema(t)
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	s := openTest(t, cfg)
	ctx := t.Context()
	for _, d := range []string{"example.com", "example.net"} {
		require.NoError(t, s.AddDomain(ctx, d, store.Actor{Kind: "system"}))
	}
	groups := make([]store.Change, 50)
	for i := range groups {
		groups[i] = store.Change{Action: store.ActionCreate, Kind: store.KindGroup,
			Address: "group" + itoa(i) + "@example.com", Origin: "c1", Anchor: "G-" + itoa(i),
			Changes: []store.FieldChange{{Field: store.FieldMembers,
				After: []string{"user" + itoa(i) + "@example.com", "alias" + itoa(i+1) + "@example.net"}}},
			Reason: "new in source"}
	}
	for _, req := range [][]store.Change{userCreates(0, 500, true), groups} {
		before := trips.n.Load()
		out, err := s.Apply(ctx, store.ApplyRequest{
			Actor: store.Actor{Kind: "sync", Name: "c1", RunID: "r1"}, Fence: &store.Fence{Name: "c1", Token: 1},
			Changes: req,
		})
		require.NoError(t, err)
		for i, o := range out {
			require.NoError(t, o.Err, "change %d", i)
			require.True(t, o.Applied, "change %d", i)
		}
		// BEGIN, lock+fence+domains, pre-check, insert batch, COMMIT.
		require.LessOrEqual(t, trips.n.Load()-before, int64(5), "round trips for %d creates", len(req))
	}
	g := must(s.User(ctx, "group7@example.com"))
	require.Equal(t, []string{"user7@example.com", "user8@example.com"}, g.Members)
	require.Equal(t, []string{"alias3@example.net"}, must(s.User(ctx, "user3@example.com")).Aliases)
	entries := must(s.Audit(ctx, store.AuditQuery{Limit: 1000}))
	require.Len(t, entries, 550+2)
	require.Equal(t, "group49@example.com", entries[0].Address, "audit ids follow the changes' order")
	require.Equal(t, "group48@example.com", entries[1].Address)
	require.Equal(t, "user499@example.com", entries[50].Address)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
