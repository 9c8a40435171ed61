package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dirsync/dirsync/state"
)

// runRecord is how a run is stored: with a sequence number from one counter for
// all connectors, so Runs("") merges histories in the order runs were recorded,
// whatever the runners' clocks said.
type runRecord struct {
	Seq int64     `json:"s"`
	Run state.Run `json:"r"`
}

// holdRecord is how a hold is stored. Operations travels as a []byte (base64 in
// JSON) because encoding/json compacts and HTML-escapes a json.RawMessage, and
// the engine's bytes must come back unchanged.
type holdRecord struct {
	ID         string    `json:"id"`
	Connector  string    `json:"connector"`
	RunID      string    `json:"run_id"`
	Reason     string    `json:"reason"`
	Created    time.Time `json:"created"`
	Operations []byte    `json:"ops"`
}

// AddRun pushes run onto its connector's history and trims it to the newest
// KeepRuns.
func (b *Backend) AddRun(ctx context.Context, run state.Run) error {
	if err := checkConnector(run.Connector); err != nil {
		return err
	}
	what := fmt.Sprintf("add run %q of %q", run.ID, run.Connector)
	seq, err := b.rdb.Incr(ctx, b.prefix+":runseq").Result()
	if err != nil {
		return b.wrap(what, err)
	}
	v, err := json.Marshal(runRecord{Seq: seq, Run: run})
	if err != nil {
		return fmt.Errorf("encode run %q: %w", run.ID, err)
	}
	key := b.key(run.Connector, "runs")
	_, err = b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.SAdd(ctx, b.connectorsKey(), run.Connector)
		p.LPush(ctx, key, v)
		p.LTrim(ctx, key, 0, int64(b.keepRuns-1))
		return nil
	})
	if err != nil {
		return b.wrap(what, err)
	}
	return nil
}

// Runs returns up to limit runs, newest first; connector "" merges all connectors.
func (b *Backend) Runs(ctx context.Context, connector string, limit int) ([]state.Run, error) {
	out := []state.Run{}
	if limit <= 0 {
		return out, nil
	}
	names, err := b.connectors(ctx, connector)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("runs of %q", connector)
	cmds := make([]*goredis.StringSliceCmd, len(names))
	_, err = b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.LRange(ctx, b.key(n, "runs"), 0, int64(limit-1))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, b.wrap(what, err)
	}
	var found []runRecord
	for _, c := range cmds {
		for _, v := range c.Val() {
			var r runRecord
			if err := json.Unmarshal([]byte(v), &r); err != nil {
				return nil, fmt.Errorf("%s: decode run: %w", what, err)
			}
			found = append(found, r)
		}
	}
	slices.SortFunc(found, func(a, b runRecord) int { return cmp.Compare(b.Seq, a.Seq) })
	for _, r := range found[:min(len(found), limit)] {
		out = append(out, r.Run)
	}
	return out, nil
}

// connectors is the one connector named, or all known ones for "".
func (b *Backend) connectors(ctx context.Context, connector string) ([]string, error) {
	if connector != "" {
		return []string{connector}, checkConnector(connector)
	}
	names, err := b.rdb.SMembers(ctx, b.connectorsKey()).Result()
	if err != nil {
		return nil, b.wrap("list connectors", err)
	}
	return names, nil
}

// PutHold stores h, replacing any hold of the same connector and ID.
func (b *Backend) PutHold(ctx context.Context, h state.Hold) error {
	if err := checkConnector(h.Connector); err != nil {
		return err
	}
	if h.ID == "" {
		return fmt.Errorf("put hold of %q: empty hold ID", h.Connector)
	}
	v, err := json.Marshal(holdRecord{
		ID: h.ID, Connector: h.Connector, RunID: h.RunID, Reason: h.Reason,
		Created: h.Created, Operations: h.Operations,
	})
	if err != nil {
		return fmt.Errorf("encode hold %q: %w", h.ID, err)
	}
	_, err = b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.SAdd(ctx, b.connectorsKey(), h.Connector)
		p.HSet(ctx, b.key(h.Connector, "holds"), h.ID, v)
		return nil
	})
	if err != nil {
		return b.wrap(fmt.Sprintf("put hold %q of %q", h.ID, h.Connector), err)
	}
	return nil
}

// Holds lists holds oldest first (by Created, then connector and ID);
// connector "" means all connectors.
func (b *Backend) Holds(ctx context.Context, connector string) ([]state.Hold, error) {
	names, err := b.connectors(ctx, connector)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("holds of %q", connector)
	cmds := make([]*goredis.MapStringStringCmd, len(names))
	_, err = b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.HGetAll(ctx, b.key(n, "holds"))
		}
		return nil
	})
	if err != nil {
		return nil, b.wrap(what, err)
	}
	out := []state.Hold{}
	for _, c := range cmds {
		for id, v := range c.Val() {
			var r holdRecord
			if err := json.Unmarshal([]byte(v), &r); err != nil {
				return nil, fmt.Errorf("%s: decode hold %q: %w", what, id, err)
			}
			out = append(out, state.Hold{
				ID: r.ID, Connector: r.Connector, RunID: r.RunID, Reason: r.Reason,
				Created: r.Created, Operations: r.Operations,
			})
		}
	}
	slices.SortFunc(out, func(a, b state.Hold) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Connector, b.Connector), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteHold removes a hold, or returns ErrNotFound.
func (b *Backend) DeleteHold(ctx context.Context, connector, id string) error {
	if err := checkConnector(connector); err != nil {
		return err
	}
	n, err := b.rdb.HDel(ctx, b.key(connector, "holds"), id).Result()
	if err != nil {
		return b.wrap(fmt.Sprintf("delete hold %q of %q", id, connector), err)
	}
	if n == 0 {
		return fmt.Errorf("delete hold %q of %q: %w", id, connector, state.ErrNotFound)
	}
	return nil
}
