package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
)

// The replicas' coordination keys. They are single keys, not per connector, so
// they need no hash tag to work on Redis Cluster.
//
//	dirsync:leader    string: the owner holding the leader lease, with a PX expiry
//	dirsync:triggers  stream of forwarded triggers, read by the consumer group
//	                  "leader" (MAXLEN ~1000)
const (
	triggerGroup = "leader"
	// triggerKeep bounds the trigger stream (approximately, MAXLEN ~).
	triggerKeep = 1000
	// triggerReclaim is how long a trigger read by a leader may stay
	// unacknowledged before another leader takes it over.
	triggerReclaim = time.Minute
)

var _ state.Coordinator = (*Backend)(nil)

func (b *Backend) leaderKey() string  { return b.prefix + ":leader" }
func (b *Backend) triggerKey() string { return b.prefix + ":triggers" }

// holdLeaderScript: KEYS leader; ARGV owner, ttl in ms. Takes a free lease or
// renews the owner's own; returns {1} or {0, holder, pttl}.
var holdLeaderScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1}
end
return {0, cur, redis.call('PTTL', KEYS[1])}
`)

// releaseLeaderScript: KEYS leader; ARGV owner.
var releaseLeaderScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// HoldLeader takes or renews the leader lease (SET PX in a script, so taking a
// free lease and renewing one's own are one atomic step).
func (b *Backend) HoldLeader(ctx context.Context, owner string, ttl time.Duration) (state.LeaderLease, error) {
	if owner == "" || ttl < time.Millisecond {
		return state.LeaderLease{}, fmt.Errorf("leader lease: owner %q and ttl %s are required", owner, ttl)
	}
	res, err := holdLeaderScript.Run(ctx, b.rdb, []string{b.leaderKey()}, owner, ttl.Milliseconds()).Slice()
	if err != nil {
		return state.LeaderLease{}, b.wrap("leader lease", err)
	}
	if ok, _ := res[0].(int64); ok == 1 {
		return state.LeaderLease{Held: true, Holder: owner}, nil
	}
	var l state.LeaderLease
	if len(res) > 2 {
		l.Holder, _ = res[1].(string)
		if ms, _ := res[2].(int64); ms > 0 {
			l.Left = time.Duration(ms) * time.Millisecond
		}
	}
	return l, nil
}

// ReleaseLeader deletes the lease if owner holds it.
func (b *Backend) ReleaseLeader(ctx context.Context, owner string) error {
	if err := releaseLeaderScript.Run(ctx, b.rdb, []string{b.leaderKey()}, owner).Err(); err != nil {
		return b.wrap("release leader lease", err)
	}
	return nil
}

// PublishTrigger appends the trigger to the stream. The consumer group is made
// first (at the stream's end), so a trigger published before any leader read is
// still delivered.
func (b *Backend) PublishTrigger(ctx context.Context, t state.Trigger) error {
	if err := checkConnector(t.Connector); err != nil {
		return err
	}
	if err := b.ensureTriggerGroup(ctx); err != nil {
		return err
	}
	body, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("publish trigger: %w", err)
	}
	err = b.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: b.triggerKey(), MaxLen: triggerKeep, Approx: true,
		Values: []string{"t", string(body)}}).Err()
	if err != nil {
		return b.wrap("publish trigger", err)
	}
	return nil
}

// ReadTriggers takes over triggers another consumer left unacknowledged for a
// minute, then reads new ones, blocking up to wait.
func (b *Backend) ReadTriggers(ctx context.Context, consumer string, wait time.Duration) ([]state.Trigger, error) {
	if err := b.ensureTriggerGroup(ctx); err != nil {
		return nil, err
	}
	claimed, _, err := b.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: b.triggerKey(), Group: triggerGroup,
		Consumer: consumer, MinIdle: triggerReclaim, Start: "0-0", Count: 16}).Result()
	if err != nil && !isNoGroup(err) {
		return nil, b.wrap("read triggers", err)
	}
	if len(claimed) > 0 {
		return b.decodeTriggers(ctx, claimed), nil
	}
	streams, err := b.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: triggerGroup, Consumer: consumer,
		Streams: []string{b.triggerKey(), ">"}, Count: 16, Block: wait}).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, nil
	case isNoGroup(err):
		// The stream was emptied (FLUSHALL, a new Redis) since ensureTriggerGroup.
		return nil, nil
	case err != nil:
		return nil, b.wrap("read triggers", err)
	}
	var out []state.Trigger
	for _, s := range streams {
		out = append(out, b.decodeTriggers(ctx, s.Messages)...)
	}
	return out, nil
}

// decodeTriggers decodes messages; one that cannot be decoded is acknowledged
// and dropped with a warning, so it is not handed out again and again.
func (b *Backend) decodeTriggers(ctx context.Context, msgs []goredis.XMessage) []state.Trigger {
	var out []state.Trigger
	for _, m := range msgs {
		var t state.Trigger
		raw, _ := m.Values["t"].(string)
		if err := json.Unmarshal([]byte(raw), &t); err != nil || t.Connector == "" {
			b.log.Warn("dropping a trigger that cannot be decoded", zap.String("id", m.ID), zap.Error(err))
			_ = b.AckTriggers(ctx, m.ID)
			continue
		}
		t.ID = m.ID
		out = append(out, t)
	}
	return out
}

// AckTriggers acknowledges and deletes triggers.
func (b *Backend) AckTriggers(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	pipe := b.rdb.TxPipeline()
	pipe.XAck(ctx, b.triggerKey(), triggerGroup, ids...)
	pipe.XDel(ctx, b.triggerKey(), ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return b.wrap("acknowledge triggers", err)
	}
	return nil
}

func (b *Backend) ensureTriggerGroup(ctx context.Context) error {
	err := b.rdb.XGroupCreateMkStream(ctx, b.triggerKey(), triggerGroup, "$").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return b.wrap("create trigger group", err)
	}
	return nil
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}
