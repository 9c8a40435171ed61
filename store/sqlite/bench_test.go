package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// BenchmarkBulkCreate measures an initial sync's store writes, as the
// PostgreSQL benchmark of the same name does: 100,000 user creates applied in
// requests of 500 (the engine's default batch size), each request fenced as
// the engine fences it, into a fresh database file. Next to it, in the same
// run, the baseline: the same creates with the batched path off, one change
// at a time (x-one is the batched path's time over the baseline's).
//
// Run it with: go test -run '^$' -bench BulkCreate -benchtime 1x ./store/sqlite/
// (DIRSYNC_BENCH_USERS=n, a multiple of 500, changes the size).
func BenchmarkBulkCreate(b *testing.B) {
	const batch = 500
	total := benchUsers(b, 100_000, batch)
	changes := userCreates(total)
	actor := store.Actor{Kind: "sync", Name: "c1", RunID: "bench"}
	apply := func(bulk bool) time.Duration {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "dirsync.db"), nil)
		require.NoError(b, err)
		defer func() { require.NoError(b, s.Close()) }()
		s.c.bulk = bulk
		ctx := context.Background()
		require.NoError(b, s.AddDomain(ctx, "example.com", store.Actor{Kind: "system"}))
		b.StartTimer()
		start := time.Now()
		for off := 0; off < total; off += batch {
			out, err := s.Apply(ctx, store.ApplyRequest{Actor: actor, Fence: &store.Fence{Name: "c1", Token: 1},
				Changes: changes[off : off+batch]})
			if err != nil {
				b.Fatal(err)
			}
			for j, o := range out {
				if o.Err != nil || !o.Applied {
					b.Fatalf("change %d: %+v", off+j, o)
				}
			}
		}
		return time.Since(start)
	}
	var bulkTime, oneTime time.Duration
	for i := 0; i < b.N; i++ {
		bulkTime += apply(true)
		oneTime += apply(false)
	}
	rate := func(d time.Duration) float64 { return float64(total*b.N) / d.Seconds() }
	b.ReportMetric(rate(bulkTime), "rows/s")
	b.ReportMetric(rate(oneTime), "one-rows/s")
	b.ReportMetric(bulkTime.Seconds()/oneTime.Seconds(), "x-one")
}

// benchUsers is the benchmark's size: DIRSYNC_BENCH_USERS when set (a positive
// multiple of batch), def otherwise.
func benchUsers(b *testing.B, def, batch int) int {
	v := os.Getenv("DIRSYNC_BENCH_USERS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n%batch != 0 {
		b.Fatalf("DIRSYNC_BENCH_USERS=%q: want a positive multiple of %d", v, batch)
	}
	return n
}

// userCreates builds n user creates from connector c1, as a plan of an initial
// sync would: every owned field set, enabled explicit.
func userCreates(n int) []store.Change {
	out := make([]store.Change, n)
	for i := range out {
		id := strconv.Itoa(i)
		out[i] = store.Change{Action: store.ActionCreate, Kind: store.KindUser,
			Address: "user" + id + "@example.com", Origin: "c1", Anchor: "A-" + id, Reason: "new in source",
			Changes: []store.FieldChange{
				{Field: store.FieldDisplayName, After: "User " + id},
				{Field: store.FieldGivenName, After: "User"},
				{Field: store.FieldSurname, After: id},
				{Field: store.FieldDepartment, After: "Dept " + strconv.Itoa(i%50)},
				{Field: store.FieldTitle, After: "Engineer"},
				{Field: store.FieldEnabled, After: true},
			}}
	}
	return out
}
