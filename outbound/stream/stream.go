// Package stream reads first-time outbound senders from a Redis stream through
// a consumer group that every dirsync replica shares (SPEC §7), and hands them
// to a Handler in batches.
//
// The gateway writes one entry per sender:
//
//	XADD dirsync:senders * sender alice@example.com [via gateway-1]
//
// Delivery is at least once. An entry is acknowledged only after the Handler
// settled it, so a crash, a shutdown or a Handler error leaves it pending and
// it is delivered again: to the same consumer when it restarts under the same
// name, or to another replica once it has been idle for ClaimIdle. Handlers
// must therefore be idempotent (outbound.Service.Report is: a second creation
// finds the user existing).
//
// Every command names the one stream key, so the package works unchanged
// against Redis Cluster.
package stream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Handler processes one batch of senders (raw strings as written, in stream
// order). A nil error means every one of them is settled (created, exists or
// ignored) and the entries are acknowledged; an error means a transient
// failure (the store is unreachable): nothing is acknowledged and the entries
// stay pending, to be retried.
type Handler func(ctx context.Context, senders []string) error

// Defaults of Options.
const (
	DefaultStream        = "dirsync:senders"
	DefaultGroup         = "dirsync"
	DefaultField         = "sender"
	DefaultBatch         = 100
	DefaultBlock         = 2 * time.Second
	DefaultClaimIdle     = time.Minute
	DefaultMaxDeliveries = 10
	DefaultRetryWait     = time.Second
	// maxRetryWait caps the doubling of RetryWait (unless RetryWait itself is
	// longer).
	maxRetryWait = 30 * time.Second
)

// groupStart is where a group created by Run starts reading. "0" rather than
// "$": entries the gateway wrote before the first replica ever started (or
// while the group was missing) are handled, not silently skipped. The price is
// that recreating a deleted group re-reads the whole stream, which an
// idempotent Handler absorbs.
const groupStart = "0"

// Options configures a Consumer. Zero values take the defaults.
type Options struct {
	// Client reaches Redis: a single node, Sentinel or Cluster. Required.
	Client goredis.UniversalClient
	// Stream is the stream key (default "dirsync:senders").
	Stream string
	// Group is the consumer group every replica joins (default "dirsync").
	Group string
	// Consumer names this replica in the group; required and unique per
	// replica (e.g. hostname-pid). Two replicas under one name would share,
	// and fight over, one list of pending entries.
	Consumer string
	// Field holds the sender in each entry (default "sender"); other fields,
	// such as "via", are ignored.
	Field string
	// Batch is XREADGROUP's COUNT (default 100).
	Batch int
	// Block is XREADGROUP's BLOCK (default 2s, at least 1ms). It also bounds
	// how long Run takes to notice a cancelled context.
	Block time.Duration
	// ClaimIdle: entries pending on another consumer for longer than this are
	// taken over with XAUTOCLAIM (default 1 min, at least 1ms), so a dead
	// replica's entries are not lost. It must exceed the longest Handler call,
	// or a live replica's batch is claimed from under it and handled twice.
	ClaimIdle time.Duration
	// MaxDeliveries: an entry delivered this many times without being
	// acknowledged is given up (logged at error with its ID and content,
	// acknowledged, counted in Stats.DeadLettered) so one poison entry cannot
	// block for ever. Default 10.
	//
	// A Handler error cannot tell a poison entry from a store outage, so a long
	// outage also spends deliveries: with the defaults the oldest pending entry
	// is given up after about three minutes of failures. After a failure the
	// pending entries are retried one at a time (the batch doubles back with
	// each success), so only the oldest spends its deliveries and a poison
	// entry's neighbours do not go down with it.
	MaxDeliveries int64
	// RetryWait after a Handler error or a Redis error before trying again
	// (default 1s, doubled up to 30s while failures last, reset on success).
	RetryWait time.Duration
	// Log is the logger; nil = zap.NewNop().
	Log *zap.Logger
}

// Stats are a Consumer's counters since New.
type Stats struct {
	// Read counts entries delivered to this consumer by XREADGROUP, new ones
	// and re-deliveries of its pending ones (claimed entries included).
	Read int64
	// Acked counts entries XACK removed from the pending list.
	Acked int64
	// Claimed counts entries taken over from other consumers by XAUTOCLAIM.
	Claimed int64
	// Malformed counts entries without the sender field, acknowledged unread.
	Malformed int64
	// DeadLettered counts entries given up after MaxDeliveries.
	DeadLettered int64
	// HandlerErrors counts Handler calls that returned an error.
	HandlerErrors int64
}

// Consumer reads the stream as one member of the group. Its methods are safe
// for concurrent use, but Run runs at most once at a time.
type Consumer struct {
	o       Options
	rdb     goredis.UniversalClient
	log     *zap.Logger
	running atomic.Bool

	// claimFrom is XAUTOCLAIM's cursor, carried from one round to the next so
	// a large backlog is taken over a page at a time, not rescanned.
	claimFrom string

	read, acked, claimed, malformed, deadLettered, handlerErrors atomic.Int64
}

// New checks o, fills in the defaults and returns a Consumer; it does not
// contact Redis (Run does).
func New(o Options) (*Consumer, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("stream: "+format, args...)) }
	if o.Client == nil {
		bad("Options.Client is required")
	}
	if o.Consumer == "" {
		bad("Options.Consumer is required (unique per replica, e.g. hostname-pid)")
	}
	if o.Batch < 0 {
		bad("Options.Batch is %d, must not be negative", o.Batch)
	}
	if o.Block < 0 || (o.Block > 0 && o.Block < time.Millisecond) {
		// BLOCK is sent in milliseconds and BLOCK 0 waits for ever.
		bad("Options.Block is %s, must be at least 1ms (or zero for the default)", o.Block)
	}
	if o.ClaimIdle < 0 || (o.ClaimIdle > 0 && o.ClaimIdle < time.Millisecond) {
		// MIN-IDLE 0 would take every pending entry, live consumers' included.
		bad("Options.ClaimIdle is %s, must be at least 1ms (or zero for the default)", o.ClaimIdle)
	}
	if o.MaxDeliveries < 0 {
		bad("Options.MaxDeliveries is %d, must not be negative", o.MaxDeliveries)
	}
	if o.RetryWait < 0 {
		bad("Options.RetryWait is %s, must not be negative", o.RetryWait)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.Field == "" {
		o.Field = DefaultField
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.Block == 0 {
		o.Block = DefaultBlock
	}
	if o.ClaimIdle == 0 {
		o.ClaimIdle = DefaultClaimIdle
	}
	if o.MaxDeliveries == 0 {
		o.MaxDeliveries = DefaultMaxDeliveries
	}
	if o.RetryWait == 0 {
		o.RetryWait = DefaultRetryWait
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Consumer{
		o:         o,
		rdb:       o.Client,
		log:       o.Log.Named("stream").With(zap.String("stream", o.Stream), zap.String("group", o.Group), zap.String("consumer", o.Consumer)),
		claimFrom: "0-0",
	}, nil
}

// Stats returns the counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Read:          c.read.Load(),
		Acked:         c.acked.Load(),
		Claimed:       c.claimed.Load(),
		Malformed:     c.malformed.Load(),
		DeadLettered:  c.deadLettered.Load(),
		HandlerErrors: c.handlerErrors.Load(),
	}
}

