package local

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/dirsync/dirsync/state"
)

// ctxCheckEvery is how many snapshot entries are decoded between checks of the
// context, so a cancelled run does not wait for a large snapshot to finish loading.
const ctxCheckEvery = 4096

// Snapshot returns the connector's cached entries (empty, not nil, if none).
func (b *Backend) Snapshot(ctx context.Context, connector string) (state.Snapshot, error) {
	if err := checkConnector(connector); err != nil {
		return nil, err
	}
	snap := state.Snapshot{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		bucket := subBucket(connBucket(tx, connector), bucketSnapshot)
		if bucket == nil {
			return nil
		}
		// Sized once (counting the keys walks the pages, not the values):
		// a map grown entry by entry is rebuilt a dozen times on the way.
		snap = make(state.Snapshot, bucket.Stats().KeyN)
		n := 0
		return bucket.ForEach(func(k, v []byte) error {
			if n++; n%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var e state.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode entry %q: %w", k, err)
			}
			snap[string(k)] = e
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot of %q: %w", connector, err)
	}
	return snap, nil
}

// Cursor returns the stored incremental cursor, or nil.
func (b *Backend) Cursor(ctx context.Context, connector string) ([]byte, error) {
	if err := checkConnector(connector); err != nil {
		return nil, err
	}
	var cursor []byte
	err := b.view(ctx, func(tx *bolt.Tx) error {
		if meta := subBucket(connBucket(tx, connector), bucketConnMeta); meta != nil {
			cursor = clone(meta.Get(keyCursor))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cursor of %q: %w", connector, err)
	}
	return cursor, nil
}

// Commit applies c in one transaction if lease is still current. Deletes are applied
// before upserts, so an anchor in both ends up upserted.
func (b *Backend) Commit(ctx context.Context, lease state.Lease, c state.Commit) error {
	if err := checkConnector(lease.Connector); err != nil {
		return err
	}
	// Encode before taking the file lock, which other processes may be waiting for.
	// Keys go in sorted because bbolt fills pages best in key order.
	keys := make([]string, 0, len(c.Upserts))
	for k := range c.Upserts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	values := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := json.Marshal(c.Upserts[k])
		if err != nil {
			return fmt.Errorf("encode entry %q: %w", k, err)
		}
		values[i] = v
	}
	x, err := encodeExtras(c)
	if err != nil {
		return fmt.Errorf("commit %q: %w", lease.Connector, err)
	}
	err = b.update(ctx, func(tx *bolt.Tx) error {
		if err := checkLease(subBucket(connBucket(tx, lease.Connector), bucketConnMeta), lease); err != nil {
			return err
		}
		snap, err := createSubBucket(tx, lease.Connector, bucketSnapshot)
		if err != nil {
			return err
		}
		for _, k := range c.Deletes {
			if k == "" {
				continue // bbolt has no empty keys, so there is nothing to delete
			}
			if err := snap.Delete([]byte(k)); err != nil {
				return fmt.Errorf("delete entry %q: %w", k, err)
			}
		}
		for i, k := range keys {
			if err := snap.Put([]byte(k), values[i]); err != nil {
				return fmt.Errorf("store entry %q: %w", k, err)
			}
		}
		if err := commitExtras(tx, lease.Connector, x); err != nil {
			return err
		}
		meta := connBucket(tx, lease.Connector).Bucket(bucketConnMeta)
		switch {
		case c.Cursor != nil:
			return meta.Put(keyCursor, c.Cursor)
		case c.ClearCursor:
			return meta.Delete(keyCursor)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %q: %w", lease.Connector, err)
	}
	return nil
}
