package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors/file"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state/redis"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
	"github.com/dirsync/dirsync/sync/engine"
)

// tripCounter counts Redis round trips: one per command sent alone, one per
// pipeline (however many commands it carries).
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (c *tripCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}

func (c *tripCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

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
	trips := &tripCounter{}
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
	dir := b.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "store.db"), log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.com", store.Actor{Kind: "system"}); err != nil {
		b.Fatal(err)
	}
	cfg := &file.Config{Path: path}
	if errs := cfg.Prepare(dir); len(errs) > 0 {
		b.Fatal(errs)
	}
	src, err := cfg.Open("bench", log)
	if err != nil {
		b.Fatal(err)
	}
	pol := engine.Policy{BatchSize: 500, MaxDestructive: 500, MaxDestructivePercent: 10, MinSourcePercent: 50, MissingRuns: 2, SoftMatch: true}
	env := &benchEnv{eng: engine.New(st, sb, nil, log), job: engine.Job{Name: "bench", Source: src, Policy: pol}}
	if rep := env.run(b, engine.StatusOK); rep.Counts.Create != n+n/100 {
		b.Fatalf("initial run created %d", rep.Counts.Create)
	}

	var elapsed time.Duration
	var tripsPerRun int64
	for b.Loop() {
		before := trips.n.Load()
		start := time.Now()
		rep := env.run(b, engine.StatusOK)
		elapsed += time.Since(start)
		tripsPerRun = trips.n.Load() - before
		if rep.Counts.Unchanged != n+n/100 {
			b.Fatalf("unchanged %d of %d", rep.Counts.Unchanged, n+n/100)
		}
	}
	b.ReportMetric(float64(tripsPerRun), "redis-round-trips")
	b.ReportMetric(float64(elapsed)/float64(b.N)/float64(base), "x_parse")
	b.Logf("no-change run of %d records: %d Redis round trips (%.1f records per trip); parse baseline %v",
		n+n/100, tripsPerRun, float64(n+n/100)/float64(tripsPerRun), base)
}
