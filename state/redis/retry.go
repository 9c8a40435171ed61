package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dirsync/dirsync/state"
)

// appendExtras adds a commit's retry set and ledger changes to the script
// arguments, in the layout extras() in commitPrologue reads.
func appendExtras(head []any, c state.Commit) ([]any, error) {
	var ru, la []any
	for a, r := range c.Retries {
		if a == "" {
			return nil, fmt.Errorf("retry entry for %q: empty anchor", r.Address)
		}
		v, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode retry entry %q: %w", a, err)
		}
		ru = append(ru, a, v)
	}
	for _, d := range c.Destructive {
		v, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("encode ledger line: %w", err)
		}
		la = append(la, strconv.FormatInt(d.At.UnixMilli(), 10), v)
	}
	prune := ""
	if !c.PruneDestructive.IsZero() {
		prune = strconv.FormatInt(c.PruneDestructive.UnixMilli(), 10)
	}
	out := append(head, len(c.RetryDeletes), len(ru), len(la), prune)
	for _, a := range c.RetryDeletes {
		out = append(out, a)
	}
	out = append(out, ru...)
	return append(out, la...), nil
}

// Retries returns the connector's retry set, ordered by anchor (empty when the
// state is of another schema version: the next commit discards it).
func (b *Backend) Retries(ctx context.Context, connector string) ([]state.Retry, error) {
	if err := checkConnector(connector); err != nil {
		return nil, err
	}
	out := []state.Retry{}
	if ok, err := b.currentVersion(ctx, connector); err != nil || !ok {
		return out, err
	}
	m, err := b.rdb.HGetAll(ctx, b.key(connector, "retries")).Result()
	if err != nil {
		return nil, b.wrap(fmt.Sprintf("read retry set of %q", connector), err)
	}
	for a, v := range m {
		var r state.Retry
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("decode retry entry %q of %q: %w", a, connector, err)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y state.Retry) int { return strings.Compare(x.Anchor, y.Anchor) })
	return out, nil
}

// DestructiveSince returns the connector's ledger lines from since on, oldest first.
func (b *Backend) DestructiveSince(ctx context.Context, connector string, since time.Time) ([]state.Destructive, error) {
	if err := checkConnector(connector); err != nil {
		return nil, err
	}
	if ok, err := b.currentVersion(ctx, connector); err != nil || !ok {
		return nil, err
	}
	vs, err := b.rdb.ZRangeByScore(ctx, b.key(connector, "ledger"), &goredis.ZRangeBy{
		Min: strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, b.wrap(fmt.Sprintf("read destructive ledger of %q", connector), err)
	}
	out := make([]state.Destructive, 0, len(vs))
	for _, v := range vs {
		var d state.Destructive
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return nil, fmt.Errorf("decode ledger line of %q: %w", connector, err)
		}
		out = append(out, d)
	}
	return out, nil
}
