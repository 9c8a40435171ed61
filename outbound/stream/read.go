package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// runner is the state of one Run.
type runner struct {
	c    *Consumer
	h    Handler
	wait time.Duration // the next backoff
	// size is the COUNT of re-reads of pending entries. A Handler error drops
	// it to one, so a poison entry is retried alone and spends its deliveries
	// without dragging its neighbours to MaxDeliveries (halving would leave
	// the entries next to it in log2(Batch) failed batches); each success
	// doubles it back towards Batch.
	size int
	// pending: this consumer may own pending entries (at start, after a
	// failure, after a claim), so they are read before any new one.
	pending   bool
	needGroup bool
}

// handlerError is a Handler's error with the size of the batch it refused.
type handlerError struct {
	err error
	n   int
}

func (e handlerError) Error() string { return fmt.Sprintf("handler (%d senders): %v", e.n, e.err) }
func (e handlerError) Unwrap() error { return e.err }

// readNew reads entries never delivered to any consumer. Their delivery count
// is 1 by definition, so they need no XPENDING to check MaxDeliveries.
func (r *runner) readNew(ctx context.Context, block time.Duration) error {
	c := r.c
	res, err := c.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: c.o.Group, Consumer: c.o.Consumer, Streams: []string{c.o.Stream, ">"},
		Count: int64(c.o.Batch), Block: block,
	}).Result()
	if errors.Is(err, goredis.Nil) { // BLOCK timed out
		return nil
	}
	if err != nil {
		return fmt.Errorf("XREADGROUP %s >: %w", c.o.Stream, err)
	}
	msgs := entries(res)
	c.read.Add(int64(len(msgs)))
	return r.process(ctx, msgs, nil)
}

// readPending re-reads this consumer's own pending entries from the start of
// its pending list; an empty answer ends the pending phase. Entries leave the
// list only when acknowledged, so reading from "0" again after each batch
// always yields the next ones.
func (r *runner) readPending(ctx context.Context) error {
	c := r.c
	res, err := c.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: c.o.Group, Consumer: c.o.Consumer, Streams: []string{c.o.Stream, "0"},
		Count: int64(r.size), Block: -1, // a history read never blocks; -1 omits BLOCK
	}).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("XREADGROUP %s 0: %w", c.o.Stream, err)
	}
	msgs := entries(res)
	if len(msgs) == 0 {
		r.pending, r.size = false, c.o.Batch
		return nil
	}
	c.read.Add(int64(len(msgs)))
	counts, err := r.deliveries(ctx, msgs)
	if err != nil {
		return err
	}
	return r.process(ctx, msgs, counts)
}

// deliveries returns the delivery count of each of msgs, this read included.
// Only re-deliveries need it, so XPENDING costs one round trip per re-read
// batch and nothing on the steady path. The batch is a prefix of this
// consumer's pending list, so the ID range restricted to this consumer holds
// exactly these entries. An entry missing from the answer was taken by another
// consumer meanwhile; it is handled like a fresh one (XACK acknowledges it
// whoever holds it).
func (r *runner) deliveries(ctx context.Context, msgs []goredis.XMessage) (map[string]int64, error) {
	c := r.c
	pel, err := c.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: c.o.Stream, Group: c.o.Group, Consumer: c.o.Consumer,
		Start: msgs[0].ID, End: msgs[len(msgs)-1].ID, Count: int64(len(msgs)),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("XPENDING %s: %w", c.o.Stream, err)
	}
	counts := make(map[string]int64, len(pel))
	for _, p := range pel {
		counts[p.ID] = p.RetryCount
	}
	return counts, nil
}

// process hands one batch to the Handler and acknowledges it. counts holds
// the delivery counts of re-delivered entries, nil for new ones.
func (r *runner) process(ctx context.Context, msgs []goredis.XMessage, counts map[string]int64) error {
	c := r.c
	var (
		senders, handled []string
		settled          []string // acknowledged without the Handler
		malformed, dead  int64
	)
	for _, m := range msgs {
		switch {
		case m.Values == nil:
			// Deleted from the stream (XDEL, XTRIM) while pending: the sender
			// is gone, only its ID is left to acknowledge.
			c.log.Warn("pending entry deleted from the stream before it was handled", zap.String("id", m.ID))
			settled = append(settled, m.ID)
		case counts[m.ID] > c.o.MaxDeliveries:
			// Delivered MaxDeliveries times already, never acknowledged.
			c.log.Error("giving up on entry: delivered too many times without being settled",
				zap.String("id", m.ID), zap.Int64("deliveries", counts[m.ID]-1), entryFields(m))
			settled = append(settled, m.ID)
			dead++
		default:
			v, ok := m.Values[c.o.Field]
			if !ok {
				c.log.Warn("malformed entry: no "+c.o.Field+" field", zap.String("id", m.ID), entryFields(m))
				settled = append(settled, m.ID)
				malformed++
				continue
			}
			s, _ := v.(string) // RESP bulk strings always decode to string
			senders = append(senders, s)
			handled = append(handled, m.ID)
		}
	}
	var herr error
	if len(senders) > 0 {
		err := r.h(ctx, senders)
		if ctx.Err() != nil {
			// Shutting down: whatever the Handler says, leave the batch pending
			// for this consumer's restart or another's claim.
			return ctx.Err()
		}
		if err != nil {
			c.handlerErrors.Add(1)
			r.size = 1
			herr = handlerError{err: err, n: len(senders)}
			handled = nil
		}
	}
	if herr == nil {
		r.size = min(c.o.Batch, 2*r.size)
	}
	if ids := append(settled, handled...); len(ids) > 0 {
		if err := r.ack(ctx, ids); err != nil {
			return errors.Join(herr, err)
		}
	}
	// Counted once acknowledged, so a failed XACK does not count them twice.
	c.malformed.Add(malformed)
	c.deadLettered.Add(dead)
	return herr
}

