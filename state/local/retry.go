package local

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dirsync/dirsync/state"
)

var (
	// bucketRetries holds a connector's retry set: anchor → JSON of state.Retry.
	bucketRetries = []byte("retries")
	// bucketLedger holds its ledger of applied destructive operations: 8-byte
	// At (Unix ns) + run ID, kind and domain → JSON of state.Destructive. The
	// time prefix lets a prune and a window read walk only the keys they need.
	bucketLedger = []byte("ledger")
)

// extras is the retry set and ledger part of a commit, encoded before the file
// lock is taken.
type extras struct {
	retryKeys, retryValues [][]byte
	retryDeletes           []string
	ledgerKeys, ledgerVals [][]byte
	prune                  time.Time
}

func encodeExtras(c state.Commit) (extras, error) {
	x := extras{retryDeletes: c.RetryDeletes, prune: c.PruneDestructive}
	for a, r := range c.Retries {
		if a == "" {
			return x, fmt.Errorf("retry entry for %q: empty anchor", r.Address)
		}
		v, err := json.Marshal(r)
		if err != nil {
			return x, fmt.Errorf("encode retry entry %q: %w", a, err)
		}
		x.retryKeys, x.retryValues = append(x.retryKeys, []byte(a)), append(x.retryValues, v)
	}
	for _, d := range c.Destructive {
		v, err := json.Marshal(d)
		if err != nil {
			return x, fmt.Errorf("encode ledger line: %w", err)
		}
		x.ledgerKeys, x.ledgerVals = append(x.ledgerKeys, ledgerKey(d)), append(x.ledgerVals, v)
	}
	return x, nil
}

func ledgerKey(d state.Destructive) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(d.At.UnixNano()))
	return append(k, d.RunID+"\x00"+d.Kind+"\x00"+d.Domain...)
}

// commitExtras writes x into the commit's transaction.
func commitExtras(tx *bolt.Tx, connector string, x extras) error {
	if len(x.retryKeys) > 0 || len(x.retryDeletes) > 0 {
		rb, err := createSubBucket(tx, connector, bucketRetries)
		if err != nil {
			return err
		}
		for _, a := range x.retryDeletes {
			if a == "" {
				continue
			}
			if err := rb.Delete([]byte(a)); err != nil {
				return fmt.Errorf("delete retry entry %q: %w", a, err)
			}
		}
		for i, k := range x.retryKeys {
			if err := rb.Put(k, x.retryValues[i]); err != nil {
				return fmt.Errorf("store retry entry %q: %w", k, err)
			}
		}
	}
	if len(x.ledgerKeys) == 0 && x.prune.IsZero() {
		return nil
	}
	lb, err := createSubBucket(tx, connector, bucketLedger)
	if err != nil {
		return err
	}
	if !x.prune.IsZero() {
		limit := binary.BigEndian.AppendUint64(nil, uint64(x.prune.UnixNano()))
		var old [][]byte
		c := lb.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0; k, _ = c.Next() {
			old = append(old, clone(k))
		}
		for _, k := range old {
			if err := lb.Delete(k); err != nil {
				return fmt.Errorf("prune ledger: %w", err)
			}
		}
	}
	for i, k := range x.ledgerKeys {
		if err := lb.Put(k, x.ledgerVals[i]); err != nil {
			return fmt.Errorf("store ledger line: %w", err)
		}
	}
	return nil
}

// Retries returns the connector's retry set, ordered by anchor.
func (b *Backend) Retries(ctx context.Context, connector string) ([]state.Retry, error) {
	if err := checkConnector(connector); err != nil {
		return nil, err
	}
	out := []state.Retry{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rb := subBucket(connBucket(tx, connector), bucketRetries)
		if rb == nil {
			return nil
		}
		return rb.ForEach(func(k, v []byte) error {
			var r state.Retry
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode retry entry %q: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("retry set of %q: %w", connector, err)
	}
	return out, nil
}

// DestructiveSince returns the ledger lines of the connector from since on, oldest first.
func (b *Backend) DestructiveSince(ctx context.Context, connector string, since time.Time) ([]state.Destructive, error) {
	if err := checkConnector(connector); err != nil {
		return nil, err
	}
	var out []state.Destructive
	err := b.view(ctx, func(tx *bolt.Tx) error {
		lb := subBucket(connBucket(tx, connector), bucketLedger)
		if lb == nil {
			return nil
		}
		c := lb.Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(since.UnixNano()))); k != nil; k, v = c.Next() {
			var d state.Destructive
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode ledger line %q: %w", k, err)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("destructive ledger of %q: %w", connector, err)
	}
	return out, nil
}
