package redis

import (
	"context"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dirsync/dirsync/state"
)

// acquireScript: KEYS lock, meta, token; ARGV owner, ttl in ms. The token comes
// from INCR in the same script that sets the lock, so tokens grow in the order
// the lock changes hands. Returns {1, token} or {0, holder, pttl}.
//
// Tokens never go below Redis's clock in microseconds (TIME), as the local
// backend's never go below the host's: after a FLUSHALL or a new, empty Redis
// the counter starts again above every token handed out before, so the store's
// fence (the highest token it has seen) does not refuse every later run.
// Microseconds since 1970 (about 1.8e15) are exact in Lua's doubles (2^53);
// numbers are formatted with %.0f because Lua's default (%.14g) would round them.
var acquireScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
end
local t = redis.call('INCR', KEYS[3])
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000000 + tonumber(now[2])
if t < floor then
  t = redis.call('INCRBY', KEYS[3], string.format('%.0f', floor - t))
end
local v = string.format('%.0f', t) .. '\n' .. ARGV[1]
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'holder', v)
return {1, t}
`)

// renewScript: KEYS lock, meta; ARGV holder, ttl in ms. A lease whose lock key
// expired but was not taken over is still the holder, so it may renew.
var renewScript = goredis.NewScript(`
if redis.call('HGET', KEYS[2], 'holder') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// releaseScript: KEYS lock, meta; ARGV holder. A stale lease touches nothing.
var releaseScript = goredis.NewScript(`
if redis.call('HGET', KEYS[2], 'holder') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], 'holder')
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// Acquire takes the connector's run lock for ttl (SET NX PX inside a script that
// also hands out the next fencing token), or fails with ErrLocked.
func (b *Backend) Acquire(ctx context.Context, connector, owner string, ttl time.Duration) (state.Lease, error) {
	if err := checkConnector(connector); err != nil {
		return state.Lease{}, err
	}
	if ttl < time.Millisecond {
		return state.Lease{}, fmt.Errorf("acquire lock of %q: ttl %s is too short", connector, ttl)
	}
	keys := []string{b.key(connector, "lock"), b.key(connector, "meta"), b.key(connector, "token")}
	start := time.Now()
	res, err := acquireScript.Run(ctx, b.rdb, keys, owner, ttl.Milliseconds()).Slice()
	if err != nil {
		return state.Lease{}, b.wrap(fmt.Sprintf("acquire lock of %q", connector), err)
	}
	if len(res) < 2 {
		return state.Lease{}, fmt.Errorf("acquire lock of %q: unexpected reply %v", connector, res)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		holder, _ := res[1].(string)
		_, who, _ := strings.Cut(holder, "\n")
		var left time.Duration
		if len(res) > 2 {
			if ms, _ := res[2].(int64); ms > 0 {
				left = time.Duration(ms) * time.Millisecond
			}
		}
		return state.Lease{}, fmt.Errorf("%w (owner %q, for another %s)", state.ErrLocked, who, left.Round(time.Millisecond))
	}
	token, _ := res[1].(int64)
	// The expiry is measured from before the request: the lock may expire
	// earlier than Redis says, never later, which is the safe side.
	return state.Lease{Connector: connector, Owner: owner, Token: uint64(token), Expires: start.Add(ttl)}, nil
}

// Renew extends a current lease.
func (b *Backend) Renew(ctx context.Context, lease state.Lease, ttl time.Duration) (state.Lease, error) {
	if err := checkConnector(lease.Connector); err != nil {
		return state.Lease{}, err
	}
	if ttl < time.Millisecond {
		return state.Lease{}, fmt.Errorf("renew lock of %q: ttl %s is too short", lease.Connector, ttl)
	}
	start := time.Now()
	keys := []string{b.key(lease.Connector, "lock"), b.key(lease.Connector, "meta")}
	ok, err := renewScript.Run(ctx, b.rdb, keys, holderValue(lease), ttl.Milliseconds()).Int64()
	if err != nil {
		return state.Lease{}, b.wrap(fmt.Sprintf("renew lock of %q", lease.Connector), err)
	}
	if ok != 1 {
		return state.Lease{}, fmt.Errorf("renew lock of %q with token %d: %w", lease.Connector, lease.Token, state.ErrStaleLease)
	}
	lease.Expires = start.Add(ttl)
	return lease, nil
}

// Release gives the lock up; a stale lease is a no-op.
func (b *Backend) Release(ctx context.Context, lease state.Lease) error {
	if err := checkConnector(lease.Connector); err != nil {
		return err
	}
	keys := []string{b.key(lease.Connector, "lock"), b.key(lease.Connector, "meta")}
	if err := releaseScript.Run(ctx, b.rdb, keys, holderValue(lease)).Err(); err != nil {
		return b.wrap(fmt.Sprintf("release lock of %q", lease.Connector), err)
	}
	return nil
}
