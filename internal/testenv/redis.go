package testenv

import (
	"context"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// RoundTrips is a go-redis hook counting round trips to the server: one per
// command sent alone, one per pipeline however many commands it carries.
// Benchmarks report it to show that work grows with batches, not records.
type RoundTrips struct{ n atomic.Int64 }

// Count is the number of round trips so far.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// DialHook passes dials through.
func (r *RoundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

// ProcessHook counts a command.
func (r *RoundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}

// ProcessPipelineHook counts a pipeline.
func (r *RoundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}
