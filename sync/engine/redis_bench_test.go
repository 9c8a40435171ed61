package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state/redis"
	"github.com/dirsync/dirsync/sync/engine"
)

// BenchmarkNoChangeRunRedis is a run of 100,000 users (and 1,000 groups) that
// finds nothing to change, with the state in Redis: it reports the Redis round
// trips the run needs (they must grow with records / batch, not with records)
// and its time beside parsing the same LDIF (x_parse).
//
//	scripts/testenv.sh run -- go test -run '^$' -bench NoChangeRunRedis -benchtime 3x ./sync/engine/
func BenchmarkNoChangeRunRedis(b *testing.B) {
	addr := testenv.Addr(b, testenv.EnvRedisAddr)
	const n = 100_000
	path := writeLDIF(b, n)
	base := parseOnly(b, path)
	ctx := context.Background()
	log := zap.NewNop()
	var p [6]byte
	_, _ = rand.Read(p[:])
	prefix := "dirsync-bench-" + hex.EncodeToString(p[:])
	sb, err := redis.Open(ctx, redis.Options{Addrs: []string{addr}, Prefix: prefix, ReadTimeout: time.Minute, WriteTimeout: time.Minute}, log)
	if err != nil {
		b.Fatal(err)
	}
	trips := &testenv.RoundTrips{}
	sb.AddHook(trips)
	raw := goredis.NewClient(&goredis.Options{Addr: addr})
	b.Cleanup(func() {
		keys, _ := raw.Keys(ctx, "{"+prefix+":*").Result()
		if len(keys) > 0 {
			_ = raw.Del(ctx, keys...).Err()
		}
		_ = raw.Del(ctx, prefix+":connectors", prefix+":runseq").Err()
		_ = raw.Close()
		_ = sb.Close()
	})
	env := newBenchEnvWith(b, path, sb)
	if rep := env.run(b, engine.StatusOK); rep.Counts.Create != n+n/100 {
		b.Fatalf("initial run created %d", rep.Counts.Create)
	}

	var elapsed time.Duration
	var tripsPerRun int64
	for b.Loop() {
		before := trips.Count()
		start := time.Now()
		rep := env.run(b, engine.StatusOK)
		elapsed += time.Since(start)
		tripsPerRun = trips.Count() - before
		if rep.Counts.Unchanged != n+n/100 {
			b.Fatalf("unchanged %d of %d", rep.Counts.Unchanged, n+n/100)
		}
	}
	b.ReportMetric(float64(tripsPerRun), "redis-round-trips")
	b.ReportMetric(float64(elapsed)/float64(b.N)/float64(base), "x_parse")
	b.Logf("no-change run of %d records: %d Redis round trips (%.1f records per trip); parse baseline %v",
		n+n/100, tripsPerRun, float64(n+n/100)/float64(tripsPerRun), base)
}