// errRunning is returned by a second concurrent Run on one Consumer.
var errRunning = errors.New("stream: Run is already running on this Consumer")

// Run creates the group if it is missing (starting at "0": entries written
// before the first replica started are handled too), then loops until ctx is
// cancelled: it first re-reads its own pending entries, so a restarted
// consumer finishes what it had, then reads new entries, and every ClaimIdle/2
// takes over entries idle for longer than ClaimIdle on other consumers.
//
// Run returns nil once ctx is cancelled, within about Block; a batch whose
// Handler returns after the cancellation is left pending, not acknowledged.
// Redis errors are logged and retried with backoff, never returned, so the
// daemon keeps running through an outage; a missing group (NOGROUP: the key
// or the group was deleted) is created again. The only errors are a nil
// Handler and a second concurrent Run.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("stream: Run needs a Handler")
	}
	if !c.running.CompareAndSwap(false, true) {
		return errRunning
	}
	defer c.running.Store(false)

	c.log.Info("reading", zap.Int("batch", c.o.Batch), zap.Duration("claim_idle", c.o.ClaimIdle))
	r := &runner{c: c, h: h, wait: c.o.RetryWait, size: c.o.Batch, pending: true, needGroup: true}
	claimEvery := max(c.o.ClaimIdle/2, time.Millisecond)
	// Claim as soon as the own pending entries are done: consumers are usually
	// named after hostname-pid, so a restarted replica's old entries are only
	// ever recovered by a claim.
	nextClaim := time.Now()
	for ctx.Err() == nil {
		var err error
		switch {
		case r.needGroup:
			err = c.createGroup(ctx)
			if err == nil {
				r.needGroup = false
			}
		case r.pending:
			// Before claims: a consumer whose Handler keeps failing has no
			// business taking more work from others.
			err = r.readPending(ctx)
		case !time.Now().Before(nextClaim):
			var more bool
			more, err = r.claim(ctx)
			if err == nil && !more {
				nextClaim = time.Now().Add(claimEvery)
			}
		default:
			err = r.readNew(ctx, min(c.o.Block, max(time.Until(nextClaim), time.Millisecond)))
		}
		if err == nil {
			r.wait = c.o.RetryWait
			continue
		}
		if ctx.Err() != nil {
			break
		}
		r.pending = true // whatever failed may have left entries pending
		var he handlerError
		switch {
		case errors.As(err, &he):
			c.log.Warn("handler failed; entries stay pending", zap.Error(he.err), zap.Int("entries", he.n), zap.Duration("retry_in", r.wait))
		case isNoGroup(err):
			// Not a failure to wait out: the group is recreated at once.
			c.log.Warn("consumer group missing; creating it again from the start of the stream", zap.Error(err))
			r.needGroup = true
			continue
		default:
			c.log.Warn("redis", zap.Error(err), zap.Duration("retry_in", r.wait))
		}
		if !sleep(ctx, r.wait) {
			break
		}
		r.wait = min(2*r.wait, max(maxRetryWait, c.o.RetryWait))
	}
	c.log.Info("stopped")
	return nil
}

// createGroup creates the group and the stream if either is missing.
func (c *Consumer) createGroup(ctx context.Context) error {
	err := c.rdb.XGroupCreateMkStream(ctx, c.o.Stream, c.o.Group, groupStart).Err()
	if err != nil && !isBusyGroup(err) {
		return fmt.Errorf("XGROUP CREATE %s %s: %w", c.o.Stream, c.o.Group, err)
	}
	return nil
}

// sleep waits d or until ctx is done, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
