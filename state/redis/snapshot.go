package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
)

const (
	// scanCount is HSCAN's COUNT: large enough that a 100k snapshot takes ~100
	// round trips, small enough that each reply stays well under a megabyte.
	scanCount = 1000
	// inlineLimit is the most anchors (deletes + upserts) a commit sends as
	// arguments of one script call; larger commits are staged first, in chunks.
	inlineLimit = 2000
	// stageChunk is how many anchors one staging command carries, and
	// stagePipeline how many of them go in one pipeline (one round trip).
	stageChunk, stagePipeline = 1000, 20
	// stageTTL removes the staging keys of a commit whose process died before
	// the merge: they are never visible as state.
	stageTTL = time.Hour
)

// cursorRecord is how the cursor is stored: an envelope, so that a damaged or
// foreign value is detected instead of being handed to a connector.
type cursorRecord struct {
	Cursor []byte `json:"c"`
}

// Snapshot reads the connector's entries with HSCAN. An entry that cannot be
// decoded is discarded with a warning (and deleted by the next commit); so is
// the whole snapshot when it was written by another schema version. Either way
// Cursor then reports no cursor, so the next run is a full one.
func (b *Backend) Snapshot(ctx context.Context, connector string) (state.Snapshot, error) {
	if err := checkConnector(connector); err != nil {
		return nil, err
	}
	if ok, err := b.currentVersion(ctx, connector); err != nil {
		return nil, err
	} else if !ok {
		b.markCorrupt(connector, nil)
		return state.Snapshot{}, nil
	}
	snap := state.Snapshot{}
	var bad []string
	key := b.key(connector, "snap")
	var cursor uint64
	for {
		kv, next, err := b.rdb.HScan(ctx, key, cursor, "", scanCount).Result()
		if err != nil {
			return nil, b.wrap(fmt.Sprintf("read snapshot of %q", connector), err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			e, err := decodeEntry(kv[i+1])
			if err != nil {
				bad = append(bad, kv[i])
				continue
			}
			snap[kv[i]] = e
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if len(bad) > 0 {
		b.log.Warn("discarding snapshot entries that cannot be decoded; the next run is a full run",
			zap.String("connector", connector), zap.Int("entries", len(bad)), zap.String("first_anchor", bad[0]))
		b.markCorrupt(connector, bad)
	}
	return snap, nil
}

// currentVersion reports whether the connector's state is of this schema version
// (or there is none yet), warning when it is not.
func (b *Backend) currentVersion(ctx context.Context, connector string) (bool, error) {
	v, err := b.rdb.HGet(ctx, b.key(connector, "meta"), "v").Result()
	if errors.Is(err, goredis.Nil) {
		return true, nil
	}
	if err != nil {
		return false, b.wrap(fmt.Sprintf("read state version of %q", connector), err)
	}
	if v != schemaVersion {
		b.log.Warn("discarding state written by another schema version; the next run is a full run",
			zap.String("connector", connector), zap.String("found", v), zap.String("want", schemaVersion))
		return false, nil
	}
	return true, nil
}

// Cursor returns the stored cursor, or nil: also when it cannot be decoded, or
// when the last Snapshot discarded entries (a full run must rebuild them).
func (b *Backend) Cursor(ctx context.Context, connector string) ([]byte, error) {
	if err := checkConnector(connector); err != nil {
		return nil, err
	}
	if ok, err := b.currentVersion(ctx, connector); err != nil || !ok {
		return nil, err
	}
	b.mu.Lock()
	_, damaged := b.corrupt[connector]
	b.mu.Unlock()
	if damaged {
		b.log.Warn("ignoring the cursor: the snapshot had damaged entries", zap.String("connector", connector))
		return nil, nil
	}
	raw, err := b.rdb.HGet(ctx, b.key(connector, "meta"), "cursor").Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, b.wrap(fmt.Sprintf("read cursor of %q", connector), err)
	}
	var rec cursorRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil || rec.Cursor == nil {
		b.log.Warn("discarding a cursor that cannot be decoded; the next run is a full run",
			zap.String("connector", connector), zap.NamedError("decode", err))
		return nil, nil
	}
	return rec.Cursor, nil
}

func (b *Backend) markCorrupt(connector string, anchors []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.corrupt[connector]
	if set == nil {
		set = map[string]bool{}
		b.corrupt[connector] = set
	}
	for _, a := range anchors {
		set[a] = true
	}
}

// commitPrologue checks the lease and resets state of another schema version;
// both commit scripts start with it. KEYS start meta, snap, retries, ledger.
// ARGV: holder, version, cursor mode, cursor, then the retry set and ledger
// changes that extras() applies: counts of retry deletes, retry anchor/entry
// arguments and ledger score/member arguments, the prune score ("" for none),
// and the three lists.
const commitPrologue = `
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] then return 0 end
local v = redis.call('HGET', KEYS[1], 'v')
if v and v ~= ARGV[2] then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  redis.call('HDEL', KEYS[1], 'cursor')
end
local function finish()
  redis.call('HSET', KEYS[1], 'v', ARGV[2])
  if ARGV[3] == 's' then redis.call('HSET', KEYS[1], 'cursor', ARGV[4])
  elseif ARGV[3] == 'c' then redis.call('HDEL', KEYS[1], 'cursor') end
  return 1
end
local function each(list, first, last, step, fn)
  local i = first
  while i <= last do
    local j = math.min(i + step - 1, last)
    fn(unpack(list, i, j))
    i = j + 1
  end
end
local function extras()
  local nrd, nru, nla = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local i = 9
  each(ARGV, i, i + nrd - 1, 1000, function(...) redis.call('HDEL', KEYS[3], ...) end)
  i = i + nrd
  each(ARGV, i, i + nru - 1, 2000, function(...) redis.call('HSET', KEYS[3], ...) end)
  i = i + nru
  if ARGV[8] ~= '' then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[8]) end
  each(ARGV, i, i + nla - 1, 2000, function(...) redis.call('ZADD', KEYS[4], ...) end)
  return i + nla
end
`

// commitInline: KEYS meta, snap, retries, ledger; after the extras, the number
// of deletes, the deletes, then anchor/entry pairs.
var commitInline = goredis.NewScript(commitPrologue + `
local base = extras()
local nd = tonumber(ARGV[base])
each(ARGV, base + 1, base + nd, 1000, function(...) redis.call('HDEL', KEYS[2], ...) end)
each(ARGV, base + 1 + nd, #ARGV, 2000, function(...) redis.call('HSET', KEYS[2], ...) end)
return finish()
`)

// commitStaged merges a staged commit: KEYS meta, snap, retries, ledger, stage
// (hash of upserts), stagedel (list of deletes). Into an empty snapshot the stage is renamed, not
// copied. The staging keys are removed whatever the outcome.
var commitStaged = goredis.NewScript(`
local ok = (function()
` + commitPrologue + `
extras()
local dels = redis.call('LRANGE', KEYS[6], 0, -1)
each(dels, 1, #dels, 1000, function(...) redis.call('HDEL', KEYS[2], ...) end)
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('RENAME', KEYS[5], KEYS[2])
    redis.call('PERSIST', KEYS[2]) -- RENAME keeps the stage's TTL
  end
else
  local kv = redis.call('HGETALL', KEYS[5])
  each(kv, 1, #kv, 2000, function(...) redis.call('HSET', KEYS[2], ...) end)
end
return finish()
end)()
redis.call('DEL', KEYS[5], KEYS[6])
return ok
`)

// Commit applies c in one script run, so it is atomic and checked against the
// lease there: a crash never leaves half a commit visible. A large commit is
// first staged into keys of its own through pipelines (O(size/chunk) round trips)
// and then merged by the script.
func (b *Backend) Commit(ctx context.Context, lease state.Lease, c state.Commit) error {
	connector := lease.Connector
	if err := checkConnector(connector); err != nil {
		return err
	}
	deletes := c.Deletes
	b.mu.Lock()
	corrupt, hadCorrupt := b.corrupt[connector]
	for a := range corrupt {
		if _, up := c.Upserts[a]; !up {
			deletes = append(deletes, a)
		}
	}
	b.mu.Unlock()

	head := []any{holderValue(lease), schemaVersion, "k", ""}
	switch {
	case c.Cursor != nil:
		raw, err := json.Marshal(cursorRecord{Cursor: c.Cursor})
		if err != nil {
			return fmt.Errorf("encode cursor of %q: %w", connector, err)
		}
		head[2], head[3] = "s", raw
	case c.ClearCursor:
		head[2] = "c"
	}
	head, err := appendExtras(head, c)
	if err != nil {
		return fmt.Errorf("commit state of %q: %w", connector, err)
	}
	keys := []string{b.key(connector, "meta"), b.key(connector, "snap"), b.key(connector, "retries"), b.key(connector, "ledger")}
	var res int64
	if len(deletes)+len(c.Upserts) <= inlineLimit {
		args := append(head, len(deletes))
		for _, d := range deletes {
			args = append(args, d)
		}
		for a, e := range c.Upserts {
			args = append(args, a, appendEntry(nil, e))
		}
		res, err = commitInline.Run(ctx, b.rdb, keys, args...).Int64()
	} else {
		res, err = b.commitStaged(ctx, connector, keys, head, deletes, c.Upserts)
	}
	if err != nil {
		return b.wrap(fmt.Sprintf("commit state of %q", connector), err)
	}
	if res != 1 {
		return fmt.Errorf("commit state of %q with token %d: %w", connector, lease.Token, state.ErrStaleLease)
	}
	if hadCorrupt {
		b.mu.Lock()
		delete(b.corrupt, connector)
		b.mu.Unlock()
	}
	return nil
}

func (b *Backend) commitStaged(ctx context.Context, connector string, keys []string, head []any, deletes []string, upserts map[string]state.Entry) (int64, error) {
	var id [8]byte
	_, _ = rand.Read(id[:])
	suffix := hex.EncodeToString(id[:])
	stage, stagedel := b.key(connector, "stage:"+suffix), b.key(connector, "stagedel:"+suffix)

	// One pipeline is in flight while the next is encoded: with two cores the
	// encoding hides behind the network and Redis, and the write costs about
	// what a raw pipelined HSET of the same bytes does.
	pipe := b.rdb.Pipeline()
	queued := 0
	var inflight chan error
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		return err
	}
	flush := func(force bool) error {
		if queued == 0 || (!force && queued < stagePipeline) {
			return nil
		}
		pipe.Expire(ctx, stage, stageTTL)
		pipe.Expire(ctx, stagedel, stageTTL)
		if err := wait(); err != nil {
			return err
		}
		sent := pipe
		inflight = make(chan error, 1)
		go func() { _, err := sent.Exec(ctx); inflight <- err }()
		pipe, queued = b.rdb.Pipeline(), 0
		return nil
	}
	for i := 0; i < len(deletes); i += stageChunk {
		chunk := deletes[i:min(i+stageChunk, len(deletes))]
		args := make([]any, len(chunk))
		for j, d := range chunk {
			args[j] = d
		}
		pipe.RPush(ctx, stagedel, args...)
		queued++
		if err := flush(false); err != nil {
			return 0, err
		}
	}
	args := make([]any, 0, 2*stageChunk)
	// One buffer per chunk holds every encoded entry of it: one allocation, not
	// one per entry.
	buf := make([]byte, 0, 128*stageChunk)
	for a, e := range upserts {
		start := len(buf)
		buf = appendEntry(buf, e)
		args = append(args, a, buf[start:len(buf):len(buf)])
		if len(args) == cap(args) {
			pipe.HSet(ctx, stage, args...)
			args = make([]any, 0, 2*stageChunk)
			buf = make([]byte, 0, 128*stageChunk)
			queued++
			if err := flush(false); err != nil {
				return 0, err
			}
		}
	}
	if len(args) > 0 {
		pipe.HSet(ctx, stage, args...)
		queued++
	}
	if err := flush(true); err != nil {
		return 0, err
	}
	if err := wait(); err != nil {
		return 0, err
	}
	return commitStaged.Run(ctx, b.rdb, append(keys, stage, stagedel), head...).Int64()
}

// holderValue is how a lease is written in the lock key and the meta holder field.
func holderValue(l state.Lease) string {
	return strconv.FormatUint(l.Token, 10) + "\n" + l.Owner
}