// ack acknowledges ids in one round trip.
func (r *runner) ack(ctx context.Context, ids []string) error {
	c := r.c
	n, err := c.rdb.XAck(ctx, c.o.Stream, c.o.Group, ids...).Result()
	if err != nil {
		return fmt.Errorf("XACK %s (%d entries): %w", c.o.Stream, len(ids), err)
	}
	c.acked.Add(n)
	return nil
}

// claim takes over up to Batch entries idle for longer than ClaimIdle on any
// consumer and reports whether the scan of the group's pending list has more
// to go. JUSTID moves the entries into this consumer's pending list without
// counting a delivery; readPending then delivers them once, counted and
// checked against MaxDeliveries like any re-delivery.
func (r *runner) claim(ctx context.Context) (more bool, err error) {
	c := r.c
	// Sent raw: go-redis's XAutoClaimJustID drops the reply's third element,
	// the IDs that were deleted from the stream while pending.
	reply, err := c.rdb.Do(ctx, "XAUTOCLAIM", c.o.Stream, c.o.Group, c.o.Consumer,
		c.o.ClaimIdle.Milliseconds(), c.claimFrom, "COUNT", c.o.Batch, "JUSTID").Slice()
	if err != nil {
		return false, fmt.Errorf("XAUTOCLAIM %s: %w", c.o.Stream, err)
	}
	next, ids, deleted, err := parseAutoClaim(reply)
	if err != nil {
		return false, fmt.Errorf("XAUTOCLAIM %s: %w", c.o.Stream, err)
	}
	if len(deleted) > 0 {
		// Redis 7 has already dropped them from the pending list; the XACK is
		// cheap insurance. The warning matters more: these senders were
		// trimmed away before anyone handled them.
		c.log.Warn("pending entries deleted from the stream before they were handled",
			zap.Int("entries", len(deleted)), zap.Strings("ids", deleted[:min(len(deleted), 20)]))
		if err := r.ack(ctx, deleted); err != nil {
			return false, err
		}
	}
	c.claimFrom = next
	if len(ids) > 0 {
		c.claimed.Add(int64(len(ids)))
		c.log.Info("claimed idle entries from other consumers", zap.Int("entries", len(ids)))
		r.pending = true
	}
	return next != "0-0", nil
}

// parseAutoClaim splits XAUTOCLAIM JUSTID's reply: the cursor, the claimed
// IDs and (Redis 7 and later) the deleted IDs.
func parseAutoClaim(reply []any) (next string, ids, deleted []string, err error) {
	if len(reply) < 2 {
		return "", nil, nil, fmt.Errorf("reply has %d elements, want 2 or 3", len(reply))
	}
	next, ok := reply[0].(string)
	if !ok {
		return "", nil, nil, fmt.Errorf("cursor is %T, want a string", reply[0])
	}
	if ids, err = stringSlice(reply[1]); err != nil {
		return "", nil, nil, fmt.Errorf("claimed IDs: %w", err)
	}
	if len(reply) > 2 {
		if deleted, err = stringSlice(reply[2]); err != nil {
			return "", nil, nil, fmt.Errorf("deleted IDs: %w", err)
		}
	}
	return next, ids, deleted, nil
}

func stringSlice(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%T, want an array", v)
	}
	out := make([]string, len(list))
	for i, e := range list {
		if out[i], ok = e.(string); !ok {
			return nil, fmt.Errorf("element %d is %T, want a string", i, e)
		}
	}
	return out, nil
}

// entries flattens an XREADGROUP reply for the one stream read.
func entries(res []goredis.XStream) []goredis.XMessage {
	var out []goredis.XMessage
	for _, s := range res {
		out = append(out, s.Messages...)
	}
	return out
}

// Bounds on what an entry puts in a log line: the stream is written by
// another system, and one huge or many-fielded entry must not flood the log.
const (
	logValueMax  = 100
	logFieldsMax = 20
)

// entryFields renders an entry's fields for a log line, values (and names)
// cut to logValueMax bytes.
func entryFields(m goredis.XMessage) zap.Field {
	keys := make([]string, 0, len(m.Values))
	for k := range m.Values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, min(len(keys), logFieldsMax))
	for _, k := range keys[:min(len(keys), logFieldsMax)] {
		out[clip(k)] = clip(fmt.Sprint(m.Values[k]))
	}
	if len(keys) > logFieldsMax {
		out["…"] = fmt.Sprintf("%d more fields", len(keys)-logFieldsMax)
	}
	return zap.Any("fields", out)
}

// clip cuts s to at most logValueMax bytes, on a rune boundary, marking the cut.
func clip(s string) string {
	if len(s) <= logValueMax {
		return s
	}
	cut := logValueMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// isNoGroup reports a missing group or stream key.
func isNoGroup(err error) bool { return goredis.HasErrorPrefix(err, "NOGROUP") }

// isBusyGroup reports that XGROUP CREATE found the group already there.
func isBusyGroup(err error) bool { return goredis.HasErrorPrefix(err, "BUSYGROUP") }
