package local

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dirsync/dirsync/state"
)

// AddRun appends run to its connector's history and drops the oldest runs beyond
// the newest keepRuns.
func (b *Backend) AddRun(ctx context.Context, run state.Run) error {
	if err := checkConnector(run.Connector); err != nil {
		return err
	}
	v, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("encode run %q: %w", run.ID, err)
	}
	err = b.update(ctx, func(tx *bolt.Tx) error {
		// One sequence for all connectors, so Runs("") can merge histories in the
		// order runs were recorded whatever their clocks said.
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		seq, err := meta.NextSequence()
		if err != nil {
			return err
		}
		runs, err := createSubBucket(tx, run.Connector, bucketRuns)
		if err != nil {
			return err
		}
		if err := runs.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
			return err
		}
		return trim(runs, b.keepRuns)
	})
	if err != nil {
		return fmt.Errorf("add run %q of %q: %w", run.ID, run.Connector, err)
	}
	return nil
}

// trim deletes the oldest keys of bucket beyond the newest keep.
func trim(bucket *bolt.Bucket, keep int) error {
	var old [][]byte
	c := bucket.Cursor()
	n := 0
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		if n++; n > keep {
			old = append(old, clone(k))
		}
	}
	// Deleting through the cursor while iterating skips keys, hence the two passes.
	for _, k := range old {
		if err := bucket.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Runs returns up to limit runs, newest first; connector "" merges all connectors.
// A limit of zero or less returns none.
func (b *Backend) Runs(ctx context.Context, connector string, limit int) ([]state.Run, error) {
	if limit <= 0 {
		return []state.Run{}, nil
	}
	type seqRun struct {
		seq uint64
		run state.Run
	}
	var found []seqRun
	// newest appends up to limit runs of one connector's history, newest first.
	newest := func(cb *bolt.Bucket) error {
		runs := subBucket(cb, bucketRuns)
		if runs == nil {
			return nil
		}
		c, n := runs.Cursor(), 0
		for k, v := c.Last(); k != nil && n < limit; k, v = c.Prev() {
			n++
			if len(k) != 8 {
				// A damaged file: the key is not a run sequence (and would
				// panic Uint64).
				return fmt.Errorf("run key %x is not an 8-byte sequence", k)
			}
			var r state.Run
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode run %x: %w", k, err)
			}
			found = append(found, seqRun{binary.BigEndian.Uint64(k), r})
		}
		return nil
	}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		if connector != "" {
			return newest(connBucket(tx, connector))
		}
		return eachConnector(tx, func(_ string, cb *bolt.Bucket) error { return newest(cb) })
	})
	if err != nil {
		return nil, fmt.Errorf("runs of %q: %w", connector, err)
	}
	slices.SortFunc(found, func(a, b seqRun) int { return cmp.Compare(b.seq, a.seq) })
	out := make([]state.Run, 0, min(len(found), limit))
	for _, f := range found[:min(len(found), limit)] {
		out = append(out, f.run)
	}
	return out, nil
}

// holdRecord is how a hold is stored. Operations travels as a []byte (base64 in
// JSON) rather than a json.RawMessage because encoding/json compacts and
// HTML-escapes raw messages, and the engine's bytes must come back unchanged.
type holdRecord struct {
	ID         string    `json:"id"`
	Connector  string    `json:"connector"`
	RunID      string    `json:"run_id"`
	Reason     string    `json:"reason"`
	Created    time.Time `json:"created"`
	Operations []byte    `json:"ops"`
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
	err = b.update(ctx, func(tx *bolt.Tx) error {
		holds, err := createSubBucket(tx, h.Connector, bucketHolds)
		if err != nil {
			return err
		}
		return holds.Put([]byte(h.ID), v)
	})
	if err != nil {
		return fmt.Errorf("put hold %q of %q: %w", h.ID, h.Connector, err)
	}
	return nil
}

// Holds lists holds oldest first (by Created, then connector and ID);
// connector "" means all connectors.
func (b *Backend) Holds(ctx context.Context, connector string) ([]state.Hold, error) {
	out := []state.Hold{}
	collect := func(cb *bolt.Bucket) error {
		holds := subBucket(cb, bucketHolds)
		if holds == nil {
			return nil
		}
		return holds.ForEach(func(k, v []byte) error {
			var r holdRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode hold %q: %w", k, err)
			}
			out = append(out, state.Hold{
				ID: r.ID, Connector: r.Connector, RunID: r.RunID, Reason: r.Reason,
				Created: r.Created, Operations: r.Operations,
			})
			return nil
		})
	}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		if connector != "" {
			return collect(connBucket(tx, connector))
		}
		return eachConnector(tx, func(_ string, cb *bolt.Bucket) error { return collect(cb) })
	})
	if err != nil {
		return nil, fmt.Errorf("holds of %q: %w", connector, err)
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
	err := b.update(ctx, func(tx *bolt.Tx) error {
		holds := subBucket(connBucket(tx, connector), bucketHolds)
		if holds == nil || holds.Get([]byte(id)) == nil {
			return state.ErrNotFound
		}
		return holds.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete hold %q of %q: %w", id, connector, err)
	}
	return nil
}
