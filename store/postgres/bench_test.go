package postgres

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlstore"
)

// BenchmarkBulkCreate measures an initial sync's store writes: 100,000 user
// creates applied in requests of 500 (the engine's default batch size), each
// request fenced as the engine fences it. Next to it, in the same run and on the
// same server, two baselines written with pgx's CopyFrom (COPY FROM STDIN, one
// streamed round trip):
//
//   - copy-rows/s: the same 100,000 rows' object columns into a plain table
//     without indexes, the fastest PostgreSQL takes these rows;
//   - copy3-rows/s: what Apply writes per user (the object, its address row and
//     its audit row with the same JSON) into copies of the three tables with
//     their indexes, so the gap to Apply is the cost of its checks and protocol
//     rather than of the data.
//
// Run it with: scripts/testenv.sh start && set -a && . .testenv/env.sh && set +a &&
// go test -run '^$' -bench BulkCreate -benchtime 1x ./store/postgres/
// (each iteration writes all 100,000 users; DIRSYNC_BENCH_USERS=n, a multiple
// of 500, changes the size).
func BenchmarkBulkCreate(b *testing.B) {
	const batch = 500
	total := benchUsers(b, 100_000, batch)
	cfg := testSchema(b)
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	s := openTest(b, cfg)
	ctx := context.Background()
	require.NoError(b, s.AddDomain(ctx, "example.com", store.Actor{Kind: "system"}))
	actor := store.Actor{Kind: "sync", Name: "c1", RunID: "bench"}
	changes := userCreates(0, total, false)

	_, err := s.c.pool.Exec(ctx, `
		CREATE TABLE copy_plain (kind text, address text, display_name text, given_name text, surname text,
			phone text, department text, title text, enabled boolean, origin text, anchor text, protected boolean,
			created timestamptz, updated timestamptz);
		CREATE TABLE copy_objects (LIKE objects INCLUDING INDEXES INCLUDING DEFAULTS);
		CREATE TABLE copy_addresses (LIKE addresses INCLUDING INDEXES);
		CREATE TABLE copy_audit (LIKE audit INCLUDING INDEXES)`)
	require.NoError(b, err)
	now := time.Now().UTC()
	objectRows := make([][]any, total)
	addressRows := make([][]any, total)
	auditRows := make([][]any, total)
	for i, ch := range changes {
		u := store.User{Kind: store.KindUser, Address: ch.Address, Origin: ch.Origin, Anchor: ch.Anchor, Enabled: true}
		for _, f := range ch.Changes {
			if s, ok := f.After.(string); ok {
				*sqlstore.StringField(&u, f.Field) = s
			}
		}
		body, err := sqlstore.AuditJSON(store.CreateChanges(u))
		require.NoError(b, err)
		id := int64(i + 1)
		objectRows[i] = []any{id, u.Kind, u.Address, u.DisplayName, u.GivenName, u.Surname, u.Phone, u.Department,
			u.Title, u.Enabled, u.Origin, u.Anchor, u.Protected, now, now}
		addressRows[i] = []any{u.Address, id, false}
		auditRows[i] = []any{id, now, actor.Kind, actor.Name, actor.RunID, "create", u.Address, body, ch.Reason}
	}
	objectCols := []string{"id", "kind", "address", "display_name", "given_name", "surname", "phone", "department",
		"title", "enabled", "origin", "anchor", "protected", "created", "updated"}
	copyRows := func(table string, cols []string, rows [][]any) time.Duration {
		start := time.Now()
		n, err := s.c.pool.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		require.NoError(b, err)
		require.EqualValues(b, len(rows), n)
		return time.Since(start)
	}

	var applyTime, plainTime, threeTime time.Duration
	var applyTrips int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		_, err := s.c.pool.Exec(ctx, `TRUNCATE objects, addresses, group_members, user_roles, invitations, audit, fences,
			copy_plain, copy_objects, copy_addresses, copy_audit`)
		require.NoError(b, err)
		before := trips.n.Load()
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
		applyTime += time.Since(start)

		b.StopTimer()
		applyTrips += trips.n.Load() - before
		plainRows := make([][]any, total)
		for j, r := range objectRows {
			plainRows[j] = r[1:]
		}
		plainTime += copyRows("copy_plain", objectCols[1:], plainRows)
		threeTime += copyRows("copy_objects", objectCols, objectRows)
		threeTime += copyRows("copy_addresses", []string{"address", "object_id", "is_alias"}, addressRows)
		threeTime += copyRows("copy_audit", []string{"id", "time", "actor_kind", "actor_name", "run_id", "action",
			"address", "changes", "reason"}, auditRows)
		b.StartTimer()
	}
	rate := func(d time.Duration) float64 { return float64(total*b.N) / d.Seconds() }
	b.ReportMetric(rate(applyTime), "rows/s")
	b.ReportMetric(rate(plainTime), "copy-rows/s")
	b.ReportMetric(rate(threeTime), "copy3-rows/s")
	b.ReportMetric(applyTime.Seconds()/plainTime.Seconds(), "x-copy")
	b.ReportMetric(applyTime.Seconds()/threeTime.Seconds(), "x-copy3")
	b.ReportMetric(float64(applyTrips)/float64(b.N*total/batch), "roundtrips/request")
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
