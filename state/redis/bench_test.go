package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
)

// BenchmarkSnapshot writes (one Commit into an empty snapshot) and reads
// (Snapshot) 100,000 entries, and beside them does a raw pipelined HSET and an
// HSCAN of the same bytes, so the ratios compare like with like on one machine.
//
//	scripts/testenv.sh run -- go test -run '^$' -bench BenchmarkSnapshot -benchtime 3x ./state/redis/
func BenchmarkSnapshot(b *testing.B) {
	addr := testenv.Addr(b, testenv.EnvRedisAddr)
	const n = 100_000
	ctx := context.Background()
	var p [6]byte
	_, _ = rand.Read(p[:])
	prefix := "dirsync-bench-" + hex.EncodeToString(p[:])
	be, err := Open(ctx, Options{Addrs: []string{addr}, Prefix: prefix, ReadTimeout: time.Minute, WriteTimeout: time.Minute}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = be.Close() }() // the benchmark's result is already measured
	hook := &testenv.RoundTrips{}
	be.rdb.AddHook(hook)
	raw := goredis.NewClient(&goredis.Options{Addr: addr, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	defer func() { _ = raw.Close() }() // the benchmark's result is already measured

	entries := make(map[string]state.Entry, n)
	pairs := make([]any, 0, 2*n) // the same anchors and encoded entries, for the raw run
	for i := range n {
		a := fmt.Sprintf("anchor-%08d-%x", i, i*7919)
		e := state.Entry{Fingerprint: fmt.Sprintf("%032x", i*104729), Kind: "user", Address: fmt.Sprintf("user%06d@example.org", i)}
		entries[a] = e
		pairs = append(pairs, a, appendEntry(nil, e))
	}

	var ourW, ourR, rawW, rawR time.Duration
	var readTrips int64
	for i := 0; b.Loop(); i++ {
		conn := fmt.Sprintf("c%d", i)
		start := time.Now()
		lease, err := be.Acquire(ctx, conn, "bench", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := be.Commit(ctx, lease, state.Commit{Upserts: entries, Cursor: []byte("cursor")}); err != nil {
			b.Fatal(err)
		}
		ourW += time.Since(start)

		start = time.Now()
		before := hook.Count()
		snap, err := be.Snapshot(ctx, conn)
		if err != nil || len(snap) != n {
			b.Fatalf("snapshot: %d entries, %v", len(snap), err)
		}
		readTrips += hook.Count() - before
		ourR += time.Since(start)

		key := fmt.Sprintf("%s:raw:%d", prefix, i)
		start = time.Now()
		pipe := raw.Pipeline()
		for j := 0; j < len(pairs); j += 2 * stageChunk {
			pipe.HSet(ctx, key, pairs[j:min(j+2*stageChunk, len(pairs))]...)
			if pipe.Len() == stagePipeline {
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		rawW += time.Since(start)

		start = time.Now()
		got := make(map[string]string, n)
		var cur uint64
		for {
			kv, next, err := raw.HScan(ctx, key, cur, "", scanCount).Result()
			if err != nil {
				b.Fatal(err)
			}
			for j := 0; j+1 < len(kv); j += 2 {
				got[kv[j]] = kv[j+1]
			}
			if cur = next; cur == 0 {
				break
			}
		}
		rawR += time.Since(start)
		if len(got) != n {
			b.Fatalf("raw read %d entries", len(got))
		}
		_ = raw.Del(ctx, key, be.key(conn, "snap"), be.key(conn, "meta"), be.key(conn, "lock"), be.key(conn, "token")).Err()
	}
	iters := float64(b.N)
	b.ReportMetric(float64(ourW.Milliseconds())/iters, "ms-write")
	b.ReportMetric(float64(rawW.Milliseconds())/iters, "ms-raw-write")
	b.ReportMetric(float64(ourR.Milliseconds())/iters, "ms-read")
	b.ReportMetric(float64(rawR.Milliseconds())/iters, "ms-raw-read")
	b.ReportMetric(ourW.Seconds()/rawW.Seconds(), "x-raw-write")
	b.ReportMetric(ourR.Seconds()/rawR.Seconds(), "x-raw-read")
	b.ReportMetric(float64(readTrips)/iters, "read-round-trips")
}
